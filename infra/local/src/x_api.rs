//! A local server speaking the X API v2 shapes Hark uses: `POST /2/tweets`,
//! `POST /2/dm_conversations/with/:participant_id/messages`, the reads that settle an
//! attempt whose outcome is unknown (`GET /2/users/:id/tweets`,
//! `GET /2/dm_conversations/with/:participant_id/dm_events`), and OAuth 2.0 token renewal
//! (`POST /2/oauth2/token`).
//!
//! Like X, it knows whose token is whose: access tokens are issued by its token endpoint to
//! a registered client for one account and expire; refresh tokens are rotated on every use
//! and a used one is refused; a bearer token it did not issue, or one that expired, gets
//! 401; and what a token posts lands on that account's timeline. It records every write and
//! answers as X documents (201 with the new post's id), or as a test scripts it (429 with
//! `x-rate-limit-reset`, 5xx, a slow answer, or an error after the post was made).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::Error;

/// One write the local X API received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub received_at: DateTime<Utc>,
}

/// A scripted answer; when the script is empty the API answers 201 like X does.
#[derive(Debug, Clone, Default)]
pub struct ScriptedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// Held this long before answering; the request is recorded at once.
    pub delay: Duration,
    /// Only for a reply to this post, or a DM to this participant; any request when `None`.
    pub only_for: Option<String>,
    /// The post is made even though the answer says otherwise: an answer lost on the way
    /// back. (A scripted 2xx always makes the post.)
    pub create_anyway: bool,
}

impl ScriptedResponse {
    /// The scripted status, JSON body and headers as an HTTP answer.
    pub(crate) fn answer(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.body)).into_response();
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), value.parse()) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

/// What an account posted, as its timeline and DM conversations return it.
#[derive(Debug, Clone)]
struct Posted {
    id: String,
    account: String,
    text: String,
    in_reply_to: Option<String>,
    dm_to: Option<String>,
    created_at: DateTime<Utc>,
}

/// An OAuth client allowed to act for one account.
struct OAuthClient {
    secret: Option<String>,
    account: String,
}

#[derive(Default)]
pub(crate) struct XApiState {
    requests: Vec<RecordedRequest>,
    reads: Vec<String>,
    script: VecDeque<ScriptedResponse>,
    clients: HashMap<String, OAuthClient>,
    /// Refresh tokens that may still be used, with their client.
    refresh_tokens: HashMap<String, String>,
    /// Access token → (account, expiry).
    tokens: HashMap<String, (String, DateTime<Utc>)>,
    refreshes: usize,
    posted: Vec<Posted>,
    /// The time new posts are dated with, for tests that run on a fixed clock; now otherwise.
    posts_dated: Option<DateTime<Utc>>,
    next_id: u64,
    /// A stretch of 429s or 5xx on writes, as the load tool's fault schedule asks.
    outage: crate::faults::Outage,
    /// Everyone's public posts, for recent search (`x_search.rs`).
    pub(crate) search: crate::x_search::SearchState,
}

impl XApiState {
    /// The account a bearer token acts for, if it is one of ours and still valid.
    fn account_of(&self, headers: &HeaderMap) -> Option<String> {
        let token = bearer(headers)?;
        self.tokens.get(&token).filter(|(_, expires)| *expires > Utc::now()).map(|(account, _)| account.clone())
    }

    fn new_token(&mut self, kind: &str) -> String {
        self.next_id += 1;
        format!("local-{kind}-{}-{}", self.next_id, Utc::now().timestamp_micros())
    }
}

/// How long an access token lives, as at X.
const ACCESS_TOKEN_LIFETIME: i64 = 7200;

pub(crate) type Shared = Arc<Mutex<XApiState>>;

#[derive(Clone)]
pub struct LocalXApi {
    pub base_url: String,
    state: Shared,
}

