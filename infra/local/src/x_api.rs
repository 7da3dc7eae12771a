//! A local server speaking the X API v2 shapes Hark sends (`POST /2/tweets`,
//! `POST /2/dm_conversations/with/:participant_id/messages`). It records every request and
//! answers as X documents (201 with the new post's id), or as a test scripts it (429 with
//! `x-rate-limit-reset`, 5xx, a slow answer).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::Error;

/// One request the local X API received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub received_at: chrono::DateTime<chrono::Utc>,
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
}

#[derive(Default)]
struct XApiState {
    requests: Vec<RecordedRequest>,
    script: VecDeque<ScriptedResponse>,
    next_id: u64,
}

type Shared = Arc<Mutex<XApiState>>;

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
            .route(
                "/2/tweets",
                post(|State(s): State<Shared>, headers: HeaderMap, axum::Json(body): axum::Json<Value>| async move {
                    answer(&s, "/2/tweets".into(), &headers, body, false).await
                }),
            )
            .route(
                "/2/dm_conversations/with/{participant}/messages",
                post(
                    |State(s): State<Shared>,
                     Path(participant): Path<String>,
                     headers: HeaderMap,
                     axum::Json(body): axum::Json<Value>| async move {
                        let path = format!("/2/dm_conversations/with/{participant}/messages");
                        answer(&s, path, &headers, body, true).await
                    },
                ),
            )
            .with_state(state.clone());
        let listener =
            tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(Error::io("bind the local X API"))?;
        let base_url = format!("http://{}", listener.local_addr().map_err(Error::io("local X API address"))?);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("hark-local: local X API stopped: {e}");
            }
        });
        Ok(LocalXApi { base_url, state })
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().expect("X API state").requests.clone()
    }

    pub fn respond_next(&self, response: ScriptedResponse) {
        self.state.lock().expect("X API state").script.push_back(response);
    }
}

async fn answer(state: &Shared, path: String, headers: &HeaderMap, body: Value, dm: bool) -> Response {
    let target = if dm {
        path.trim_start_matches("/2/dm_conversations/with/").trim_end_matches("/messages").to_owned()
    } else {
        body["reply"]["in_reply_to_tweet_id"].as_str().unwrap_or_default().to_owned()
    };
    let scripted = {
        let mut s = state.lock().expect("X API state");
        s.requests.push(RecordedRequest {
            path,
            authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
            body,
            received_at: chrono::Utc::now(),
        });
        s.next_id += 1;
        let scripted = s.script.iter().position(|r| r.only_for.as_ref().is_none_or(|t| *t == target));
        scripted.and_then(|at| s.script.remove(at)).ok_or(s.next_id)
    };
    match scripted {
        Ok(scripted) => {
            tokio::time::sleep(scripted.delay).await;
            let status = StatusCode::from_u16(scripted.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, axum::Json(scripted.body)).into_response();
            for (name, value) in scripted.headers {
                if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), value.parse()) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        Err(sequence) => {
            let id = (1_900_000_000_000_000_000u64 + sequence).to_string();
            let data = if dm {
                json!({"data": {"dm_conversation_id": "local-dm", "dm_event_id": id}})
            } else {
                json!({"data": {"id": id, "text": "ok"}})
            };
            (StatusCode::CREATED, axum::Json(data)).into_response()
        }
    }
}
