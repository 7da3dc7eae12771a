//! A local Zendesk speaking the Support API shapes Hark uses, checking what it is sent as
//! Zendesk would: OAuth refresh with rotation at `POST /oauth/tokens` (a used refresh token
//! is refused; access tokens expire), `POST /api/v2/users/create_or_update.json` by
//! `external_id`, `POST /api/v2/tickets.json` with `Idempotency-Key` (a repeat answers the
//! first answer with `x-idempotency-lookup: hit`; the same key with another body is `400
//! IdempotentRequestError`), `GET /api/v2/tickets.json?external_id=`, `PUT
//! /api/v2/tickets/{id}.json` (comments, priority, status, group), `GET
//! /api/v2/tickets/{id}.json` and `GET /api/v2/tickets/{id}/comments.json`. Malformed
//! requests get Zendesk's `422 RecordInvalid`, as does a group that does not exist or a move
//! to a group the ticket's assignee is not in; an unknown bearer token 401.
//!
//! It also plays the agents: [`LocalZendesk::agent_reply`] and [`LocalZendesk::solve`]
//! change a ticket and send Hark the signed event webhook Zendesk would
//! (`X-Zendesk-Webhook-Signature` over timestamp and body).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::Error;

/// The agent who answers in the demo and tests, and the user Hark's OAuth client acts as.
pub const AGENT_ID: u64 = 1;
/// The account's groups: the agent is a member of the first only.
pub const GROUPS: [(u64, &str); 3] =
    [(360_000_111, "Social care"), (360_000_222, "Social escalations"), (360_000_333, "Night cover")];
pub const HARK_USER_ID: u64 = 2;
const ACCESS_TOKEN_LIFETIME: i64 = 7200;

#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: u64,
    pub subject: String,
    pub requester_id: u64,
    pub external_id: Option<String>,
    pub tags: Vec<String>,
    pub priority: String,
    pub status: String,
    pub group_id: Option<u64>,
    pub assignee_id: Option<u64>,
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: u64,
    pub author_id: u64,
    pub body: String,
    pub public: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub external_id: String,
}

#[derive(Default)]
struct ZendeskState {
    client: Option<(String, String)>,
    refresh_tokens: Vec<String>,
    access_tokens: HashMap<String, chrono::DateTime<Utc>>,
    refreshes: usize,
    users: Vec<User>,
    tickets: Vec<Ticket>,
    /// Idempotency-Key → (the request body, the answer given).
    idempotency: HashMap<String, (Value, Value)>,
    /// Answers scripted for the next API calls: (status, Retry-After).
    script: crate::Script,
    /// The account's API limit (Suite Team: 200 a minute).
    rate: crate::RateWindow,
    /// A stretch of 429s or 5xx the load tool's fault schedule asked for.
    outage: crate::faults::Outage,
    /// The next ticket create is made, and its answer lost (500).
    lose_next_create_answer: bool,
    /// Ticket creates Zendesk performed (idempotent replays excluded).
    creates: usize,
    next_id: u64,
    hark: Option<(String, String)>,
    /// The last event sent to Hark, to deliver again as Zendesk may.
    last_event: Option<String>,
}

impl ZendeskState {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id + 1000
    }

    fn issue(&mut self) -> (String, String) {
        let n = self.id();
        let access = format!("zd-access-{n}-{}", Utc::now().timestamp_micros());
        let refresh = format!("zd-refresh-{n}-{}", Utc::now().timestamp_micros());
        self.access_tokens.insert(access.clone(), Utc::now() + chrono::TimeDelta::seconds(ACCESS_TOKEN_LIFETIME));
        self.refresh_tokens.push(refresh.clone());
        (access, refresh)
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        let token = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        token.and_then(|t| self.access_tokens.get(t)).is_some_and(|expires| *expires > Utc::now())
    }
}

type Shared = Arc<Mutex<ZendeskState>>;

#[derive(Clone)]
pub struct LocalZendesk {
    /// The account's address, as the credentials' `zendesk.url`.
    pub url: String,
    state: Shared,
    http: reqwest::Client,
}

