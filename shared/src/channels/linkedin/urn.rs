//! LinkedIn's URNs and the ids Hark keys on. LinkedIn writes one comment two ways
//! (`urn:li:comment:(activity:1,2)` in `generatedActivity`, `urn:li:comment:(urn:li:activity:1,2)`
//! in the decorated entity) and puts parentheses and commas in ids; Hark keys on one
//! compact form of each (`comment:activity:1:2`) that fits conversation ids and URL paths,
//! and turns it back into the canonical URN for the API. Every form LinkedIn may use is
//! read here, and only here.

/// The kinds of post a comment can be made on.
const POST_KINDS: [&str; 3] = ["activity", "share", "ugcPost"];

fn digits(value: &str) -> bool {
    (1..=24).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

fn member_id(value: &str) -> bool {
    (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// A post's compact id from `urn:li:{activity|share|ugcPost}:{n}` or `{kind}:{n}`.
fn post_id(value: &str) -> Option<String> {
    let value = value.strip_prefix("urn:li:").unwrap_or(value);
    let (kind, n) = value.split_once(':')?;
    (POST_KINDS.contains(&kind) && digits(n)).then(|| format!("{kind}:{n}"))
}

/// Hark's id for a LinkedIn URN: a post (`activity:1`), a comment (`comment:activity:1:2`),
/// a member (`person:AbC`) or an organisation (`organization:1`). `None` for anything else.
pub fn id_of(urn: &str) -> Option<String> {
    let rest = urn.strip_prefix("urn:li:")?;
    if let Some(inner) = rest.strip_prefix("comment:(").and_then(|r| r.strip_suffix(')')) {
        let (post, comment) = inner.split_once(',')?;
        if !digits(comment) {
            return None;
        }
        return post_id(post).map(|p| format!("comment:{p}:{comment}"));
    }
    if let Some(person) = rest.strip_prefix("person:") {
        return member_id(person).then(|| format!("person:{person}"));
    }
    if let Some(org) = rest.strip_prefix("organization:") {
        return digits(org).then(|| format!("organization:{org}"));
    }
    post_id(urn)
}

/// Whether one of Hark's ids names a post (not a comment, member or organisation).
pub fn is_post_id(id: &str) -> bool {
    post_id(id).as_deref() == Some(id)
}

/// The canonical URN for one of Hark's ids.
pub fn urn_of(id: &str) -> Option<String> {
    if let Some(rest) = id.strip_prefix("comment:") {
        let (post, comment) = rest.rsplit_once(':')?;
        let post = post_id(post)?;
        return digits(comment).then(|| format!("urn:li:comment:(urn:li:{post},{comment})"));
    }
    if id_of(&format!("urn:li:{id}")).as_deref() == Some(id) { Some(format!("urn:li:{id}")) } else { None }
}

/// For a comment: the post's URN, and the comment's own number (what the Comments API's
/// paths take).
pub fn comment_parts(id: &str) -> Option<(String, &str)> {
    let (post, comment) = id.strip_prefix("comment:")?.rsplit_once(':')?;
    if !digits(comment) {
        return None;
    }
    Some((format!("urn:li:{}", post_id(post)?), comment))
}

/// The organisation's number in `urn:li:organization:{n}`.
pub fn organization_of(urn: &str) -> Option<&str> {
    urn.strip_prefix("urn:li:organization:").filter(|n| digits(n))
}

/// An organisation's id as the credentials give it.
pub fn is_valid_organization(id: &str) -> bool {
    digits(id)
}

/// A URN in a URL path: every reserved character encoded (`:` as `%3A`, `(` as `%28`).
pub fn path_encoded(urn: &str) -> String {
    let mut encoded = String::with_capacity(urn.len() * 2);
    for b in urn.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_urn_has_one_id_and_back() {
        let comment = "comment:activity:7094637247890620418:7094977717598625792";
        for (urn, id) in [
            ("urn:li:comment:(activity:7094637247890620418,7094977717598625792)", Some(comment)),
            ("urn:li:comment:(urn:li:activity:7094637247890620418,7094977717598625792)", Some(comment)),
            ("urn:li:comment:(urn:li:ugcPost:12,34)", Some("comment:ugcPost:12:34")),
            ("urn:li:activity:7094637247890620418", Some("activity:7094637247890620418")),
            ("urn:li:share:7094637247487995904", Some("share:7094637247487995904")),
            ("urn:li:person:AbC123", Some("person:AbC123")),
            ("urn:li:organization:96072893", Some("organization:96072893")),
            ("urn:li:comment:(urn:li:activity:1,x)", None),
            ("urn:li:comment:(urn:li:video:1,2)", None),
            ("urn:li:activity:12a", None),
            ("urn:li:person:../../me", None),
            ("activity:1", None),
            ("urn:li:group:1", None),
        ] {
            assert_eq!(id_of(urn).as_deref(), id, "{urn}");
        }
        assert_eq!(
            urn_of(comment).as_deref(),
            Some("urn:li:comment:(urn:li:activity:7094637247890620418,7094977717598625792)")
        );
        assert_eq!(urn_of("share:7").as_deref(), Some("urn:li:share:7"));
        assert_eq!(urn_of("share:7/../x"), None);
        assert_eq!(
            comment_parts(comment),
            Some(("urn:li:activity:7094637247890620418".to_owned(), "7094977717598625792"))
        );
        assert_eq!(comment_parts("activity:1"), None);
        assert_eq!(organization_of("urn:li:organization:96072893"), Some("96072893"));
        assert_eq!(organization_of("urn:li:person:96072893"), None);
        assert_eq!(
            path_encoded("urn:li:comment:(urn:li:activity:1,2)"),
            "urn%3Ali%3Acomment%3A%28urn%3Ali%3Aactivity%3A1%2C2%29"
        );
    }
}
