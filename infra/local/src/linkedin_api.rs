//! A local server speaking the LinkedIn shapes Hark uses: the Comments API
//! (`POST`/`GET /rest/socialActions/{post or comment URN}/comments`,
//! `GET /rest/socialActions/{post URN}/comments/{n}`), `GET /rest/posts/{URN}`, and the
//! organisation social-action webhooks it sends back, signed with the app's client secret.
//!
//! Like LinkedIn, it knows which token acts for which organisation and refuses others
//! (401), wants `LinkedIn-Version` and `X-Restli-Protocol-Version: 2.0.0` on every call, a
//! comment's `actor` to be the token's organisation, `object` to be the post, and
//! `parentComment` exactly when the path names a comment. Members' comments and mentions
//! are made here (the demo's and the tests' customers), each returning the signed delivery
//! LinkedIn would make; what Hark posts is echoed as an `ADMIN_COMMENT` notification to the
//! subscribed webhook. Scripted answers stand in for quotas (429 with LinkedIn's body, no
//! rate-limit headers) and outages.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use hark_shared::channels::linkedin::inbound::{SignatureVariant, sign};
use hark_shared::channels::linkedin::urn;
use serde_json::{Value, json};

use crate::Error;
use crate::x_api::ScriptedResponse;

/// The versions LinkedIn serves (about a year of them); anything else is refused.
const OLDEST_VERSION: u32 = 202512;
/// A comment's limit.
const MAX_COMMENT_CHARS: usize = 1250;

/// One request Hark made.
#[derive(Debug, Clone)]
pub struct LinkedInRequest {
    pub method: String,
    /// Decoded: `/rest/socialActions/urn:li:activity:1/comments`.
    pub path: String,
    pub body: Value,
    pub status: u16,
}

#[derive(Debug, Clone)]
struct Comment {
    /// `urn:li:comment:(urn:li:activity:1,2)`
    urn: String,
    post: String,
    parent: Option<String>,
    actor: String,
    text: String,
    created_ms: i64,
}

#[derive(Default)]
struct LinkedInState {
    /// The app's client secret, which signs every notification.
    client_secret: String,
    /// Access token → organisation number.
    tokens: HashMap<String, String>,
    /// The app's webhook.
    subscriber: Option<String>,
    posts: HashMap<String, (String, String)>,
    comments: Vec<Comment>,
    requests: Vec<LinkedInRequest>,
    script: VecDeque<ScriptedResponse>,
    next: u64,
    /// The notifications of the organisation's own comments, in order.
    echoes: Vec<Delivery>,
    echoes_accepted: usize,
}

impl LinkedInState {
    fn number(&mut self) -> u64 {
        self.next += 1;
        7_200_000_000_000_000_000 + self.next
    }
}

type Shared = Arc<Mutex<LinkedInState>>;

/// A signed delivery, as LinkedIn would POST it to the webhook.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub body: String,
    pub signature: String,
}

#[derive(Clone)]
pub struct LocalLinkedInApi {
    /// `http://127.0.0.1:PORT` (the API is under `/rest`).
    pub base_url: String,
    client_secret: String,
    state: Shared,
    http: reqwest::Client,
}

