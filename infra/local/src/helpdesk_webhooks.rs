//! A local help desk that takes Hark's events by Standard Webhooks, as a receiver following
//! the spec does: every delivery's signature is checked with the endpoint's secret over the
//! raw body, within the 5-minute tolerance, and refused with 401 otherwise; `webhook-id` is
//! the idempotency key, so a delivery made again is answered 200 and not recorded twice. A
//! test can script its next answers (503, 429 with `Retry-After`, 410 Gone) and read what
//! it took.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hark_shared::helpdesks::standard_webhooks::{self, EndpointSecret};
use serde_json::Value;

use crate::Error;

/// One event the help desk took, once.
#[derive(Debug, Clone)]
pub struct ReceivedEvent {
    pub id: String,
    pub body: Value,
}

#[derive(Default)]
struct ReceiverState {
    events: Vec<ReceivedEvent>,
    seen: HashSet<String>,
    /// Every delivery attempt, accepted or not: (webhook-id, status answered).
    attempts: Vec<(String, u16)>,
    script: VecDeque<(u16, Option<u64>)>,
    /// A stretch of 429s or 5xx the load tool's fault schedule asked for.
    outage: crate::faults::Outage,
}

#[derive(Clone)]
pub struct LocalHelpDesk {
    /// Where Hark delivers: `{base}/hark`.
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
}

struct Receiver {
    secret: EndpointSecret,
    state: Arc<Mutex<ReceiverState>>,
}

impl LocalHelpDesk {
    /// Serves on `127.0.0.1:port` (0 picks a free port), checking deliveries with `secret`
    /// (`whsec_…`).
    pub async fn start(port: u16, secret: &str) -> Result<Self, Error> {
        let secret = EndpointSecret::parse(secret).map_err(|e| Error::Usage(format!("local help desk: {e}")))?;
        let state: Arc<Mutex<ReceiverState>> = Arc::default();
        let receiver = Arc::new(Receiver { secret, state: state.clone() });
        let app = axum::Router::new()
            .route("/hark", post(receive))
            .route("/_local/stats", get(stats))
            .route("/_local/outage", post(outage))
            .with_state(receiver);
        let base = crate::serve_loopback("the local help desk (Standard Webhooks)", port, app).await?;
        Ok(LocalHelpDesk { url: format!("{base}/hark"), state })
    }

    /// The next deliveries are answered `status` (with `Retry-After: seconds`), in order.
    pub fn respond_next(&self, status: u16, retry_after: Option<u64>) {
        self.state.lock().unwrap().script.push_back((status, retry_after));
    }

    pub fn events(&self) -> Vec<ReceivedEvent> {
        self.state.lock().unwrap().events.clone()
    }

    pub fn attempts(&self) -> Vec<(String, u16)> {
        self.state.lock().unwrap().attempts.clone()
    }
}

async fn receive(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let id = header(standard_webhooks::ID_HEADER).unwrap_or_default().to_owned();
    let checked = standard_webhooks::verify(
        &receiver.secret,
        header(standard_webhooks::ID_HEADER),
        header(standard_webhooks::TIMESTAMP_HEADER),
        header(standard_webhooks::SIGNATURE_HEADER),
        &body,
        chrono::Utc::now(),
    );
    let mut state = receiver.state.lock().unwrap();
    let (status, retry_after, text): (u16, Option<u64>, String) = match checked {
        Err(refused) => (401, None, refused.to_string()),
        Ok(()) => {
            // A scripted answer first; only then is an outage asked (and counted).
            let scripted = state.script.pop_front();
            let outage = if scripted.is_none() { state.outage.during(chrono::Utc::now()) } else { None };
            match (scripted, outage) {
                (Some((status, retry_after)), _) => (status, retry_after, "scripted".into()),
                (None, Some(outage)) => {
                    let retry_after = (outage.status == StatusCode::TOO_MANY_REQUESTS).then_some(outage.seconds_left);
                    (outage.status.as_u16(), retry_after, "outage".into())
                }
                (None, None) => match serde_json::from_slice::<Value>(&body) {
                    Err(_) => (400, None, "not JSON".into()),
                    Ok(event) => {
                        // The idempotency key: a repeated delivery is taken once.
                        if state.seen.insert(id.clone()) {
                            state.events.push(ReceivedEvent { id: id.clone(), body: event });
                        }
                        (200, None, "ok".into())
                    }
                },
            }
        }
    };
    state.attempts.push((id, status));
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, text).into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert("retry-after", seconds.into());
    }
    response
}

/// What the load tool reads: events taken, and deliveries accepted again after a 2xx (the
/// same `webhook-id`: Standard Webhooks delivers at least once, and a receiver drops these).
async fn stats(State(receiver): State<Arc<Receiver>>) -> Response {
    let state = receiver.state.lock().unwrap();
    let accepted = state.attempts.iter().filter(|(_, status)| (200..300).contains(status)).map(|(id, _)| id);
    axum::Json(serde_json::json!({
        "events": state.events.len(),
        "outage_answers": state.outage.answered(),
        "accepted_again": crate::faults::beyond_first(accepted),
    }))
    .into_response()
}

async fn outage(State(receiver): State<Arc<Receiver>>, body: Bytes) -> Response {
    crate::faults::start_outage(&mut receiver.state.lock().unwrap().outage, &body)
}
