//! What a listening feed's page is, whatever the platform: the mentions on it, what was
//! skipped and why, the ids the cursor moves by, the token of the next page, and whether
//! the platform asked for a pause (its rate limit spent).

use chrono::{DateTime, Utc};

use super::Skipped;
use crate::domain::mention::Mention;

#[derive(Debug, Default)]
pub struct FeedPage {
    pub mentions: Vec<Mention>,
    pub skipped: Vec<Skipped>,
    /// Every item's id on the page, mentions or not: the cursor moves past all of them.
    pub ids: Vec<String>,
    /// The page after this one in the same poll, when there is one.
    pub next: Option<String>,
    /// The platform's budget is spent until then: take this page, ask nothing more.
    pub pause_until: Option<DateTime<Utc>>,
}

/// A rate-limit reset as platforms write it: Unix seconds (X), seconds from now (Reddit,
/// Bluesky), or an ISO 8601 time (Mastodon; [U] instances differ, so all are read).
pub fn reset_at(value: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Some(at.with_timezone(&Utc));
    }
    let number: f64 = value.parse().ok().filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    // Unix seconds are past 1e9; a delay in seconds is far below.
    if number > 1e9 {
        DateTime::from_timestamp(number as i64, 0)
    } else {
        Some(now + chrono::TimeDelta::seconds(number.ceil() as i64))
    }
}

/// The HTML of a post (Mastodon's `content`) as the text a person reads: paragraphs and
/// line breaks kept as newlines, tags dropped, the usual entities decoded.
pub fn html_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[open + 1..open + close].trim_start_matches('/').to_ascii_lowercase();
        if (tag.starts_with("br") || tag.starts_with("p")) && !text.ends_with('\n') && !text.is_empty() {
            text.push('\n');
        }
        rest = &rest[open + close + 1..];
    }
    text.push_str(rest);
    let decoded = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    decoded.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn resets_in_every_form() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        assert_eq!(reset_at("1796378400", now), Some(Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()));
        assert_eq!(reset_at("42", now), Some(now + chrono::TimeDelta::seconds(42)));
        assert_eq!(reset_at("41.2", now), Some(now + chrono::TimeDelta::seconds(42)));
        assert_eq!(
            reset_at("2026-12-04T10:05:00.000Z", now),
            Some(Utc.with_ymd_and_hms(2026, 12, 4, 10, 5, 0).unwrap())
        );
        assert_eq!(reset_at("soon", now), None);
        assert_eq!(reset_at("-5", now), None);
    }

    #[test]
    fn html_becomes_text() {
        assert_eq!(
            html_text(
                r#"<p><span class="h-card"><a href="https://x.social/@acme">@<span>acme</span></a></span> refund please</p><p>order &amp; bag &lt;3</p>"#
            ),
            "@acme refund please\norder & bag <3"
        );
        assert_eq!(html_text("line one<br>line two<br/>"), "line one\nline two");
        assert_eq!(html_text("plain"), "plain");
        assert_eq!(html_text("broken <a href"), "broken");
    }
}
