//! The help desks Hark forwards conversations to and takes agents' answers from: Zendesk,
//! Freshdesk, and any other through Standard Webhooks. Each has its own file; what they
//! send us is verified here, purely, over the raw bytes, before anything reads it.

pub mod answers;
#[cfg(feature = "aws")]
pub mod desk_api;
pub mod escalation;
pub mod freshdesk;
#[cfg(feature = "aws")]
pub mod freshdesk_client;
#[cfg(feature = "aws")]
pub mod spacing;
pub mod standard_webhooks;
pub mod tickets;
#[cfg(feature = "aws")]
pub mod webhook_sender;
pub mod zendesk;
#[cfg(feature = "aws")]
pub mod zendesk_client;

/// Every help desk Hark forwards to, behind one sender: a forward record's endpoint names
/// Zendesk, Freshdesk, or a Standard Webhooks endpoint.
#[cfg(feature = "aws")]
pub struct HelpDesks {
    pub webhooks: webhook_sender::WebhookSender,
    pub zendesk: Option<zendesk_client::AwsZendeskClient>,
    pub freshdesk: Option<freshdesk_client::AwsFreshdeskClient>,
    /// Zendesk's and Freshdesk's rate limits, kept across instances (`None`: no native desk).
    pub spacing: Option<spacing::Spacing<crate::adapters::dynamo::DynamoStore>>,
}

#[cfg(feature = "aws")]
impl HelpDesks {
    /// Standard Webhooks only (functions that send no forwards hold none).
    pub fn webhooks_only(webhooks: webhook_sender::WebhookSender) -> Self {
        HelpDesks { webhooks, zendesk: None, freshdesk: None, spacing: None }
    }

    /// The senders the credentials configure, their state in `store`'s table.
    pub fn for_aws(
        aws: &aws_config::SdkConfig,
        store: crate::adapters::dynamo::DynamoStore,
        credentials: &crate::credentials::Credentials,
        escalations: &escalation::EscalationDeskPolicy,
        rates: spacing::DeskRates,
    ) -> crate::Result<Self> {
        Ok(HelpDesks {
            spacing: Some(spacing::Spacing { slots: store.clone(), rates }),
            webhooks: webhook_sender::WebhookSender::new(&credentials.webhooks, store.clone())?,
            zendesk: zendesk_client::AwsZendeskClient::for_aws(aws, store.clone(), credentials, escalations)?,
            freshdesk: freshdesk_client::FreshdeskClient::from_credentials(credentials, store)?
                .map(|client| client.with_escalations(escalations.clone())),
        })
    }

    /// Waits for the desk's slot (see `spacing`).
    async fn spaced(&self, platform: &'static str, desk: &str, requests: u32) -> crate::Result<()> {
        match &self.spacing {
            Some(spacing) => spacing.take(platform, desk, requests).await,
            None => Ok(()),
        }
    }

    fn not_configured(desk: &str) -> crate::Error {
        crate::Error::EndpointDisabled {
            endpoint: desk.to_owned(),
            message: "the credentials no longer name it".into(),
        }
    }
}

#[cfg(feature = "aws")]
impl crate::ports::ReplySender for HelpDesks {
    async fn send(&self, message: &crate::ports::OutboxMessage) -> crate::Result<String> {
        use crate::credentials::{FRESHDESK, ZENDESK};
        match message.target.endpoint() {
            Some(ZENDESK) => {
                let zendesk = self.zendesk.as_ref().ok_or_else(|| Self::not_configured(ZENDESK))?;
                self.spaced("Zendesk", ZENDESK, zendesk.requests(message)?).await?;
                zendesk.send(message).await
            }
            Some(FRESHDESK) => {
                let freshdesk = self.freshdesk.as_ref().ok_or_else(|| Self::not_configured(FRESHDESK))?;
                self.spaced("Freshdesk", FRESHDESK, freshdesk.requests(message)?).await?;
                freshdesk.send(message).await
            }
            _ => self.webhooks.send(message).await,
        }
    }

