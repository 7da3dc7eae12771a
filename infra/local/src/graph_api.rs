//! A local server speaking the Graph API shapes Hark uses on Facebook and Instagram, and
//! the customers' side of Meta: what they post, comment and message becomes an object here
//! and a signed webhook delivery to Hark, as Meta would send it.
//!
//! Hark's side (pinned version, Page access token as a bearer token, never in the URL):
//! - `POST /{comment or post}/comments` (Facebook) and `POST /{comment}/replies` (Instagram);
//! - `POST /{ig user}/mentions` (a reply where an Instagram account was @mentioned);
//! - `POST /{page}/messages`: Messenger and Instagram DMs (`messaging_type=RESPONSE`, inside
//!   the 24-hour window since the customer's last message) and private replies
//!   (`recipient.comment_id` or `recipient.post_id`: one per comment or post, within 7 days);
//! - the reads that settle an unknown outcome (`GET /{id}/comments`, `/{id}/replies`,
//!   `/{page}/conversations`, `/{comment}?fields=can_reply_privately`) and the text of an
//!   Instagram @mention (`GET /{ig user}?fields=mentioned_comment.comment_id(…){…}`).
//!
//! Like Meta, it knows whose token is whose (a Page's token acts for the Page and the
//! Instagram account linked to it, and for nothing else), refuses what Meta refuses with
//! Meta's error codes, and sends the echo of each of Hark's messages back to the webhook,
//! signed, naming the app that sent it. A test can script an answer (a throttling code with
//! `X-Business-Use-Case-Usage`, a 5xx, an answer lost after the reply was made).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::Error;
pub use crate::x_api::ScriptedResponse;

/// The Graph API version Hark pins (template parameter `MetaGraphApiVersion`).
pub const GRAPH_VERSION: &str = "v26.0";
/// The app a person answers from in Meta Business Suite's inbox: its echoes are a person's.
pub const BUSINESS_SUITE_APP_ID: &str = "263902037430900";
const MESSAGING_WINDOW: TimeDelta = TimeDelta::hours(24);
const PRIVATE_REPLY_WINDOW: TimeDelta = TimeDelta::days(7);
const MAX_COMMENT_CHARS: usize = 8000;
const MAX_POST_CHARS: usize = 63_206;
const MAX_MESSAGE_CHARS: usize = 2000;

/// One request Hark made.
#[derive(Debug, Clone)]
pub struct GraphRequest {
    pub method: String,
    /// Without the version: `/901_903/comments`.
    pub path: String,
    pub query: HashMap<String, String>,
    pub authorization: Option<String>,
    pub body: Value,
    pub status: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PagePost,
    PageComment,
    InstagramMedia,
    InstagramComment,
}

#[derive(Debug, Clone)]
struct Object {
    id: String,
    /// The Page or Instagram account it lives on.
    account: String,
    kind: Kind,
    from_id: String,
    /// A Facebook name, or an Instagram username.
    from_name: String,
    text: String,
    /// The comment or post it answers; the top-level one on Instagram.
    parent: Option<String>,
    created_at: DateTime<Utc>,
    private_replied: bool,
    /// The Instagram accounts it @mentions.
    mentions: Vec<String>,
}

#[derive(Debug, Clone)]
struct DirectMessage {
    mid: String,
    account: String,
    user: String,
    from_business: bool,
    text: String,
    at: DateTime<Utc>,
}

struct Page {
    token: String,
    app_id: String,
}

/// Where an app's deliveries go, and the secret that signs them.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub app_id: String,
    pub url: String,
    pub app_secret: String,
}

#[derive(Default)]
struct GraphState {
    pages: HashMap<String, Page>,
    /// Instagram account → its Page.
    instagram: HashMap<String, String>,
    objects: HashMap<String, Object>,
    /// Creation order, for listings.
    order: Vec<String>,
    messages: Vec<DirectMessage>,
    requests: Vec<GraphRequest>,
    script: VecDeque<ScriptedResponse>,
    /// By app id.
    subscribers: HashMap<String, Subscriber>,
    /// The echo of everything Hark made, delivered or not.
    echoes: Vec<Event>,
    /// How many of them a subscriber's webhook accepted.
    echoes_accepted: usize,
    next: u64,
}

impl GraphState {
    fn next_number(&mut self) -> u64 {
        self.next += 1;
        17_900_000_000_000_000 + self.next
    }

    /// The Page whose token acts for `account`.
    fn page_of(&self, account: &str) -> Option<&str> {
        match self.pages.get_key_value(account) {
            Some((page, _)) => Some(page),
            None => self.instagram.get(account).map(String::as_str),
        }
    }

    fn page_of_token(&self, headers: &HeaderMap) -> Option<String> {
        let token = headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?;
        self.pages.iter().find(|(_, page)| page.token == token).map(|(id, _)| id.clone())
    }

    fn insert(&mut self, object: Object) {
        self.order.push(object.id.clone());
        self.objects.insert(object.id.clone(), object);
    }

    /// The post a Facebook object hangs from.
    fn root_post(&self, id: &str) -> String {
        let mut at = id.to_owned();
        while let Some(parent) = self.objects.get(&at).and_then(|o| o.parent.clone()) {
            at = parent;
        }
        at
    }
}

type Shared = Arc<Mutex<GraphState>>;

/// A delivery's part for one event, as Meta would put it in `entry[]`.
#[derive(Debug, Clone)]
pub struct Event {
    /// `page` or `instagram`.
    pub object: &'static str,
    pub entry: Value,
    /// The id of what the event is about (comment, post, message).
    pub id: String,
}

