//! Listening: searches and notification feeds polled on a schedule, each with a durable
//! cursor. Pure: what a cursor holds, how platform ids compare, and where a cursor moves
//! after a poll. The cursor only ever moves after what it covers is on the queue, and only
//! by a conditional write (the store's), so a crash re-reads a page (the message store's
//! dedupe absorbs it) and two overlapping runs never skip one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many recently taken ids a cursor keeps, to recognise a page read again.
pub const SEEN_LIMIT: usize = 300;

/// Where one feed stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The newest id taken (X's `since_id`, Mastodon's `min_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_id: Option<String>,
    /// Nothing is asked of the platform before this: a rate limit or quota said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<DateTime<Utc>>,
    /// When a poll last finished (drained or not), for the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polled_at: Option<DateTime<Utc>>,
    /// For feeds placed by time, whose times tie (YouTube's are to the second): the ids
    /// already taken at exactly `newest_id`, so one written in the same second but read in a
    /// later poll is still taken, and those already taken are not taken again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_newest: Vec<String>,
    /// A `since_id` poll not yet drained: the next run goes on from its page token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draining: Option<Draining>,
}

/// Where an unfinished `since_id` poll stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draining {
    /// The page token to go on from.
    pub next: String,
    /// The poll's newest id (its first page's), where the cursor moves once it is drained.
    pub newest: Option<String>,
}

/// A cursor as stored, with the version its conditional advance must find.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredCursor {
    pub cursor: Cursor,
    /// 0: never stored.
    pub version: u64,
}

/// Platform ids are opaque strings that grow: X's and Mastodon's order by length, then
/// lexically, never as integers (Mastodon says so; X's outgrow `f64`).
pub fn is_newer(candidate: &str, than: &str) -> bool {
    (candidate.len(), candidate) > (than.len(), than)
}

/// How far back a feed's first read goes. A feed read for the first time (a new account,
/// search or deployment) would otherwise bring its whole first page, which may be weeks
/// old: acknowledging those now would read worse than not answering, and they are not what
/// the operator switched listening on for. From then on the cursor decides.
pub const FIRST_READ_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Whether a feed's first read takes a message written at `written`.
pub fn first_read_takes(written: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - written <= FIRST_READ_WINDOW
}

/// A time as an id that orders like the others (same length, so by text): for feeds whose
/// items carry no ordered id (Bluesky's URIs, YouTube's comment ids) but a time. Only for
/// times [`placeable`] says are: years outside 0000-9999 print longer.
pub fn time_key(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// How far ahead of Hark's clock a platform's time may run (its clock is not ours).
pub const CLOCK_AHEAD_TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Whether a platform's time for an item can place it in a feed read by time: not before
/// 2000 (no platform Hark reads is older), not later than a few minutes past `now`. An item
/// dated outside that would move the feed's cursor past every real item (to the year 4052,
/// say, or to a negative year, whose key is longer and so sorts as newer), and the feed
/// would go silent: the parsers skip it as malformed instead, and leave it out of the
/// page's ids.
pub fn placeable(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let earliest = DateTime::from_timestamp(946_684_800, 0).expect("2000-01-01 is a time");
    earliest <= at && at <= now + CLOCK_AHEAD_TOLERANCE
}

/// For feeds placed by time: whether the item `id` at time key `key` is new to `cursor`.
pub fn is_unseen(cursor: &Cursor, key: &str, id: &str) -> bool {
    match cursor.newest_id.as_deref() {
        None => true,
        Some(old) => is_newer(key, old) || (key == old && !cursor.at_newest.iter().any(|seen| seen == id)),
    }
}

/// For feeds placed by time: `after` (where a poll moved `before`) with the ids taken at its
/// newest time, `taken` being the (time key, id) of what the poll took.
pub fn with_ties(before: &Cursor, mut after: Cursor, taken: &[(String, String)]) -> Cursor {
    let Some(newest) = after.newest_id.clone() else { return after };
    let mut ids =
        if before.newest_id.as_deref() == Some(newest.as_str()) { before.at_newest.clone() } else { Vec::new() };
    ids.extend(taken.iter().filter(|(key, _)| *key == newest).map(|(_, id)| id.clone()));
    ids.sort();
    ids.dedup();
    ids.truncate(SEEN_LIMIT);
    after.at_newest = ids;
    after
}

/// The newest of `ids`.
pub fn newest<'a>(ids: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    ids.into_iter().fold(None, |best, id| match best {
        Some(b) if !is_newer(id, b) => Some(b),
        _ => Some(id),
    })
}

