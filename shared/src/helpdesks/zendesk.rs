//! Zendesk's webhooks (ticket comments and status changes, from a trigger or the ticket
//! event subscriptions): `X-Zendesk-Webhook-Signature` is base64 HMAC-SHA256 under the
//! webhook's signing secret, used as UTF-8 bytes as it is shown (never base64-decoded), over
//! the signature timestamp and the raw body. Zendesk does not reject replays for us: Hark
//! refuses a timestamp outside its window.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::WebhookRefused;
use crate::domain::secret::Secret;

pub const SIGNATURE_HEADER: &str = "x-zendesk-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-zendesk-webhook-signature-timestamp";
/// How far a signature's timestamp may be from now.
pub const REPLAY_WINDOW: TimeDelta = TimeDelta::minutes(5);

/// The MAC over what Zendesk signs. [U] Zendesk's current page says timestamp then body,
/// and the implementations in use agree; the one vector Zendesk ever published (on an older
/// page) matches body then timestamp. This is the one place that order is decided.
fn mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    mac
}

/// The header Zendesk would send (for the local Zendesk and tests).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    STANDARD.encode(mac(secret, timestamp, body).finalize().into_bytes())
}

/// Checks a delivery: the signature over the raw bytes in constant time, then the
/// timestamp's age. A request without a body is verified over an empty one.
pub fn verify(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), WebhookRefused> {
    let timestamp = timestamp.ok_or(WebhookRefused::Missing(TIMESTAMP_HEADER))?;
    let signature = signature.ok_or(WebhookRefused::Missing(SIGNATURE_HEADER))?;
    let claimed = STANDARD
        .decode(signature.trim())
        .ok()
        .filter(|bytes| bytes.len() == 32)
        .ok_or(WebhookRefused::Malformed(SIGNATURE_HEADER))?;
    mac(secret.expose(), timestamp, body).verify_slice(&claimed).map_err(|_| WebhookRefused::Mismatch)?;
    let signed_at = parse_timestamp(timestamp).ok_or(WebhookRefused::Malformed(TIMESTAMP_HEADER))?;
    super::within_window(signed_at, now, REPLAY_WINDOW)
}

/// ISO 8601 as Zendesk documents it (`2021-07-25T10:00:00Z`), or Unix seconds as some
/// deliveries carry.
fn parse_timestamp(timestamp: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(timestamp) {
        return Some(at.with_timezone(&Utc));
    }
    if !timestamp.is_empty() && timestamp.len() <= 12 && timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return DateTime::from_timestamp(timestamp.parse().ok()?, 0);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zendesk's secret for test deliveries sent before a webhook exists.
    const TEST_SECRET: &str = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";

    fn at(timestamp: &str) -> DateTime<Utc> {
        parse_timestamp(timestamp).unwrap()
    }

    #[test]
    fn the_contract_vectors_verify_and_every_alteration_is_refused() {
        // (secret, timestamp, body, signature): Z1 and Z3 of the help-desk contract.
        let vectors = [
            (
                TEST_SECRET,
                "1531420618",
                r#"{"event_type": "foo.bar","data": {"key": "value"}}"#,
                "qtmu3iClLKujnujOBkwe7yjI34o5CzsLD04Uy4LbE2A=",
            ),
            (
                TEST_SECRET,
                "2021-07-25T10:00:00Z",
                r#"{"say": "hello"}"#,
                "gf3v0LzLRHPUnIdhbvwRDVEvzSb07/QN0GYjSNlkBT0=",
            ),
        ];
        for (secret, timestamp, body, signature) in vectors {
            let secret_value = Secret::new(secret);
            assert_eq!(sign(secret, timestamp, body.as_bytes()), signature);
            let now = at(timestamp);
            assert_eq!(verify(&secret_value, Some(timestamp), Some(signature), body.as_bytes(), now), Ok(()));

            let refusals = [
                (Some(timestamp), Some(signature), format!("{body} "), WebhookRefused::Mismatch),
                (Some("1531420619"), Some(signature), body.to_owned(), WebhookRefused::Mismatch),
                (None, Some(signature), body.to_owned(), WebhookRefused::Missing(TIMESTAMP_HEADER)),
                (Some(timestamp), None, body.to_owned(), WebhookRefused::Missing(SIGNATURE_HEADER)),
                (Some(timestamp), Some("sha256=abc"), body.to_owned(), WebhookRefused::Malformed(SIGNATURE_HEADER)),
                (Some(timestamp), Some("AAAA"), body.to_owned(), WebhookRefused::Malformed(SIGNATURE_HEADER)),
            ];
            for (timestamp, signature, body, expected) in refusals {
                assert_eq!(verify(&secret_value, timestamp, signature, body.as_bytes(), now), Err(expected));
            }
            let other = Secret::new("another-signing-secret");
            assert_eq!(
                verify(&other, Some(timestamp), Some(signature), body.as_bytes(), now),
                Err(WebhookRefused::Mismatch)
            );
        }
    }

    #[test]
    fn the_stale_published_vector_signs_body_then_timestamp_and_is_refused() {
        // Z4: the only vector Zendesk published, from a page that described the old order.
        let (secret, timestamp, body) =
            ("HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA=", "2021-07-25T10:00:00Z", r#"{"say": "hello"}"#);
        let signature = "tRDSF7URY8BLCDlaBcQ7FHu051Zk+aAB0NKMP53teMw=";
        let mut body_first = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        body_first.update(body.as_bytes());
        body_first.update(timestamp.as_bytes());
        assert_eq!(STANDARD.encode(body_first.finalize().into_bytes()), signature, "the vector is body‖timestamp");
        let result = verify(&Secret::new(secret), Some(timestamp), Some(signature), body.as_bytes(), at(timestamp));
        assert_eq!(result, Err(WebhookRefused::Mismatch));
    }

    #[test]
    fn a_signature_outside_the_replay_window_is_refused() {
        let (timestamp, body) = ("2026-11-23T10:00:00Z", br#"{"type":"zen:event-type:ticket.comment_added"}"#);
        let signature = sign("s3cret", timestamp, body);
        let secret = Secret::new("s3cret");
        let check = |now: &str| verify(&secret, Some(timestamp), Some(&signature), body, at(now));
        assert_eq!(check("2026-11-23T10:04:59Z"), Ok(()));
        assert_eq!(check("2026-11-23T09:56:00Z"), Ok(()), "a little clock skew is tolerated");
        assert_eq!(check("2026-11-23T10:05:01Z"), Err(WebhookRefused::Stale { seconds: 301, tolerance: 300 }));
        assert_eq!(check("2026-11-23T09:54:00Z"), Err(WebhookRefused::Stale { seconds: -360, tolerance: 300 }));
        let unparsable = sign("s3cret", "yesterday", body);
        assert_eq!(
            verify(&secret, Some("yesterday"), Some(&unparsable), body, at(timestamp)),
            Err(WebhookRefused::Malformed(TIMESTAMP_HEADER))
        );
    }
}