#[derive(Clone)]
pub struct LocalGraphApi {
    /// Without the version: `http://127.0.0.1:PORT`.
    pub base_url: String,
    state: Shared,
    http: reqwest::Client,
}

impl LocalGraphApi {
    /// Serves on `127.0.0.1:port` (0 picks a free port) until the runtime stops.
    pub async fn start(port: u16) -> Result<Self, Error> {
        let state: Shared = Arc::default();
        let app = axum::Router::new()
            .route("/{version}/{id}", get(read_object))
            .route("/{version}/{id}/{edge}", get(read_edge).post(write_edge))
            // Not Meta's: what it received, for the load tool and anyone watching a local run.
            .route("/_local/stats", get(stats))
            .with_state(state.clone());
        let base_url = crate::serve_loopback("the local Graph API", port, app).await?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Usage(format!("HTTP client: {e}")))?;
        Ok(LocalGraphApi { base_url, state, http })
    }

    /// A Page, its access token, and the app the token was issued to.
    pub fn register_page(&self, page_id: &str, access_token: &str, app_id: &str) {
        let page = Page { token: access_token.to_owned(), app_id: app_id.to_owned() };
        self.lock().pages.insert(page_id.to_owned(), page);
    }

    /// An Instagram professional account linked to a Page.
    pub fn register_instagram(&self, ig_id: &str, page_id: &str) {
        self.lock().instagram.insert(ig_id.to_owned(), page_id.to_owned());
    }

    /// Meta revokes a Page's token (the admin changed their password).
    pub fn revoke_token(&self, page_id: &str) {
        if let Some(page) = self.lock().pages.get_mut(page_id) {
            page.token = format!("revoked-{}", Utc::now().timestamp_micros());
        }
    }

    /// Where echoes of what an app's tokens make are delivered, signed with its secret.
    pub fn subscribe(&self, subscriber: Subscriber) {
        self.lock().subscribers.insert(subscriber.app_id.clone(), subscriber);
    }

    pub fn respond_next(&self, response: ScriptedResponse) {
        self.lock().script.push_back(response);
    }

    /// Every request Hark made, in order.
    pub fn requests(&self) -> Vec<GraphRequest> {
        self.lock().requests.clone()
    }

    /// The echoes Meta sends of what Hark made, in order (delivered when an app subscribed).
    pub fn echoes(&self) -> Vec<Event> {
        self.lock().echoes.clone()
    }

    /// How many echoes a subscribed webhook has accepted (answered 2xx).
    pub fn echoes_accepted(&self) -> usize {
        self.lock().echoes_accepted
    }

    /// The writes among them.
    pub fn writes(&self) -> Vec<GraphRequest> {
        self.requests().into_iter().filter(|r| r.method == "POST").collect()
    }

    /// What the business (Hark or a person) has said in public under `id`, oldest first.
    pub fn business_replies_to(&self, id: &str) -> Vec<String> {
        let s = self.lock();
        s.order
            .iter()
            .filter_map(|o| s.objects.get(o))
            .filter(|o| o.parent.as_deref() == Some(id) && s.page_of(&o.from_id).is_some())
            .map(|o| o.text.clone())
            .collect()
    }

    /// Every DM the business sent to `user`, oldest first.
    pub fn messages_to(&self, user: &str) -> Vec<String> {
        let s = self.lock();
        s.messages.iter().filter(|m| m.user == user && m.from_business).map(|m| m.text.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GraphState> {
        self.state.lock().expect("Graph API state")
    }

    // The customers' side: each returns the event Meta would deliver.

    /// A post of the Page itself, for customers to comment on. (Its own feed event is the
    /// Page's broadcast, which Hark skips; none is returned.)
    pub fn page_post(&self, page: &str, text: &str) -> String {
        let mut s = self.lock();
        let id = format!("{page}_{}", s.next_number());
        s.insert(Object {
            id: id.clone(),
            account: page.to_owned(),
            kind: Kind::PagePost,
            from_id: page.to_owned(),
            from_name: "the Page".into(),
            text: text.to_owned(),
            parent: None,
            created_at: Utc::now(),
            private_replied: false,
            mentions: Vec::new(),
        });
        id
    }

    /// A customer comments on a post or a comment of `page`.
    pub fn comment(&self, page: &str, on: &str, from: (&str, &str), text: &str) -> Event {
        let mut s = self.lock();
        let post = s.root_post(on);
        let id = format!("{}_{}", post.rsplit('_').next().unwrap_or(&post), s.next_number());
        s.insert(Object {
            id: id.clone(),
            account: page.to_owned(),
            kind: Kind::PageComment,
            from_id: from.0.to_owned(),
            from_name: from.1.to_owned(),
            text: text.to_owned(),
            parent: Some(on.to_owned()),
            created_at: Utc::now(),
            private_replied: false,
            mentions: Vec::new(),
        });
        let value = json!({"item": "comment", "verb": "add", "comment_id": id, "post_id": post, "parent_id": on,
            "from": {"id": from.0, "name": from.1}, "created_time": Utc::now().timestamp(), "message": text});
        feed_event(page, id, value)
    }

    /// A person at the business answers a comment as the Page (from Business Suite or the app).
    pub fn person_comments(&self, page: &str, on: &str, text: &str) -> Event {
        let mut s = self.lock();
        let post = s.root_post(on);
        let id = format!("{}_{}", post.rsplit('_').next().unwrap_or(&post), s.next_number());
        s.insert(Object {
            id: id.clone(),
            account: page.to_owned(),
            kind: Kind::PageComment,
            from_id: page.to_owned(),
            from_name: "the Page".into(),
            text: text.to_owned(),
            parent: Some(on.to_owned()),
            created_at: Utc::now(),
            private_replied: false,
            mentions: Vec::new(),
        });
        let value = json!({"item": "comment", "verb": "add", "comment_id": id, "post_id": post, "parent_id": on,
            "from": {"id": page, "name": "Acme Air"}, "created_time": Utc::now().timestamp(), "message": text});
        feed_event(page, id, value)
    }

    /// A visitor posts on the Page's wall.
    pub fn visitor_post(&self, page: &str, from: (&str, &str), text: &str) -> Event {
        let mut s = self.lock();
        let id = format!("{page}_{}", s.next_number());
        s.insert(Object {
            id: id.clone(),
            account: page.to_owned(),
            kind: Kind::PagePost,
            from_id: from.0.to_owned(),
            from_name: from.1.to_owned(),
            text: text.to_owned(),
            parent: None,
            created_at: Utc::now(),
            private_replied: false,
            mentions: Vec::new(),
        });
        let value = json!({"item": "status", "verb": "add", "post_id": id, "from": {"id": from.0, "name": from.1},
            "created_time": Utc::now().timestamp(), "message": text});
        feed_event(page, id, value)
    }

    /// The author edits a Facebook comment (Meta names them by `sender_id` in edits).
    pub fn edit_comment(&self, id: &str, text: &str) -> Option<Event> {
        let mut s = self.lock();
        let post = s.root_post(id);
        let object = s.objects.get_mut(id)?;
        object.text = text.to_owned();
        let value = json!({"item": "comment", "verb": "edited", "comment_id": id, "post_id": post,
            "parent_id": object.parent, "sender_id": object.from_id, "sender_name": object.from_name,
            "created_time": Utc::now().timestamp(), "message": text});
        Some(feed_event(&object.account.clone(), id.to_owned(), value))
    }

    /// The author removes a Facebook comment (no message in the event).
    pub fn remove_comment(&self, id: &str) -> Option<Event> {
        let mut s = self.lock();
        let post = s.root_post(id);
        let object = s.objects.remove(id)?;
        let value = json!({"item": "comment", "verb": "remove", "comment_id": id, "post_id": post,
            "parent_id": object.parent, "from": {"id": object.from_id}, "created_time": Utc::now().timestamp()});
        Some(feed_event(&object.account, id.to_owned(), value))
    }

    /// A customer writes to a Page in Messenger (or to an Instagram account in Direct).
    pub fn message(&self, account: &str, user: &str, text: &str) -> Event {
        self.customer_message(account, user, text, false)
    }

    /// The same, while another app owns the conversation: Meta delivers it under `standby`.
    pub fn message_in_standby(&self, account: &str, user: &str, text: &str) -> Event {
        self.customer_message(account, user, text, true)
    }

    fn customer_message(&self, account: &str, user: &str, text: &str, standby: bool) -> Event {
        let (object, mid, at) = self.record_message(account, user, text, false);
        let event = json!({"sender": {"id": user}, "recipient": {"id": account}, "timestamp": at.timestamp_millis(),
            "message": {"mid": mid, "text": text}});
        messaging_event(object, account, mid, event, standby)
    }

    /// A person at the business answers a DM from Business Suite: Meta echoes it to every
    /// subscribed app, naming Business Suite as the sender.
    pub fn person_messages(&self, account: &str, user: &str, text: &str) -> Event {
        let (object, mid, at) = self.record_message(account, user, text, true);
        let app_id = BUSINESS_SUITE_APP_ID.parse::<u64>().unwrap_or(0);
        let event = json!({"sender": {"id": account}, "recipient": {"id": user}, "timestamp": at.timestamp_millis(),
            "message": {"mid": mid, "text": text, "is_echo": true, "app_id": app_id}});
        messaging_event(object, account, mid, event, false)
    }

    /// Keeps a DM between `account` and `user`; returns the delivery's object, its id and time.
    fn record_message(
        &self,
        account: &str,
        user: &str,
        text: &str,
        from_business: bool,
    ) -> (&'static str, String, DateTime<Utc>) {
        let mut s = self.lock();
        let mid = format!("m_{}", s.next_number());
        let at = Utc::now();
        s.messages.push(DirectMessage {
            mid: mid.clone(),
            account: account.to_owned(),
            user: user.to_owned(),
            from_business,
            text: text.to_owned(),
            at,
        });
        let object = if s.pages.contains_key(account) { "page" } else { "instagram" };
        (object, mid, at)
    }

    /// A media post of an Instagram account.
    pub fn instagram_media(&self, ig: &str, caption: &str) -> String {
        let mut s = self.lock();
        let id = s.next_number().to_string();
        s.insert(Object {
            id: id.clone(),
            account: ig.to_owned(),
            kind: Kind::InstagramMedia,
            from_id: ig.to_owned(),
            from_name: "acmeair".into(),
            text: caption.to_owned(),
            parent: None,
            created_at: Utc::now(),
            private_replied: false,
            mentions: Vec::new(),
        });
        id
    }

    /// A customer comments on the account's media, or replies to a comment there.
    pub fn instagram_comment(&self, ig: &str, on: &str, from: (&str, &str), text: &str) -> Event {
        let mut s = self.lock();
        let id = s.next_number().to_string();
        let media = s.root_post(on);
        // Instagram threads are one level deep: a reply to a reply hangs on the top.
        let parent = match s.objects.get(on).map(|o| o.kind) {
            Some(Kind::InstagramComment) => {
                Some(s.objects[on].parent.clone().filter(|p| *p != media).unwrap_or(on.to_owned()))
            }
            _ => None,
        };
        s.insert(Object {
            id: id.clone(),
            account: ig.to_owned(),
            kind: Kind::InstagramComment,
            from_id: from.0.to_owned(),
            from_name: from.1.to_owned(),
            text: text.to_owned(),
            parent: Some(parent.clone().unwrap_or(media.clone())),
            created_at: Utc::now(),
            private_replied: false,
            mentions: Vec::new(),
        });
        let mut value = json!({"from": {"id": from.0, "username": from.1}, "id": id, "text": text,
            "media": {"id": media, "media_product_type": "FEED"}});
        if let Some(parent) = parent {
            value["parent_id"] = Value::String(parent);
        }
        changes_event("instagram", ig, id, "comments", value)
    }

    /// Someone @mentions an Instagram account in a comment on their own media. Meta sends
    /// only where it is; the text is Hark's to fetch.
    pub fn instagram_mention(&self, ig: &str, from: (&str, &str), text: &str) -> Event {
        let mut s = self.lock();
        let media = s.next_number().to_string();
        let comment = s.next_number().to_string();
        let now = Utc::now();
        s.insert(Object {
            id: media.clone(),
            account: from.0.to_owned(),
            kind: Kind::InstagramMedia,
            from_id: from.0.to_owned(),
            from_name: from.1.to_owned(),
            text: "my trip".into(),
            parent: None,
            created_at: now,
            private_replied: false,
            mentions: Vec::new(),
        });
        s.insert(Object {
            id: comment.clone(),
            account: from.0.to_owned(),
            kind: Kind::InstagramComment,
            from_id: from.0.to_owned(),
            from_name: from.1.to_owned(),
            text: text.to_owned(),
            parent: Some(media.clone()),
            created_at: now,
            private_replied: false,
            mentions: vec![ig.to_owned()],
        });
        changes_event("instagram", ig, comment.clone(), "mentions", json!({"media_id": media, "comment_id": comment}))
    }

    /// Signs `events` as one delivery (several entries: a batch) and POSTs it to `url`.
    /// Returns the status Hark answered with.
    pub async fn deliver(&self, url: &str, app_secret: &str, events: &[Event]) -> Result<u16, Error> {
        let body = delivery_body(events)?;
        let signature = hark_shared::channels::meta::inbound::sign(app_secret, body.as_bytes());
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| Error::Usage(format!("POST {url}: {e}")))?;
        Ok(response.status().as_u16())
    }
}

