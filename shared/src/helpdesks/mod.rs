//! The help desks Hark forwards conversations to and takes agents' answers from: Zendesk,
//! Freshdesk, and any other through Standard Webhooks. Each has its own file; what they
//! send us is verified here, purely, over the raw bytes, before anything reads it.

pub mod answers;
pub mod freshdesk;
pub mod standard_webhooks;
#[cfg(feature = "aws")]
pub mod webhook_sender;
pub mod zendesk;

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
