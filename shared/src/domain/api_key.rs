//! Keys for Hark's HTTP API, given to help desks, agents' tools and scripts. A key reads
//! `hark_<id>_<secret>`: the id finds its record, and only a SHA-256 of the whole key is
//! stored, compared in constant time. The secret is 256 random bits, so a fast hash is
//! enough (stretching protects guessable passwords, not random keys). Each key has scopes;
//! a revoked key stays on record, refused.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

const PREFIX: &str = "hark_";
/// Base32 (lower case, no padding) of 8 random bytes.
const ID_CHARS: usize = 13;
/// Base64url (no padding) of 32 random bytes.
const SECRET_CHARS: usize = 43;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// List and read conversations, customers and KPIs.
    Read,
    /// Post replies and resolve conversations (on behalf of an agent).
    Reply,
    /// Change what Hark knows of the company: import customer values.
    Configure,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Reply => "reply",
            Scope::Configure => "configure",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "read" => Some(Scope::Read),
            "reply" => Some(Scope::Reply),
            "configure" => Some(Scope::Configure),
            _ => None,
        }
    }
}

/// A key as it is kept: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    /// Who holds it, for people ("Zendesk bridge", "ops script").
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Hex SHA-256 of the whole key.
    pub key_hash: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why a presented key was refused. The caller is only ever told 401 (or 403 for a scope);
/// the reason is for the log and never quotes the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefused {
    #[error("no API key was presented")]
    Missing,
    #[error("the API key is not of the form hark_<id>_<secret>")]
    Malformed,
    #[error("no such API key")]
    Unknown,
    #[error("the API key does not match")]
    Mismatch,
    #[error("the API key was revoked")]
    Revoked,
    #[error("the API key lacks the {0} scope")]
    Scope(&'static str),
}

/// A key as a caller presented it, split but not yet checked.
#[derive(Debug, Clone, Copy)]
pub struct PresentedKey<'a> {
    pub id: &'a str,
    whole: &'a str,
}

impl<'a> PresentedKey<'a> {
    /// From `Authorization: Bearer hark_…`.
    pub fn from_authorization(header: Option<&'a str>) -> Result<Self, KeyRefused> {
        let token = header.ok_or(KeyRefused::Missing)?.strip_prefix("Bearer ").ok_or(KeyRefused::Malformed)?;
        Self::parse(token.trim())
    }

    pub fn parse(whole: &'a str) -> Result<Self, KeyRefused> {
        let rest = whole.strip_prefix(PREFIX).ok_or(KeyRefused::Malformed)?;
        let (id, secret) = rest.split_once('_').ok_or(KeyRefused::Malformed)?;
        let id_ok = id.len() == ID_CHARS && id.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
        let secret_ok =
            secret.len() == SECRET_CHARS && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !(id_ok && secret_ok) {
            return Err(KeyRefused::Malformed);
        }
        Ok(PresentedKey { id, whole })
    }

    /// Whether this is the key `record` was made for, and it may act in `scope` now.
    pub fn check(&self, record: &ApiKeyRecord, scope: Scope) -> Result<(), KeyRefused> {
        let expected = record.key_hash.as_bytes();
        let presented = key_hash(self.whole);
        // Every byte is compared whatever the first difference.
        let differing = expected.iter().zip(presented.as_bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if std::hint::black_box(differing) != 0 || expected.len() != presented.len() || record.id != self.id {
            return Err(KeyRefused::Mismatch);
        }
        if record.revoked_at.is_some() {
            return Err(KeyRefused::Revoked);
        }
        if !record.scopes.contains(&scope) {
            return Err(KeyRefused::Scope(scope.as_str()));
        }
        Ok(())
    }
}

/// A new key from 40 random bytes (8 for the id, 32 for the secret), and its record. The
/// key is shown once, to whoever made it; only the record is kept.
pub fn new_key(
    random: &[u8; 40],
    name: &str,
    scopes: &[Scope],
    now: DateTime<Utc>,
) -> Result<(String, ApiKeyRecord), String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err("a key's name is 1 to 100 printable characters".into());
    }
    if scopes.is_empty() {
        return Err("a key needs at least one scope (read, reply, configure)".into());
    }
    let id = base32(&random[..8]);
    let secret = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &random[8..]);
    let key = format!("{PREFIX}{id}_{secret}");
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let record =
        ApiKeyRecord { id, name: name.to_owned(), scopes, key_hash: key_hash(&key), created_at: now, revoked_at: None };
    Ok((key, record))
}