/// One delivery's bytes, as Meta writes them: every entry of one `object`, with non-ASCII
/// characters and `/` escaped (what Meta signs is that escaped form).
pub fn delivery_body(events: &[Event]) -> Result<String, Error> {
    let object = events.first().map(|e| e.object).ok_or_else(|| Error::Usage("a delivery of no events".into()))?;
    if events.iter().any(|e| e.object != object) {
        return Err(Error::Usage("one delivery carries one object (page or instagram)".into()));
    }
    let entries: Vec<Value> = events.iter().map(|e| e.entry.clone()).collect();
    Ok(meta_escaped(&json!({"object": object, "entry": entries}).to_string()))
}

/// `é` → `\u00e9`, emoji → surrogate pairs, `/` → `\/`: only ever inside JSON strings.
pub fn meta_escaped(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '/' => out.push_str("\\/"),
            c if c.is_ascii() => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out
}

fn feed_event(page: &str, id: String, value: Value) -> Event {
    changes_event("page", page, id, "feed", value)
}

fn changes_event(object: &'static str, account: &str, id: String, field: &str, value: Value) -> Event {
    let entry = json!({"id": account, "time": Utc::now().timestamp(), "changes": [{"field": field, "value": value}]});
    Event { object, entry, id }
}

fn messaging_event(object: &'static str, account: &str, id: String, event: Value, standby: bool) -> Event {
    let key = if standby { "standby" } else { "messaging" };
    let entry = json!({"id": account, "time": Utc::now().timestamp_millis(), key: [event]});
    Event { object, entry, id }
}

