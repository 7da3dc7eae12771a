//! A local Freshdesk speaking the API v2 shapes Hark uses, checking what it is sent as
//! Freshdesk would: HTTP Basic with the API key (any password), contacts by
//! `unique_external_id` (`GET` filtered, `POST`, `409` for a duplicate), `POST
//! /api/v2/tickets` (requester, status, priority and source enumerations, the Hark custom
//! field, which must exist), `GET /api/v2/tickets?requester_id=`, `GET` and `PUT
//! /api/v2/tickets/{id}` (a group must exist, and hold the ticket's agent), notes (`POST …/notes`) and `GET …/conversations`. Freshdesk has
//! no idempotency key: a create made twice is two tickets here, as there.
//!
//! It also plays the agents: [`LocalFreshdesk::agent_reply`] and [`LocalFreshdesk::resolve`]
//! change a ticket and run the automation rule's webhook the README sets up, with the
//! secret header.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::Error;

pub const AGENT_ID: u64 = 1;
/// The account's groups: the agent is a member of the first only.
pub const GROUPS: [(u64, &str); 3] =
    [(43_000_012, "Social care"), (43_000_013, "Social escalations"), (43_000_014, "Night cover")];

#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: u64,
    pub subject: String,
    pub description: String,
    pub requester_id: u64,
    pub status: u64,
    pub priority: u64,
    pub tags: Vec<String>,
    pub custom_fields: HashMap<String, Value>,
    pub group_id: Option<u64>,
    pub responder_id: Option<u64>,
    pub notes: Vec<Note>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub id: u64,
    pub body: String,
    pub private: bool,
    pub incoming: bool,
    pub user_id: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: u64,
    pub name: String,
    pub unique_external_id: String,
}

#[derive(Default)]
struct FreshdeskState {
    api_key: String,
    custom_field: String,
    contacts: Vec<Contact>,
    tickets: Vec<Ticket>,
    script: crate::Script,
    /// The account's limits (Growth: 200 requests a minute, 80 ticket creates).
    rate: crate::RateWindow,
    creates_rate: crate::RateWindow,
    /// A stretch of 429s or 5xx the load tool's fault schedule asked for.
    outage: crate::faults::Outage,
    lose_next_create_answer: bool,
    next_id: u64,
    /// (Hark's `/helpdesks/freshdesk` URL, the rule's secret header value).
    hark: Option<(String, String)>,
    last_rule_body: Option<String>,
}

impl FreshdeskState {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id + 2000
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        let basic = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic "));
        let decoded = basic.and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
        let user = decoded.as_deref().and_then(|d| std::str::from_utf8(d).ok()).and_then(|d| d.split_once(':'));
        user.is_some_and(|(key, _)| key == self.api_key)
    }
}

type Shared = Arc<Mutex<FreshdeskState>>;

#[derive(Clone)]
pub struct LocalFreshdesk {
    pub url: String,
    state: Shared,
    http: reqwest::Client,
}

impl LocalFreshdesk {
    /// Serves on `127.0.0.1:port` for one API key, with the Hark custom field `custom_field`.
    pub async fn start(port: u16, api_key: &str, custom_field: &str) -> Result<Self, Error> {
        let state: Shared = Arc::default();
        {
            let mut s = state.lock().unwrap();
            s.api_key = api_key.to_owned();
            s.custom_field = custom_field.to_owned();
        }
        let app = axum::Router::new()
            .route("/api/v2/contacts", get(list_contacts).post(create_contact))
            .route("/api/v2/tickets", get(list_tickets).post(create_ticket))
            .route("/api/v2/tickets/{id}", get(show_ticket).put(update_ticket))
            .route("/api/v2/tickets/{id}/notes", post(add_note))
            .route("/api/v2/tickets/{id}/conversations", get(conversations))
            .route("/_local/stats", get(stats))
            .route("/_local/outage", post(outage))
            .with_state(state.clone());
        let url = crate::serve_loopback("the local Freshdesk", port, app).await?;
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().expect("HTTP client");
        Ok(LocalFreshdesk { url, state, http })
    }

    /// Answers 429 past `per_minute` API requests a minute, or past `creates_per_minute`
    /// ticket creates (`None`: no limit).
    pub fn limit_rate(&self, per_minute: Option<u32>, creates_per_minute: Option<u32>) {
        let mut s = self.state.lock().unwrap();
        s.rate.limit(per_minute);
        s.creates_rate.limit(creates_per_minute);
    }

