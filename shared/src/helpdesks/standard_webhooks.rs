//! Standard Webhooks, for help desks Hark has no native integration with: each event is a
//! POST signed with the endpoint's own `whsec_` secret. `webhook-id` stays the same across
//! retries (the receiver's idempotency key), `webhook-timestamp` is Unix seconds, and
//! `webhook-signature` is a space-separated list of `v1,<base64 HMAC-SHA256>` over
//! `{id}.{timestamp}.{body}`. Only a 2xx is a delivery; 410 means "stop sending here".

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::WebhookRefused;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// How far a receiver lets a timestamp be from now (the reference libraries' figure).
pub const TOLERANCE: TimeDelta = TimeDelta::minutes(5);
/// The spec's schedule: the wait before each retry after the first attempt. The last
/// retry comes about 75 hours after the event.
pub const RETRY_SCHEDULE: [Duration; 9] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// An endpoint's signing key: the bytes behind `whsec_<base64>`. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointSecret(Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("an endpoint secret starts with whsec_")]
    Prefix,
    #[error("an endpoint secret is base64 after whsec_")]
    Base64,
    #[error("an endpoint secret is 24 to 64 bytes, not {0}")]
    Length(usize),
}

impl EndpointSecret {
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.trim().strip_prefix("whsec_").ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::Base64)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(EndpointSecret(key))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl std::fmt::Debug for EndpointSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndpointSecret(***)")
    }
}

/// A message id Hark may send: it must not contain the `.` that separates the signed parts.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// The `webhook-signature` header for exactly these bytes.
pub fn sign(secret: &EndpointSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(secret.mac(id, timestamp, body).finalize().into_bytes()))
}

/// A receiver's check (the local help desk's, and anyone's who wants to see how): any `v1`
/// entry of the list may match, so keys can be rotated without downtime.
pub fn verify(
    secret: &EndpointSecret,
    id: Option<&str>,
    timestamp: Option<&str>,
    signatures: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), WebhookRefused> {
    let id = id.ok_or(WebhookRefused::Missing(ID_HEADER))?;
    let timestamp = timestamp.ok_or(WebhookRefused::Missing(TIMESTAMP_HEADER))?;
    let signatures = signatures.ok_or(WebhookRefused::Missing(SIGNATURE_HEADER))?;
    let seconds: i64 = timestamp.parse().map_err(|_| WebhookRefused::Malformed(TIMESTAMP_HEADER))?;
    let signed_at = DateTime::from_timestamp(seconds, 0).ok_or(WebhookRefused::Malformed(TIMESTAMP_HEADER))?;
    let candidates: Vec<Vec<u8>> = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .collect();
    if candidates.is_empty() {
        return Err(WebhookRefused::Malformed(SIGNATURE_HEADER));
    }
    let mac = secret.mac(id, seconds, body);
    // Every candidate is checked, each in constant time.
    let matched = candidates.iter().fold(false, |found, claimed| mac.clone().verify_slice(claimed).is_ok() | found);
    if !matched {
        return Err(WebhookRefused::Mismatch);
    }
    super::within_window(signed_at, now, TOLERANCE)
}

/// What an endpoint's answer means for the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    Delivered,
    /// Try again: after what the endpoint asked for (`Retry-After`), or by the schedule.
    Retry {
        asked: Option<Duration>,
    },
    /// 410 Gone: the endpoint is to be disabled and nothing more sent to it.
    Disable,
}

/// Redirects are failures (never followed); 410 disables; every other failure is retried.
pub fn answered(status: u16, retry_after: Option<&str>) -> Answered {
    match status {
        200..=299 => Answered::Delivered,
        410 => Answered::Disable,
        _ => Answered::Retry { asked: retry_after.and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs) },
    }
}

