//! Faults on demand, for `hark-local load --faults`, each something that happens to a real
//! deployment: a platform's or help desk's API answering 429 or 5xx for a stretch (every
//! local platform takes `POST /_local/outage`), the functions' SQS endpoint unreachable (their
//! SQS traffic goes through a [`Link`] that can be cut), and a function's execution
//! environments killed mid-work (the stack's control listener, [`serve_control`]).
//!
//! Nothing here is Hark's: the functions see only what they would see in AWS, a refused
//! connection, a killed process, an API's error answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

use crate::Error;
use crate::runtime::LambdaFunction;

/// The longest outage one request may start: a schedule asks for stretches, not a stop.
const LONGEST_OUTAGE_SECONDS: u64 = 600;

/// What `POST /_local/outage` asks: answer every API call `status` for `seconds`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutageRequest {
    pub status: u16,
    pub seconds: u64,
}

impl OutageRequest {
    fn check(&self) -> Result<(), String> {
        if self.status != 429 && !(500..600).contains(&self.status) {
            return Err(format!("an outage answers 429 or 5xx, not {}", self.status));
        }
        if self.seconds == 0 || self.seconds > LONGEST_OUTAGE_SECONDS {
            return Err(format!("an outage lasts 1 to {LONGEST_OUTAGE_SECONDS} seconds"));
        }
        Ok(())
    }
}

/// A local API's outage: while it lasts, every call is answered with its status and does
/// nothing else.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Outage {
    status: u16,
    until: Option<DateTime<Utc>>,
    /// Calls answered by outages so far.
    answered: u64,
}

/// An outage's answer to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutageAnswer {
    pub status: StatusCode,
    pub until: DateTime<Utc>,
    /// Whole seconds until it ends, at least 1: what `Retry-After` says.
    pub seconds_left: u64,
}

impl Outage {
    /// Starts (or replaces) the outage; the request's own error when it asks for nonsense.
    pub(crate) fn start(&mut self, request: OutageRequest, now: DateTime<Utc>) -> Result<(), String> {
        request.check()?;
        self.status = request.status;
        self.until = Some(now + chrono::TimeDelta::seconds(request.seconds as i64));
        Ok(())
    }

    /// The answer for a call made at `now`, while the outage lasts.
    pub(crate) fn during(&mut self, now: DateTime<Utc>) -> Option<OutageAnswer> {
        let until = self.until.filter(|until| *until > now)?;
        self.answered += 1;
        let millis_left = (until - now).num_milliseconds().max(0) as u64;
        Some(OutageAnswer {
            status: StatusCode::from_u16(self.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            until,
            seconds_left: millis_left.div_ceil(1000).max(1),
        })
    }

    pub(crate) fn answered(&self) -> u64 {
        self.answered
    }
}

/// The body of `POST /_local/outage`, read into `outage`: 204, or 400 with the reason.
pub(crate) fn start_outage(outage: &mut Outage, body: &[u8]) -> Response {
    let request = match serde_json::from_slice::<OutageRequest>(body) {
        Ok(request) => request,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("expected {{\"status\", \"seconds\"}}: {e}")).into_response();
        }
    };
    match outage.start(request, Utc::now()) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(reason) => (StatusCode::BAD_REQUEST, reason).into_response(),
    }
}

/// An outage's answer as a help desk gives it: `Retry-After` on a 429, the desk's own body.
pub(crate) fn desk_answer(answer: OutageAnswer, body: serde_json::Value) -> Response {
    if answer.status == StatusCode::TOO_MANY_REQUESTS {
        return crate::too_many(answer.seconds_left, body);
    }
    (answer.status, axum::Json(body)).into_response()
}

/// A TCP link between the functions and one endpoint that can be cut for a while: while cut,
/// connections are accepted and closed at once and those open are dropped, which is what
/// an SDK sees of an unreachable endpoint.
#[derive(Clone)]
pub struct Link {
    /// `http://127.0.0.1:PORT`, for the functions' endpoint variable.
    pub url: String,
    down_until: Arc<Mutex<Option<tokio::time::Instant>>>,
    cuts: watch::Sender<u64>,
    refused: Arc<std::sync::atomic::AtomicU64>,
}

