//! A canned HTTP server for the reply clients' tests: it answers each request with the
//! first unused answer for its method and path (418 when there is none), and records what
//! it received, so a case checks what was sent and that every answer was used.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;

#[derive(Clone)]
pub struct Canned {
    pub method: &'static str,
    pub path: &'static str,
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

pub fn answer(method: &'static str, path: &'static str, status: u16, body: Value) -> Canned {
    Canned { method, path, status, headers: Vec::new(), body }
}

#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: String,
    /// Every header, by lowercase name.
    pub headers: Vec<(String, String)>,
    /// The body as sent, and as JSON when it is JSON (`Null` otherwise).
    pub raw: Vec<u8>,
    pub body: Value,
}

#[derive(Default)]
pub struct Server {
    pub canned: Vec<(Canned, bool)>,
    pub received: Vec<Received>,
}

impl Server {
    /// Every canned answer was given: a case whose answers were not all used did not
    /// exercise what it says it did.
    pub fn all_used(&self) -> bool {
        self.canned.iter().all(|(_, used)| *used)
    }
}

pub type Shared = Arc<Mutex<Server>>;

async fn serve(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let mut server = state.lock().unwrap();
    server.received.push(Received {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap_or_default().to_owned()))
            .collect(),
        raw: body.to_vec(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let next = server.canned.iter_mut().find(|(c, used)| !used && c.method == method.as_str() && c.path == uri.path());
    match next {
        Some((canned, used)) => {
            *used = true;
            let mut response =
                (StatusCode::from_u16(canned.status).unwrap(), axum::Json(canned.body.clone())).into_response();
            for (name, value) in &canned.headers {
                response.headers_mut().insert(*name, value.parse().unwrap());
            }
            response
        }
        None => (StatusCode::IM_A_TEAPOT, "no canned answer").into_response(),
    }
}

/// Serves `canned` on a loopback port: its base URL, and what it holds.
pub async fn start(canned: Vec<Canned>) -> (String, Shared) {
    let state: Shared =
        Arc::new(Mutex::new(Server { canned: canned.into_iter().map(|c| (c, false)).collect(), received: Vec::new() }));
    let app = axum::Router::new().fallback(serve).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, state)
}
