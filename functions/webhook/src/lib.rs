//! The webhook function: every channel's webhooks, at `/webhooks/{channel}[/{account}]`.
//! It answers handshakes, verifies deliveries, normalises their events into mentions and
//! enqueues them, and does nothing slow: platforms want an answer within 3 to 20 seconds,
//! and a 5xx makes them deliver again, so nothing accepted is lost.
//!
//! Order of work on a delivery: size limit, then the channel's signature over the raw bytes,
//! and only then any parsing. Every refusal before the signature checks out looks the same
//! (401), so a prober learns nothing about which accounts exist; the details go to the log.

use hark_shared::adapters::sqs::SqsQueue;
use hark_shared::channels::{ChallengeAnswer, Inbound, InboundError, WebhookRequest};
use hark_shared::credentials::Credentials;
use hark_shared::domain::mention::Mention;
use hark_shared::metrics::Metrics;
use hark_shared::ports::{Clock, MentionQueue, SystemClock};
use http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

/// Meta batches up to 1,000 updates in one delivery; 1 MiB holds that and refuses abuse early.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
const PREFIX: &str = "/webhooks/";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no route for {0}")]
    NotFound(String),
    #[error("method {0} not allowed; use GET for handshakes and POST for events")]
    MethodNotAllowed(Method),
    #[error("request body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    Channel(#[from] InboundError),
    #[error("could not enqueue the delivery: {0}")]
    Enqueue(hark_shared::Error),
}

impl WebhookError {
    /// The one place errors become HTTP statuses.
    pub fn status(&self) -> StatusCode {
        match self {
            WebhookError::NotFound(_) => StatusCode::NOT_FOUND,
            WebhookError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            WebhookError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            WebhookError::Channel(InboundError::Unauthenticated(_)) => StatusCode::UNAUTHORIZED,
            WebhookError::Channel(InboundError::Forbidden(_)) => StatusCode::FORBIDDEN,
            WebhookError::Channel(
                InboundError::InvalidChallenge(_) | InboundError::InvalidAccount | InboundError::Malformed(_),
            ) => StatusCode::BAD_REQUEST,
            WebhookError::Enqueue(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// What the caller is told. Before authentication nothing specific; after it, what the
    /// platform needs to fix its request; internal failures never name queues or ARNs.
    pub fn public_message(&self) -> String {
        match self {
            WebhookError::Channel(InboundError::Unauthenticated(_)) => "unauthorized".to_owned(),
            WebhookError::Channel(InboundError::Forbidden(_)) => "forbidden".to_owned(),
            WebhookError::Enqueue(_) => "temporarily unavailable, please retry".to_owned(),
            other => other.to_string(),
        }
    }
}

pub struct State<Q> {
    pub queue: Q,
    pub channels: Inbound,
    pub max_body_bytes: usize,
    pub clock: Box<dyn Clock>,
}

impl State<SqsQueue> {
    /// Reads configuration and secrets once, at cold start.
    pub async fn from_env() -> Result<Self, hark_shared::Error> {
        let aws = hark_shared::config::aws().await;
        let credentials = Credentials::load(&aws).await?;
        let queue_url = hark_shared::config::required_env("QUEUE_URL")?;
        Ok(State {
            queue: SqsQueue::from_config(&aws, queue_url),
            channels: Inbound::new(&credentials),
            max_body_bytes: hark_shared::config::env_or("WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            clock: Box::new(SystemClock),
        })
    }
}

fn response(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::Text(body))
        .expect("static response parts are valid")
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    response(status, "application/json", body.to_string())
}

/// Handles one API Gateway request. Never fails: every error is an HTTP answer.
pub async fn handle<Q: MentionQueue>(state: &State<Q>, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let mut metrics = Metrics::new("webhook");
    let response = match route(state, &request, &mut metrics).await {
        Ok(response) => response,
        Err(error) => {
            let status = error.status();
            if status.is_server_error() {
                tracing::error!(%error, "webhook failed");
                metrics.count("EnqueueFailures", 1);
            } else {
                tracing::warn!(%error, status = status.as_u16(), "webhook refused");
                metrics.count(if status == StatusCode::UNAUTHORIZED { "Unauthorized" } else { "Refused" }, 1);
            }
            json_response(status, serde_json::json!({ "error": error.public_message() }))
        }
    };
    metrics.emit();
    Ok(response)
}

async fn route<Q: MentionQueue>(
    state: &State<Q>,
    request: &Request,
    metrics: &mut Metrics,
) -> Result<Response<Body>, WebhookError> {
    let path = request.uri().path().trim_end_matches('/');
    let not_found = || WebhookError::NotFound(path.chars().take(200).collect());
    let mut segments = path.strip_prefix(PREFIX).ok_or_else(not_found)?.split('/');
    let name = segments.next().filter(|s| !s.is_empty()).ok_or_else(not_found)?;
    let account = segments.next();
    if segments.next().is_some() {
        return Err(not_found());
    }
    let channel = state.channels.channel(name).ok_or_else(not_found)?;

    let query: Vec<(String, String)> =
        request.query_string_parameters().iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let raw_body: &[u8] = request.body().as_ref();
    if raw_body.len() > state.max_body_bytes {
        return Err(WebhookError::TooLarge { size: raw_body.len(), limit: state.max_body_bytes });
    }
    let request_id = request_id(request);
    let webhook = WebhookRequest {
        account,
        query: &query,
        headers: request.headers(),
        body: raw_body,
        received_at: state.clock.now(),
        request_id: &request_id,
    };
    match *request.method() {
        Method::GET => Ok(match channel.answer_challenge(&webhook)? {
            ChallengeAnswer::Json(body) => json_response(StatusCode::OK, body),
            ChallengeAnswer::Text(text) => response(StatusCode::OK, "text/plain", text),
        }),
        Method::POST => {
            let normalised = Inbound::receive(channel, &webhook)?;
            let malformed = normalised.skipped.iter().filter(|s| s.malformed).count();
            for skipped in &normalised.skipped {
                if skipped.malformed {
                    tracing::warn!(channel = name, reason = skipped.reason, "event skipped");
                } else {
                    tracing::debug!(channel = name, reason = skipped.reason, "event skipped");
                }
            }
            enqueue(&state.queue, &normalised.mentions).await?;
            metrics.count("MentionsEnqueued", normalised.mentions.len() as u64);
            metrics.count("EventsSkipped", (normalised.skipped.len() - malformed) as u64);
            metrics.count("EventsMalformed", malformed as u64);
            tracing::info!(
                channel = name,
                enqueued = normalised.mentions.len(),
                skipped = normalised.skipped.len(),
                "delivery accepted"
            );
            Ok(json_response(
                StatusCode::OK,
                serde_json::json!({ "enqueued": normalised.mentions.len(), "skipped": normalised.skipped.len() }),
            ))
        }
        ref other => Err(WebhookError::MethodNotAllowed(other.clone())),
    }
}

async fn enqueue<Q: MentionQueue>(queue: &Q, mentions: &[Mention]) -> Result<(), WebhookError> {
    if mentions.is_empty() {
        return Ok(());
    }
    queue.enqueue(mentions).await.map_err(WebhookError::Enqueue)
}

fn request_id(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => request.lambda_context_ref().map(|c| c.request_id.clone()),
    }
    .map(|id| format!("apigw:{id}"))
    .unwrap_or_else(|| "apigw:unknown".to_owned())
}
