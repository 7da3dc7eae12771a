//! Answers to a source's messages, as Standard Webhooks events to the source's
//! `reply_url`, signed with the source's own secret:
//!
//! ```json
//! {"type": "reply.created",
//!  "data": {"source": "shop-app", "reply_id": "rep_…", "in_reply_to": "msg_…",
//!           "customer_id": "c-81", "visibility": "public", "text": "…"}}
//! ```
//!
//! `webhook-id` is the reply's id, the same on every attempt, so the source shows a reply
//! once however often it is delivered: sending again is how an unknown outcome is settled.

use std::collections::BTreeMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::credentials::SourceCredentials;
use crate::error::{Error, Result};
use crate::helpdesks::standard_webhooks::{self, EndpointSecret};
use crate::ports::{OutboxMessage, ReplySender, ReplyTarget};

const PLATFORM: &str = "source";
pub const REPLY_CREATED: &str = "reply.created";
/// The spec asks senders to wait 15 to 30 s.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The reply's id: derived from what it answers and why, so every attempt carries the same.
pub fn reply_id(message: &OutboxMessage) -> String {
    let key = format!("{}|{}|{}", message.account_id, message.answers_message_id, message.key());
    let digest = Sha256::digest(key.as_bytes());
    format!("rep_{}", digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>())
}

/// The event's body. Pure, so what a source receives is tested without a network.
pub fn reply_event(message: &OutboxMessage) -> Result<(String, String)> {
    let (in_reply_to, customer_id, visibility) = match &message.target {
        ReplyTarget::Post { in_reply_to } => (in_reply_to.as_str(), None, "public"),
        ReplyTarget::Direct { participant_id } => {
            (message.answers_message_id.as_str(), Some(participant_id.as_str()), "private")
        }
        other => return Err(Error::Invalid(format!("a source takes public or private replies, not {other:?}"))),
    };
    let id = reply_id(message);
    let body = serde_json::json!({
        "type": REPLY_CREATED,
        "data": {
            "source": message.account_id,
            "reply_id": id,
            "in_reply_to": in_reply_to,
            "customer_id": customer_id,
            "visibility": visibility,
            "text": message.text,
        }
    });
    Ok((id, body.to_string()))
}

pub struct GenericClient {
    http: reqwest::Client,
    sources: BTreeMap<String, (String, EndpointSecret)>,
}

impl GenericClient {
    pub fn new(sources: &BTreeMap<String, SourceCredentials>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hark/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let mut parsed = BTreeMap::new();
        for (name, source) in sources {
            let secret = EndpointSecret::parse(source.secret.expose())
                .map_err(|e| Error::Secret(format!("source {name}: {e}")))?;
            parsed.insert(name.clone(), (source.reply_url.clone(), secret));
        }
        Ok(GenericClient { http, sources: parsed })
    }
}

impl ReplySender for GenericClient {
    async fn send(&self, message: &OutboxMessage) -> Result<String> {
        let Some((url, secret)) = self.sources.get(&message.account_id) else {
            return Err(Error::Config(format!("the credentials name no source {:?}", message.account_id)));
        };
        let (id, body) = reply_event(message)?;
        let timestamp = chrono::Utc::now().timestamp();
        let sent = self
            .http
            .post(url)
            .header(standard_webhooks::ID_HEADER, &id)
            .header(standard_webhooks::TIMESTAMP_HEADER, timestamp.to_string())
            .header(
                standard_webhooks::SIGNATURE_HEADER,
                standard_webhooks::sign(secret, &id, timestamp, body.as_bytes()),
            )
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            // Whether it arrived or not, the source deduplicates on the id: send again.
            Err(error) => {
                let what = if error.is_timeout() { "timed out" } else { "unreachable" };
                return Err(Error::PlatformUnavailable {
                    platform: PLATFORM,
                    message: format!("{what}: {}", error.without_url()),
                });
            }
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().get(http::header::RETRY_AFTER).and_then(|v| v.to_str().ok());
        match (status, standard_webhooks::answered(status, retry_after)) {
            (_, standard_webhooks::Answered::Delivered) => Ok(id),
            (_, standard_webhooks::Answered::Retry { asked: Some(wait) }) => {
                Err(Error::RateLimited { platform: PLATFORM, retry_after: wait })
            }
            (408 | 429 | 500..=599, _) => Err(Error::PlatformUnavailable {
                platform: PLATFORM,
                message: format!("{} answered {status}", message.account_id),
            }),
            // The source refuses this reply (or, 410, any more): sending it again will not help.
            _ => Err(Error::PlatformRejected {
                platform: PLATFORM,
                status,
                message: format!("{} refused the reply", message.account_id),
            }),
        }
    }

    /// The source deduplicates on the reply's id: delivering again is the way to be sure.
    async fn find_sent(&self, _message: &OutboxMessage, _window: crate::ports::SendWindow) -> Result<Option<String>> {
        Ok(None)
    }
}
