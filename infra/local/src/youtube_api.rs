//! A local YouTube Data API v3 and Google token endpoint for the brand's channel: the shapes
//! Hark uses, as Google serves them. `commentThreads.list` (`allThreadsRelatedToChannelId`,
//! `order=time`, newest first, `pageToken` paging, each thread with its replies),
//! `comments.list` by `parentId`, `comments.insert` (a reply to a top-level comment only),
//! and the daily quota in units (a list costs 1, an insert 50) answered with Google's
//! `quotaExceeded` 403 once spent. Access tokens come from refresh tokens at `/token`, and
//! expire (`expire_access_tokens`). Viewers comment on the brand's videos here (`comment`,
//! `reply`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::Error;
use crate::x_api::{ScriptedResponse, bearer};

/// A project's default daily quota.
pub const DAILY_UNITS: u32 = 10_000;
const LIST_UNITS: u32 = 1;
const INSERT_UNITS: u32 = 50;

#[derive(Debug, Clone)]
struct Comment {
    id: String,
    /// The top-level comment's id; `None` for a top-level comment.
    parent: Option<String>,
    channel: String,
    video: String,
    author: (String, String),
    text: String,
    published_at: DateTime<Utc>,
}

#[derive(Default)]
struct YouTubeState {
    /// client id → (client secret, refresh token, channel).
    clients: HashMap<String, (String, String, String)>,
    /// access token → channel.
    access: HashMap<String, String>,
    comments: Vec<Comment>,
    units_left: Option<u32>,
    script: VecDeque<ScriptedResponse>,
    calls: Vec<String>,
    next: u64,
}