    async fn find_sent(
        &self,
        message: &crate::ports::OutboxMessage,
        window: crate::ports::SendWindow,
    ) -> crate::Result<Option<String>> {
        use crate::credentials::{FRESHDESK, ZENDESK};
        // A lookup is one request (a ticket's comments or notes, newest first).
        match message.target.endpoint() {
            Some(ZENDESK) => {
                let zendesk = self.zendesk.as_ref().ok_or_else(|| Self::not_configured(ZENDESK))?;
                self.spaced("Zendesk", ZENDESK, 1).await?;
                zendesk.find_sent(message, window).await
            }
            Some(FRESHDESK) => {
                let freshdesk = self.freshdesk.as_ref().ok_or_else(|| Self::not_configured(FRESHDESK))?;
                self.spaced("Freshdesk", FRESHDESK, 1).await?;
                freshdesk.find_sent(message, window).await
            }
            _ => self.webhooks.find_sent(message, window).await,
        }
    }
}

/// A new ticket's first comment: the customer's words, then who they are and their
/// earlier conversations as Hark's table knows them. The history is a courtesy: if it
/// cannot be read, the ticket is made without it rather than held up.
#[cfg(feature = "aws")]
pub(crate) async fn opening_body(
    customers: &impl crate::ports::CustomerReader,
    event: &tickets::TicketEvent,
    ticket: &tickets::NewTicket,
) -> String {
    let c = &ticket.customer;
    let profile = match customers.customer_profile(c.channel, &c.account, &c.id).await {
        Ok(profile) => profile,
        Err(error) => {
            tracing::warn!(%error, "customer history unavailable; the ticket is made without it");
            None
        }
    };
    ticket.body_with(&tickets::customer_lines(c, profile.as_ref(), &event.conversation.0))
}

/// Why a help desk's webhook was refused. Whatever the reason, the caller is answered the
/// same 401; the reason is for the log and never quotes a secret or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRefused {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the timestamp is {seconds} s from now, outside the {tolerance} s replay window")]
    Stale { seconds: i64, tolerance: i64 },
}

/// A signed timestamp must be within `tolerance` of `now`, either way: older is a replay,
/// newer is a clock no one should trust.
fn within_window(
    signed_at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
    tolerance: chrono::TimeDelta,
) -> Result<(), WebhookRefused> {
    let seconds = (now - signed_at).num_seconds();
    if seconds.abs() > tolerance.num_seconds() {
        return Err(WebhookRefused::Stale { seconds, tolerance: tolerance.num_seconds() });
    }
    Ok(())
}

/// What authenticates help desks' webhooks to the API function: a secret of its own
/// (`HelpDeskSecret`), so the API never holds a channel's credentials. JSON:
/// `{"zendesk": {"signing_secret": "…", "hark_user_id": "…"}, "freshdesk": {"secret": "…"}}`,
/// either part optional; a help desk with no secret is refused.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeskSecrets {
    #[serde(default)]
    pub zendesk: Option<ZendeskSecrets>,
    #[serde(default)]
    pub freshdesk: Option<FreshdeskSecrets>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskSecrets {
    /// The webhook's signing secret (`GET /api/v2/webhooks/{id}/signing_secret`), used as is.
    pub signing_secret: crate::domain::secret::Secret,
    /// The Zendesk user Hark's integration writes as, whose comments are never answers.
    #[serde(default)]
    pub hark_user_id: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreshdeskSecrets {
    /// The value of the rule's `X-Hark-Webhook-Secret` header: at least 32 characters.
    pub secret: crate::domain::secret::Secret,
}

impl DeskSecrets {
    pub fn from_json(json: &str) -> crate::Result<Self> {
        let secrets: DeskSecrets = serde_json::from_str(json).map_err(|e| {
            crate::Error::Secret(format!("the help-desk secret {}", crate::error::json_error_summary(&e)))
        })?;
        if secrets.freshdesk.as_ref().is_some_and(|f| f.secret.expose().len() < freshdesk::MIN_SECRET_CHARS) {
            return Err(crate::Error::Secret(format!(
                "the Freshdesk secret must be at least {} characters",
                freshdesk::MIN_SECRET_CHARS
            )));
        }
        Ok(secrets)
    }
}
