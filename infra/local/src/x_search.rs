//! Recent search on the local X API (`GET /2/tweets/search/recent`), as X serves it: an
//! app-only bearer token, results newest first, `since_id` and `next_token` paging with
//! `max_results`, the `x-rate-limit-*` headers of a 450-call window, and a 429 when the
//! window is spent (or when a test scripts one). The posts are everyone's public posts,
//! which a test or the demo makes here (`public_post`).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use crate::x_api::{LocalXApi, ScriptedResponse, Shared, bearer};

/// X's recent-search window for an app: 450 calls per 15 minutes.
pub const WINDOW_CALLS: u32 = 450;

#[derive(Debug, Clone)]
struct PublicPost {
    id: u64,
    author_id: String,
    username: String,
    text: String,
    in_reply_to: Option<(String, String)>,
    created_at: DateTime<Utc>,
}

#[derive(Default)]
pub(crate) struct SearchState {
    tokens: Vec<String>,
    posts: Vec<PublicPost>,
    used: u32,
    window_ends: Option<DateTime<Utc>>,
    script: std::collections::VecDeque<ScriptedResponse>,
    calls: Vec<String>,
    next_id: u64,
}

impl LocalXApi {
    /// An app's bearer token, good for search.
    pub fn register_search_token(&self, token: &str) {
        self.lock().search.tokens.push(token.to_owned());
    }

    /// Someone posts in public: what search finds. Returns the post's id.
    pub fn public_post(&self, author: (&str, &str), text: &str, in_reply_to: Option<(&str, &str)>) -> String {
        let mut s = self.lock();
        let search = &mut s.search;
        search.next_id += 1;
        let id = 1_880_000_000_000_000_000u64
            + (Utc::now().timestamp_micros() as u64 % 1_000_000_000_000) * 1000
            + search.next_id;
        search.posts.push(PublicPost {
            id,
            author_id: author.0.to_owned(),
            username: author.1.to_owned(),
            text: text.to_owned(),
            in_reply_to: in_reply_to.map(|(t, u)| (t.to_owned(), u.to_owned())),
            created_at: Utc::now(),
        });
        id.to_string()
    }

    /// The next search is answered with `response` instead (a 429, a 503).
    pub fn respond_next_search(&self, response: ScriptedResponse) {
        self.lock().search.script.push_back(response);
    }

    /// Every search call's query string, in order.
    pub fn searches(&self) -> Vec<String> {
        self.lock().search.calls.clone()
    }
}

/// The query's plain terms and quoted phrases, without X's operators (`-from:`, `is:`, `OR`).
fn terms(query: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut rest = query;
    while let Some(open) = rest.find('"') {
        let Some(close) = rest[open + 1..].find('"') else { break };
        terms.push(rest[open + 1..open + 1 + close].to_lowercase());
        rest = &rest[open + close + 2..];
    }
    let without_phrases: String = query.split('"').step_by(2).collect::<Vec<_>>().join(" ");
    terms.extend(
        without_phrases
            .split_whitespace()
            .filter(|w| *w != "OR" && !w.starts_with('-') && !w.contains(':') && !w.starts_with('('))
            .map(str::to_lowercase),
    );
    terms
}

pub(crate) async fn search(
    State(state): State<Shared>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    raw: axum::extract::RawQuery,
) -> Response {
    let mut s = state.lock().expect("X API state");
    let search = &mut s.search;
    search.calls.push(raw.0.unwrap_or_default());
    if !bearer(&headers).is_some_and(|t| search.tokens.contains(&t)) {
        let body = json!({"title": "Unauthorized", "status": 401, "detail": "Unauthorized"});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let now = Utc::now();
    if search.window_ends.is_none_or(|end| end <= now) {
        search.window_ends = Some(now + chrono::TimeDelta::minutes(15));
        search.used = 0;
    }
    let reset = search.window_ends.expect("set above").timestamp().to_string();
    if let Some(scripted) = search.script.pop_front() {
        return scripted.answer();
    }
    let limits = |remaining: u32| {
        [
            ("x-rate-limit-limit", WINDOW_CALLS.to_string()),
            ("x-rate-limit-remaining", remaining.to_string()),
            ("x-rate-limit-reset", reset.clone()),
        ]
    };
    if search.used >= WINDOW_CALLS {
        let body = json!({"title": "Too Many Requests", "status": 429, "detail": "Too Many Requests"});
        return (StatusCode::TOO_MANY_REQUESTS, limits(0), axum::Json(body)).into_response();
    }
    search.used += 1;
    let q = query.get("query").cloned().unwrap_or_default();
    if q.is_empty() || q.chars().count() > 512 {
        let body = json!({"title": "Invalid Request", "detail": "query must be 1 to 512 characters"});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let max: usize =
        query.get("max_results").and_then(|m| m.parse().ok()).filter(|m| (10..=100).contains(m)).unwrap_or(10);
    let since: u64 = query.get("since_id").and_then(|v| v.parse().ok()).unwrap_or(0);
    let offset: usize =
        query.get("next_token").and_then(|t| t.strip_prefix('p')).and_then(|t| t.parse().ok()).unwrap_or(0);
    let wanted = terms(&q);
    let mut found: Vec<&PublicPost> = search
        .posts
        .iter()
        .filter(|p| p.id > since && wanted.iter().any(|t| p.text.to_lowercase().contains(t.as_str())))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.id));
    let page: Vec<&PublicPost> = found.iter().skip(offset).take(max).copied().collect();
    let next = (offset + max < found.len()).then(|| format!("p{}", offset + max));
    let data: Vec<serde_json::Value> = page
        .iter()
        .map(|p| {
            let mut post = json!({"id": p.id.to_string(), "text": p.text, "author_id": p.author_id,
                "created_at": p.created_at.to_rfc3339_opts(SecondsFormat::Millis, true), "lang": "en",
                "edit_history_tweet_ids": [p.id.to_string()]});
            if let Some((tweet, user)) = &p.in_reply_to {
                post["in_reply_to_user_id"] = json!(user);
                post["referenced_tweets"] = json!([{"type": "replied_to", "id": tweet}]);
            }
            post
        })
        .collect();
    let users: Vec<serde_json::Value> =
        page.iter().map(|p| json!({"id": p.author_id, "username": p.username, "name": p.username})).collect();
    let mut meta = json!({"result_count": data.len()});
    if let (Some(first), Some(last)) = (page.first(), page.last()) {
        meta["newest_id"] = json!(first.id.to_string());
        meta["oldest_id"] = json!(last.id.to_string());
    }
    if let Some(next) = next {
        meta["next_token"] = json!(next);
    }
    let remaining = WINDOW_CALLS - search.used;
    let mut body = json!({"meta": meta});
    if !data.is_empty() {
        body["data"] = json!(data);
        body["includes"] = json!({"users": users});
    }
    (StatusCode::OK, limits(remaining), axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_query_s_terms_without_operators() {
        assert_eq!(super::terms(r#""acme air" OR acmeair -from:acmeair -is:retweet"#), ["acme air", "acmeair"]);
    }
}