    /// The account's requests, and the ticket creates' own.
    pub fn rate_stats(&self) -> (crate::RateStats, crate::RateStats) {
        let s = self.state.lock().unwrap();
        (s.rate.stats(), s.creates_rate.stats())
    }

    /// Where the automation rule's webhook goes, and its `X-Hark-Webhook-Secret`.
    pub fn send_webhooks_to(&self, url: &str, secret: &str) {
        self.lock().hark = Some((url.to_owned(), secret.to_owned()));
    }

    pub fn tickets(&self) -> Vec<Ticket> {
        self.lock().tickets.clone()
    }

    pub fn contacts(&self) -> Vec<Contact> {
        self.lock().contacts.clone()
    }

    pub fn respond_next(&self, status: u16, retry_after: Option<u64>) {
        self.lock().script.push(status, retry_after);
    }

    pub fn lose_next_create_answer(&self) {
        self.lock().lose_next_create_answer = true;
    }

    /// An agent's reply on the ticket; the rule tells Hark. Hark's answer status.
    pub async fn agent_reply(&self, ticket_id: u64, text: &str) -> Result<u16, Error> {
        let conversation = {
            let mut s = self.lock();
            let note_id = s.id();
            let field = s.custom_field.clone();
            let ticket =
                s.tickets.iter_mut().find(|t| t.id == ticket_id).ok_or(Error::Usage("no such ticket".into()))?;
            let note = Note { id: note_id, body: text.to_owned(), private: false, incoming: false, user_id: AGENT_ID };
            ticket.notes.push(note);
            ticket.custom_fields.get(&field).cloned()
        };
        self.rule(json!({"event": "reply", "ticket_id": ticket_id, "conversation_id": conversation, "text": text}))
            .await
    }

    /// The agent takes the ticket (into their group), as an agent picking it up does.
    pub fn assign(&self, ticket_id: u64) {
        let mut s = self.lock();
        if let Some(ticket) = s.tickets.iter_mut().find(|t| t.id == ticket_id) {
            ticket.responder_id = Some(AGENT_ID);
            ticket.group_id = Some(GROUPS[0].0);
        }
    }

    /// The agent resolves the ticket; the rule tells Hark.
    pub async fn resolve(&self, ticket_id: u64) -> Result<u16, Error> {
        let conversation = {
            let mut s = self.lock();
            let field = s.custom_field.clone();
            let ticket =
                s.tickets.iter_mut().find(|t| t.id == ticket_id).ok_or(Error::Usage("no such ticket".into()))?;
            ticket.status = 4;
            ticket.custom_fields.get(&field).cloned()
        };
        self.rule(json!({"event": "resolved", "ticket_id": ticket_id, "conversation_id": conversation})).await
    }

    /// Runs the last rule's webhook again (Freshdesk retries a call it saw fail).
    pub async fn redeliver_last(&self) -> Result<u16, Error> {
        let body = self.lock().last_rule_body.clone().ok_or(Error::Usage("no rule has run".into()))?;
        self.rule(serde_json::from_str(&body).expect("a body it wrote")).await
    }

    async fn rule(&self, body: Value) -> Result<u16, Error> {
        let Some((url, secret)) = self.lock().hark.clone() else {
            return Err(Error::Usage("the local Freshdesk has no webhook to send to".into()));
        };
        self.lock().last_rule_body = Some(body.to_string());
        let response = self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header(hark_shared::helpdesks::freshdesk::SECRET_HEADER, secret)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| Error::Usage(format!("the local Freshdesk could not reach Hark: {e}")))?;
        Ok(response.status().as_u16())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FreshdeskState> {
        self.state.lock().expect("Freshdesk state")
    }
}