fn key_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 4648 base32 in lower case, unpadded: ids that read well and need no escaping.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(seed: u8, scopes: &[Scope]) -> (String, ApiKeyRecord) {
        let random: [u8; 40] = std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8));
        new_key(&random, "Zendesk bridge", scopes, DateTime::from_timestamp(1_795_000_000, 0).unwrap()).unwrap()
    }

    #[test]
    fn a_new_key_checks_against_its_record_and_only_in_its_scopes() {
        let (key, record) = made(1, &[Scope::Read]);
        assert!(key.starts_with("hark_") && key.len() == 5 + ID_CHARS + 1 + SECRET_CHARS, "{key}");
        assert!(!format!("{record:?}").contains(&key[19..]), "the record never holds the secret");
        let presented = PresentedKey::parse(&key).unwrap();
        assert_eq!(presented.id, record.id);
        assert_eq!(presented.check(&record, Scope::Read), Ok(()));
        assert_eq!(presented.check(&record, Scope::Reply), Err(KeyRefused::Scope("reply")));
        let bearer = format!("Bearer {key}");
        assert!(PresentedKey::from_authorization(Some(&bearer)).is_ok());

        let revoked = ApiKeyRecord { revoked_at: Some(record.created_at), ..record.clone() };
        assert_eq!(presented.check(&revoked, Scope::Read), Err(KeyRefused::Revoked));
        // Another key's secret under this id, or this key against another record.
        let (other, other_record) = made(2, &[Scope::Read, Scope::Reply]);
        let forged = format!("hark_{}_{}", record.id, &other[5 + ID_CHARS + 1..]);
        assert_eq!(PresentedKey::parse(&forged).unwrap().check(&record, Scope::Read), Err(KeyRefused::Mismatch));
        assert_eq!(presented.check(&other_record, Scope::Read), Err(KeyRefused::Mismatch));
        assert_eq!(other_record.scopes, vec![Scope::Read, Scope::Reply]);
    }

    #[test]
    fn only_well_formed_keys_are_looked_up() {
        let (key, _) = made(3, &[Scope::Read]);
        let cases = [
            (None, KeyRefused::Missing),
            (Some(key.clone()), KeyRefused::Malformed),
            (Some(format!("Basic {key}")), KeyRefused::Malformed),
            (Some("Bearer hark_".to_owned()), KeyRefused::Malformed),
            (Some(format!("Bearer {}", key.replace("hark_", "hk_"))), KeyRefused::Malformed),
            (Some(format!("Bearer {key}x")), KeyRefused::Malformed),
            (Some(format!("Bearer {}", &key[..key.len() - 1])), KeyRefused::Malformed),
            (Some(format!("Bearer {}", key.to_uppercase())), KeyRefused::Malformed),
        ];
        for (header, expected) in cases {
            assert_eq!(PresentedKey::from_authorization(header.as_deref()).err(), Some(expected), "{header:?}");
        }
    }

    #[test]
    fn names_and_scopes_are_required() {
        let random = [7u8; 40];
        let now = Utc::now();
        assert!(new_key(&random, " ", &[Scope::Read], now).is_err());
        assert!(new_key(&random, "ops\nscript", &[Scope::Read], now).is_err());
        assert!(new_key(&random, "ops", &[], now).is_err());
        assert_eq!(base32(&[0xff; 5]), "77777777");
        assert_eq!(base32(b"f"), "my");
    }
}