impl LocalXApi {
    /// Serves on `127.0.0.1:port` (0 picks a free port) until the runtime stops.
    pub async fn start(port: u16) -> Result<Self, Error> {
        let state: Shared = Arc::default();
        let app = axum::Router::new()
            .route("/2/tweets", post(create_post))
            .route("/2/dm_conversations/with/{participant}/messages", post(create_dm))
            .route("/2/users/{account}/tweets", get(timeline))
            .route("/2/dm_conversations/with/{participant}/dm_events", get(dm_events))
            .route("/2/oauth2/token", post(token))
            .route(hark_shared::channels::x::search::SEARCH_PATH, get(crate::x_search::search))
            // Not X's: what it received, for the load tool and anyone watching a local run.
            .route("/_local/stats", get(stats))
            .route("/_local/outage", post(outage))
            .with_state(state.clone());
        let base_url = crate::serve_loopback("the local X API", port, app).await?;
        Ok(LocalXApi { base_url, state })
    }

    /// Registers an OAuth client for `account` holding `refresh_token`, as the consent flow
    /// leaves it. Registering the same client again adds another valid refresh token.
    pub fn register_client(&self, client_id: &str, client_secret: Option<&str>, account: &str, refresh_token: &str) {
        let mut s = self.lock();
        let client = OAuthClient { secret: client_secret.map(str::to_owned), account: account.to_owned() };
        s.clients.insert(client_id.to_owned(), client);
        s.refresh_tokens.insert(refresh_token.to_owned(), client_id.to_owned());
    }

    /// Every access token issued so far expires now (two hours pass).
    pub fn expire_access_tokens(&self) {
        for (_, expires) in self.lock().tokens.values_mut() {
            *expires = Utc::now() - chrono::TimeDelta::seconds(1);
        }
    }

    /// The account revokes the app: its refresh tokens are refused from now on.
    pub fn revoke_refresh_tokens(&self, client_id: &str) {
        self.lock().refresh_tokens.retain(|_, client| client != client_id);
    }

    /// Successful token renewals so far.
    pub fn refreshes(&self) -> usize {
        self.lock().refreshes
    }

    /// The refresh tokens that would still be accepted for a client.
    pub fn valid_refresh_tokens(&self, client_id: &str) -> Vec<String> {
        self.lock().refresh_tokens.iter().filter(|(_, c)| *c == client_id).map(|(t, _)| t.clone()).collect()
    }

    /// Every write (post or DM) received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// The paths of every read (timeline and DM lookups), in order.
    pub fn reads(&self) -> Vec<String> {
        self.lock().reads.clone()
    }

    /// Dates the posts made from now on at `at`, as if X's clock read it: for tests whose
    /// own clock is fixed, so what they post falls in the windows they search.
    pub fn date_posts_at(&self, at: DateTime<Utc>) {
        self.lock().posts_dated = Some(at);
    }

    /// How many posts and DMs actually exist: what a customer sees.
    pub fn posted_count(&self) -> usize {
        self.lock().posted.len()
    }