/// After the pages of a `since_id` poll taken in one run (X recent search): results come
/// newest first across pages, so the cursor moves to the poll's newest id (its first
/// page's) only once the poll is drained; a run that stops early keeps the cursor and
/// records where to go on (`draining`), so the next run finishes the poll first.
pub fn after_since_pages(cursor: &Cursor, first_page_newest: Option<&str>, next: Option<&str>) -> Cursor {
    let mut after = cursor.clone();
    let poll_newest = match &cursor.draining {
        Some(draining) => draining.newest.clone(),
        None => first_page_newest.map(str::to_owned),
    };
    match next {
        Some(next) => after.draining = Some(Draining { next: next.to_owned(), newest: poll_newest }),
        None => {
            after.draining = None;
            if let Some(newest) = poll_newest
                && cursor.newest_id.as_deref().is_none_or(|old| is_newer(&newest, old))
            {
                after.newest_id = Some(newest);
            }
        }
    }
    after
}

/// After a page read forward from `min_id` (Mastodon): each page is the one just above the
/// cursor, so the cursor moves past each page as soon as it is taken.
pub fn after_forward_page(cursor: &Cursor, page_ids: &[&str]) -> Cursor {
    let mut next = cursor.clone();
    if let Some(newest) = newest(page_ids.iter().copied())
        && cursor.newest_id.as_deref().is_none_or(|old| is_newer(newest, old))
    {
        next.newest_id = Some(newest.to_owned());
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(id: Option<&str>) -> Cursor {
        Cursor { newest_id: id.map(str::to_owned), ..Cursor::default() }
    }

    #[test]
    fn ids_order_by_length_then_text() {
        assert!(is_newer("1000", "999"), "not lexically");
        assert!(is_newer("1870000000000000002", "1870000000000000001"));
        assert!(!is_newer("5", "5"));
        assert_eq!(newest(["103186126728896492", "99", "103186126728896493"]), Some("103186126728896493"));
        assert_eq!(newest([]), None);
    }

    #[test]
    fn a_first_read_takes_the_last_day_only() {
        use chrono::TimeZone;
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let cases = [
            ("just written", now, true),
            ("a day ago, to the second", now - FIRST_READ_WINDOW, true),
            ("a day and a second ago", now - FIRST_READ_WINDOW - chrono::TimeDelta::seconds(1), false),
            ("weeks ago", now - chrono::TimeDelta::days(30), false),
            ("a clock ahead of ours", now + chrono::TimeDelta::minutes(5), true),
        ];
        for (label, written, taken) in cases {
            assert_eq!(first_read_takes(written, now), taken, "{label}");
        }
    }

    #[test]
    fn items_at_the_cursor_s_time_are_taken_once_each() {
        let t = "2026-12-04T10:00:00.000000Z";
        let later = "2026-12-04T10:00:01.000000Z";
        let cursor = Cursor { newest_id: Some(t.into()), at_newest: vec!["a".into()], ..Cursor::default() };
        assert!(!is_unseen(&cursor, t, "a"), "taken already");
        assert!(is_unseen(&cursor, t, "b"), "the same second, read later");
        assert!(is_unseen(&cursor, later, "a"));
        assert!(!is_unseen(&cursor, "2026-12-04T09:59:59.000000Z", "c"));
        assert!(is_unseen(&Cursor::default(), t, "a"));
        let taken = [(t.to_owned(), "b".to_owned()), ("2026-12-04T09:00:00.000000Z".to_owned(), "z".to_owned())];
        assert_eq!(with_ties(&cursor, cursor.clone(), &taken).at_newest, ["a", "b"], "the same time: both");
        let moved = Cursor { newest_id: Some(later.into()), ..cursor.clone() };
        let taken = [(later.to_owned(), "d".to_owned()), (t.to_owned(), "b".to_owned())];
        assert_eq!(with_ties(&cursor, moved, &taken).at_newest, ["d"], "a later time starts over");
    }

    #[test]
    fn times_order_as_ids() {
        use chrono::TimeZone;
        let early = Utc.with_ymd_and_hms(2026, 12, 4, 9, 59, 59).unwrap() + chrono::TimeDelta::microseconds(999_999);
        let late = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        assert_eq!(time_key(late), "2026-12-04T10:00:00.000000Z");
        assert!(placeable(late, late) && placeable(early, late));
        assert_eq!(time_key(early).len(), time_key(late).len());
        assert!(is_newer(&time_key(late), &time_key(early)));
    }

    #[test]
    fn a_since_cursor_moves_only_after_a_full_drain_and_never_back() {
        let draining = |next: &str, newest: Option<&str>| Cursor {
            draining: Some(Draining { next: next.into(), newest: newest.map(str::to_owned) }),
            ..at(Some("10"))
        };
        let cases = [
            ("first poll, drained", at(None), Some("20"), None, at(Some("20"))),
            ("drained", at(Some("10")), Some("20"), None, at(Some("20"))),
            ("stopped early: go on next run", at(Some("10")), Some("20"), Some("t2"), draining("t2", Some("20"))),
            ("went on and drained", draining("t2", Some("20")), Some("15"), None, at(Some("20"))),
            ("went on, still more", draining("t2", Some("20")), Some("15"), Some("t3"), draining("t3", Some("20"))),
            ("nothing new", at(Some("10")), None, None, at(Some("10"))),
            ("an older id never moves it back", at(Some("100")), Some("99"), None, at(Some("100"))),
        ];
        for (label, cursor, first, next, expected) in cases {
            assert_eq!(after_since_pages(&cursor, first, next), expected, "{label}");
        }
    }

    #[test]
    fn a_forward_cursor_moves_past_each_page() {
        assert_eq!(after_forward_page(&at(Some("10")), &["12", "11"]).newest_id.as_deref(), Some("12"));
        assert_eq!(after_forward_page(&at(None), &["9"]).newest_id.as_deref(), Some("9"));
        assert_eq!(after_forward_page(&at(Some("10")), &[]).newest_id.as_deref(), Some("10"));
        assert_eq!(after_forward_page(&at(Some("10")), &["8"]).newest_id.as_deref(), Some("10"));
    }

    #[test]
    fn only_times_that_cannot_carry_a_cursor_away_place_an_item() {
        use chrono::TimeZone;
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let cases = [
            ("now", now, true),
            ("a week ago", now - chrono::TimeDelta::days(7), true),
            ("the platform's clock a little ahead", now + chrono::TimeDelta::minutes(9), true),
            ("at the tolerance", now + CLOCK_AHEAD_TOLERANCE, true),
            ("past the tolerance", now + CLOCK_AHEAD_TOLERANCE + chrono::TimeDelta::seconds(1), false),
            ("a far future", at("4052-12-04T09:59:20Z"), false),
            ("2000 itself", at("2000-01-01T00:00:00Z"), true),
            ("before 2000", at("1999-12-31T23:59:59Z"), false),
            ("a negative year", Utc.with_ymd_and_hms(-26, 12, 4, 9, 59, 50).unwrap(), false),
        ];
        for (what, time, expected) in cases {
            assert_eq!(placeable(time, now), expected, "{what}");
            if expected {
                assert_eq!(time_key(time).len(), 27, "{what}");
            }
        }
    }
}