impl LocalZendesk {
    /// Serves on `127.0.0.1:port` (0 picks a free port) with one OAuth client.
    pub async fn start(port: u16, client_id: &str, client_secret: &str) -> Result<Self, Error> {
        let state: Shared = Arc::default();
        state.lock().unwrap().client = Some((client_id.to_owned(), client_secret.to_owned()));
        let app = axum::Router::new()
            .route("/oauth/tokens", post(token))
            .route("/api/v2/users/create_or_update.json", post(create_or_update_user))
            .route("/api/v2/tickets.json", post(create_ticket).get(list_tickets))
            .route("/api/v2/tickets/{file}", get(show_ticket).put(update_ticket))
            .route("/api/v2/tickets/{id}/comments.json", get(comments))
            .route("/_local/stats", get(stats))
            .route("/_local/outage", post(outage))
            .with_state(state.clone());
        let url = crate::serve_loopback("the local Zendesk", port, app).await?;
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().expect("HTTP client");
        Ok(LocalZendesk { url, state, http })
    }

    /// Answers 429 past `per_minute` API requests a minute (`None`: no limit).
    pub fn limit_rate(&self, per_minute: Option<u32>) {
        self.lock().rate.limit(per_minute);
    }

    pub fn rate_stats(&self) -> crate::RateStats {
        self.lock().rate.stats()
    }

    /// A refresh token from the consent flow, as the operator puts it in the credentials.
    pub fn consent(&self) -> String {
        self.lock().issue().1
    }

    /// Where the agents' events go (Hark's `/helpdesks/zendesk`), and the signing secret.
    pub fn send_webhooks_to(&self, url: &str, signing_secret: &str) {
        self.lock().hark = Some((url.to_owned(), signing_secret.to_owned()));
    }

    pub fn tickets(&self) -> Vec<Ticket> {
        self.lock().tickets.clone()
    }

    pub fn users(&self) -> Vec<User> {
        self.lock().users.clone()
    }

    pub fn creates(&self) -> usize {
        self.lock().creates
    }

    pub fn refreshes(&self) -> usize {
        self.lock().refreshes
    }

    /// Every access token issued so far expires now.
    pub fn expire_access_tokens(&self) {
        for expires in self.lock().access_tokens.values_mut() {
            *expires = Utc::now() - chrono::TimeDelta::seconds(1);
        }
    }

    /// Idempotency keys are kept two hours: this forgets them, as if they had passed.
    pub fn forget_idempotency_keys(&self) {
        self.lock().idempotency.clear();
    }

    /// The next API calls are answered `status` (with `Retry-After`), in order.
    pub fn respond_next(&self, status: u16, retry_after: Option<u64>) {
        self.lock().script.push(status, retry_after);
    }

    /// The next ticket create is made but answered 500, as when the answer is lost.
    pub fn lose_next_create_answer(&self) {
        self.lock().lose_next_create_answer = true;
    }

    /// An agent's public comment on the ticket, sent to Hark; Hark's answer status.
    pub async fn agent_reply(&self, ticket_id: u64, text: &str) -> Result<u16, Error> {
        let (event, external_id) = {
            let mut s = self.lock();
            let comment_id = s.id();
            let ticket =
                s.tickets.iter_mut().find(|t| t.id == ticket_id).ok_or(Error::Usage("no such ticket".into()))?;
            let comment = Comment { id: comment_id, author_id: AGENT_ID, body: text.to_owned(), public: true };
            ticket.comments.push(comment);
            let event = json!({"comment": {"id": comment_id.to_string(), "body": text, "is_public": true,
                "author": {"id": AGENT_ID.to_string(), "is_staff": true, "name": "Kim (agent)"}}});
            (event, ticket.external_id.clone())
        };
        self.event("zen:event-type:ticket.comment_added", ticket_id, external_id, event).await
    }

    /// The agent takes the ticket (into their group), as an agent picking it up does.
    pub fn assign(&self, ticket_id: u64) {
        let mut s = self.lock();
        if let Some(ticket) = s.tickets.iter_mut().find(|t| t.id == ticket_id) {
            ticket.assignee_id = Some(AGENT_ID);
            ticket.group_id = Some(GROUPS[0].0);
        }
    }

    /// The agent solves the ticket; Hark is told.
    pub async fn solve(&self, ticket_id: u64) -> Result<u16, Error> {
        let external_id = {
            let mut s = self.lock();
            let ticket =
                s.tickets.iter_mut().find(|t| t.id == ticket_id).ok_or(Error::Usage("no such ticket".into()))?;
            ticket.status = "solved".into();
            ticket.external_id.clone()
        };
        let event = json!({"current": "SOLVED", "previous": "OPEN"});
        self.event("zen:event-type:ticket.status_changed", ticket_id, external_id, event).await
    }