impl Link {
    /// Listens on a free loopback port and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Result<Link, Error> {
        let upstream = upstream
            .strip_prefix("http://")
            .map(|rest| rest.trim_end_matches('/').to_owned())
            .ok_or_else(|| Error::Usage(format!("a link forwards to http://host:port, not {upstream}")))?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(Error::io("bind a link"))?;
        let url = format!("http://{}", listener.local_addr().map_err(Error::io("a link's address"))?);
        let (cuts, _) = watch::channel(0u64);
        let link = Link { url, down_until: Arc::default(), cuts, refused: Arc::default() };
        let accepting = link.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if accepting.is_down() {
                    accepting.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    drop(inbound);
                    continue;
                }
                let (upstream, mut cut) = (upstream.clone(), accepting.cuts.subscribe());
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    let mut inbound = inbound;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Ok(link)
    }

    /// Unreachable from now for `duration`: open connections drop, new ones are refused.
    pub fn cut_for(&self, duration: Duration) {
        *self.down_until.lock().expect("link") = Some(tokio::time::Instant::now() + duration);
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn is_down(&self) -> bool {
        self.down_until.lock().expect("link").is_some_and(|until| tokio::time::Instant::now() < until)
    }

    /// Connections refused while cut.
    pub fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct Control {
    functions: Arc<HashMap<String, LambdaFunction>>,
    sqs: Link,
    meters: crate::usage::Meters,
}

/// The stack's own control listener on loopback, for the load tool's fault schedules:
/// `POST /_local/kill/{LogicalId}` kills every execution environment of a function (SIGKILL;
/// Lambda replaces them as it would), `POST /_local/sqs-outage` `{"seconds": n}` cuts the
/// functions' SQS endpoint, and `GET /_local/usage` reads what the stack did that AWS would
/// bill (for `hark-local cost`). Its URL is in the stack file.
pub async fn serve_control(
    functions: HashMap<String, LambdaFunction>,
    sqs: Link,
    meters: crate::usage::Meters,
) -> Result<String, Error> {
    let control = Control { functions: Arc::new(functions), sqs, meters };
    let app = axum::Router::new()
        .route("/_local/kill/{function}", post(kill))
        .route("/_local/sqs-outage", post(sqs_outage))
        .route("/_local/usage", axum::routing::get(usage))
        .with_state(control);
    crate::serve_loopback("the stack's control listener", 0, app).await
}

async fn kill(State(control): State<Control>, Path(function): Path<String>) -> Response {
    match control.functions.get(&function) {
        Some(f) => {
            f.kill_environments();
            StatusCode::NO_CONTENT.into_response()
        }
        None => (StatusCode::NOT_FOUND, format!("template.yaml has no function {function}")).into_response(),
    }
}

async fn usage(State(control): State<Control>) -> axum::Json<crate::usage::StackUsage> {
    axum::Json(crate::usage::StackUsage::read(&control.meters, control.functions.values()))
}

async fn sqs_outage(State(control): State<Control>, body: axum::body::Bytes) -> Response {
    #[derive(Deserialize)]
    struct Request {
        seconds: u64,
    }
    match serde_json::from_slice::<Request>(&body) {
        Ok(Request { seconds }) if (1..=LONGEST_OUTAGE_SECONDS).contains(&seconds) => {
            control.sqs.cut_for(Duration::from_secs(seconds));
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => {
            (StatusCode::BAD_REQUEST, format!("an outage lasts 1 to {LONGEST_OUTAGE_SECONDS} seconds")).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("expected {{\"seconds\": n}}: {e}")).into_response(),
    }
}

/// X's answer during an outage: a 429 says when the window resets (`x-rate-limit-reset`,
/// unix seconds; X sends no `Retry-After`), a 5xx says nothing more.
pub(crate) fn x_answer(answer: OutageAnswer) -> Response {
    let title = answer.status.canonical_reason().unwrap_or("Error");
    let body = json!({"title": title, "detail": title, "status": answer.status.as_u16(), "type": "about:blank"});
    let mut response = (answer.status, axum::Json(body)).into_response();
    if answer.status == StatusCode::TOO_MANY_REQUESTS {
        let headers: &mut HeaderMap = response.headers_mut();
        headers.insert("x-rate-limit-limit", HeaderValue::from_static("300"));
        headers.insert("x-rate-limit-remaining", HeaderValue::from_static("0"));
        headers.insert("x-rate-limit-reset", answer.until.timestamp().into());
    }
    response
}

/// How many items repeat one seen before: what a desk or platform received twice.
pub(crate) fn beyond_first<T: std::hash::Hash + Eq>(items: impl IntoIterator<Item = T>) -> usize {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().map(|item| usize::from(!seen.insert(item))).sum()
}

/// The event ids Hark's markers (`hark-event: msg_…`) name in a ticket's text.
pub(crate) fn marked_events(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices("hark-event: ").filter_map(|(at, marker)| {
        let rest = &text[at + marker.len()..];
        let id = &rest[..rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len())];
        (!id.is_empty()).then_some(id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn an_outage_answers_its_status_until_it_ends_with_the_seconds_left() {
        let mut outage = Outage::default();
        assert_eq!(outage.during(at(0)), None);
        outage.start(OutageRequest { status: 429, seconds: 20 }, at(0)).unwrap();
        let answer = outage.during(at(5)).unwrap();
        assert_eq!((answer.status, answer.seconds_left, answer.until), (StatusCode::TOO_MANY_REQUESTS, 15, at(20)));
        assert_eq!(outage.during(at(20)), None);
        assert_eq!(outage.answered(), 1);
    }

    #[test]
    fn an_outage_is_a_429_or_a_5xx_for_a_bounded_stretch() {
        let mut outage = Outage::default();
        for (status, seconds) in [(200, 10), (404, 10), (429, 0), (503, LONGEST_OUTAGE_SECONDS + 1)] {
            assert!(outage.start(OutageRequest { status, seconds }, at(0)).is_err(), "{status} for {seconds}s");
        }
        assert_eq!(outage.during(at(1)), None);
        outage.start(OutageRequest { status: 503, seconds: 1 }, at(0)).unwrap();
        assert_eq!(outage.during(at(0)).map(|a| a.status), Some(StatusCode::SERVICE_UNAVAILABLE));
    }

    #[test]
    fn repeats_are_counted_beyond_the_first_and_markers_are_read_from_any_text() {
        assert_eq!(beyond_first(["a", "b", "a", "a", "c"]), 2);
        assert_eq!(beyond_first(Vec::<&str>::new()), 0);
        let text = "Bag lost\nhark-event: msg_1\n---\nhark-event: msg_22 and hark-event: ";
        assert_eq!(marked_events(text).collect::<Vec<_>>(), ["msg_1", "msg_22"]);
    }

    #[tokio::test]
    async fn a_cut_link_drops_what_is_open_refuses_what_comes_and_heals() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let echo = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let upstream = format!("http://{}", echo.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let link = Link::start(&upstream).await.unwrap();
        let address = link.url.trim_start_matches("http://").to_owned();
        let round_trip = |address: String| async move {
            let mut socket = tokio::net::TcpStream::connect(&address).await.ok()?;
            socket.write_all(b"ping").await.ok()?;
            let mut buf = [0u8; 4];
            tokio::time::timeout(Duration::from_secs(2), socket.read_exact(&mut buf)).await.ok()?.ok()?;
            Some(buf)
        };
        assert_eq!(round_trip(address.clone()).await, Some(*b"ping"));

        let mut open = tokio::net::TcpStream::connect(&address).await.unwrap();
        open.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        open.read_exact(&mut one).await.unwrap();
        link.cut_for(Duration::from_millis(300));
        let mut rest = [0u8; 1];
        assert_eq!(open.read(&mut rest).await.unwrap_or(0), 0, "the open connection is dropped");
        assert_eq!(round_trip(address.clone()).await, None, "refused while cut");
        assert!(link.refused() >= 1);

        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(round_trip(address).await, Some(*b"ping"), "reachable again");
    }
}