/// A refusal, as Meta words it: `{"error": {"message", "type", "code", "error_subcode"}}`.
#[derive(Debug)]
struct GraphError {
    status: StatusCode,
    code: i64,
    subcode: Option<i64>,
    message: String,
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut error =
            json!({"message": self.message, "type": "OAuthException", "code": self.code, "fbtrace_id": "AhArk0cal"});
        if let Some(subcode) = self.subcode {
            error["error_subcode"] = json!(subcode);
        }
        (self.status, axum::Json(json!({ "error": error }))).into_response()
    }
}

fn graph_error(status: StatusCode, code: i64, subcode: Option<i64>, message: &str) -> GraphError {
    GraphError { status, code, subcode, message: message.to_owned() }
}

fn invalid_parameter(message: &str) -> GraphError {
    graph_error(StatusCode::BAD_REQUEST, 100, None, &format!("(#100) {message}"))
}

/// Checks what every request must have; on success the Page the token acts for.
/// A scripted answer for a read. Only a script naming the read (`only_for: "GET /{path}"`)
/// answers it, so scripts meant for writes are never spent on lookups.
fn scripted_read(s: &mut GraphState, path: &str) -> Option<Response> {
    let name = format!("GET {path}");
    let at = s.script.iter().position(|r| r.only_for.as_deref() == Some(name.as_str()))?;
    let scripted = s.script.remove(at)?;
    if let Some(last) = s.requests.last_mut() {
        last.status = scripted.status;
    }
    Some(scripted.answer())
}

