//! Bluesky's identifiers in the compact forms Hark keys on. Pure.
//!
//! A DID (`did:plc:ewvi7nxzyoun6zhxrhs64oiz`) and a post's AT URI
//! (`at://did:plc:…/app.bsky.feed.post/3l6oveex3ii2l`) carry colons and slashes, which
//! conversation ids and store keys reserve. Hark writes them as `plc_ewvi7nxzyoun6zhxrhs64oiz`
//! (an account) and `plc_ewvi7nxzyoun6zhxrhs64oiz_3l6oveex3ii2l` (a post), and reads them
//! back when it answers; anything that does not map both ways is refused at the edge.

const POST_COLLECTION: &str = "app.bsky.feed.post";

fn is_method(method: &str) -> bool {
    matches!(method, "plc" | "web")
}

/// A DID's method-specific part: `plc`'s base32, or a `web` host name. No `_` (the compact
/// form's separator) and no `:` (a `did:web` with a port or path is not taken).
fn is_specific(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// A post's record key: Bluesky's are TIDs (13 base32 characters); nothing with `_`.
fn is_record_key(rkey: &str) -> bool {
    (1..=64).contains(&rkey.len()) && rkey.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `did:plc:abc` → `plc_abc`.
pub fn account_of_did(did: &str) -> Option<String> {
    let (method, specific) = did.strip_prefix("did:")?.split_once(':')?;
    (is_method(method) && is_specific(specific)).then(|| format!("{method}_{specific}"))
}

/// `plc_abc` → `did:plc:abc`.
pub fn did_of_account(account: &str) -> Option<String> {
    let (method, specific) = account.split_once('_')?;
    (is_method(method) && is_specific(specific)).then(|| format!("did:{method}:{specific}"))
}

/// Whether `account` is a compact DID.
pub fn is_valid_account(account: &str) -> bool {
    did_of_account(account).is_some()
}

/// A post's AT URI → its compact id.
pub fn post_id(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("at://")?;
    let mut parts = rest.split('/');
    let (did, collection, rkey) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || collection != POST_COLLECTION || !is_record_key(rkey) {
        return None;
    }
    Some(format!("{}_{rkey}", account_of_did(did)?))
}

/// A compact post id → the post's AT URI.
pub fn post_uri(id: &str) -> Option<String> {
    let (account, rkey) = id.rsplit_once('_')?;
    if !is_record_key(rkey) {
        return None;
    }
    Some(format!("at://{}/{POST_COLLECTION}/{rkey}", did_of_account(account)?))
}

/// The account (compact DID) a compact post id belongs to.
pub fn post_account(id: &str) -> Option<&str> {
    id.rsplit_once('_').map(|(account, _)| account).filter(|a| is_valid_account(a))
}

/// A record key the same message always gets: a retried reply is written under the key
/// of the first attempt, so the repository holds it once, and whether it was written can
/// be asked. It is a TID in syntax (13 characters of base32-sortable, the top bit clear)
/// whose time part lies in 2023, so it never sorts ahead of real posts. [U] The PDS checks
/// a TID's syntax only; should it ever check the time too, this is the one place to change.
pub fn record_key_for(seed: &[u8; 8]) -> String {
    const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
    const YEAR_2023_MICROS: u64 = 1_672_531_200_000_000;
    const YEAR_MICROS: u64 = 31_536_000_000_000;
    let hash = u64::from_be_bytes(*seed);
    let micros = YEAR_2023_MICROS + (hash >> 10) % YEAR_MICROS;
    let tid = (micros << 10) | (hash & 0x3ff);
    (0..13).map(|i| ALPHABET[((tid >> (60 - 5 * i)) & 31) as usize] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_both_ways_or_not_at_all() {
        let cases = [
            ("did:plc:ewvi7nxzyoun6zhxrhs64oiz", Some("plc_ewvi7nxzyoun6zhxrhs64oiz")),
            ("did:web:shop.example.com", Some("web_shop.example.com")),
            ("did:web:localhost%3A8080", None),
            ("did:key:z6Mk", None),
            ("did:plc:has_underscore", None),
            ("plc:abc", None),
            ("", None),
        ];
        for (did, account) in cases {
            assert_eq!(account_of_did(did).as_deref(), account, "{did}");
            if let Some(account) = account {
                assert_eq!(did_of_account(account).as_deref(), Some(did));
            }
        }
        let uri = "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l6oveex3ii2l";
        let id = post_id(uri).unwrap();
        assert_eq!(id, "plc_ewvi7nxzyoun6zhxrhs64oiz_3l6oveex3ii2l");
        assert_eq!(post_uri(&id).as_deref(), Some(uri));
        assert_eq!(post_account(&id), Some("plc_ewvi7nxzyoun6zhxrhs64oiz"));
        for bad in [
            "at://did:plc:abc/app.bsky.feed.like/3l6",
            "at://did:plc:abc/app.bsky.feed.post/3l6/extra",
            "at://did:plc:abc/app.bsky.feed.post/a_b",
            "https://bsky.app/profile/x/post/3l6",
            "at://did:plc:abc/app.bsky.feed.post/",
        ] {
            assert_eq!(post_id(bad), None, "{bad}");
        }
        assert_eq!(post_uri("plc_abc"), None, "an account is not a post");
        assert_eq!(post_uri("../x_1"), None);
    }

    #[test]
    fn a_message_always_gets_the_same_valid_tid() {
        let key = record_key_for(&[0xff; 8]);
        assert_eq!(key, record_key_for(&[0xff; 8]));
        assert_ne!(key, record_key_for(&[0xfe; 8]));
        for seed in [[0u8; 8], [0xff; 8], [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0]] {
            let key = record_key_for(&seed);
            assert_eq!(key.len(), 13);
            assert!("234567abcdefghij".contains(&key[..1]), "the top bit is clear: {key}");
            // Base32-sortable TIDs of 2023 begin with "3j" to "3l".
            assert!(key.starts_with("3j") || key.starts_with("3k") || key.starts_with("3l"), "{key}");
        }
    }
}