impl LocalLinkedInApi {
    /// Serves on `127.0.0.1:port` (0 picks a free port); deliveries are signed with `client_secret`.
    pub async fn start(port: u16, client_secret: &str) -> Result<Self, Error> {
        let state: Shared =
            Arc::new(Mutex::new(LinkedInState { client_secret: client_secret.to_owned(), ..Default::default() }));
        let app = axum::Router::new()
            .route("/rest/socialActions/{target}/comments", get(list_comments).post(create_comment))
            .route("/rest/socialActions/{target}/comments/{number}", get(read_comment))
            .route("/rest/posts/{target}", get(read_post))
            .with_state(state.clone());
        let base_url = crate::serve_loopback("the local LinkedIn API", port, app).await?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Usage(format!("HTTP client: {e}")))?;
        Ok(LocalLinkedInApi { base_url, client_secret: client_secret.to_owned(), state, http })
    }

    /// An organisation and the access token LinkedIn issued for it.
    pub fn register_organization(&self, organization: &str, access_token: &str) {
        self.lock().tokens.insert(access_token.to_owned(), organization.to_owned());
    }

    /// Where the notifications of what Hark posts are delivered.
    pub fn subscribe(&self, webhook_url: &str) {
        self.lock().subscriber = Some(webhook_url.to_owned());
    }

    /// LinkedIn's notifications of what Hark commented, in order (delivered when subscribed).
    pub fn echoes(&self) -> Vec<Delivery> {
        self.lock().echoes.clone()
    }

    pub fn respond_next(&self, response: ScriptedResponse) {
        self.lock().script.push_back(response);
    }

    pub fn requests(&self) -> Vec<LinkedInRequest> {
        self.lock().requests.clone()
    }

    /// What the organisation said under `id` (Hark's id of a post or comment), oldest first.
    pub fn organization_replies_to(&self, organization: &str, id: &str) -> Vec<String> {
        let actor = format!("urn:li:organization:{organization}");
        let Some(target) = urn::urn_of(id) else { return Vec::new() };
        let s = self.lock();
        s.comments
            .iter()
            .filter(|c| c.actor == actor && c.parent.as_deref().unwrap_or(&c.post) == target)
            .map(|c| c.text.clone())
            .collect()
    }

    /// How many of its notifications the webhook accepted (2xx).
    pub fn echoes_accepted(&self) -> usize {
        self.lock().echoes_accepted
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LinkedInState> {
        self.state.lock().expect("LinkedIn state")
    }

    // The members' side: each returns the delivery LinkedIn would make.

    /// A post of the organisation's, for members to comment on: its id (`activity:…`).
    pub fn organization_post(&self, organization: &str, text: &str) -> String {
        let mut s = self.lock();
        let urn = format!("urn:li:activity:{}", s.number());
        s.posts.insert(urn.clone(), (format!("urn:li:organization:{organization}"), text.to_owned()));
        urn::id_of(&urn).expect("a post URN")
    }

    /// A member comments on a post; with `decorated` false the notification leaves the
    /// text and author out, as LinkedIn's own sample does, and Hark fetches them.
    pub fn member_comments(
        &self,
        organization: &str,
        post: &str,
        member: &str,
        text: &str,
        decorated: bool,
    ) -> Delivery {
        let post_urn = urn::urn_of(post).expect("a post id");
        let comment = self.add_comment(&post_urn, None, &format!("urn:li:person:{member}"), text);
        self.notification(organization, "COMMENT", &comment, decorated)
    }

    /// A member's post that mentions the organisation.
    pub fn member_mentions(&self, organization: &str, member: &str, text: &str) -> Delivery {
        let mut s = self.lock();
        let share = format!("urn:li:share:{}", s.number());
        s.posts.insert(share.clone(), (format!("urn:li:person:{member}"), text.to_owned()));
        let n = s.number();
        drop(s);
        let notification = json!({
            "notificationId": n, "action": "SHARE_MENTION",
            "organizationalEntity": format!("urn:li:organization:{organization}"),
            "lastModifiedAt": Utc::now().timestamp_millis(), "generatedActivity": share,
            "decoratedGeneratedActivity": {"share": {"entity": share, "owner": format!("urn:li:person:{member}"), "text": text}},
        });
        self.signed(&[notification])
    }

    fn add_comment(&self, post: &str, parent: Option<&str>, actor: &str, text: &str) -> Comment {
        let mut s = self.lock();
        let number = s.number();
        let comment = Comment {
            urn: format!("urn:li:comment:({post},{number})"),
            post: post.to_owned(),
            parent: parent.map(str::to_owned),
            actor: actor.to_owned(),
            text: text.to_owned(),
            created_ms: Utc::now().timestamp_millis(),
        };
        s.comments.push(comment.clone());
        comment
    }

    fn notification(&self, organization: &str, action: &str, comment: &Comment, decorated: bool) -> Delivery {
        let n = self.lock().number();
        notification(&self.client_secret, n, organization, action, comment, decorated)
    }

    fn signed(&self, notifications: &[Value]) -> Delivery {
        signed(&self.client_secret, notifications)
    }

    /// Posts `delivery` to `url` as LinkedIn would: the status the webhook answered.
    pub async fn deliver(&self, url: &str, delivery: &Delivery) -> Result<u16, Error> {
        let answer = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-li-signature", &delivery.signature)
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|e| Error::Usage(format!("delivering to {url}: {e}")))?;
        Ok(answer.status().as_u16())
    }
}