    pub fn respond_next(&self, response: ScriptedResponse) {
        self.lock().script.push_back(response);
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, XApiState> {
        self.state.lock().expect("X API state")
    }
}

fn unauthorized() -> Response {
    let body = json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"});
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ").map(str::to_owned)
}

/// X escapes these three in the text it returns.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

async fn create_post(State(s): State<Shared>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    let target = body["reply"]["in_reply_to_tweet_id"].as_str().map(str::to_owned);
    write(&s, "/2/tweets".into(), &headers, body, target, None).await
}

async fn create_dm(
    State(s): State<Shared>,
    Path(participant): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let path = format!("/2/dm_conversations/with/{participant}/messages");
    write(&s, path, &headers, body, None, Some(participant)).await
}

async fn write(
    state: &Shared,
    path: String,
    headers: &HeaderMap,
    body: Value,
    in_reply_to: Option<String>,
    dm_to: Option<String>,
) -> Response {
    let target = in_reply_to.clone().or_else(|| dm_to.clone()).unwrap_or_default();
    let (scripted, id) = {
        let mut s = state.lock().expect("X API state");
        s.requests.push(RecordedRequest {
            path,
            authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
            body: body.clone(),
            received_at: Utc::now(),
        });
        let Some(account) = s.account_of(headers) else {
            return unauthorized();
        };
        if let Some(answer) = s.outage.during(Utc::now()) {
            return crate::faults::x_answer(answer);
        }
        let at = s.script.iter().position(|r| r.only_for.as_ref().is_none_or(|t| *t == target));
        let scripted = at.and_then(|at| s.script.remove(at));
        let creates = scripted.as_ref().is_none_or(|r| (200..300).contains(&r.status) || r.create_anyway);
        s.next_id += 1;
        let id = (1_900_000_000_000_000_000u64 + s.next_id).to_string();
        if creates {
            let text = body["text"].as_str().unwrap_or_default().to_owned();
            let created_at = s.posts_dated.unwrap_or_else(Utc::now);
            s.posted.push(Posted { id: id.clone(), account, text, in_reply_to, dm_to: dm_to.clone(), created_at });
        }
        (scripted, id)
    };
    match scripted {
        Some(scripted) => {
            tokio::time::sleep(scripted.delay).await;
            scripted.answer()
        }
        None => {
            let data = if dm_to.is_some() {
                json!({"data": {"dm_conversation_id": "local-dm", "dm_event_id": id}})
            } else {
                json!({"data": {"id": id, "text": "ok"}})
            };
            (StatusCode::CREATED, axum::Json(data)).into_response()
        }
    }
}

/// The account the token acts as, recording the read; `None` answers 401.
fn reader(state: &Shared, headers: &HeaderMap, path: String) -> Option<String> {
    let mut s = state.lock().expect("X API state");
    s.reads.push(path);
    s.account_of(headers)
}

/// Newest first, `max_results` per page, continuing after `pagination_token` (an id).
fn page(mut items: Vec<(String, Value)>, query: &HashMap<String, String>) -> Value {
    items.reverse();
    let size = query.get("max_results").and_then(|n| n.parse().ok()).unwrap_or(10usize).clamp(1, 100);
    let start = match query.get("pagination_token") {
        Some(token) => items.iter().position(|(id, _)| id == token).unwrap_or(items.len()),
        None => 0,
    };
    let rest = &items[start.min(items.len())..];
    let data: Vec<Value> = rest.iter().take(size).map(|(_, v)| v.clone()).collect();
    let mut meta = json!({"result_count": data.len()});
    if let Some((next, _)) = rest.get(size) {
        meta["next_token"] = Value::String(next.clone());
    }
    if data.is_empty() { json!({"meta": meta}) } else { json!({"data": data, "meta": meta}) }
}

async fn timeline(
    State(state): State<Shared>,
    Path(account): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(_) = reader(&state, &headers, format!("/2/users/{account}/tweets")) else { return unauthorized() };
    let time =
        |name: &str| query.get(name).and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc));
    // Both ends inclusive, to the second, as X documents them.
    let since = time("start_time").unwrap_or(DateTime::<Utc>::MIN_UTC);
    let until = time("end_time").map_or(DateTime::<Utc>::MAX_UTC, |t| t + chrono::TimeDelta::seconds(1));
    let s = state.lock().expect("X API state");
    let posts = s
        .posted
        .iter()
        .filter(|p| p.account == account && p.dm_to.is_none() && p.created_at >= since && p.created_at < until)
        .map(|p| {
            let mut post = json!({
                "id": p.id, "text": escaped(&p.text),
                "created_at": p.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            });
            if let Some(parent) = &p.in_reply_to {
                post["referenced_tweets"] = json!([{"type": "replied_to", "id": parent}]);
            }
            (p.id.clone(), post)
        })
        .collect();
    axum::Json(page(posts, &query)).into_response()
}