fn authorise(
    s: &mut GraphState,
    method: &Method,
    version: &str,
    path: String,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Value,
) -> Result<String, GraphError> {
    let mut request = GraphRequest {
        method: method.to_string(),
        path,
        query: query.clone(),
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
        body: body.clone(),
        status: 200,
    };
    let refused = if version != GRAPH_VERSION {
        Some(graph_error(StatusCode::BAD_REQUEST, 2635, None, &format!("Hark pins {GRAPH_VERSION}, not {version}")))
    } else if query.contains_key("access_token") {
        // Meta takes it; URLs end up in logs, so Hark must never send it there.
        Some(invalid_parameter("the local Graph API refuses access tokens in URLs"))
    } else {
        match s.page_of_token(headers) {
            Some(page) => {
                s.requests.push(request);
                return Ok(page);
            }
            None => Some(graph_error(
                StatusCode::BAD_REQUEST,
                190,
                None,
                "Invalid OAuth access token - Cannot parse access token",
            )),
        }
    };
    let refused = refused.expect("a refusal");
    request.status = refused.status.as_u16();
    s.requests.push(request);
    Err(refused)
}

fn set_last_status(s: &mut GraphState, status: StatusCode) {
    if let Some(last) = s.requests.last_mut() {
        last.status = status.as_u16();
    }
}

/// What a write creates, once every check has passed.
enum Creation {
    Comment(Object),
    Message(DirectMessage),
    PrivateReply { on: String, message: DirectMessage },
}

async fn write_edge(
    State(state): State<Shared>,
    Path((version, id, edge)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (response, echo) = {
        let mut s = state.lock().expect("Graph API state");
        let page = match authorise(&mut s, &method, &version, format!("/{id}/{edge}"), &query, &headers, &body) {
            Ok(page) => page,
            Err(refused) => return refused.into_response(),
        };
        let creation = match edge.as_str() {
            "comments" | "replies" => comment_reply(&mut s, &page, &id, &edge, &body),
            "mentions" => mention_reply(&mut s, &page, &id, &body),
            "messages" => send_message(&mut s, &page, &id, &body),
            "feed" if id == page => page_post(&mut s, &page, &body),
            other => Err(invalid_parameter(&format!("Unknown edge {other} for a write"))),
        };
        let creation = match creation {
            Ok(creation) => creation,
            Err(refused) => {
                set_last_status(&mut s, refused.status);
                return refused.into_response();
            }
        };
        let target = match &creation {
            Creation::Comment(o) => o.parent.clone().unwrap_or_default(),
            Creation::Message(m) => m.user.clone(),
            Creation::PrivateReply { on, .. } => on.clone(),
        };
        let at = s.script.iter().position(|r| r.only_for.as_ref().is_none_or(|t| *t == target));
        let scripted = at.and_then(|at| s.script.remove(at));
        let creates = scripted.as_ref().is_none_or(|r| (200..300).contains(&r.status) || r.create_anyway);
        let app_id = s.pages.get(&page).map(|p| p.app_id.clone()).unwrap_or_default();
        let (answer, echo) = if creates { created(&mut s, creation, &app_id) } else { (Value::Null, None) };
        let response = match scripted {
            Some(scripted) => {
                let delay = scripted.delay;
                (Some(delay), ScriptedResponse::answer(scripted))
            }
            None => (None, (StatusCode::OK, axum::Json(answer)).into_response()),
        };
        set_last_status(&mut s, response.1.status());
        let subscriber = s.subscribers.get(&app_id).cloned();
        if let Some(event) = &echo {
            s.echoes.push(event.clone());
        }
        (response, echo.zip(subscriber))
    };
    if let Some((event, subscriber)) = echo {
        // Meta echoes what was made, whatever it answered.
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(body) = delivery_body(&[event]) else { return };
            let signature = hark_shared::channels::meta::inbound::sign(&subscriber.app_secret, body.as_bytes());
            let client = reqwest::Client::new();
            let sent = client
                .post(&subscriber.url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", signature)
                .body(body)
                .send()
                .await;
            match sent {
                Ok(answer) if answer.status().is_success() => {
                    state.lock().expect("Graph API state").echoes_accepted += 1;
                }
                Ok(answer) => eprintln!("hark-local: the webhook refused an echo with {}", answer.status()),
                Err(e) => eprintln!("hark-local: the local Graph API could not deliver an echo: {e}"),
            }
        });
    }
    let (delay, response) = response;
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    response
}

fn text_of(body: &Value, max: usize) -> Result<String, GraphError> {
    let text = body["message"].as_str().or(body["message"]["text"].as_str()).unwrap_or_default();
    if text.trim().is_empty() {
        return Err(invalid_parameter("The parameter message is required"));
    }
    if text.chars().count() > max {
        return Err(invalid_parameter(&format!("message is longer than {max} characters")));
    }
    Ok(text.to_owned())
}