/// The wait before the next attempt after `attempts` failed ones, or `None` when the
/// schedule is spent and the event goes to the dead-letter list. (A `Retry-After` is not a
/// failure: `domain::outbox::forward_after_failure` obeys it without spending an attempt.)
pub fn next_wait(attempts: u32) -> Option<Duration> {
    RETRY_SCHEDULE.get(usize::try_from(attempts).ok()?.checked_sub(1)?).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The spec's vector, as the reference libraries test it.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(TIMESTAMP, 0).unwrap()
    }

    #[test]
    fn the_spec_vector_signs_and_verifies_and_alterations_are_refused() {
        let secret = EndpointSecret::parse(SECRET).unwrap();
        assert_eq!(sign(&secret, ID, TIMESTAMP, BODY.as_bytes()), SIGNATURE);
        let ts = TIMESTAMP.to_string();
        let check = |id: Option<&str>, ts: Option<&str>, sig: Option<&str>, body: &str| {
            verify(&secret, id, ts, sig, body.as_bytes(), now())
        };
        assert_eq!(check(Some(ID), Some(&ts), Some(SIGNATURE), BODY), Ok(()));
        // Rotation: an old key's signature beside the current one.
        let rotated = format!("v1,bm90LXRoZS1rZXk= {SIGNATURE}");
        assert_eq!(check(Some(ID), Some(&ts), Some(&rotated), BODY), Ok(()));

        let cases = [
            (Some("msg_other"), Some(ts.as_str()), Some(SIGNATURE), BODY, WebhookRefused::Mismatch),
            // A changed timestamp fails the signature before its age is looked at.
            (Some(ID), Some("1614265331"), Some(SIGNATURE), BODY, WebhookRefused::Mismatch),
            (Some(ID), Some(ts.as_str()), Some(SIGNATURE), r#"{"test": 2432232315}"#, WebhookRefused::Mismatch),
            (Some(ID), Some(ts.as_str()), Some("v1a,g0hM9SsE"), BODY, WebhookRefused::Malformed(SIGNATURE_HEADER)),
            (Some(ID), Some("yesterday"), Some(SIGNATURE), BODY, WebhookRefused::Malformed(TIMESTAMP_HEADER)),
            (None, Some(ts.as_str()), Some(SIGNATURE), BODY, WebhookRefused::Missing(ID_HEADER)),
            (Some(ID), None, Some(SIGNATURE), BODY, WebhookRefused::Missing(TIMESTAMP_HEADER)),
            (Some(ID), Some(ts.as_str()), None, BODY, WebhookRefused::Missing(SIGNATURE_HEADER)),
        ];
        for (id, ts, sig, body, expected) in cases {
            assert_eq!(check(id, ts, sig, body), Err(expected), "{id:?} {ts:?} {sig:?}");
        }
        let late =
            verify(&secret, Some(ID), Some(&ts), Some(SIGNATURE), BODY.as_bytes(), now() + TimeDelta::minutes(6));
        assert_eq!(late, Err(WebhookRefused::Stale { seconds: 360, tolerance: 300 }));
    }

    #[test]
    fn secrets_are_whsec_base64_of_24_to_64_bytes_and_never_print() {
        assert!(EndpointSecret::parse(SECRET).is_ok());
        assert_eq!(EndpointSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Err(SecretError::Prefix));
        assert_eq!(EndpointSecret::parse("whsec_not base64!"), Err(SecretError::Base64));
        assert_eq!(EndpointSecret::parse("whsec_c2hvcnQ="), Err(SecretError::Length(5)));
        assert_eq!(format!("{:?}", EndpointSecret::parse(SECRET).unwrap()), "EndpointSecret(***)");
    }

    #[test]
    fn answers_and_the_retry_schedule() {
        assert_eq!(answered(200, None), Answered::Delivered);
        assert_eq!(answered(204, Some("60")), Answered::Delivered);
        assert_eq!(answered(410, None), Answered::Disable);
        assert_eq!(answered(301, None), Answered::Retry { asked: None }, "a redirect is a failure");
        assert_eq!(answered(429, Some("120")), Answered::Retry { asked: Some(Duration::from_secs(120)) });
        assert_eq!(answered(503, Some("soon")), Answered::Retry { asked: None });

        assert_eq!(next_wait(0), None, "no attempt has failed yet");
        assert_eq!(next_wait(1), Some(Duration::from_secs(5)));
        assert_eq!(next_wait(2), Some(Duration::from_secs(300)));
        assert_eq!(next_wait(9), Some(Duration::from_secs(24 * 3600)));
        assert_eq!(next_wait(10), None, "the schedule is spent");
        let total: Duration = RETRY_SCHEDULE.iter().sum();
        assert_eq!(total.as_secs() / 60, 75 * 60 + 35, "the last retry about 75 h 35 min after the event");
    }

    #[test]
    fn message_ids_cannot_carry_the_separator() {
        assert!(is_valid_id(ID));
        for bad in ["", "msg.1", "msg 1", "m\u{e9}"] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }
}
