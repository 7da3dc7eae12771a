//! Freshdesk's automation webhooks sign nothing and carry no timestamp. The operator gives
//! each Freshdesk rule a custom header holding a random secret Hark also knows; Hark
//! compares it in constant time. Without a signed timestamp there is no replay window:
//! a replayed delivery is deduplicated on its event, like every other.

use super::WebhookRefused;
use crate::domain::secret::Secret;

/// The custom header the Freshdesk rule sends.
pub const SECRET_HEADER: &str = "x-hark-webhook-secret";
/// Shorter secrets are refused when configured: the header is all that authenticates.
pub const MIN_SECRET_CHARS: usize = 32;

pub fn verify(expected: &Secret, header: Option<&str>) -> Result<(), WebhookRefused> {
    let presented = header.ok_or(WebhookRefused::Missing(SECRET_HEADER))?;
    if expected.expose().len() < MIN_SECRET_CHARS {
        // A configuration error, but the caller learns only that it was refused.
        return Err(WebhookRefused::Mismatch);
    }
    if expected.matches(presented.trim()) { Ok(()) } else { Err(WebhookRefused::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_configured_secret_is_accepted() {
        let secret = Secret::new("fd-7Hq2mW9xZpL4vN8cR1tY6uB3eK5sA0dJ");
        assert_eq!(verify(&secret, Some("fd-7Hq2mW9xZpL4vN8cR1tY6uB3eK5sA0dJ")), Ok(()));
        for wrong in ["", "fd-7Hq2mW9xZpL4vN8cR1tY6uB3eK5sA0dj", "fd-7Hq2mW9xZpL4vN8cR1tY6uB3eK5sA0d", "x"] {
            assert_eq!(verify(&secret, Some(wrong)), Err(WebhookRefused::Mismatch), "{wrong:?}");
        }
        assert_eq!(verify(&secret, None), Err(WebhookRefused::Missing(SECRET_HEADER)));
        let short = Secret::new("letmein");
        assert_eq!(verify(&short, Some("letmein")), Err(WebhookRefused::Mismatch), "a weak secret never authenticates");
    }
}