    async fn event(&self, kind: &str, ticket_id: u64, external_id: Option<String>, event: Value) -> Result<u16, Error> {
        let Some((url, secret)) = self.lock().hark.clone() else {
            return Err(Error::Usage("the local Zendesk has no webhook to send to".into()));
        };
        let body = json!({
            "id": format!("zd-event-{}-{}", ticket_id, Utc::now().timestamp_micros()),
            "type": kind,
            "account_id": 1,
            "time": Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            "detail": {"id": ticket_id.to_string(), "external_id": external_id, "status": "OPEN"},
            "event": event,
        })
        .to_string();
        self.lock().last_event = Some(body.clone());
        self.deliver(&url, &secret, body).await
    }

    /// Delivers the last event again, freshly signed (Zendesk's webhooks may be invoked
    /// more than once for one event).
    pub async fn redeliver_last_event(&self) -> Result<u16, Error> {
        let (Some((url, secret)), Some(body)) = ({ self.lock().hark.clone() }, { self.lock().last_event.clone() })
        else {
            return Err(Error::Usage("the local Zendesk has sent no event".into()));
        };
        self.deliver(&url, &secret, body).await
    }

    async fn deliver(&self, url: &str, secret: &str, body: String) -> Result<u16, Error> {
        let timestamp = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let signature = hark_shared::helpdesks::zendesk::sign(secret, &timestamp, body.as_bytes());
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header(hark_shared::helpdesks::zendesk::SIGNATURE_HEADER, signature)
            .header(hark_shared::helpdesks::zendesk::TIMESTAMP_HEADER, timestamp)
            .body(body)
            .send()
            .await
            .map_err(|e| Error::Usage(format!("the local Zendesk could not reach Hark: {e}")))?;
        Ok(response.status().as_u16())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ZendeskState> {
        self.state.lock().expect("Zendesk state")
    }
}

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": code, "description": description}))).into_response()
}

fn invalid(description: &str) -> Response {
    error(StatusCode::UNPROCESSABLE_ENTITY, "RecordInvalid", description)
}

/// The checks every API call passes first: a scripted answer, then the bearer token.
fn gate(state: &mut ZendeskState, headers: &HeaderMap) -> Option<Response> {
    if let Some(scripted) = state.script.next(json!({"error": "Scripted", "description": ""})) {
        return Some(scripted);
    }
    if let Some(answer) = state.outage.during(Utc::now()) {
        let body = json!({"error": "ServiceUnavailable", "description": answer.status.as_str()});
        return Some(crate::faults::desk_answer(answer, body));
    }
    if let Err(retry_after) = state.rate.admit(Utc::now()) {
        return Some(crate::too_many(
            retry_after,
            json!({"error": "APIRateLimitExceeded", "description": "Rate limited"}),
        ));
    }
    if !state.authorised(headers) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "The access token provided is expired, revoked, malformed or invalid",
        ));
    }
    None
}

async fn token(State(state): State<Shared>, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let mut s = state.lock().unwrap();
    let client_ok = s
        .client
        .as_ref()
        .is_some_and(|(id, secret)| form.get("client_id") == Some(id) && form.get("client_secret") == Some(secret));
    if !client_ok {
        return error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed");
    }
    let presented = form.get("refresh_token").cloned().unwrap_or_default();
    if form.get("grant_type").map(String::as_str) != Some("refresh_token") || !s.refresh_tokens.contains(&presented) {
        return error(StatusCode::BAD_REQUEST, "invalid_grant", "The provided authorization grant is invalid");
    }
    // Rotation: the used refresh token, and the access tokens it stood for, are gone.
    s.refresh_tokens.retain(|t| *t != presented);
    s.refreshes += 1;
    let (access, refresh) = s.issue();
    axum::Json(json!({"access_token": access, "token_type": "bearer", "refresh_token": refresh,
        "expires_in": ACCESS_TOKEN_LIFETIME, "scope": "read write"}))
    .into_response()
}

async fn create_or_update_user(State(state): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return invalid("not JSON") };
    let user = &body["user"];
    let (Some(name), Some(external_id)) = (user["name"].as_str(), user["external_id"].as_str()) else {
        return invalid("a user needs a name, and an email or external_id to be found by");
    };
    if name.trim().is_empty() || user.get("email").is_some_and(|e| !e.is_string()) {
        return invalid("Name: cannot be blank");
    }
    if let Some(existing) = s.users.iter_mut().find(|u| u.external_id == external_id) {
        existing.name = name.to_owned();
        let answer = json!({"user": {"id": existing.id, "name": name, "external_id": external_id, "role": "end-user"}});
        return (StatusCode::OK, axum::Json(answer)).into_response();
    }
    let id = s.id();
    s.users.push(User { id, name: name.to_owned(), external_id: external_id.to_owned() });
    let answer = json!({"user": {"id": id, "name": name, "external_id": external_id, "role": "end-user"}});
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