fn validation(field: &str, code: &str) -> Response {
    let body = json!({"description": "Validation failed", "errors": [{"field": field, "message": code, "code": code}]});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn gate(state: &mut FreshdeskState, headers: &HeaderMap) -> Option<Response> {
    if let Some(scripted) = state.script.next(json!({"description": "scripted"})) {
        return Some(scripted);
    }
    if let Some(answer) = state.outage.during(chrono::Utc::now()) {
        return Some(crate::faults::desk_answer(answer, json!({"code": "service_unavailable"})));
    }
    if let Err(retry_after) = state.rate.admit(chrono::Utc::now()) {
        return Some(crate::too_many(retry_after, json!({"code": "rate_limit_exceeded"})));
    }
    if !state.authorised(headers) {
        let body =
            json!({"code": "invalid_credentials", "message": "You have to be logged in to perform this action."});
        return Some((StatusCode::UNAUTHORIZED, axum::Json(body)).into_response());
    }
    None
}

fn contact_json(c: &Contact) -> Value {
    json!({"id": c.id, "name": c.name, "unique_external_id": c.unique_external_id})
}

async fn list_contacts(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    let wanted = q.get("unique_external_id");
    let contacts: Vec<Value> =
        s.contacts.iter().filter(|c| wanted.is_none_or(|w| *w == c.unique_external_id)).map(contact_json).collect();
    axum::Json(Value::Array(contacts)).into_response()
}

async fn create_contact(State(state): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return validation("body", "invalid_json") };
    let Some(name) = body["name"].as_str().filter(|n| !n.trim().is_empty()) else {
        return validation("name", "missing_field");
    };
    // A contact needs one unique way to be found: this desk's Hark contacts have no e-mail.
    let Some(external) = body["unique_external_id"].as_str().filter(|e| !e.is_empty()) else {
        return validation("unique_external_id", "missing_field");
    };
    if s.contacts.iter().any(|c| c.unique_external_id == external) {
        let body = json!({"description": "Validation failed",
            "errors": [{"field": "unique_external_id", "message": "It should be a unique value", "code": "duplicate_value"}]});
        return (StatusCode::CONFLICT, axum::Json(body)).into_response();
    }
    let id = s.id();
    let contact = Contact { id, name: name.to_owned(), unique_external_id: external.to_owned() };
    let answer = contact_json(&contact);
    s.contacts.push(contact);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

fn ticket_json(t: &Ticket) -> Value {
    json!({"id": t.id, "subject": t.subject, "description": t.description, "requester_id": t.requester_id,
        "status": t.status, "priority": t.priority, "tags": t.tags, "custom_fields": t.custom_fields,
        "group_id": t.group_id, "responder_id": t.responder_id})
}

async fn create_ticket(State(state): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    // Ticket creates have a limit of their own within the account's.
    if let Err(retry_after) = s.creates_rate.admit(chrono::Utc::now()) {
        return crate::too_many(retry_after, json!({"code": "rate_limit_exceeded"}));
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return validation("body", "invalid_json") };
    let Some(requester_id) = body["requester_id"].as_u64().filter(|id| s.contacts.iter().any(|c| c.id == *id)) else {
        return validation("requester_id", "invalid_value");
    };
    let Some(subject) = body["subject"].as_str().filter(|s| !s.is_empty()) else {
        return validation("subject", "missing_field");
    };
    let Some(description) = body["description"].as_str().filter(|s| !s.is_empty()) else {
        return validation("description", "missing_field");
    };
    let status = body["status"].as_u64().unwrap_or(2);
    let priority = body["priority"].as_u64().unwrap_or(1);
    if ![2, 3, 4, 5].contains(&status) {
        return validation("status", "invalid_value");
    }
    if !(1..=4).contains(&priority) {
        return validation("priority", "invalid_value");
    }
    if !body["source"].as_u64().is_some_and(|src| [1, 2, 3, 7, 9, 10].contains(&src)) {
        return validation("source", "invalid_value");
    }
    let custom_fields: HashMap<String, Value> =
        body["custom_fields"].as_object().map(|o| o.clone().into_iter().collect()).unwrap_or_default();
    if let Some(unknown) = custom_fields.keys().find(|k| **k != s.custom_field) {
        return validation(unknown, "invalid_field");
    }
    let tags = body["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)).collect();
    let id = s.id();
    let ticket = Ticket {
        id,
        subject: subject.to_owned(),
        description: description.to_owned(),
        requester_id,
        status,
        priority,
        tags,
        custom_fields,
        group_id: None,
        responder_id: None,
        notes: Vec::new(),
    };
    let answer = ticket_json(&ticket);
    s.tickets.push(ticket);
    if std::mem::take(&mut s.lose_next_create_answer) {
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"description": "lost"}))).into_response();
    }
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn list_tickets(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    let requester: Option<u64> = q.get("requester_id").and_then(|r| r.parse().ok());
    let tickets: Vec<Value> =
        s.tickets.iter().filter(|t| requester.is_none_or(|r| r == t.requester_id)).map(ticket_json).collect();
    axum::Json(Value::Array(tickets)).into_response()
}

