//! The help desks Hark forwards conversations to and takes agents' answers from: Zendesk,
//! Freshdesk, and any other through Standard Webhooks. Each has its own file; what they
//! send us is verified here, purely, over the raw bytes, before anything reads it.

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