impl YouTubeState {
    fn next(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

type Shared = Arc<Mutex<YouTubeState>>;

#[derive(Clone)]
pub struct LocalYouTube {
    /// The API's base URL, `http://127.0.0.1:PORT` (its token endpoint is `{url}/token`).
    pub url: String,
    state: Shared,
}

impl LocalYouTube {
    pub async fn start(port: u16) -> Result<Self, Error> {
        let state: Shared = Arc::default();
        let app = axum::Router::new()
            .route("/token", post(token))
            .route("/youtube/v3/commentThreads", get(comment_threads))
            .route("/youtube/v3/comments", get(list_comments).post(insert_comment))
            .with_state(state.clone());
        let url = crate::serve_loopback("the local YouTube API", port, app).await?;
        Ok(LocalYouTube { url, state })
    }

    /// Where Hark renews its tokens.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.url)
    }

    /// The brand's channel and the OAuth client and refresh token its owner granted.
    pub fn register_channel(&self, channel: &str, client_id: &str, client_secret: &str, refresh_token: &str) {
        let grant = (client_secret.to_owned(), refresh_token.to_owned(), channel.to_owned());
        self.lock().clients.insert(client_id.to_owned(), grant);
    }

    /// Units left today (`DAILY_UNITS` unless set).
    pub fn set_units_left(&self, units: u32) {
        self.lock().units_left = Some(units);
    }

    pub fn units_left(&self) -> u32 {
        self.lock().units_left.unwrap_or(DAILY_UNITS)
    }

    pub fn expire_access_tokens(&self) {
        self.lock().access.clear();
    }

    pub fn respond_next(&self, response: ScriptedResponse) {
        self.lock().script.push_back(response);
    }

    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// What `channel` replied in the thread of `comment`, oldest first.
    pub fn replies_by(&self, channel: &str, comment: &str) -> Vec<String> {
        let thread = comment.split_once('.').map_or(comment, |(t, _)| t);
        let s = self.lock();
        s.comments
            .iter()
            .filter(|c| c.author.0 == channel && c.parent.as_deref() == Some(thread))
            .map(|c| c.text.clone())
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, YouTubeState> {
        self.state.lock().expect("YouTube state")
    }

    /// A viewer (channel id, display name) comments on `channel`'s video. Returns its id.
    pub fn comment(&self, channel: &str, viewer: (&str, &str), text: &str) -> String {
        let mut s = self.lock();
        let id = format!("Ugz{:08}LocalThreadAaABAg", s.next());
        let comment = Comment {
            id: id.clone(),
            parent: None,
            channel: channel.to_owned(),
            video: "dQw4w9WgXcQ".into(),
            author: (viewer.0.into(), format!("@{}", viewer.1)),
            text: text.to_owned(),
            published_at: Utc::now(),
        };
        s.comments.push(comment);
        id
    }

    /// Says `comment` was published at `at` (a comment from before Hark was connected).
    pub fn backdate(&self, comment: &str, at: DateTime<Utc>) {
        if let Some(c) = self.lock().comments.iter_mut().find(|c| c.id == comment) {
            c.published_at = at;
        }
    }

    /// A viewer replies in the thread of `thread`. Returns the reply's id.
    pub fn reply(&self, thread: &str, viewer: (&str, &str), text: &str) -> String {
        let mut s = self.lock();
        let n = s.next();
        let top = s.comments.iter().find(|c| c.id == thread).cloned().expect("a thread to reply in");
        let id = format!("{thread}.9xLocalReply{n:06}");
        s.comments.push(Comment {
            id: id.clone(),
            parent: Some(thread.to_owned()),
            channel: top.channel,
            video: top.video,
            author: (viewer.0.into(), format!("@{}", viewer.1)),
            text: text.to_owned(),
            published_at: Utc::now(),
        });
        id
    }
}

fn google_error(status: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({"error": {"code": status.as_u16(), "message": message,
                                "errors": [{"message": message, "domain": "youtube", "reason": reason}]}});
    (status, Json(body)).into_response()
}

async fn token(State(state): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let mut s = state.lock().expect("YouTube state");
    s.calls.push("POST /token".into());
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let granted = s.clients.get(&field("client_id")).cloned();
    match granted {
        Some((secret, refresh, channel))
            if field("grant_type") == "refresh_token"
                && secret == field("client_secret")
                && refresh == field("refresh_token") =>
        {
            let n = s.next();
            let access = format!("ya29.local-{n}");
            s.access.insert(access.clone(), channel);
            Json(json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer",
                        "scope": "https://www.googleapis.com/auth/youtube.force-ssl"}))
            .into_response()
        }
        _ => (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": "Bad Request"})))
            .into_response(),
    }
}

/// The channel the call's token is for, after the quota is charged.
fn admit(s: &mut YouTubeState, headers: &HeaderMap, call: String, units: u32) -> Result<String, Box<Response>> {
    s.calls.push(call);
    let Some(channel) = bearer(headers).and_then(|t| s.access.get(&t).cloned()) else {
        return Err(Box::new(google_error(StatusCode::UNAUTHORIZED, "authError", "Invalid Credentials")));
    };
    if let Some(scripted) = s.script.pop_front() {
        return Err(Box::new(scripted.answer()));
    }
    let left = s.units_left.unwrap_or(DAILY_UNITS);
    if left < units {
        return Err(Box::new(google_error(
            StatusCode::FORBIDDEN,
            "quotaExceeded",
            "The request cannot be completed because you have exceeded your quota.",
        )));
    }
    s.units_left = Some(left - units);
    Ok(channel)
}

fn comment_json(c: &Comment) -> Value {
    let mut snippet = json!({
        "channelId": c.channel, "videoId": c.video, "authorDisplayName": c.author.1,
        "authorChannelId": {"value": c.author.0}, "textDisplay": c.text, "textOriginal": c.text,
        "canRate": true, "likeCount": 0,
        "publishedAt": c.published_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "updatedAt": c.published_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    if let Some(parent) = &c.parent {
        snippet["parentId"] = json!(parent);
    }
    json!({"kind": "youtube#comment", "id": c.id, "snippet": snippet})
}

/// Newest first; the page token is an offset, opaque to the caller.
fn page<T>(items: Vec<T>, query: &HashMap<String, String>) -> (Vec<T>, Option<String>) {
    let limit = query.get("maxResults").and_then(|l| l.parse().ok()).filter(|l| (1..=100).contains(l)).unwrap_or(20);
    let start: usize =
        query.get("pageToken").and_then(|t| t.strip_prefix("p").and_then(|n| n.parse().ok())).unwrap_or(0);
    let total = items.len();
    let chosen: Vec<T> = items.into_iter().skip(start).take(limit).collect();
    let next = (start + limit < total).then(|| format!("p{}", start + limit));
    (chosen, next)
}

async fn comment_threads(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().expect("YouTube state");
    let call = format!("GET commentThreads pageToken={}", query.get("pageToken").map_or("-", String::as_str));
    if let Err(refused) = admit(&mut s, &headers, call, LIST_UNITS) {
        return *refused;
    }
    let Some(channel) = query.get("allThreadsRelatedToChannelId") else {
        return google_error(StatusCode::BAD_REQUEST, "missingRequiredParameter", "No filter selected.");
    };
    let mut threads: Vec<&Comment> =
        s.comments.iter().filter(|c| c.parent.is_none() && &c.channel == channel).collect();
    threads.sort_by_key(|c| std::cmp::Reverse(c.published_at));
    let items: Vec<Value> = threads
        .into_iter()
        .map(|top| {
            let replies: Vec<Value> =
                s.comments.iter().filter(|c| c.parent.as_deref() == Some(&top.id)).map(comment_json).collect();
            json!({"kind": "youtube#commentThread", "id": top.id,
                   "snippet": {"channelId": top.channel, "videoId": top.video, "topLevelComment": comment_json(top),
                               "canReply": true, "totalReplyCount": replies.len(), "isPublic": true},
                   "replies": {"comments": replies}})
        })
        .collect();
    let (items, next) = page(items, &query);
    Json(json!({"kind": "youtube#commentThreadListResponse", "nextPageToken": next,
                "pageInfo": {"totalResults": items.len(), "resultsPerPage": items.len()}, "items": items}))
    .into_response()
}

async fn list_comments(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut s = state.lock().expect("YouTube state");
    if let Err(refused) = admit(&mut s, &headers, "GET comments".into(), LIST_UNITS) {
        return *refused;
    }
    let parent = query.get("parentId").cloned().unwrap_or_default();
    let mut replies: Vec<&Comment> = s.comments.iter().filter(|c| c.parent.as_deref() == Some(&parent)).collect();
    replies.sort_by_key(|c| std::cmp::Reverse(c.published_at));
    let (items, next) = page(replies.into_iter().map(comment_json).collect(), &query);
    Json(json!({"kind": "youtube#commentListResponse", "nextPageToken": next, "items": items})).into_response()
}

async fn insert_comment(State(state): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let mut s = state.lock().expect("YouTube state");
    let channel = match admit(&mut s, &headers, "POST comments".into(), INSERT_UNITS) {
        Ok(channel) => channel,
        Err(refused) => return *refused,
    };
    let parent = body.pointer("/snippet/parentId").and_then(Value::as_str).unwrap_or_default().to_owned();
    let text = body.pointer("/snippet/textOriginal").and_then(Value::as_str).unwrap_or_default().to_owned();
    let Some(top) = s.comments.iter().find(|c| c.id == parent && c.parent.is_none()).cloned() else {
        return google_error(StatusCode::NOT_FOUND, "parentCommentNotFound", "The parent comment could not be found.");
    };
    if text.trim().is_empty() || text.chars().count() > 10_000 {
        return google_error(StatusCode::BAD_REQUEST, "commentTextTooLong", "The comment text is empty or too long.");
    }
    let n = s.next();
    let comment = Comment {
        id: format!("{parent}.9xLocalReply{n:06}"),
        parent: Some(parent),
        channel: top.channel,
        video: top.video,
        author: (channel.clone(), "@acmeair".into()),
        text,
        published_at: Utc::now(),
    };
    let answer = comment_json(&comment);
    s.comments.push(comment);
    Json(answer).into_response()
}
