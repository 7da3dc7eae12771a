//! Delivers forward records to help desks' Standard Webhooks endpoints: the event's JSON as
//! the body, signed with the endpoint's own secret, the event id as `webhook-id`. Redirects
//! are never followed; 410 disables the endpoint (kept in the table, so every sender stops,
//! until ops enable it again); other failures go back to the outbox's schedule.

use std::collections::HashMap;
use std::time::Duration;

use super::standard_webhooks::{self, Answered, EndpointSecret};
use crate::credentials::WebhookCredentials;
use crate::domain::forward::event_id_of;
use crate::error::{Error, Result};
use crate::ports::{EndpointSwitch, OutboxMessage, ReplySender, ReplyTarget};

const PLATFORM: &str = "help desk";

/// The spec asks receivers to answer fast and senders to wait 15 to 30 s.
const TIMEOUT: Duration = Duration::from_secs(15);

/// How long a sender trusts what it last read of an endpoint's switch: one read per
/// endpoint per half minute instead of one per delivery; ops' `hark webhooks enable` takes
/// effect within it.
const SWITCH_TTL: Duration = Duration::from_secs(30);

type Switched = Option<(chrono::DateTime<chrono::Utc>, String)>;

pub struct WebhookSender<S = crate::adapters::dynamo::DynamoStore> {
    http: reqwest::Client,
    endpoints: HashMap<String, (String, EndpointSecret)>,
    switch: S,
    read: std::sync::Mutex<HashMap<String, (std::time::Instant, Switched)>>,
    switch_ttl: Duration,
}

impl<S: EndpointSwitch> WebhookSender<S> {
    pub fn new(credentials: &WebhookCredentials, switch: S) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hark/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        let mut endpoints = HashMap::new();
        for (id, endpoint) in &credentials.endpoints {
            let secret = EndpointSecret::parse(endpoint.secret.expose())
                .map_err(|e| Error::Secret(format!("webhook endpoint {id}: {e}")))?;
            endpoints.insert(id.clone(), (endpoint.url.clone(), secret));
        }
        Ok(WebhookSender { http, endpoints, switch, read: Default::default(), switch_ttl: SWITCH_TTL })
    }

    /// Reads the switch again after `ttl` rather than [`SWITCH_TTL`] (zero: every delivery).
    pub fn with_switch_ttl(mut self, ttl: Duration) -> Self {
        self.switch_ttl = ttl;
        self
    }

    /// The endpoint's switch, as read at most [`SWITCH_TTL`] ago.
    async fn disabled(&self, endpoint: &str) -> Result<Switched> {
        let fresh = |(at, _): &(std::time::Instant, Switched)| at.elapsed() < self.switch_ttl;
        if let Some((_, known)) = self.read.lock().expect("switch cache").get(endpoint).filter(|e| fresh(e)) {
            return Ok(known.clone());
        }
        let known = self.switch.disabled(endpoint).await?;
        self.read.lock().expect("switch cache").insert(endpoint.to_owned(), (std::time::Instant::now(), known.clone()));
        Ok(known)
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<String> {
        let ReplyTarget::Webhook { endpoint } = &message.target else {
            return Err(Error::Invalid(format!("not a help-desk delivery: {:?}", message.target)));
        };
        let disabled = |message: String| Error::EndpointDisabled { endpoint: endpoint.clone(), message };
        let Some((url, secret)) = self.endpoints.get(endpoint) else {
            return Err(disabled("the credentials no longer name it".into()));
        };
        if let Some((since, reason)) = self.disabled(endpoint).await? {
            return Err(disabled(format!("since {since}: {reason}")));
        }
        let id = event_id_of(&message.record_id);
        let timestamp = chrono::Utc::now().timestamp();
        let signature = standard_webhooks::sign(secret, id, timestamp, message.text.as_bytes());
        let sent = self
            .http
            .post(url)
            .header(standard_webhooks::ID_HEADER, id)
            .header(standard_webhooks::TIMESTAMP_HEADER, timestamp.to_string())
            .header(standard_webhooks::SIGNATURE_HEADER, signature)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(message.text.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            // Whether it arrived or not, the receiver deduplicates: the schedule sends it again.
            Err(error) => {
                let message = format!(
                    "{}: {}",
                    if error.is_timeout() { "timed out" } else { "unreachable" },
                    error.without_url()
                );
                return Err(Error::PlatformUnavailable { platform: PLATFORM, message });
            }
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().get(http::header::RETRY_AFTER).and_then(|v| v.to_str().ok());
        match standard_webhooks::answered(status, retry_after) {
            Answered::Delivered => Ok(id.to_owned()),
            Answered::Disable => {
                let reason = format!("{url} answered 410 Gone");
                let now = chrono::Utc::now();
                self.switch.disable(endpoint, &reason, now).await?;
                let switched = Some((now, reason.clone()));
                self.read.lock().expect("switch cache").insert(endpoint.clone(), (std::time::Instant::now(), switched));
                tracing::error!(endpoint, "help-desk endpoint answered 410 Gone: disabled");
                Err(disabled(reason))
            }
            Answered::Retry { asked: Some(wait) } => Err(Error::RateLimited { platform: PLATFORM, retry_after: wait }),
            Answered::Retry { asked: None } => {
                Err(Error::PlatformUnavailable { platform: PLATFORM, message: format!("{endpoint} answered {status}") })
            }
        }
    }
}

impl<S: EndpointSwitch> ReplySender for WebhookSender<S> {
    async fn send(&self, message: &OutboxMessage) -> Result<String> {
        self.deliver(message).await
    }

    /// Receivers deduplicate on the event id: delivering again is the way to be sure.
    async fn find_sent(&self, _message: &OutboxMessage, _window: crate::ports::SendWindow) -> Result<Option<String>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts reads of the switch; every endpoint is on.
    #[derive(Default)]
    struct CountingSwitch(AtomicUsize);

    impl EndpointSwitch for CountingSwitch {
        async fn disabled(&self, _endpoint: &str) -> Result<Switched> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        }
        async fn disable(&self, _: &str, _: &str, _: chrono::DateTime<chrono::Utc>) -> Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_switch_is_read_once_per_endpoint_per_half_minute_unless_told_otherwise() {
        let sender = WebhookSender::new(&WebhookCredentials::default(), CountingSwitch::default()).unwrap();
        for _ in 0..5 {
            assert_eq!(sender.disabled("desk").await.unwrap(), None);
        }
        sender.disabled("crm").await.unwrap();
        assert_eq!(sender.switch.0.load(Ordering::SeqCst), 2, "one read per endpoint");
        let every_time = WebhookSender::new(&WebhookCredentials::default(), CountingSwitch::default())
            .unwrap()
            .with_switch_ttl(Duration::ZERO);
        for _ in 0..3 {
            every_time.disabled("desk").await.unwrap();
        }
        assert_eq!(every_time.switch.0.load(Ordering::SeqCst), 3);
    }
}
