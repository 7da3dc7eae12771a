//! What the `/v1` API takes from its callers, read and checked before anything is looked
//! up: the JSON bodies (a reply, a resolve, an incident's approval), a listing's and the
//! KPIs' queries, the listing cursor the API hands out and takes back, and percent-escaped
//! path segments. Pure, so that it is fuzzed (`fuzz/fuzz_targets/api_requests.rs`); the API
//! function answers a [`BadRequest`] with 400.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::domain::agent_reply::Visibility;
use crate::domain::mention::Channel;
use crate::ports::{ConversationFilter, ConversationId, ListCursor};

/// What is wrong with a request, in words for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

/// Conversations per page unless the caller asks for fewer or more (at most [`MAX_LIMIT`]).
pub const DEFAULT_LIMIT: usize = 25;
pub const MAX_LIMIT: usize = 100;

/// The body of `POST /v1/conversations/{id}/replies`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    pub text: String,
    #[serde(default = "public")]
    pub visibility: Visibility,
}

fn public() -> Visibility {
    Visibility::Public
}

/// A JSON object body read into `T`. serde reads a struct from a JSON array too
/// (`[]` as every field left out), which no caller means: anything but an object is refused.
pub fn object_body<T: serde::de::DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, BadRequest> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(BadRequest(format!("{expected}: the body is not a JSON object")));
    }
    serde_json::from_slice(body)
        .map_err(|e| BadRequest(format!("{expected}: {}", crate::error::json_error_summary(&e))))
}

/// The body of `POST /v1/conversations/{id}/resolve`, which may be empty.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    #[serde(default)]
    pub follow_up: Option<FollowUpAsked>,
}

/// `true`: the account's follow-up template; a string: these words.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum FollowUpAsked {
    Template(bool),
    Text(String),
}

/// The characters platforms' account and user ids use (`2244994945`, `17841400000000001`,
/// `mention:1790…`).
pub fn is_platform_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 160
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

pub fn conversation_id(segment: &str) -> Result<ConversationId, BadRequest> {
    percent_decoded(segment)
        .and_then(|decoded| ConversationId::parse(&decoded))
        .ok_or_else(|| BadRequest("invalid conversation id".into()))
}

/// A listing's query: `status`, `channel`, `min_priority`, `breached`, `limit`, `cursor`.
#[derive(Debug, Default)]
pub struct Listing {
    pub filter: ConversationFilter,
    pub limit: usize,
    pub cursor: Option<ListCursor>,
}

pub const STATUSES: [&str; 5] = ["open", "awaiting_reply", "answered", "resolved", "removed"];

impl Listing {
    pub fn from_query(query: &str) -> Result<Self, BadRequest> {
        let bad = |name: &str, why: &str| BadRequest(format!("{name}: {why}"));
        let mut listing = Listing { limit: DEFAULT_LIMIT, ..Listing::default() };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decoded(&raw.replace('+', " ")).ok_or_else(|| bad(name, "invalid escape"))?;
            match name {
                "status" => {
                    let status = STATUSES.into_iter().find(|s| *s == value);
                    listing.filter.status = Some(
                        status
                            .ok_or_else(|| bad(name, "one of open, awaiting_reply, answered, resolved, removed"))?
                            .to_owned(),
                    );
                }
                "channel" => {
                    listing.filter.channel =
                        Some(Channel::parse(&value).ok_or_else(|| bad(name, &format!("one of {}", Channel::names())))?)
                }
                "min_priority" => {
                    let min = value.parse::<u32>().ok().filter(|p| *p <= 100);
                    listing.filter.min_priority = Some(min.ok_or_else(|| bad(name, "a whole number from 0 to 100"))?);
                }
                "breached" => {
                    listing.filter.breached = Some(match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad(name, "true or false")),
                    })
                }
                "limit" => {
                    let limit = value.parse::<usize>().ok().filter(|l| (1..=MAX_LIMIT).contains(l));
                    listing.limit = limit.ok_or_else(|| bad(name, "a whole number from 1 to 100"))?;
                }
                "cursor" => {
                    listing.cursor = Some(decode_cursor(&value).ok_or_else(|| bad(name, "not a cursor this API gave"))?)
                }
                other => return Err(bad(other, "unknown parameter")),
            }
        }
        Ok(listing)
    }
}

/// The longest period KPIs are computed over in one call.
pub const MAX_KPI_DAYS: i64 = 92;

/// `since` and `until` (RFC 3339), defaulting to the last 7 days; at most [`MAX_KPI_DAYS`].
pub fn kpi_period(
    query: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>), BadRequest> {
    let bad = |why: String| BadRequest(why);
    let (mut since, mut until) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, raw) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decoded(raw).ok_or_else(|| bad(format!("{name}: invalid escape")))?;
        let at = || {
            chrono::DateTime::parse_from_rfc3339(&value)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| bad(format!("{name}: an RFC 3339 time, e.g. 2026-11-01T00:00:00Z")))
        };
        match name {
            "since" => since = Some(at()?),
            "until" => until = Some(at()?),
            other => return Err(bad(format!("{other}: unknown parameter"))),
        }
    }
    let until = until.unwrap_or(now).min(now);
    let since = since.unwrap_or(until - chrono::TimeDelta::days(7));
    if since > until {
        return Err(bad("since: must be before until".into()));
    }
    if until - since > chrono::TimeDelta::days(MAX_KPI_DAYS) {
        return Err(bad(format!("since: the period is at most {MAX_KPI_DAYS} days")));
    }
    Ok((since, until))
}