/// A post of the Page's own, on its feed (`POST /{page-id}/feed`).
fn page_post(s: &mut GraphState, page: &str, body: &Value) -> Result<Creation, GraphError> {
    let text = text_of(body, MAX_POST_CHARS)?;
    let number = s.next_number();
    Ok(Creation::Comment(Object {
        id: format!("{page}_{number}"),
        account: page.to_owned(),
        kind: Kind::PagePost,
        from_id: page.to_owned(),
        from_name: "Acme Air".into(),
        text,
        parent: None,
        created_at: Utc::now(),
        private_replied: false,
        mentions: Vec::new(),
    }))
}

fn comment_reply(s: &mut GraphState, page: &str, id: &str, edge: &str, body: &Value) -> Result<Creation, GraphError> {
    let text = text_of(body, MAX_COMMENT_CHARS)?;
    let Some(object) = s.objects.get(id).cloned() else {
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            100,
            Some(33),
            "(#100) Object does not exist or cannot be loaded",
        ));
    };
    if s.page_of(&object.account) != Some(page) {
        return Err(graph_error(StatusCode::FORBIDDEN, 200, None, "(#200) Permissions error"));
    }
    let parent = match (edge, object.kind) {
        ("comments", Kind::PagePost | Kind::PageComment) => id.to_owned(),
        // `/replies` answers top-level comments; a reply to a reply lands on the top one.
        ("replies", Kind::InstagramComment) => match &object.parent {
            Some(parent) if s.objects.get(parent).is_some_and(|p| p.kind == Kind::InstagramComment) => parent.clone(),
            _ => id.to_owned(),
        },
        _ => return Err(invalid_parameter(&format!("{edge} cannot be written on this object"))),
    };
    let kind = if object.kind == Kind::InstagramComment { Kind::InstagramComment } else { Kind::PageComment };
    let number = s.next_number();
    let new_id = if kind == Kind::PageComment {
        let post = s.root_post(id);
        format!("{}_{number}", post.rsplit('_').next().unwrap_or(&post))
    } else {
        number.to_string()
    };
    let from_id = page_or_ig(s, page, kind, &object);
    Ok(Creation::Comment(Object {
        id: new_id,
        account: object.account,
        kind,
        from_id,
        from_name: "acmeair".into(),
        text,
        parent: Some(parent),
        created_at: Utc::now(),
        private_replied: false,
        mentions: Vec::new(),
    }))
}

/// Who a business comment is from: the Page, or the Instagram account it answers on.
fn page_or_ig(s: &GraphState, page: &str, kind: Kind, object: &Object) -> String {
    if kind == Kind::InstagramComment && s.instagram.contains_key(&object.account) {
        object.account.clone()
    } else {
        page.to_owned()
    }
}

fn mention_reply(s: &mut GraphState, page: &str, ig: &str, body: &Value) -> Result<Creation, GraphError> {
    if s.instagram.get(ig).map(String::as_str) != Some(page) {
        return Err(graph_error(StatusCode::FORBIDDEN, 200, None, "(#200) Permissions error"));
    }
    let text = text_of(body, MAX_COMMENT_CHARS)?;
    let media = body["media_id"].as_str().unwrap_or_default();
    let on = body["comment_id"].as_str().unwrap_or(media);
    let mentioned =
        s.objects.get(on).is_some_and(|o| o.mentions.iter().any(|m| m == ig) || o.kind == Kind::InstagramMedia);
    if media.is_empty() || !s.objects.contains_key(media) || !mentioned {
        return Err(invalid_parameter("media_id (and comment_id) must name where the account was mentioned"));
    }
    let id = s.next_number().to_string();
    Ok(Creation::Comment(Object {
        id,
        account: s.objects[media].account.clone(),
        kind: Kind::InstagramComment,
        from_id: ig.to_owned(),
        from_name: "acmeair".into(),
        text,
        parent: Some(on.to_owned()),
        created_at: Utc::now(),
        private_replied: false,
        mentions: Vec::new(),
    }))
}

fn send_message(s: &mut GraphState, page: &str, id: &str, body: &Value) -> Result<Creation, GraphError> {
    if id != page {
        return Err(graph_error(StatusCode::FORBIDDEN, 200, None, "(#200) Permissions error"));
    }
    let text = body["message"]["text"].as_str().unwrap_or_default().to_owned();
    if text.trim().is_empty() || text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(invalid_parameter("message.text must be 1 to 2000 characters"));
    }
    let recipient = &body["recipient"];
    let now = Utc::now();
    if let Some(on) = recipient["comment_id"].as_str().or(recipient["post_id"].as_str()) {
        let Some(object) = s.objects.get(on).cloned() else {
            return Err(graph_error(StatusCode::BAD_REQUEST, 100, Some(33), "(#100) Object does not exist"));
        };
        if s.page_of(&object.account) != Some(page) {
            return Err(graph_error(StatusCode::FORBIDDEN, 200, None, "(#200) Permissions error"));
        }
        if object.private_replied {
            return Err(graph_error(StatusCode::BAD_REQUEST, 10900, None, "Activity already replied to"));
        }
        if now - object.created_at > PRIVATE_REPLY_WINDOW {
            return Err(graph_error(StatusCode::BAD_REQUEST, 10, Some(2018278), "The private reply window has closed"));
        }
        let message = DirectMessage {
            mid: format!("m_{}", s.next_number()),
            account: object.account,
            user: object.from_id,
            from_business: true,
            text,
            at: now,
        };
        return Ok(Creation::PrivateReply { on: on.to_owned(), message });
    }
    let Some(user) = recipient["id"].as_str() else {
        return Err(invalid_parameter("recipient needs id, comment_id or post_id"));
    };
    if body["messaging_type"].as_str() != Some("RESPONSE") {
        // Hark answers customers; it never sends updates or tagged messages on its own.
        return Err(invalid_parameter("messaging_type must be RESPONSE for an answer"));
    }
    let last = s
        .messages
        .iter()
        .filter(|m| m.user == user && !m.from_business && s.page_of(&m.account) == Some(page))
        .max_by_key(|m| m.at);
    let Some(last) = last else {
        return Err(graph_error(StatusCode::BAD_REQUEST, 100, Some(2018001), "(#100) No matching user found"));
    };
    if now - last.at > MESSAGING_WINDOW {
        let subcode = if s.instagram.contains_key(&last.account) { 2534022 } else { 2018278 };
        return Err(graph_error(
            StatusCode::BAD_REQUEST,
            10,
            Some(subcode),
            "(#10) This message is sent outside of allowed window.",
        ));
    }
    let account = last.account.clone();
    let mid = format!("m_{}", s.next_number());
    Ok(Creation::Message(DirectMessage { mid, account, user: user.to_owned(), from_business: true, text, at: now }))
}

