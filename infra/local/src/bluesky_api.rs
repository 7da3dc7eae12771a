//! A local Bluesky service (PDS and AppView in one) for the brand account: the XRPC shapes
//! Hark uses, as Bluesky serves them. Sessions from an app password (`createSession`,
//! counted, since Bluesky allows few a day) renewed by `refreshSession` (the refresh token
//! rotates); `listNotifications` and `searchPosts` newest first, paging backwards by an
//! opaque cursor; `getPosts`, `getRecord`, and `createRecord`, which refuses a reply
//! without both `uri` and `cid` in `root` and `parent`, a record key that is not a TID, and
//! a key already used. Every answer carries the `RateLimit-*` headers of a 3,000-call,
//! five-minute window. People mention the brand or post about it here (`mention`,
//! `public_post`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::Error;
use crate::x_api::{ScriptedResponse, bearer};

/// Bluesky's per-IP budget: 3,000 calls per five minutes.
pub const WINDOW_CALLS: u32 = 3000;
const POST: &str = "app.bsky.feed.post";
const TID_ALPHABET: &str = "234567abcdefghijklmnopqrstuvwxyz";

#[derive(Debug, Clone)]
struct Post {
    uri: String,
    cid: String,
    author: (String, String, String),
    text: String,
    /// (root, parent), each (uri, cid).
    reply: Option<((String, String), (String, String))>,
    mentions: Vec<String>,
    indexed_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Notification {
    for_did: String,
    reason: &'static str,
    post: String,
}

#[derive(Debug, Clone)]
struct Account {
    did: String,
    handle: String,
    password: String,
}

#[derive(Default)]
struct BlueskyState {
    accounts: Vec<Account>,
    /// Access token → DID.
    access: HashMap<String, String>,
    /// Refresh token → DID (each used once).
    refresh: HashMap<String, String>,
    sessions_created: u32,
    posts: Vec<Post>,
    notifications: Vec<Notification>,
    used: u32,
    window_ends: Option<DateTime<Utc>>,
    script: VecDeque<ScriptedResponse>,
    calls: Vec<String>,
    next: u64,
}

impl BlueskyState {
    fn next(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// A fresh TID: the time now, and a counter for the clock id.
    fn tid(&mut self) -> String {
        let n = self.next();
        let micros = Utc::now().timestamp_micros() as u64;
        let tid = (micros << 10) | (n & 0x3ff);
        (0..13).map(|i| TID_ALPHABET.as_bytes()[((tid >> (60 - 5 * i)) & 31) as usize] as char).collect()
    }

    fn post(&self, uri: &str) -> Option<&Post> {
        self.posts.iter().find(|p| p.uri == uri)
    }

    fn handle_of(&self, did: &str) -> String {
        self.accounts.iter().find(|a| a.did == did).map(|a| a.handle.clone()).unwrap_or_else(|| did.to_owned())
    }
}

type Shared = Arc<Mutex<BlueskyState>>;

#[derive(Clone)]
pub struct LocalBluesky {
    /// The service's address, `http://127.0.0.1:PORT`.
    pub url: String,
    state: Shared,
}

impl LocalBluesky {
    pub async fn start(port: u16) -> Result<Self, Error> {
        let state: Shared = Arc::default();
        let app = axum::Router::new()
            .route("/xrpc/com.atproto.server.createSession", post(create_session))
            .route("/xrpc/com.atproto.server.refreshSession", post(refresh_session))
            .route("/xrpc/app.bsky.notification.listNotifications", get(list_notifications))
            .route("/xrpc/app.bsky.feed.searchPosts", get(search_posts))
            .route("/xrpc/app.bsky.feed.getPosts", get(get_posts))
            .route("/xrpc/com.atproto.repo.getRecord", get(get_record))
            .route("/xrpc/com.atproto.repo.createRecord", post(create_record))
            .with_state(state.clone());
        let url = crate::serve_loopback("the local Bluesky service", port, app).await?;
        Ok(LocalBluesky { url, state })
    }

    /// The brand account: its DID, handle and app password.
    pub fn register_account(&self, did: &str, handle: &str, password: &str) {
        let account = Account { did: did.to_owned(), handle: handle.to_owned(), password: password.to_owned() };
        self.lock().accounts.push(account);
    }

    pub fn respond_next(&self, response: ScriptedResponse) {
        self.lock().script.push_back(response);
    }