fn ticket_json(t: &Ticket) -> Value {
    json!({"id": t.id, "subject": t.subject, "requester_id": t.requester_id, "external_id": t.external_id,
        "tags": t.tags, "priority": t.priority, "status": t.status, "group_id": t.group_id,
        "assignee_id": t.assignee_id})
}

const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
const STATUSES: [&str; 5] = ["new", "open", "pending", "hold", "solved"];

/// A comment as sent in a ticket create or update: `{body, public, author_id?}`.
fn comment(s: &ZendeskState, value: &Value, default_author: u64) -> Result<Comment, &'static str> {
    let Some(body) = value["body"].as_str().filter(|b| !b.trim().is_empty()) else {
        return Err("Comment: body cannot be blank");
    };
    let author_id = match &value["author_id"] {
        Value::Null => default_author,
        id => id
            .as_u64()
            .filter(|id| *id == AGENT_ID || *id == HARK_USER_ID || s.users.iter().any(|u| u.id == *id))
            .ok_or("Comment: author_id is not a user")?,
    };
    Ok(Comment { id: 0, author_id, body: body.to_owned(), public: value["public"].as_bool().unwrap_or(true) })
}

async fn create_ticket(State(state): State<Shared>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return invalid("not JSON") };
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(key) = &key {
        if key.len() > 255 {
            return error(StatusCode::BAD_REQUEST, "InvalidIdempotencyKey", "at most 255 characters");
        }
        if let Some((first_body, answer)) = s.idempotency.get(key) {
            if *first_body != body {
                return error(
                    StatusCode::BAD_REQUEST,
                    "IdempotentRequestError",
                    "Request parameters don't match the given idempotency key",
                );
            }
            let mut response = (StatusCode::CREATED, axum::Json(answer.clone())).into_response();
            response.headers_mut().insert("x-idempotency-lookup", "hit".parse().unwrap());
            return response;
        }
    }
    let t = &body["ticket"];
    let Some(requester_id) = t["requester_id"].as_u64().filter(|id| s.users.iter().any(|u| u.id == *id)) else {
        return invalid(
            "Requester: a requester_id of an existing user is required (this account takes no e-mail-less requester objects)",
        );
    };
    let Some(subject) = t["subject"].as_str().filter(|s| !s.is_empty() && s.chars().count() <= 150) else {
        return invalid("Subject: 1 to 150 characters");
    };
    let priority = t["priority"].as_str().unwrap_or("normal");
    if !PRIORITIES.contains(&priority) {
        return invalid("Priority: is not one of low, normal, high, urgent");
    }
    let tags: Option<Vec<String>> = match &t["tags"] {
        Value::Null => Some(Vec::new()),
        Value::Array(tags) => tags.iter().map(|t| t.as_str().filter(|t| !t.contains(' ')).map(str::to_owned)).collect(),
        _ => None,
    };
    let Some(tags) = tags else { return invalid("Tags: a list of words") };
    let first = match comment(&s, &t["comment"], requester_id) {
        Ok(comment) => comment,
        Err(why) => return invalid(why),
    };
    let id = s.id();
    let comment_id = s.id();
    let ticket = Ticket {
        id,
        subject: subject.to_owned(),
        requester_id,
        external_id: t["external_id"].as_str().map(str::to_owned),
        tags,
        priority: priority.to_owned(),
        status: "new".into(),
        group_id: None,
        assignee_id: None,
        comments: vec![Comment { id: comment_id, ..first }],
    };
    let answer = json!({"ticket": ticket_json(&ticket)});
    s.tickets.push(ticket);
    s.creates += 1;
    if let Some(key) = key {
        s.idempotency.insert(key, (body, answer.clone()));
    }
    if std::mem::take(&mut s.lose_next_create_answer) {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", "the answer was lost");
    }
    let mut response = (StatusCode::CREATED, axum::Json(answer)).into_response();
    response.headers_mut().insert("location", format!("/api/v2/tickets/{id}.json").parse().unwrap());
    response.headers_mut().insert("x-idempotency-lookup", "miss".parse().unwrap());
    response
}

async fn list_tickets(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    let wanted = query.get("external_id");
    let tickets: Vec<Value> =
        s.tickets.iter().filter(|t| wanted.is_none() || t.external_id.as_ref() == wanted).map(ticket_json).collect();
    axum::Json(json!({"tickets": tickets, "next_page": null, "count": tickets.len()})).into_response()
}