/// Makes it, and the echo Meta would send of it.
fn created(s: &mut GraphState, creation: Creation, app_id: &str) -> (Value, Option<Event>) {
    let app = app_id.parse::<u64>().map(Value::from).unwrap_or(Value::String(app_id.to_owned()));
    match creation {
        Creation::Comment(object) => {
            let id = object.id.clone();
            let echo = match object.kind {
                Kind::InstagramComment => {
                    let value = json!({"from": {"id": object.from_id, "username": "acmeair"}, "id": id,
                        "text": object.text, "parent_id": object.parent,
                        "media": {"id": s.root_post(object.parent.as_deref().unwrap_or(&id)), "media_product_type": "FEED"}});
                    // Only the account's own media sends comment webhooks.
                    s.instagram
                        .contains_key(&object.account)
                        .then(|| changes_event("instagram", &object.account, id.clone(), "comments", value))
                }
                // The Page's own post: Meta reports it as a status on the feed.
                Kind::PagePost => {
                    let value = json!({"item": "status", "verb": "add", "post_id": id,
                        "from": {"id": object.from_id, "name": "Acme Air"},
                        "created_time": object.created_at.timestamp(), "message": object.text});
                    Some(feed_event(&object.account, id.clone(), value))
                }
                _ => {
                    let post = s.root_post(object.parent.as_deref().unwrap_or(&id));
                    let value = json!({"item": "comment", "verb": "add", "comment_id": id, "post_id": post,
                        "parent_id": object.parent, "from": {"id": object.from_id, "name": "Acme Air"},
                        "created_time": object.created_at.timestamp(), "message": object.text});
                    Some(feed_event(&object.account, id.clone(), value))
                }
            };
            s.insert(object);
            (json!({ "id": id }), echo)
        }
        Creation::PrivateReply { on, message } => {
            if let Some(object) = s.objects.get_mut(&on) {
                object.private_replied = true;
            }
            message_created(s, message, &app)
        }
        Creation::Message(message) => message_created(s, message, &app),
    }
}

fn message_created(s: &mut GraphState, message: DirectMessage, app: &Value) -> (Value, Option<Event>) {
    let object = if s.pages.contains_key(&message.account) { "page" } else { "instagram" };
    let event = json!({"sender": {"id": message.account}, "recipient": {"id": message.user},
        "timestamp": message.at.timestamp_millis(),
        "message": {"mid": message.mid, "text": message.text, "is_echo": true, "app_id": app}});
    let answer = json!({"recipient_id": message.user, "message_id": message.mid});
    let echo = messaging_event(object, &message.account, message.mid.clone(), event, false);
    s.messages.push(message);
    (answer, Some(echo))
}