    /// Every call's method and query, in order.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// How many sessions were made from an app password (Bluesky allows 100 a day).
    pub fn sessions_created(&self) -> u32 {
        self.lock().sessions_created
    }

    /// Every access token handed out so far stops working (`ExpiredToken`), as after two hours.
    pub fn expire_access_tokens(&self) {
        self.lock().access.clear();
    }

    /// What `did` posted in reply to the post at `uri`, oldest first: (text, root uri).
    pub fn replies_to(&self, did: &str, uri: &str) -> Vec<(String, String)> {
        let s = self.lock();
        s.posts
            .iter()
            .filter(|p| p.author.0 == did && p.reply.as_ref().is_some_and(|(_, parent)| parent.0 == uri))
            .map(|p| (p.text.clone(), p.reply.as_ref().map(|(root, _)| root.0.clone()).unwrap_or_default()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BlueskyState> {
        self.state.lock().expect("Bluesky state")
    }

    fn add(&self, person: (&str, &str, &str), text: String, mentions: Vec<String>) -> String {
        let mut s = self.lock();
        let rkey = s.tid();
        let n = s.next();
        let uri = format!("at://{}/{POST}/{rkey}", person.0);
        s.posts.push(Post {
            uri: uri.clone(),
            cid: format!("bafyrei{n:020}"),
            author: (person.0.into(), person.1.into(), person.2.into()),
            text,
            reply: None,
            mentions: mentions.clone(),
            indexed_at: Utc::now(),
        });
        for did in mentions {
            s.notifications.push(Notification { for_did: did, reason: "mention", post: uri.clone() });
        }
        uri
    }

    /// `person` (DID, handle, name) mentions the brand (`brand`: DID, handle): a post with a
    /// mention facet, and the brand's notification. Returns the post's URI.
    pub fn mention(&self, person: (&str, &str, &str), brand: (&str, &str), text: &str) -> String {
        self.add(person, format!("@{} {text}", brand.1), vec![brand.0.to_owned()])
    }

    /// `person` posts about anything: what searches find.
    pub fn public_post(&self, person: (&str, &str, &str), text: &str) -> String {
        self.add(person, text.to_owned(), Vec::new())
    }
}

fn error(status: StatusCode, name: &str, message: &str) -> Response {
    (status, Json(json!({"error": name, "message": message}))).into_response()
}

/// A JWT-shaped token whose `exp` is two hours away (unsigned: only Hark's scheduling reads it).
fn token(kind: &str, did: &str, n: u64) -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let exp = Utc::now().timestamp() + 7200;
    format!("{}.{}.{kind}{n}", b64(json!({"typ": kind})), b64(json!({"sub": did, "exp": exp})))
}

fn session(s: &mut BlueskyState, did: String) -> Value {
    let n = s.next();
    let (access, refresh) = (token("at+jwt", &did, n), token("refresh+jwt", &did, n));
    s.access.insert(access.clone(), did.clone());
    s.refresh.insert(refresh.clone(), did.clone());
    json!({"accessJwt": access, "refreshJwt": refresh, "did": did, "handle": s.handle_of(&did), "active": true})
}

async fn create_session(State(state): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut s = state.lock().expect("Bluesky state");
    s.calls.push("POST createSession".into());
    let identifier = body["identifier"].as_str().unwrap_or_default();
    let password = body["password"].as_str().unwrap_or_default();
    let found = s.accounts.iter().find(|a| (a.handle == identifier || a.did == identifier) && a.password == password);
    let Some(did) = found.map(|a| a.did.clone()) else {
        return error(StatusCode::UNAUTHORIZED, "AuthenticationRequired", "Invalid identifier or password");
    };
    s.sessions_created += 1;
    Json(session(&mut s, did)).into_response()
}

async fn refresh_session(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let mut s = state.lock().expect("Bluesky state");
    s.calls.push("POST refreshSession".into());
    let Some(did) = bearer(&headers).and_then(|t| s.refresh.remove(&t)) else {
        return error(StatusCode::BAD_REQUEST, "ExpiredToken", "Token has been revoked");
    };
    Json(session(&mut s, did)).into_response()
}

/// A call let in: the session's DID and the window's headers.
struct Admitted {
    did: String,
    limits: [(&'static str, String); 4],
}

fn admit(s: &mut BlueskyState, headers: &HeaderMap, call: String) -> Result<Admitted, Box<Response>> {
    s.calls.push(call);
    let now = Utc::now();
    if s.window_ends.is_none_or(|end| end <= now) {
        s.window_ends = Some(now + chrono::TimeDelta::minutes(5));
        s.used = 0;
    }
    let reset = s.window_ends.expect("set above").timestamp().to_string();
    let limits = |remaining: u32| {
        [
            ("ratelimit-limit", WINDOW_CALLS.to_string()),
            ("ratelimit-remaining", remaining.to_string()),
            ("ratelimit-reset", reset.clone()),
            ("ratelimit-policy", format!("{WINDOW_CALLS};w=300")),
        ]
    };
    let Some(did) = bearer(headers).and_then(|t| s.access.get(&t).cloned()) else {
        return Err(Box::new(error(StatusCode::BAD_REQUEST, "ExpiredToken", "Token has expired")));
    };
    if let Some(scripted) = s.script.pop_front() {
        return Err(Box::new(scripted.answer()));
    }
    if s.used >= WINDOW_CALLS {
        return Err(Box::new(
            (StatusCode::TOO_MANY_REQUESTS, limits(0), Json(json!({"error": "RateLimitExceeded"}))).into_response(),
        ));
    }
    s.used += 1;
    Ok(Admitted { did, limits: limits(WINDOW_CALLS - s.used) })
}

fn post_view(s: &BlueskyState, p: &Post) -> Value {
    let mut record = json!({"$type": POST, "text": p.text, "langs": ["en"],
                            "createdAt": p.indexed_at.to_rfc3339_opts(SecondsFormat::Millis, true)});
    if let Some(((root_uri, root_cid), (parent_uri, parent_cid))) = &p.reply {
        record["reply"] =
            json!({"root": {"uri": root_uri, "cid": root_cid}, "parent": {"uri": parent_uri, "cid": parent_cid}});
    }
    if !p.mentions.is_empty() {
        let facets: Vec<Value> = p
            .mentions
            .iter()
            .map(|did| {
                let end = 1 + s.handle_of(did).len();
                json!({"index": {"byteStart": 0, "byteEnd": end},
                       "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}]})
            })
            .collect();
        record["facets"] = Value::Array(facets);
    }
    json!({
        "uri": p.uri, "cid": p.cid,
        "author": {"did": p.author.0, "handle": p.author.1, "displayName": p.author.2},
        "record": record, "indexedAt": p.indexed_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "replyCount": 0, "repostCount": 0, "likeCount": 0,
    })
}

/// Newest first, backwards from `cursor` (an offset, opaque to the caller).
fn page(items: Vec<Value>, query: &HashMap<String, String>) -> (Vec<Value>, Option<String>) {
    let limit = query.get("limit").and_then(|l| l.parse().ok()).filter(|l| (1..=100).contains(l)).unwrap_or(50);
    let start: usize = query.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let chosen: Vec<Value> = items.into_iter().rev().skip(start).take(limit + 1).collect();
    let more = chosen.len() > limit;
    let chosen: Vec<Value> = chosen.into_iter().take(limit).collect();
    let next = more.then(|| (start + limit).to_string());
    (chosen, next)
}

async fn list_notifications(State(state): State<Shared>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let raw = raw.unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&raw).unwrap_or_default();
    let query: HashMap<String, String> = pairs.iter().cloned().collect();
    let reasons: Vec<&str> = pairs.iter().filter(|(k, _)| k == "reasons").map(|(_, v)| v.as_str()).collect();
    let mut s = state.lock().expect("Bluesky state");
    let Admitted { did, limits } = match admit(&mut s, &headers, format!("GET listNotifications?{raw}")) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let items: Vec<Value> = s
        .notifications
        .iter()
        .filter(|n| n.for_did == did && (reasons.is_empty() || reasons.contains(&n.reason)))
        .filter_map(|n| {
            let mut view = post_view(&s, s.post(&n.post)?);
            view["reason"] = json!(n.reason);
            view["isRead"] = json!(false);
            Some(view)
        })
        .collect();
    let (notifications, cursor) = page(items, &query);
    (limits, Json(json!({"notifications": notifications, "cursor": cursor}))).into_response()
}

async fn search_posts(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut s = state.lock().expect("Bluesky state");
    let Admitted { limits, .. } = match admit(&mut s, &headers, format!("GET searchPosts?{}", raw.unwrap_or_default()))
    {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let q = query.get("q").cloned().unwrap_or_default().to_lowercase();
    if q.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "InvalidRequest", "Error: q is required");
    }
    let since: Option<DateTime<Utc>> = query.get("since").and_then(|s| s.parse().ok());
    let items: Vec<Value> = s
        .posts
        .iter()
        .filter(|p| p.text.to_lowercase().contains(&q) && since.is_none_or(|since| p.indexed_at >= since))
        .map(|p| post_view(&s, p))
        .collect();
    let (posts, cursor) = page(items, &query);
    (limits, Json(json!({"posts": posts, "cursor": cursor, "hitsTotal": posts.len()}))).into_response()
}

async fn get_posts(State(state): State<Shared>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let raw = raw.unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&raw).unwrap_or_default();
    let mut s = state.lock().expect("Bluesky state");
    let Admitted { limits, .. } = match admit(&mut s, &headers, format!("GET getPosts?{raw}")) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let posts: Vec<Value> = pairs
        .iter()
        .filter(|(k, _)| k == "uris")
        .filter_map(|(_, uri)| s.post(uri))
        .map(|p| post_view(&s, p))
        .collect();
    (limits, Json(json!({"posts": posts}))).into_response()
}

async fn get_record(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().expect("Bluesky state");
    let Admitted { limits, .. } = match admit(&mut s, &headers, "GET getRecord".into()) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    let uri = format!("at://{}/{}/{}", field("repo"), field("collection"), field("rkey"));
    match s.post(&uri) {
        Some(p) => {
            (limits, Json(json!({"uri": p.uri, "cid": p.cid, "value": post_view(&s, p)["record"]}))).into_response()
        }
        None => error(StatusCode::BAD_REQUEST, "RecordNotFound", &format!("Could not locate record: {uri}")),
    }
}

fn strong_ref(value: &Value) -> Option<(String, String)> {
    Some((value.get("uri")?.as_str()?.to_owned(), value.get("cid")?.as_str()?.to_owned()))
}

async fn create_record(State(state): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut s = state.lock().expect("Bluesky state");
    let Admitted { did, limits } = match admit(&mut s, &headers, "POST createRecord".into()) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    if body["repo"].as_str() != Some(did.as_str()) {
        return error(StatusCode::BAD_REQUEST, "InvalidRequest", "repo is not the session's");
    }
    if body["collection"].as_str() != Some(POST) {
        return error(StatusCode::BAD_REQUEST, "InvalidRequest", "only posts are kept here");
    }
    let record = &body["record"];
    let text = record["text"].as_str().unwrap_or_default();
    if text.trim().is_empty() || text.chars().count() > 300 {
        return error(StatusCode::BAD_REQUEST, "InvalidRecord", "Record/text must not be longer than 300 graphemes");
    }
    let reply = match record.get("reply") {
        None => None,
        Some(reply) => match (strong_ref(&reply["root"]), strong_ref(&reply["parent"])) {
            (Some(root), Some(parent)) if s.post(&parent.0).is_some_and(|p| p.cid == parent.1) => Some((root, parent)),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRecord",
                    "Record/reply/parent must have the property \"cid\"",
                );
            }
        },
    };
    let rkey = match body["rkey"].as_str() {
        Some(rkey) if rkey.len() == 13 && rkey.chars().all(|c| TID_ALPHABET.contains(c)) => rkey.to_owned(),
        Some(_) => return error(StatusCode::BAD_REQUEST, "InvalidRequest", "Invalid record key: not a TID"),
        None => s.tid(),
    };
    let uri = format!("at://{did}/{POST}/{rkey}");
    if s.post(&uri).is_some() {
        return error(StatusCode::BAD_REQUEST, "InvalidRequest", "Record already exists");
    }
    let n = s.next();
    let handle = s.handle_of(&did);
    let cid = format!("bafyrei{n:020}");
    s.posts.push(Post {
        uri: uri.clone(),
        cid: cid.clone(),
        author: (did, handle.clone(), handle),
        text: text.to_owned(),
        reply,
        mentions: Vec::new(),
        indexed_at: Utc::now(),
    });
    (limits, Json(json!({"uri": uri, "cid": cid, "validationStatus": "valid"}))).into_response()
}
