//! An agent's reply as the HTTP API takes it: checked at the edge, named by the caller's
//! idempotency key, and fingerprinted so a repeated key with a different reply is refused
//! rather than taken as the first one. Pure.

use sha2::{Digest, Sha256};

use crate::domain::mention::Channel;

/// Whether an agent's reply is for everyone in the thread or for the customer alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Private,
}

/// The longest `Idempotency-Key` taken.
pub const MAX_IDEMPOTENCY_KEY: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyRefused {
    #[error(
        "the Idempotency-Key header is required: 1 to {MAX_IDEMPOTENCY_KEY} characters of A-Z a-z 0-9 - _ . : (a UUID will do)"
    )]
    IdempotencyKey,
    #[error("text is empty")]
    Empty,
    #[error("text is {chars} characters; {channel} takes at most {max}")]
    TooLong { channel: Channel, chars: usize, max: usize },
}

/// The caller's key, checked: it becomes part of a table key and a log line.
pub fn idempotency_key(header: Option<&str>) -> Result<&str, ReplyRefused> {
    let key = header.map(str::trim).unwrap_or_default();
    let valid = (1..=MAX_IDEMPOTENCY_KEY).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if valid { Ok(key) } else { Err(ReplyRefused::IdempotencyKey) }
}

/// The outbox record's id: keys are the caller's, so two API keys never share one.
pub fn record_id(api_key_id: &str, idempotency_key: &str) -> String {
    format!("{api_key_id}.{idempotency_key}")
}

/// The most text each channel takes in one message. X counts some characters double and
/// every link as 23; this counts characters, so X may still refuse a reply near the limit,
/// which then shows as failed on the reply.
pub fn max_chars(channel: Channel) -> usize {
    match channel {
        Channel::X => 280,
        // Messenger's limit; a comment may be longer, a DM may not.
        Channel::Facebook => 2000,
        // Instagram DMs take 1,000; comments 2,200.
        Channel::Instagram => 1000,
        // A status on mastodon.social and most instances (an instance may allow more).
        Channel::Mastodon => 500,
        // Bluesky counts graphemes; most text has one character per grapheme.
        Channel::Bluesky => 300,
        // A YouTube comment's limit.
        Channel::YouTube => 10_000,
        // A Reddit comment's limit (Hark never posts there; an agent's reply is refused first).
        Channel::Reddit => 10_000,
        // A LinkedIn comment's limit.
        Channel::LinkedIn => 1250,
        // Hark's own bound on what a source's endpoint is sent.
        Channel::Generic => 5000,
    }
}

/// The text as it will be sent: trimmed, not empty, within the channel's limit.
pub fn checked_text(channel: Channel, text: &str) -> Result<String, ReplyRefused> {
    let text = text.trim();
    let chars = text.chars().count();
    if chars == 0 {
        return Err(ReplyRefused::Empty);
    }
    let max = max_chars(channel);
    if chars > max {
        return Err(ReplyRefused::TooLong { channel, chars, max });
    }
    Ok(text.to_owned())
}

/// What a repeated key must match: the same words to the same place.
pub fn fingerprint(text: &str, visibility: Visibility) -> String {
    let mut hash = Sha256::new();
    hash.update(match visibility {
        Visibility::Public => b"public\n".as_slice(),
        Visibility::Private => b"private\n".as_slice(),
    });
    hash.update(text.as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_scoped_to_the_api_key() {
        assert_eq!(idempotency_key(Some(" 5f1c-aa:01.x_y ")), Ok("5f1c-aa:01.x_y"));
        for bad in [None, Some(""), Some("   "), Some("a b"), Some("ключ"), Some("a/b"), Some("a#b")] {
            assert_eq!(idempotency_key(bad), Err(ReplyRefused::IdempotencyKey), "{bad:?}");
        }
        let longest = "k".repeat(MAX_IDEMPOTENCY_KEY);
        assert!(idempotency_key(Some(&longest)).is_ok());
        assert!(idempotency_key(Some(&format!("{longest}k"))).is_err());
        assert_ne!(record_id("keyA", "1"), record_id("keyB", "1"));
    }

    #[test]
    fn text_is_trimmed_and_held_to_the_channel_s_limit() {
        assert_eq!(checked_text(Channel::X, "  Sorted, Ana!  "), Ok("Sorted, Ana!".into()));
        assert_eq!(checked_text(Channel::Facebook, " \n "), Err(ReplyRefused::Empty));
        assert!(checked_text(Channel::X, &"é".repeat(280)).is_ok(), "characters, not bytes");
        assert_eq!(
            checked_text(Channel::X, &"a".repeat(281)),
            Err(ReplyRefused::TooLong { channel: Channel::X, chars: 281, max: 280 })
        );
        assert!(checked_text(Channel::Facebook, &"a".repeat(2000)).is_ok());
        assert!(checked_text(Channel::Instagram, &"a".repeat(1001)).is_err());
    }

    #[test]
    fn a_fingerprint_tells_the_same_reply_from_another() {
        let f = fingerprint("On its way", Visibility::Public);
        assert_eq!(f, fingerprint("On its way", Visibility::Public));
        assert_ne!(f, fingerprint("On its way", Visibility::Private));
        assert_ne!(f, fingerprint("On its way!", Visibility::Public));
        assert_eq!(f.len(), 64);
    }
}
