//! A local Reddit for the listener: the application-only token endpoint
//! (`POST /api/v1/access_token`, HTTP Basic, `grant_type=client_credentials`), search and a
//! subreddit's new posts as Listings (newest first, `after` paging by fullname, `limit`),
//! and Reddit's rate-limit headers (`X-Ratelimit-Remaining` as a float, `-Reset` in seconds).
//! It refuses a request without a Reddit-style User-Agent, as Reddit throttles them. People
//! post here (`post`), and a post can be deleted, as one whose fullname a cursor named.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::Utc;
use serde_json::{Value, json};

use crate::Error;
use crate::x_api::{ScriptedResponse, bearer};

/// Reddit's budget per OAuth client: about 1,000 calls per ten-minute window.
pub const WINDOW_CALLS: f64 = 1000.0;

#[derive(Debug, Clone)]
struct Post {
    id: u64,
    subreddit: String,
    author: String,
    title: String,
    body: String,
    created: i64,
}

impl Post {
    fn fullname(&self) -> String {
        format!("t3_{}", base36(self.id))
    }
}

fn base36(mut n: u64) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[derive(Default)]
struct RedditState {
    clients: HashMap<String, String>,
    tokens: Vec<String>,
    posts: Vec<Post>,
    used: f64,
    script: VecDeque<ScriptedResponse>,
    calls: Vec<String>,
    next: u64,
}

type Shared = Arc<Mutex<RedditState>>;

#[derive(Clone)]
pub struct LocalReddit {
    /// Both the token endpoint's and the API's base here.
    pub url: String,
    state: Shared,
}

impl LocalReddit {
    pub async fn start(port: u16) -> Result<Self, Error> {
        let state: Shared = Arc::new(Mutex::new(RedditState { next: 80_000_000, ..Default::default() }));
        let app = axum::Router::new()
            .route("/api/v1/access_token", post(access_token))
            .route("/search", get(search))
            .route("/r/{subreddit}/new", get(subreddit_new))
            .with_state(state.clone());
        let url = crate::serve_loopback("the local Reddit", port, app).await?;
        Ok(LocalReddit { url, state })
    }

    pub fn register_client(&self, client_id: &str, client_secret: &str) {
        self.lock().clients.insert(client_id.to_owned(), client_secret.to_owned());
    }

    /// `author` posts in `subreddit`; returns the post's fullname.
    pub fn post(&self, subreddit: &str, author: &str, title: &str, body: &str) -> String {
        let mut s = self.lock();
        s.next += 1;
        let post = Post {
            id: s.next,
            subreddit: subreddit.to_owned(),
            author: author.to_owned(),
            title: title.to_owned(),
            body: body.to_owned(),
            created: Utc::now().timestamp(),
        };
        let name = post.fullname();
        s.posts.push(post);
        name
    }

    /// The post is removed: listings no longer show it.
    pub fn delete(&self, fullname: &str) {
        self.lock().posts.retain(|p| p.fullname() != fullname);
    }

    pub fn respond_next(&self, response: ScriptedResponse) {
        self.lock().script.push_back(response);
    }

    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RedditState> {
        self.state.lock().expect("Reddit state")
    }
}

fn reddit_user_agent(headers: &HeaderMap) -> bool {
    headers.get("user-agent").and_then(|v| v.to_str().ok()).is_some_and(|ua| ua.contains("(by /u/"))
}

async fn access_token(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut s = state.lock().expect("Reddit state");
    s.calls.push("POST /api/v1/access_token".into());
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let known = basic
        .as_deref()
        .and_then(|b| b.split_once(':'))
        .is_some_and(|(id, secret)| s.clients.get(id).is_some_and(|k| k == secret));
    if !known || !reddit_user_agent(&headers) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"message": "Unauthorized", "error": 401}))).into_response();
    }
    if body.trim() != "grant_type=client_credentials" {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "unsupported_grant_type"}))).into_response();
    }
    s.next += 1;
    let token = format!("local-reddit-app-token-{}", s.next);
    s.tokens.push(token.clone());
    Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 86400, "scope": "*"})).into_response()
}

fn listing(
    s: &mut RedditState,
    headers: &HeaderMap,
    call: String,
    wanted: impl Fn(&Post) -> bool,
    query: &HashMap<String, String>,
) -> Response {
    s.calls.push(call);
    if !reddit_user_agent(headers) {
        return (StatusCode::TOO_MANY_REQUESTS, Json(json!({"message": "Too Many Requests", "error": 429})))
            .into_response();
    }
    if !bearer(headers).is_some_and(|t| s.tokens.contains(&t)) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"message": "Unauthorized", "error": 401}))).into_response();
    }
    if let Some(scripted) = s.script.pop_front() {
        return scripted.answer();
    }
    s.used += 1.0;
    let limits = [
        ("x-ratelimit-used", format!("{}", s.used)),
        ("x-ratelimit-remaining", format!("{:.1}", (WINDOW_CALLS - s.used).max(0.0))),
        ("x-ratelimit-reset", "420".to_owned()),
    ];
    let limit: usize = query.get("limit").and_then(|l| l.parse().ok()).filter(|l| (1..=100).contains(l)).unwrap_or(25);
    let mut found: Vec<&Post> = s.posts.iter().filter(|p| wanted(p)).collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.id));
    let start = match query.get("after") {
        Some(after) => found.iter().position(|p| p.fullname() == *after).map_or(found.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<&Post> = found.iter().skip(start).take(limit).copied().collect();
    let after = (start + limit < found.len()).then(|| page.last().map(|p| p.fullname())).flatten();
    let children: Vec<Value> = page
        .iter()
        .map(|p| {
            json!({"kind": "t3", "data": {"id": base36(p.id), "name": p.fullname(), "author": p.author,
                "author_fullname": format!("t2_{}", base36(p.author.len() as u64 * 7919 + 36)), "subreddit": p.subreddit,
                "title": p.title, "selftext": p.body, "created_utc": p.created as f64,
                "permalink": format!("/r/{}/comments/{}/", p.subreddit, base36(p.id))}})
        })
        .collect();
    (limits, Json(json!({"kind": "Listing", "data": {"after": after, "before": null, "children": children}})))
        .into_response()
}

async fn search(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().expect("Reddit state");
    let q = query.get("q").cloned().unwrap_or_default().to_lowercase();
    let call = format!("GET /search?q={q}&after={}", query.get("after").cloned().unwrap_or_default());
    listing(
        &mut s,
        &headers,
        call,
        |p| !q.is_empty() && format!("{} {}", p.title, p.body).to_lowercase().contains(&q),
        &query,
    )
}

async fn subreddit_new(
    State(state): State<Shared>,
    Path(sub): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().expect("Reddit state");
    let call = format!("GET /r/{sub}/new?after={}", query.get("after").cloned().unwrap_or_default());
    let sub = sub.to_lowercase();
    listing(&mut s, &headers, call, |p| p.subreddit.to_lowercase() == sub, &query)
}