/// LinkedIn's notification of one comment, numbered `n`.
fn notification(
    secret: &str,
    n: u64,
    organization: &str,
    action: &str,
    comment: &Comment,
    decorated: bool,
) -> Delivery {
    let short = comment.urn.replacen("(urn:li:", "(", 1);
    let mut notification = json!({
        "notificationId": n, "action": action,
        "organizationalEntity": format!("urn:li:organization:{organization}"),
        "lastModifiedAt": comment.created_ms, "sourcePost": comment.post, "generatedActivity": short,
    });
    if decorated {
        let mut entity =
            json!({"entity": comment.urn, "owner": comment.actor, "object": comment.post, "text": comment.text});
        if let Some(parent) = &comment.parent {
            entity["parentComment"] = json!(parent);
        }
        notification["decoratedGeneratedActivity"] = json!({"comment": entity});
    }
    signed(secret, &[notification])
}

/// The doc-literal reading of `X-LI-Signature` (Hark accepts both).
fn signed(secret: &str, notifications: &[Value]) -> Delivery {
    let body = json!({"type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS", "notifications": notifications}).to_string();
    let signature = sign(secret, SignatureVariant::Prefixed, body.as_bytes());
    Delivery { body, signature }
}

struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"status": self.0.as_u16(), "message": self.1}))).into_response()
    }
}

/// What every call must carry; the organisation the token acts for.
fn authorise(s: &LinkedInState, headers: &HeaderMap) -> Result<String, Refusal> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let version = header("linkedin-version").and_then(|v| v.parse::<u32>().ok());
    if !version.is_some_and(|v| (OLDEST_VERSION..=209912).contains(&v)) {
        return Err(Refusal(StatusCode::BAD_REQUEST, "A valid LinkedIn-Version header is required".into()));
    }
    if header("x-restli-protocol-version") != Some("2.0.0") {
        return Err(Refusal(StatusCode::BAD_REQUEST, "X-Restli-Protocol-Version 2.0.0 is required".into()));
    }
    let token = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
    token
        .and_then(|t| s.tokens.get(t).cloned())
        .ok_or_else(|| Refusal(StatusCode::UNAUTHORIZED, "Invalid access token".into()))
}

fn record(s: &mut LinkedInState, method: &str, path: String, body: Value, status: StatusCode) {
    s.requests.push(LinkedInRequest { method: method.into(), path, body, status: status.as_u16() });
}

async fn create_comment(
    State(state): State<Shared>,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = format!("/rest/socialActions/{target}/comments");
    let (response, echo) = {
        let mut s = state.lock().expect("LinkedIn state");
        let checked = authorise(&s, &headers).and_then(|org| check_comment(&s, &org, &target, &body).map(|c| (org, c)));
        let (org, (post, parent, text)) = match checked {
            Ok(ok) => ok,
            Err(refusal) => {
                record(&mut s, "POST", path, body, refusal.0);
                return refusal.into_response();
            }
        };
        if let Some(scripted) = s.script.pop_front() {
            let status = StatusCode::from_u16(scripted.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            record(&mut s, "POST", path, body, status);
            return scripted.answer();
        }
        let number = s.number();
        let comment = Comment {
            urn: format!("urn:li:comment:({post},{number})"),
            post,
            parent,
            actor: format!("urn:li:organization:{org}"),
            text,
            created_ms: Utc::now().timestamp_millis(),
        };
        s.comments.push(comment.clone());
        record(&mut s, "POST", path, body, StatusCode::CREATED);
        let answer = (
            StatusCode::CREATED,
            [("x-restli-id", comment.urn.clone())],
            axum::Json(json!({"$URN": comment.urn, "id": number.to_string(), "actor": comment.actor})),
        )
            .into_response();
        // LinkedIn tells the organisation's webhook of its own comment, as an admin comment.
        let n = s.number();
        let echo = notification(&s.client_secret, n, &org, "ADMIN_COMMENT", &comment, true);
        s.echoes.push(echo.clone());
        (answer, s.subscriber.clone().map(|url| (url, echo)))
    };
    if let Some((url, echo)) = echo {
        let state = state.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let sent = client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-li-signature", &echo.signature)
                .body(echo.body)
                .send()
                .await;
            if sent.is_ok_and(|answer| answer.status().is_success()) {
                state.lock().expect("LinkedIn state").echoes_accepted += 1;
            }
        });
    }
    response
}

