//! A local Mastodon instance for the brand account: the REST shapes Hark uses
//! (`/api/v1/notifications`, `/api/v2/search`, `/api/v1/timelines/tag/:tag`,
//! `/api/v1/statuses`, `/api/v1/accounts/:id/statuses`), as Mastodon serves them: ids as
//! strings, `min_id` paging forward (the page just above the cursor, newest first),
//! `X-RateLimit-*` headers of a 300-call, five-minute window (reset as an ISO time), HTML
//! content, and `Idempotency-Key` making a retried post one post. People mention the
//! brand, post about it, or tag it here (`mention`, `public_status`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::Error;
use crate::x_api::{ScriptedResponse, bearer};

/// Mastodon's default: 300 calls per five minutes per account.
pub const WINDOW_CALLS: u32 = 300;

#[derive(Debug, Clone)]
struct Status {
    id: String,
    account: (String, String, String),
    content: String,
    visibility: String,
    in_reply_to: Option<(String, String)>,
    mentions: Vec<(String, String)>,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Notification {
    id: String,
    kind: &'static str,
    for_account: String,
    status: String,
}

#[derive(Default)]
struct MastodonState {
    /// Token → (account id, acct).
    tokens: HashMap<String, (String, String)>,
    statuses: Vec<Status>,
    notifications: Vec<Notification>,
    idempotency: HashMap<(String, String), String>,
    used: u32,
    window_ends: Option<DateTime<Utc>>,
    script: VecDeque<ScriptedResponse>,
    calls: Vec<String>,
    next: u64,
}

impl MastodonState {
    fn id(&mut self) -> String {
        self.next += 1;
        (103_186_126_728_900_000u64 + self.next).to_string()
    }

    fn status(&self, id: &str) -> Option<&Status> {
        self.statuses.iter().find(|s| s.id == id)
    }
}

type Shared = Arc<Mutex<MastodonState>>;

#[derive(Clone)]
pub struct LocalMastodon {
    /// The instance's address, `http://127.0.0.1:PORT`.
    pub url: String,
    state: Shared,
}

impl LocalMastodon {
    pub async fn start(port: u16) -> Result<Self, Error> {
        let state: Shared = Arc::default();
        let app = axum::Router::new()
            .route("/api/v1/notifications", get(notifications))
            .route("/api/v2/search", get(search))
            .route("/api/v1/timelines/tag/{tag}", get(hashtag))
            .route("/api/v1/statuses", axum::routing::post(post_status))
            .route("/api/v1/statuses/{id}", get(read_status))
            .route("/api/v1/accounts/{id}/statuses", get(account_statuses))
            .with_state(state.clone());
        let url = crate::serve_loopback("the local Mastodon instance", port, app).await?;
        Ok(LocalMastodon { url, state })
    }

    /// The brand account, and the token its app was given.
    pub fn register_account(&self, id: &str, acct: &str, token: &str) {
        self.lock().tokens.insert(token.to_owned(), (id.to_owned(), acct.to_owned()));
    }

    pub fn respond_next(&self, response: ScriptedResponse) {
        self.lock().script.push_back(response);
    }

