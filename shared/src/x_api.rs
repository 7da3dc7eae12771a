//! X API v2 client for replies and direct messages (user-context OAuth 2.0 bearer tokens).

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use reqwest::{Response, StatusCode};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ports::{OutboxMessage, ReplySender, ReplyTarget};
use crate::secrets::Secret;

const PLATFORM: &str = "X API";
/// When X gives no reset time, wait out its 15-minute window rather than hammer it.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone)]
pub struct XApiClient {
    http: reqwest::Client,
    base_url: String,
    access_tokens: HashMap<String, Secret>,
}

#[derive(Deserialize)]
struct Created {
    data: CreatedData,
}

#[derive(Deserialize)]
struct CreatedData {
    id: Option<String>,
    dm_event_id: Option<String>,
}

impl XApiClient {
    pub fn new(base_url: &str, access_tokens: HashMap<String, Secret>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(8))
            .user_agent(concat!("hark/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(XApiClient { http, base_url: base_url.trim_end_matches('/').to_owned(), access_tokens })
    }

    async fn outcome(response: Response) -> Result<String> {
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Error::RateLimited { platform: PLATFORM, retry_after: rate_limit_wait(&response) });
        }
        if status.is_server_error() {
            return Err(Error::PlatformUnavailable { platform: PLATFORM, message: format!("HTTP {status}") });
        }
        if !status.is_success() {
            let body: String = response.text().await.unwrap_or_default().chars().take(300).collect();
            return Err(Error::PlatformRejected { platform: PLATFORM, status: status.as_u16(), message: body });
        }
        // Created: from here on the message exists, so any failure to read its id is "unknown", not "retry".
        let created: Created = response.json().await.map_err(|e| Error::PlatformOutcomeUnknown {
            platform: PLATFORM,
            message: format!("unreadable response: {e}"),
        })?;
        created
            .data
            .id
            .or(created.data.dm_event_id)
            .ok_or_else(|| Error::PlatformOutcomeUnknown { platform: PLATFORM, message: "response has no id".into() })
    }
}

/// `x-rate-limit-reset` is a unix time; `retry-after` (seconds) is honoured too.
fn rate_limit_wait(response: &Response) -> Duration {
    let header = |name: &str| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok())
    };
    if let Some(reset) = header("x-rate-limit-reset") {
        return Duration::from_secs((reset - Utc::now().timestamp()).max(1) as u64);
    }
    header("retry-after").map(|s| Duration::from_secs(s.max(1) as u64)).unwrap_or(DEFAULT_RATE_LIMIT_WAIT)
}

impl ReplySender for XApiClient {
    async fn send(&self, message: &OutboxMessage) -> Result<String> {
        let token = self
            .access_tokens
            .get(&message.account_id)
            .ok_or_else(|| Error::Config(format!("no X access token for account {}", message.account_id)))?;
        let request = match &message.target {
            ReplyTarget::Post { in_reply_to } => self
                .http
                .post(format!("{}/2/tweets", self.base_url))
                .json(&serde_json::json!({ "text": message.text, "reply": { "in_reply_to_tweet_id": in_reply_to } })),
            ReplyTarget::Direct { participant_id } => self
                .http
                .post(format!("{}/2/dm_conversations/with/{participant_id}/messages", self.base_url))
                .json(&serde_json::json!({ "text": message.text })),
        };
        let response = request.bearer_auth(token.expose()).send().await.map_err(|e| {
            if e.is_connect() {
                Error::PlatformUnavailable { platform: PLATFORM, message: e.to_string() }
            } else {
                // Timed out or broke after the request left: X may have posted it.
                Error::PlatformOutcomeUnknown { platform: PLATFORM, message: e.to_string() }
            }
        })?;
        Self::outcome(response).await
    }
}