/// `object` the post, `parentComment` exactly when the path is a comment, the actor the
/// token's organisation, a text within LinkedIn's limit.
fn check_comment(
    s: &LinkedInState,
    org: &str,
    target: &str,
    body: &Value,
) -> Result<(String, Option<String>, String), Refusal> {
    let bad = |why: &str| Refusal(StatusCode::UNPROCESSABLE_ENTITY, why.to_owned());
    let actor = format!("urn:li:organization:{org}");
    if body["actor"].as_str() != Some(actor.as_str()) {
        return Err(Refusal(StatusCode::FORBIDDEN, "The actor is not the token's organisation".into()));
    }
    let target_id = urn::id_of(target).ok_or_else(|| bad("The path names no post or comment"))?;
    let (post, parent) = match urn::comment_parts(&target_id) {
        Some((post, _)) => {
            if !s.comments.iter().any(|c| c.urn == target) {
                return Err(Refusal(StatusCode::NOT_FOUND, "No such comment".into()));
            }
            if body["parentComment"].as_str() != Some(target) {
                return Err(bad("parentComment must name the comment in the path"));
            }
            (post, Some(target.to_owned()))
        }
        None => {
            if body.get("parentComment").is_some() {
                return Err(bad("parentComment is for replies to comments"));
            }
            (target.to_owned(), None)
        }
    };
    if body["object"].as_str() != Some(post.as_str()) {
        return Err(bad("object must be the post"));
    }
    if !s.posts.contains_key(&post) {
        return Err(Refusal(StatusCode::NOT_FOUND, "No such post".into()));
    }
    let text = body["message"]["text"].as_str().unwrap_or_default();
    let n = text.chars().count();
    if n == 0 || n > MAX_COMMENT_CHARS {
        return Err(bad("message.text must be 1 to 1250 characters"));
    }
    Ok((post, parent, text.to_owned()))
}

fn comment_json(c: &Comment) -> Value {
    json!({"$URN": c.urn, "actor": c.actor, "object": c.post, "message": {"text": c.text}, "created": {"time": c.created_ms}})
}

async fn list_comments(State(state): State<Shared>, Path(target): Path<String>, headers: HeaderMap) -> Response {
    let mut s = state.lock().expect("LinkedIn state");
    let path = format!("/rest/socialActions/{target}/comments");
    if let Err(refusal) = authorise(&s, &headers) {
        record(&mut s, "GET", path, Value::Null, refusal.0);
        return refusal.into_response();
    }
    let elements: Vec<Value> =
        s.comments.iter().filter(|c| c.parent.as_deref().unwrap_or(&c.post) == target).map(comment_json).collect();
    record(&mut s, "GET", path, Value::Null, StatusCode::OK);
    axum::Json(json!({"elements": elements, "paging": {"start": 0, "count": elements.len()}})).into_response()
}

async fn read_comment(
    State(state): State<Shared>,
    Path((target, number)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut s = state.lock().expect("LinkedIn state");
    let path = format!("/rest/socialActions/{target}/comments/{number}");
    if let Err(refusal) = authorise(&s, &headers) {
        record(&mut s, "GET", path, Value::Null, refusal.0);
        return refusal.into_response();
    }
    let wanted = format!("urn:li:comment:({target},{number})");
    let found = s.comments.iter().find(|c| c.urn == wanted).map(comment_json);
    let status = if found.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND };
    record(&mut s, "GET", path, Value::Null, status);
    match found {
        Some(comment) => axum::Json(comment).into_response(),
        None => Refusal(status, "No such comment".into()).into_response(),
    }
}

async fn read_post(State(state): State<Shared>, Path(target): Path<String>, headers: HeaderMap) -> Response {
    let mut s = state.lock().expect("LinkedIn state");
    let path = format!("/rest/posts/{target}");
    if let Err(refusal) = authorise(&s, &headers) {
        record(&mut s, "GET", path, Value::Null, refusal.0);
        return refusal.into_response();
    }
    let found = s.posts.get(&target).cloned();
    let status = if found.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND };
    record(&mut s, "GET", path, Value::Null, status);
    match found {
        Some((author, text)) => axum::Json(
            json!({"id": target, "author": author, "commentary": text, "createdAt": Utc::now().timestamp_millis()}),
        )
        .into_response(),
        None => Refusal(status, "No such post".into()).into_response(),
    }
}