async fn read_object(
    State(state): State<Shared>,
    Path((version, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let mut s = state.lock().expect("Graph API state");
    let page = authorise(&mut s, &method, &version, format!("/{id}"), &query, &headers, &Value::Null)?;
    if let Some(scripted) = scripted_read(&mut s, &format!("/{id}")) {
        return Ok(scripted);
    }
    let fields = query.get("fields").map(String::as_str).unwrap_or("id");
    // An Instagram account's view of where it was @mentioned.
    if s.instagram.get(&id).map(String::as_str) == Some(page.as_str()) {
        for (edge, argument) in [("mentioned_comment", "comment_id"), ("mentioned_media", "media_id")] {
            let Some(rest) = fields.strip_prefix(&format!("{edge}.{argument}(")) else { continue };
            let Some((target, _)) = rest.split_once(')') else { return Err(invalid_parameter("fields")) };
            let Some(object) =
                s.objects.get(target).filter(|o| o.mentions.contains(&id) || o.kind == Kind::InstagramMedia)
            else {
                return Err(graph_error(StatusCode::BAD_REQUEST, 100, Some(33), "(#100) The mention does not exist"));
            };
            let text_field = if edge == "mentioned_comment" { "text" } else { "caption" };
            let found = json!({"id": object.id, text_field: object.text, "username": object.from_name,
                "timestamp": object.created_at.format("%Y-%m-%dT%H:%M:%S%z").to_string()});
            return Ok(axum::Json(json!({ edge: found, "id": id })).into_response());
        }
        return Err(invalid_parameter("fields"));
    }
    let Some(object) = s.objects.get(&id) else {
        return Err(graph_error(StatusCode::BAD_REQUEST, 100, Some(33), "(#100) Object does not exist"));
    };
    if s.page_of(&object.account) != Some(page.as_str()) {
        return Err(graph_error(StatusCode::FORBIDDEN, 200, None, "(#200) Permissions error"));
    }
    let mut answer = json!({"id": object.id});
    if fields.split(',').any(|f| f == "can_reply_privately") {
        let open = !object.private_replied && Utc::now() - object.created_at <= PRIVATE_REPLY_WINDOW;
        answer["can_reply_privately"] = Value::Bool(open);
    }
    if fields.split(',').any(|f| f == "message") {
        answer["message"] = Value::String(object.text.clone());
    }
    Ok(axum::Json(answer).into_response())
}

async fn read_edge(
    State(state): State<Shared>,
    Path((version, id, edge)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let mut s = state.lock().expect("Graph API state");
    let page = authorise(&mut s, &method, &version, format!("/{id}/{edge}"), &query, &headers, &Value::Null)?;
    if let Some(scripted) = scripted_read(&mut s, &format!("/{id}/{edge}")) {
        return Ok(scripted);
    }
    match edge.as_str() {
        "comments" | "replies" => {
            let Some(object) = s.objects.get(&id) else {
                return Err(graph_error(StatusCode::BAD_REQUEST, 100, Some(33), "(#100) Object does not exist"));
            };
            if s.page_of(&object.account) != Some(page.as_str())
                && !object.mentions.iter().any(|m| s.page_of(m) == Some(page.as_str()))
            {
                return Err(graph_error(StatusCode::FORBIDDEN, 200, None, "(#200) Permissions error"));
            }
            let text_key = if edge == "comments" { "message" } else { "text" };
            let mut children: Vec<Value> = s
                .order
                .iter()
                .filter_map(|o| s.objects.get(o))
                .filter(|o| o.parent.as_deref() == Some(id.as_str()))
                .map(|o| json!({"id": o.id, text_key: o.text, "from": {"id": o.from_id}, "timestamp": o.created_at.to_rfc3339_opts(SecondsFormat::Secs, true)}))
                .collect();
            if query.get("order").map(String::as_str) == Some("reverse_chronological") {
                children.reverse();
            }
            let limit = query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(25usize).min(100);
            children.truncate(limit);
            Ok(axum::Json(json!({ "data": children })).into_response())
        }
        "feed" if id == page => {
            let since = query.get("since").and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
            let posts: Vec<Value> = s
                .order
                .iter()
                .rev()
                .filter_map(|o| s.objects.get(o))
                .filter(|o| o.kind == Kind::PagePost && o.account == page && o.created_at.timestamp() >= since)
                .map(|o| {
                    json!({"id": o.id, "message": o.text, "from": {"id": o.from_id},
                    "created_time": o.created_at.to_rfc3339_opts(SecondsFormat::Secs, true)})
                })
                .collect();
            Ok(axum::Json(json!({ "data": posts })).into_response())
        }
        "conversations" if id == page => {
            let Some(user) = query.get("user_id") else { return Err(invalid_parameter("user_id is required")) };
            let instagram = query.get("platform").map(String::as_str) == Some("instagram");
            let messages: Vec<Value> = s
                .messages
                .iter()
                .filter(|m| &m.user == user && s.page_of(&m.account) == Some(page.as_str()))
                .filter(|m| s.instagram.contains_key(&m.account) == instagram)
                .rev()
                .take(25)
                .map(|m| {
                    let from = if m.from_business { &m.account } else { &m.user };
                    json!({"id": m.mid, "message": m.text, "from": {"id": from}})
                })
                .collect();
            if messages.is_empty() {
                return Ok(axum::Json(json!({ "data": [] })).into_response());
            }
            Ok(axum::Json(json!({"data": [{"id": format!("t_{user}"), "messages": {"data": messages}}]}))
                .into_response())
        }
        _ => Err(invalid_parameter(&format!("Unknown edge {edge}"))),
    }
}

/// Counts of what the local Graph API received and made, and the most business replies to
/// any one comment or DMs to one customer (an acknowledgement sent twice shows as 2).
async fn stats(State(state): State<Shared>) -> Response {
    let s = state.lock().expect("Graph API state");
    let mut replies: HashMap<&str, usize> = HashMap::new();
    for object in s.objects.values() {
        if let Some(parent) = &object.parent
            && s.page_of(&object.from_id).is_some()
        {
            *replies.entry(parent.as_str()).or_default() += 1;
        }
    }
    let mut dms: HashMap<&str, usize> = HashMap::new();
    for message in s.messages.iter().filter(|m| m.from_business) {
        *dms.entry(message.user.as_str()).or_default() += 1;
    }
    axum::Json(json!({
        "writes": s.requests.iter().filter(|r| r.method == "POST").count(),
        "reads": s.requests.iter().filter(|r| r.method == "GET").count(),
        "business_comments": replies.values().sum::<usize>(),
        "business_messages": dms.values().sum::<usize>(),
        "most_replies_to_one_comment": replies.values().copied().max().unwrap_or(0),
        "most_messages_to_one_customer": dms.values().copied().max().unwrap_or(0),
    }))
    .into_response()
}