async fn dm_events(
    State(state): State<Shared>,
    Path(participant): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/2/dm_conversations/with/{participant}/dm_events");
    let Some(account) = reader(&state, &headers, path) else { return unauthorized() };
    let s = state.lock().expect("X API state");
    let events = s
        .posted
        .iter()
        .filter(|p| p.account == account && p.dm_to.as_deref() == Some(participant.as_str()))
        .map(|p| {
            let event = json!({
                "id": p.id, "event_type": "MessageCreate", "text": p.text, "sender_id": p.account,
                "created_at": p.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            });
            (p.id.clone(), event)
        })
        .collect();
    axum::Json(page(events, &query)).into_response()
}

#[derive(serde::Deserialize)]
struct TokenRequest {
    grant_type: String,
    refresh_token: Option<String>,
    client_id: Option<String>,
}

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": error, "error_description": description}))).into_response()
}

/// `POST /2/oauth2/token` with `grant_type=refresh_token`: confidential clients authenticate
/// with HTTP Basic; the refresh token is rotated and the old one refused from then on.
async fn token(
    State(state): State<Shared>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<TokenRequest>,
) -> Response {
    use base64::Engine as _;
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.split_once(':').map(|(id, secret)| (id.to_owned(), secret.to_owned())));
    let mut s = state.lock().expect("X API state");
    let client_id = match (&basic, &form.client_id) {
        (Some((id, _)), _) => id.clone(),
        (None, Some(id)) => id.clone(),
        (None, None) => return token_error(StatusCode::UNAUTHORIZED, "unauthorized_client", "Missing client"),
    };
    let Some(client) = s.clients.get(&client_id) else {
        return token_error(StatusCode::UNAUTHORIZED, "unauthorized_client", "Unknown client");
    };
    if let Some(secret) = &client.secret
        && basic.as_ref().map(|(_, given)| given) != Some(secret)
    {
        return token_error(StatusCode::UNAUTHORIZED, "unauthorized_client", "Missing valid authorization header");
    }
    let account = client.account.clone();
    let presented = form.refresh_token.unwrap_or_default();
    if form.grant_type != "refresh_token" || s.refresh_tokens.get(&presented) != Some(&client_id) {
        return token_error(StatusCode::BAD_REQUEST, "invalid_request", "Value passed for the token was invalid.");
    }
    s.refresh_tokens.remove(&presented);
    let (access, refresh) = (s.new_token("access"), s.new_token("refresh"));
    s.refresh_tokens.insert(refresh.clone(), client_id);
    let expires = Utc::now() + chrono::TimeDelta::seconds(ACCESS_TOKEN_LIFETIME);
    s.tokens.insert(access.clone(), (account, expires));
    s.refreshes += 1;
    axum::Json(json!({
        "token_type": "bearer", "expires_in": ACCESS_TOKEN_LIFETIME, "access_token": access,
        "scope": "tweet.read tweet.write users.read dm.read dm.write offline.access", "refresh_token": refresh,
    }))
    .into_response()
}

/// Counts of what the local X API received and made, and the most posts made in reply to any
/// one post (an acknowledgement sent twice shows here as 2).
async fn stats(State(state): State<Shared>) -> Response {
    let s = state.lock().expect("X API state");
    let mut replies: HashMap<&str, usize> = HashMap::new();
    for post in &s.posted {
        if let Some(parent) = &post.in_reply_to {
            *replies.entry(parent.as_str()).or_default() += 1;
        }
    }
    axum::Json(json!({
        "writes": s.requests.len(),
        "posted": s.posted.len(),
        "posted_dms": s.posted.iter().filter(|p| p.dm_to.is_some()).count(),
        "reads": s.reads.len(),
        "token_refreshes": s.refreshes,
        "most_replies_to_one_post": replies.values().copied().max().unwrap_or(0),
        "replies_twice": replies.values().map(|n| n.saturating_sub(1)).sum::<usize>(),
        "outage_answers": s.outage.answered(),
    }))
    .into_response()
}

async fn outage(State(state): State<Shared>, body: axum::body::Bytes) -> Response {
    crate::faults::start_outage(&mut state.lock().expect("X API state").outage, &body)
}
