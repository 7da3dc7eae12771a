//! The webhook function: verifies X deliveries, answers CRC challenges, normalises events
//! into mentions and enqueues them. It does nothing slow: X wants an answer within 3 s for
//! a CRC and 10 s for events, and a 5xx makes X deliver again, so nothing accepted is lost.
//!
//! Order of work on a delivery: size limit, then the signature over the raw bytes, and only
//! then any parsing. Every refusal before the signature checks out looks the same (401), so
//! a prober learns nothing about which accounts exist; the details go to the log.

use std::collections::HashMap;

use hark_shared::mention::Mention;
use hark_shared::metrics::Metrics;
use hark_shared::ports::{Clock, MentionQueue, SystemClock};
use hark_shared::secrets::{Secret, XCredentials};
use hark_shared::sqs::SqsQueue;
use hark_shared::x::{self, CrcToken, ParseError, SignatureError};
use http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

/// X deliveries are a few KiB; 256 KiB leaves room for batched events and refuses abuse early.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
const ROUTE: &str = "/webhooks/x";

/// Why a request was not authenticated. Logged, never answered: the answer is always the same.
#[derive(Debug, thiserror::Error)]
pub enum Unauthenticated {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("no consumer secret is configured for account {0}")]
    UnknownAccount(String),
    #[error("no consumer secret is configured at all")]
    NoSecrets,
    #[error("several X apps are configured; the webhook URL must name the account (/webhooks/x/<account id>)")]
    AmbiguousApp,
    #[error("the signing app does not serve account {0}")]
    AccountOfAnotherApp(String),
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no route for {0}")]
    NotFound(String),
    #[error("method {0} not allowed; use GET for CRC challenges and POST for events")]
    MethodNotAllowed(Method),
    #[error("request body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("crc_token query parameter is missing or invalid")]
    InvalidCrcToken,
    #[error("webhook URL names an invalid account id")]
    InvalidAccount,
    #[error("unauthorized: {0}")]
    Unauthenticated(#[from] Unauthenticated),
    /// The body is signed but cannot be read.
    #[error("malformed delivery: {0}")]
    Malformed(#[from] ParseError),
    #[error("delivery is for account {body}, but the webhook URL names account {path}")]
    AccountMismatch { body: String, path: String },
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
            WebhookError::InvalidCrcToken
            | WebhookError::InvalidAccount
            | WebhookError::Malformed(_)
            | WebhookError::AccountMismatch { .. } => StatusCode::BAD_REQUEST,
            WebhookError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            WebhookError::Enqueue(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// What the caller is told. Before authentication nothing specific; after it, what the
    /// platform needs to fix its request; internal failures never name queues or ARNs.
    pub fn public_message(&self) -> String {
        match self {
            WebhookError::Unauthenticated(_) => "unauthorized".to_owned(),
            WebhookError::Enqueue(_) => "temporarily unavailable, please retry".to_owned(),
            other => other.to_string(),
        }
    }
}

pub struct State<Q> {
    pub queue: Q,
    /// Consumer secrets by brand account id (`for_user_id`).
    pub consumer_secrets: HashMap<String, Secret>,
    pub max_body_bytes: usize,
    pub clock: Box<dyn Clock>,
}

impl State<SqsQueue> {
    /// Reads configuration and secrets once, at cold start.
    pub async fn from_env() -> Result<Self, hark_shared::Error> {
        let aws = hark_shared::config::aws().await;
        let credentials = XCredentials::load(&aws).await?;
        let queue_url = hark_shared::config::required_env("QUEUE_URL")?;
        Ok(State {
            queue: SqsQueue::from_config(&aws, queue_url),
            consumer_secrets: credentials.consumer_secrets(),
            max_body_bytes: hark_shared::config::env_or("WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            clock: Box::new(SystemClock),
        })
    }
}

impl<Q> State<Q> {
    /// The secret for a request: the URL's account's, or the one app's when the URL names none.
    fn secret_for(&self, path_account: Option<&str>) -> Result<&Secret, Unauthenticated> {
        match path_account {
            Some(account) => {
                self.consumer_secrets.get(account).ok_or_else(|| Unauthenticated::UnknownAccount(account.to_owned()))
            }
            None => {
                // One X app usually serves every brand account; then its secret answers.
                let mut secrets = self.consumer_secrets.values();
                let first = secrets.next().ok_or(Unauthenticated::NoSecrets)?;
                if secrets.any(|other| other.expose() != first.expose()) {
                    return Err(Unauthenticated::AmbiguousApp);
                }
                Ok(first)
            }
        }
    }
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))
        .expect("static response parts are valid")
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
    let path_account = match path.strip_prefix(ROUTE) {
        Some("") => None,
        Some(rest) => match rest.strip_prefix('/') {
            Some(account) if x::is_valid_id(account) => Some(account),
            Some(_) => return Err(WebhookError::InvalidAccount),
            None => return Err(WebhookError::NotFound(path.chars().take(200).collect())),
        },
        None => return Err(WebhookError::NotFound(path.chars().take(200).collect())),
    };
    match *request.method() {
        Method::GET => crc_challenge(state, request, path_account),
        Method::POST => receive(state, request, path_account, metrics).await,
        ref other => Err(WebhookError::MethodNotAllowed(other.clone())),
    }
}

fn crc_challenge<Q>(
    state: &State<Q>,
    request: &Request,
    path_account: Option<&str>,
) -> Result<Response<Body>, WebhookError> {
    let params = request.query_string_parameters();
    let token = params.first("crc_token").and_then(CrcToken::parse).ok_or(WebhookError::InvalidCrcToken)?;
    let secret = state.secret_for(path_account)?;
    Ok(json_response(StatusCode::OK, x::crc_response(secret.expose(), token)))
}

async fn receive<Q: MentionQueue>(
    state: &State<Q>,
    request: &Request,
    path_account: Option<&str>,
    metrics: &mut Metrics,
) -> Result<Response<Body>, WebhookError> {
    let raw_body: &[u8] = request.body().as_ref();
    if raw_body.len() > state.max_body_bytes {
        return Err(WebhookError::TooLarge { size: raw_body.len(), limit: state.max_body_bytes });
    }
    // Verification comes first: nothing in the body is read until its signature checks out.
    let secret = state.secret_for(path_account)?;
    let header = request.headers().get(x::SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    x::verify_signature(secret.expose(), raw_body, header).map_err(Unauthenticated::from)?;

    let delivery = x::parse(raw_body)?;
    if let Some(path) = path_account
        && path != delivery.for_user_id
    {
        return Err(WebhookError::AccountMismatch { body: delivery.for_user_id, path: path.to_owned() });
    }
    // The app signed it, but Hark answers only for accounts it holds that app's secret for.
    let serves = state.consumer_secrets.get(&delivery.for_user_id).is_some_and(|s| s.expose() == secret.expose());
    if !serves {
        return Err(Unauthenticated::AccountOfAnotherApp(delivery.for_user_id).into());
    }

    let normalised = delivery.normalise(state.clock.now(), &request_id(request));
    let malformed = normalised.skipped.iter().filter(|s| s.malformed).count();
    for skipped in &normalised.skipped {
        if skipped.malformed {
            tracing::warn!(reason = skipped.reason, "event skipped");
        } else {
            tracing::debug!(reason = skipped.reason, "event skipped");
        }
    }
    enqueue(&state.queue, &normalised.mentions).await?;
    metrics.count("MentionsEnqueued", normalised.mentions.len() as u64);
    metrics.count("EventsSkipped", (normalised.skipped.len() - malformed) as u64);
    metrics.count("EventsMalformed", malformed as u64);
    tracing::info!(enqueued = normalised.mentions.len(), skipped = normalised.skipped.len(), "delivery accepted");
    Ok(json_response(
        StatusCode::OK,
        serde_json::json!({ "enqueued": normalised.mentions.len(), "skipped": normalised.skipped.len() }),
    ))
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