/// Opaque to callers: base64url of the month and the last list key returned.
pub fn encode_cursor(cursor: &ListCursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).expect("a cursor serialises"))
}

/// Only a cursor of the shape this API makes is taken; it is read, never trusted: the
/// month and the conversation id inside are checked as any input is.
pub fn decode_cursor(text: &str) -> Option<ListCursor> {
    if text.len() > 600 {
        return None;
    }
    let cursor: ListCursor = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
    let month_ok = cursor.month.len() == 7
        && cursor.month.bytes().enumerate().all(|(i, b)| if i == 4 { b == b'-' } else { b.is_ascii_digit() });
    let after_ok = cursor.after.as_deref().is_none_or(|after| {
        after.split_once('#').is_some_and(|(at, id)| {
            at.len() == 24 && at.starts_with(&cursor.month) && ConversationId::parse(id).is_some()
        })
    });
    (month_ok && after_ok).then_some(cursor)
}

/// `%3A` and the like in a path segment (conversation ids carry `:`); `None` for a broken
/// escape or bytes that are not UTF-8.
pub fn percent_decoded(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The body of `POST /v1/incidents/{id}/post`; every part optional.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// The words, if not the suggested post's.
    pub text: Option<String>,
    /// Only these of the incident's accounts.
    pub accounts: Option<Vec<AccountRef>>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountRef {
    pub channel: String,
    pub account_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_objects_or_refused() {
        // Schemathesis found `[]` taken for an empty request: serde reads structs from arrays.
        for body in [&b"[]"[..], b"[true]", b"\"text\"", b"", b"  7"] {
            assert!(object_body::<ResolveRequest>(body, "resolve").is_err(), "{:?}", String::from_utf8_lossy(body));
        }
        assert!(object_body::<ResolveRequest>(b" {\"follow_up\": true}", "resolve").unwrap().follow_up.is_some());
        assert!(object_body::<ResolveRequest>(b"{}", "resolve").unwrap().follow_up.is_none());
    }

    #[test]
    fn path_segments_are_percent_decoded_or_refused() {
        assert_eq!(percent_decoded("x%3A2244994945%3A1001").as_deref(), Some("x:2244994945:1001"));
        assert_eq!(percent_decoded("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decoded("bad%3"), None);
        assert_eq!(percent_decoded("bad%zz"), None);
        assert_eq!(percent_decoded("%ff"), None);
    }

    #[test]
    fn listing_queries_are_read_strictly() {
        let listing =
            Listing::from_query("status=awaiting_reply&channel=facebook&min_priority=40&breached=true&limit=5")
                .unwrap();
        assert_eq!(listing.filter.status.as_deref(), Some("awaiting_reply"));
        assert_eq!(listing.filter.channel, Some(Channel::Facebook));
        assert_eq!((listing.filter.min_priority, listing.filter.breached, listing.limit), (Some(40), Some(true), 5));
        assert_eq!(Listing::from_query("").unwrap().limit, DEFAULT_LIMIT);
        for bad in [
            "status=closed",
            "channel=tiktok",
            "min_priority=101",
            "breached=yes",
            "limit=0",
            "limit=101",
            "cursor=abc",
            "sort=asc",
            "status=%zz",
        ] {
            assert!(Listing::from_query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_forged_ones_are_refused() {
        let cursor =
            ListCursor { month: "2026-11".into(), after: Some("2026-11-22T09:00:00.000Z#x:2244994945:1001".into()) };
        assert_eq!(decode_cursor(&encode_cursor(&cursor)), Some(cursor));
        let month_only = ListCursor { month: "2026-10".into(), after: None };
        assert_eq!(decode_cursor(&encode_cursor(&month_only)), Some(month_only));
        for forged in [
            ListCursor { month: "2026-1".into(), after: None },
            ListCursor { month: "2026-11".into(), after: Some("2026-10-22T09:00:00.000Z#x:1:2".into()) },
            ListCursor { month: "2026-11".into(), after: Some("2026-11-22T09:00:00.000Z#CONV#x".into()) },
            ListCursor { month: "2026-11".into(), after: Some("whatever".into()) },
        ] {
            assert_eq!(decode_cursor(&encode_cursor(&forged)), None, "{forged:?}");
        }
        assert_eq!(decode_cursor("not base64 at all!"), None);
    }

    #[test]
    fn kpi_periods_default_to_a_week_and_are_bounded() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let (since, until) = kpi_period("", now).unwrap();
        assert_eq!((until, until - since), (now, chrono::TimeDelta::days(7)));
        let (since, until) = kpi_period("since=2026-11-01T00:00:00Z&until=2026-11-02T00:00:00%2B00:00", now).unwrap();
        assert_eq!(until - since, chrono::TimeDelta::days(1));
        assert_eq!(kpi_period("until=2030-01-01T00:00:00Z", now).unwrap().1, now, "never past now");
        for bad in ["since=yesterday", "since=2026-01-01T00:00:00Z", "since=2026-11-24T00:00:00Z", "from=x"] {
            assert!(kpi_period(bad, now).is_err(), "{bad}");
        }
    }
}