async fn show_ticket(State(state): State<Shared>, Path(id): Path<u64>, headers: HeaderMap) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    match s.tickets.iter().find(|t| t.id == id) {
        Some(ticket) => axum::Json(ticket_json(ticket)).into_response(),
        None => (StatusCode::NOT_FOUND, axum::Json(json!({}))).into_response(),
    }
}

async fn update_ticket(
    State(state): State<Shared>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return validation("body", "invalid_json") };
    let Some(ticket) = s.tickets.iter_mut().find(|t| t.id == id) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({}))).into_response();
    };
    // Every field is checked before any is applied: a refused update changes nothing.
    let field = |name: &str, valid: &dyn Fn(u64) -> bool| match body.get(name) {
        None => Ok(None),
        Some(value) => value.as_u64().filter(|v| valid(*v)).map(Some).ok_or(name.to_owned()),
    };
    let checked = (|| {
        let priority = field("priority", &|p| (1..=4).contains(&p))?;
        let status = field("status", &|p| (2..=5).contains(&p))?;
        let group = field("group_id", &|g| GROUPS.iter().any(|(id, _)| *id == g))?;
        Ok::<_, String>((priority, status, group))
    })();
    let (priority, status, group) = match checked {
        Ok(fields) => fields,
        Err(name) => return validation(&name, "invalid_value"),
    };
    if group.is_some_and(|g| ticket.responder_id == Some(AGENT_ID) && g != GROUPS[0].0) {
        return validation("responder_id", "invalid_value");
    }
    if let Some(p) = priority {
        ticket.priority = p;
    }
    if let Some(p) = status {
        ticket.status = p;
    }
    if let Some(g) = group {
        ticket.group_id = Some(g);
    }
    axum::Json(ticket_json(ticket)).into_response()
}

async fn add_note(
    State(state): State<Shared>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return validation("body", "invalid_json") };
    let Some(text) = body["body"].as_str().filter(|b| !b.is_empty()) else {
        return validation("body", "missing_field");
    };
    let user_id = match &body["user_id"] {
        Value::Null => AGENT_ID,
        value => match value.as_u64().filter(|u| s.contacts.iter().any(|c| c.id == *u)) {
            Some(u) => u,
            None => return validation("user_id", "invalid_value"),
        },
    };
    let note_id = s.id();
    let Some(ticket) = s.tickets.iter_mut().find(|t| t.id == id) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({}))).into_response();
    };
    let note = Note {
        id: note_id,
        body: text.to_owned(),
        private: body["private"].as_bool().unwrap_or(true),
        incoming: body["incoming"].as_bool().unwrap_or(false),
        user_id,
    };
    let answer = json!({"id": note.id, "body": note.body, "private": note.private, "incoming": note.incoming,
        "user_id": note.user_id, "ticket_id": id});
    ticket.notes.push(note);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn conversations(State(state): State<Shared>, Path(id): Path<u64>, headers: HeaderMap) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    let Some(ticket) = s.tickets.iter().find(|t| t.id == id) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({}))).into_response();
    };
    let notes: Vec<Value> = ticket
        .notes
        .iter()
        .map(
            |n| json!({"id": n.id, "body": n.body, "private": n.private, "incoming": n.incoming, "user_id": n.user_id}),
        )
        .collect();
    axum::Json(Value::Array(notes)).into_response()
}

/// What the load tool reads: the rate limits' counts and the tickets made.
/// What the load tool reads: the rate limits' counts, and what was received twice (a second
/// ticket for one conversation, an event's text added twice).
async fn stats(State(state): State<Shared>) -> Response {
    let s = state.lock().unwrap();
    let conversations = s.tickets.iter().filter_map(|t| t.custom_fields.get(&s.custom_field)?.as_str());
    let texts = s.tickets.iter().flat_map(|t| std::iter::once(&t.description).chain(t.notes.iter().map(|n| &n.body)));
    axum::Json(json!({
        "rate": s.rate.stats(),
        "creates": s.creates_rate.stats(),
        "tickets": s.tickets.len(),
        "outage_answers": s.outage.answered(),
        "tickets_twice": crate::faults::beyond_first(conversations),
        "events_twice": crate::faults::beyond_first(texts.flat_map(|t| crate::faults::marked_events(t))),
    }))
    .into_response()
}

async fn outage(State(state): State<Shared>, body: axum::body::Bytes) -> Response {
    crate::faults::start_outage(&mut state.lock().unwrap().outage, &body)
}