    /// Every call's path and query, in order.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// What `account` posted in reply to `status`, oldest first: (text, visibility).
    pub fn replies_to(&self, account: &str, status: &str) -> Vec<(String, String)> {
        let s = self.lock();
        s.statuses
            .iter()
            .filter(|st| st.account.0 == account && st.in_reply_to.as_ref().is_some_and(|(id, _)| id == status))
            .map(|st| (st.content.clone(), st.visibility.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MastodonState> {
        self.state.lock().expect("Mastodon state")
    }

    /// `person` (id, acct, name) mentions the brand account (`brand`: id, acct): a status and
    /// the brand's notification. Returns the status id.
    pub fn mention(&self, person: (&str, &str, &str), brand: (&str, &str), text: &str, visibility: &str) -> String {
        let mut s = self.lock();
        let id = s.id();
        s.statuses.push(Status {
            id: id.clone(),
            account: (person.0.into(), person.1.into(), person.2.into()),
            content: format!("<p><span class=\"h-card\">@<span>{}</span></span> {}</p>", brand.1, html(text)),
            visibility: visibility.into(),
            in_reply_to: None,
            mentions: vec![(brand.0.into(), brand.1.into())],
            created_at: Utc::now(),
        });
        let notification = s.id();
        s.notifications.push(Notification {
            id: notification,
            kind: "mention",
            for_account: brand.0.into(),
            status: id.clone(),
        });
        id
    }

    /// `person` posts in public about anything: what searches and hashtags find.
    pub fn public_status(&self, person: (&str, &str, &str), text: &str) -> String {
        let mut s = self.lock();
        let id = s.id();
        s.statuses.push(Status {
            id: id.clone(),
            account: (person.0.into(), person.1.into(), person.2.into()),
            content: format!("<p>{}</p>", html(text)),
            visibility: "public".into(),
            in_reply_to: None,
            mentions: Vec::new(),
            created_at: Utc::now(),
        });
        id
    }
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn status_json(s: &Status) -> Value {
    json!({
        "id": s.id, "created_at": s.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "in_reply_to_id": s.in_reply_to.as_ref().map(|(id, _)| id),
        "in_reply_to_account_id": s.in_reply_to.as_ref().map(|(_, account)| account),
        "visibility": s.visibility, "language": "en", "content": s.content, "reblog": null,
        "account": {"id": s.account.0, "acct": s.account.1, "username": s.account.1, "display_name": s.account.2},
        "mentions": s.mentions.iter().map(|(id, acct)| json!({"id": id, "acct": acct})).collect::<Vec<_>>(),
    })
}

/// A call let in: the token's account (id, acct) and the window's headers.
struct Admitted {
    account: (String, String),
    limits: [(&'static str, String); 3],
}

/// The token's account and the window's headers, or the refusal to answer with.
fn admit(s: &mut MastodonState, headers: &HeaderMap, call: String) -> Result<Admitted, Box<Response>> {
    s.calls.push(call);
    let now = Utc::now();
    if s.window_ends.is_none_or(|end| end <= now) {
        s.window_ends = Some(now + chrono::TimeDelta::minutes(5));
        s.used = 0;
    }
    let reset = s.window_ends.expect("set above").to_rfc3339_opts(SecondsFormat::Millis, true);
    let limits = |remaining: u32| {
        [
            ("x-ratelimit-limit", WINDOW_CALLS.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-reset", reset.clone()),
        ]
    };
    let Some(account) = bearer(headers).and_then(|t| s.tokens.get(&t).cloned()) else {
        return Err(Box::new(
            (StatusCode::UNAUTHORIZED, Json(json!({"error": "The access token is invalid"}))).into_response(),
        ));
    };
    if let Some(scripted) = s.script.pop_front() {
        return Err(Box::new(scripted.answer()));
    }
    if s.used >= WINDOW_CALLS {
        return Err(Box::new(
            (StatusCode::TOO_MANY_REQUESTS, limits(0), Json(json!({"error": "Too many requests"}))).into_response(),
        ));
    }
    s.used += 1;
    Ok(Admitted { account, limits: limits(WINDOW_CALLS - s.used) })
}

/// `min_id` paging: the `limit` items just above the cursor, newest first; without a
/// cursor, the newest `limit`.
fn page<T: Clone>(mut items: Vec<(String, T)>, min_id: Option<&String>, limit: usize) -> Vec<T> {
    let newer = |id: &str, than: &str| (id.len(), id) > (than.len(), than);
    items.retain(|(id, _)| min_id.is_none_or(|min| newer(id, min)));
    items.sort_by(|a, b| (a.0.len(), &a.0).cmp(&(b.0.len(), &b.0)));
    let chosen: Vec<(String, T)> = if min_id.is_some() {
        items.into_iter().take(limit).collect()
    } else {
        let skip = items.len().saturating_sub(limit);
        items.into_iter().skip(skip).collect()
    };
    chosen.into_iter().rev().map(|(_, t)| t).collect()
}

fn limit_of(query: &HashMap<String, String>, max: usize) -> usize {
    query.get("limit").and_then(|l| l.parse().ok()).filter(|l| (1..=max).contains(l)).unwrap_or(20)
}

async fn notifications(State(state): State<Shared>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let raw = raw.unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&raw).unwrap_or_default();
    let query: HashMap<String, String> = pairs.iter().cloned().collect();
    let types: Vec<&str> = pairs.iter().filter(|(k, _)| k == "types[]").map(|(_, v)| v.as_str()).collect();
    let mut s = state.lock().expect("Mastodon state");
    let Admitted { account: (account, _), limits } =
        match admit(&mut s, &headers, format!("/api/v1/notifications?{raw}")) {
            Ok(ok) => ok,
            Err(refused) => return *refused,
        };
    let items: Vec<(String, Value)> = s
        .notifications
        .iter()
        .filter(|n| n.for_account == account && (types.is_empty() || types.contains(&n.kind)))
        .filter_map(|n| {
            let status = s.status(&n.status)?;
            let (id, acct, name) = &status.account;
            let body = json!({"id": n.id, "type": n.kind, "created_at": status_json(status)["created_at"],
                              "account": {"id": id, "acct": acct, "display_name": name}, "status": status_json(status)});
            Some((n.id.clone(), body))
        })
        .collect();
    (limits, Json(page(items, query.get("min_id"), limit_of(&query, 80)))).into_response()
}

fn statuses_matching(s: &MastodonState, wanted: impl Fn(&Status) -> bool) -> Vec<(String, Value)> {
    s.statuses
        .iter()
        .filter(|st| st.visibility == "public" && wanted(st))
        .map(|st| (st.id.clone(), status_json(st)))
        .collect()
}

async fn search(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut s = state.lock().expect("Mastodon state");
    let Admitted { limits, .. } = match admit(&mut s, &headers, format!("/api/v2/search?{}", raw.unwrap_or_default())) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let q = query.get("q").cloned().unwrap_or_default().to_lowercase();
    let items = statuses_matching(&s, |st| !q.is_empty() && st.content.to_lowercase().contains(&q));
    let statuses = page(items, query.get("min_id"), limit_of(&query, 40));
    (limits, Json(json!({"accounts": [], "hashtags": [], "statuses": statuses}))).into_response()
}

async fn hashtag(
    State(state): State<Shared>,
    Path(tag): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().expect("Mastodon state");
    let Admitted { limits, .. } = match admit(&mut s, &headers, format!("/api/v1/timelines/tag/{tag}")) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let wanted = format!("#{}", tag.to_lowercase());
    let items = statuses_matching(&s, |st| st.content.to_lowercase().contains(&wanted));
    (limits, Json(page(items, query.get("min_id"), limit_of(&query, 40)))).into_response()
}

async fn read_status(State(state): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let mut s = state.lock().expect("Mastodon state");
    let Admitted { limits, .. } = match admit(&mut s, &headers, format!("/api/v1/statuses/{id}")) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    match s.status(&id) {
        Some(status) => (limits, Json(status_json(status))).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": "Record not found"}))).into_response(),
    }
}

async fn account_statuses(State(state): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let mut s = state.lock().expect("Mastodon state");
    let Admitted { limits, .. } = match admit(&mut s, &headers, format!("/api/v1/accounts/{id}/statuses")) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let items: Vec<(String, Value)> =
        s.statuses.iter().filter(|st| st.account.0 == id).map(|st| (st.id.clone(), status_json(st))).collect();
    (limits, Json(page(items, None, 40))).into_response()
}

async fn post_status(State(state): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut s = state.lock().expect("Mastodon state");
    let Admitted { account: (account, acct), limits } = match admit(&mut s, &headers, "POST /api/v1/statuses".into()) {
        Ok(ok) => ok,
        Err(refused) => return *refused,
    };
    let token = bearer(&headers).unwrap_or_default();
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(|k| (token, k.to_owned()));
    if let Some(existing) = key.as_ref().and_then(|k| s.idempotency.get(k)).and_then(|id| s.status(id)) {
        return (limits, Json(status_json(existing))).into_response();
    }
    let text = body["status"].as_str().unwrap_or_default();
    if text.trim().is_empty() || text.chars().count() > 500 {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "Validation failed: Text can't be blank or over 500"})),
        )
            .into_response();
    }
    let visibility = body["visibility"].as_str().unwrap_or("public");
    if !["public", "unlisted", "private", "direct"].contains(&visibility) {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"error": "Validation failed: visibility"})))
            .into_response();
    }
    let in_reply_to = match body["in_reply_to_id"].as_str() {
        Some(parent) => match s.status(parent) {
            Some(p) => Some((p.id.clone(), p.account.0.clone())),
            None => return (StatusCode::NOT_FOUND, Json(json!({"error": "Record not found"}))).into_response(),
        },
        None => None,
    };
    let id = s.id();
    let status = Status {
        id: id.clone(),
        account: (account, acct.clone(), acct),
        content: text.to_owned(),
        visibility: visibility.to_owned(),
        in_reply_to,
        mentions: Vec::new(),
        created_at: Utc::now(),
    };
    let answer = status_json(&status);
    s.statuses.push(status);
    if let Some(key) = key {
        s.idempotency.insert(key, id);
    }
    (limits, Json(answer)).into_response()
}