async fn show_ticket(State(state): State<Shared>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    let id = file.strip_suffix(".json").and_then(|id| id.parse::<u64>().ok());
    match s.tickets.iter().find(|t| Some(t.id) == id) {
        Some(ticket) => axum::Json(json!({"ticket": ticket_json(ticket)})).into_response(),
        None => error(StatusCode::NOT_FOUND, "RecordNotFound", "Not found"),
    }
}

async fn update_ticket(
    State(state): State<Shared>,
    Path(file): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    let Some(id) = file.strip_suffix(".json").and_then(|id| id.parse::<u64>().ok()) else {
        return error(StatusCode::NOT_FOUND, "InvalidEndpoint", "Not found");
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else { return invalid("not JSON") };
    let t = &body["ticket"];
    let Some(index) = s.tickets.iter().position(|t| t.id == id) else {
        return error(StatusCode::NOT_FOUND, "RecordNotFound", "Not found");
    };
    if t.get("priority").is_some_and(|p| !p.as_str().is_some_and(|p| PRIORITIES.contains(&p))) {
        return invalid("Priority: is not one of low, normal, high, urgent");
    }
    if t.get("status").is_some_and(|s| !s.as_str().is_some_and(|s| STATUSES.contains(&s))) {
        return invalid("Status: is not a status");
    }
    let group = match t.get("group_id") {
        None => None,
        Some(g) => match g.as_u64().filter(|g| GROUPS.iter().any(|(id, _)| id == g)) {
            Some(g) => Some(g),
            None => return invalid("Group: is invalid"),
        },
    };
    // Zendesk refuses to move a ticket to a group its assignee is not a member of.
    if group.is_some_and(|g| s.tickets[index].assignee_id == Some(AGENT_ID) && g != GROUPS[0].0) {
        return invalid("Assignee: is not a member of the group");
    }
    let new_comment = match t.get("comment") {
        Some(value) => match comment(&s, value, HARK_USER_ID) {
            Ok(c) => Some(c),
            Err(why) => return invalid(why),
        },
        None => None,
    };
    let comment_id = s.id();
    let audit_id = s.id();
    let ticket = &mut s.tickets[index];
    if let Some(priority) = t["priority"].as_str() {
        ticket.priority = priority.to_owned();
    }
    if let Some(status) = t["status"].as_str() {
        ticket.status = status.to_owned();
    }
    if let Some(group) = group {
        ticket.group_id = Some(group);
    }
    if let Some(comment) = new_comment {
        ticket.comments.push(Comment { id: comment_id, ..comment });
        if ticket.status == "new" {
            ticket.status = "open".into();
        }
    }
    axum::Json(json!({"ticket": ticket_json(ticket), "audit": {"id": audit_id}})).into_response()
}

async fn comments(
    State(state): State<Shared>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().unwrap();
    if let Some(refused) = gate(&mut s, &headers) {
        return refused;
    }
    let Some(ticket) = s.tickets.iter().find(|t| t.id == id) else {
        return error(StatusCode::NOT_FOUND, "RecordNotFound", "Not found");
    };
    let mut comments: Vec<Value> = ticket
        .comments
        .iter()
        .map(|c| json!({"id": c.id, "author_id": c.author_id, "body": c.body, "public": c.public}))
        .collect();
    if query.get("sort_order").map(String::as_str) == Some("desc") {
        comments.reverse();
    }
    axum::Json(json!({"comments": comments, "next_page": null})).into_response()
}

/// What the load tool reads: the rate limit's counts and the tickets made.
/// What the load tool reads: the rate limit's counts, and what was received twice (a second
/// ticket for one conversation, an event's text added twice).
async fn stats(State(state): State<Shared>) -> Response {
    let s = state.lock().unwrap();
    let texts = s.tickets.iter().flat_map(|t| &t.comments).map(|c| c.body.as_str());
    axum::Json(json!({
        "rate": s.rate.stats(),
        "tickets": s.tickets.len(),
        "outage_answers": s.outage.answered(),
        "tickets_twice": crate::faults::beyond_first(s.tickets.iter().filter_map(|t| t.external_id.as_deref())),
        "events_twice": crate::faults::beyond_first(texts.flat_map(crate::faults::marked_events)),
    }))
    .into_response()
}

async fn outage(State(state): State<Shared>, body: axum::body::Bytes) -> Response {
    crate::faults::start_outage(&mut state.lock().unwrap().outage, &body)
}
