//! The webhook function: verifies X deliveries, answers CRC challenges, normalises events
//! into mentions and enqueues them. It does nothing slow: X wants an answer within 3 s for
//! a CRC and 10 s for events, and a 5xx makes X deliver again, so nothing accepted is lost.

use std::collections::HashMap;

use hark_shared::mention::Mention;
use hark_shared::metrics::Metrics;
use hark_shared::ports::{Clock, MentionQueue, SystemClock};
use hark_shared::secrets::{Secret, XCredentials};
use hark_shared::sqs::SqsQueue;
use hark_shared::x::{self, SignatureError};
use http::{Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

/// X deliveries are a few KiB; 256 KiB leaves room for batched events and refuses abuse early.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
const ROUTE: &str = "/webhooks/x";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no route for {0}")]
    NotFound(String),
    #[error("method {0} not allowed; use GET for CRC challenges and POST for events")]
    MethodNotAllowed(Method),
    #[error("request body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed JSON body: {0}")]
    MalformedJson(String),
    #[error("crc_token query parameter is missing or invalid")]
    InvalidCrcToken,
    #[error("delivery is for account {body}, but the webhook URL names account {path}")]
    AccountMismatch { body: String, path: String },
    #[error("webhook URL names an invalid account id")]
    InvalidAccount,
    #[error("signature rejected: {0}")]
    Signature(#[from] SignatureError),
    #[error("no consumer secret is configured for account {0}; refusing unverifiable delivery")]
    UnknownAccount(String),
    #[error("several X apps are configured; register the webhook URL as {ROUTE}/<account id>")]
    AmbiguousApp,
    #[error("could not enqueue the delivery, please retry: {0}")]
    Enqueue(hark_shared::Error),
}

impl WebhookError {
    /// The one place errors become HTTP statuses.
    pub fn status(&self) -> StatusCode {
        match self {
            WebhookError::NotFound(_) => StatusCode::NOT_FOUND,
            WebhookError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            WebhookError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            WebhookError::MalformedJson(_)
            | WebhookError::InvalidCrcToken
            | WebhookError::AccountMismatch { .. }
            | WebhookError::InvalidAccount
            | WebhookError::AmbiguousApp => StatusCode::BAD_REQUEST,
            WebhookError::Signature(_) => StatusCode::UNAUTHORIZED,
            WebhookError::UnknownAccount(_) => StatusCode::FORBIDDEN,
            WebhookError::Enqueue(_) => StatusCode::SERVICE_UNAVAILABLE,
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
                metrics.count("Refused", 1);
            }
            json_response(status, serde_json::json!({ "error": error.to_string() }))
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
            None => return Err(WebhookError::NotFound(path.to_owned())),
        },
        None => return Err(WebhookError::NotFound(path.to_owned())),
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
    let token = params
        .first("crc_token")
        .filter(|t| !t.is_empty() && t.len() <= x::MAX_CRC_TOKEN_LEN)
        .ok_or(WebhookError::InvalidCrcToken)?;
    let secret = match path_account {
        Some(account) => {
            state.consumer_secrets.get(account).ok_or_else(|| WebhookError::UnknownAccount(account.to_owned()))?
        }
        None => {
            // One X app usually serves every brand account; then its secret answers the CRC.
            let mut secrets = state.consumer_secrets.values();
            let first = secrets.next().ok_or_else(|| WebhookError::UnknownAccount("(none configured)".into()))?;
            if secrets.any(|other| other.expose() != first.expose()) {
                return Err(WebhookError::AmbiguousApp);
            }
            first
        }
    };
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
    // The account inside the body picks the secret; nothing parsed is acted on until the
    // signature over the raw bytes checks out.
    let delivery = x::parse(raw_body).map_err(|e| WebhookError::MalformedJson(e.to_string()))?;
    if let Some(path) = path_account
        && path != delivery.for_user_id
    {
        return Err(WebhookError::AccountMismatch { body: delivery.for_user_id, path: path.to_owned() });
    }
    let secret = state
        .consumer_secrets
        .get(&delivery.for_user_id)
        .ok_or_else(|| WebhookError::UnknownAccount(delivery.for_user_id.clone()))?;
    let signature = request.headers().get(x::SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    x::verify_signature(secret.expose(), raw_body, signature)?;

    let normalised = delivery.normalise(state.clock.now(), &request_id(request));
    for reason in &normalised.skipped {
        tracing::debug!(reason, "event skipped");
    }
    enqueue(&state.queue, &normalised.mentions).await?;
    metrics.count("MentionsEnqueued", normalised.mentions.len() as u64);
    metrics.count("EventsSkipped", normalised.skipped.len() as u64);
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
