//! The listener's parsers on arbitrary answers (X recent search pages, Mastodon
//! notifications and statuses, Bluesky notifications and searches, YouTube comment threads,
//! Reddit listings): never a panic, every mention one Hark may key on (and, for Bluesky,
//! one whose id maps back to the post it answers), and a cursor that only ever moves to an
//! id a page really held.
#![no_main]

use chrono::{TimeZone, Utc};
use hark_shared::channels::bluesky;
use hark_shared::channels::mastodon::feed::{FeedContext, notifications_page, statuses_page};
use hark_shared::channels::youtube::threads::{ThreadsContext, threads_page};
use hark_shared::channels::reddit::listing::{ListingContext, parse_listing};
use hark_shared::channels::x::search::{SearchContext, parse_page};
use hark_shared::domain::listening::{
    CLOCK_AHEAD_TOLERANCE, Cursor, after_forward_page, after_since_pages, is_newer, newest, time_key,
};
use hark_shared::domain::mention::Mention;
use libfuzzer_sys::fuzz_target;

fn check(mentions: &[Mention], account: &str) {
    check_bounded(mentions, account, 64);
}

fn check_bounded(mentions: &[Mention], account: &str, longest_id: usize) {
    for mention in mentions {
        assert_eq!(mention.account_id, account);
        assert!(mention.customer_id != mention.account_id);
        assert!(!mention.message_id.is_empty() && mention.message_id.len() <= longest_id);
        assert!(mention.queue_deduplication_id().len() <= 128 && mention.queue_group_id().len() <= 128);
        let json = serde_json::to_string(mention).unwrap();
        assert_eq!(&serde_json::from_str::<Mention>(&json).unwrap(), mention);
    }
}

/// A time key that cannot carry a cursor away: one length (so it orders by text) and not
/// ahead of the clock by more than platforms' clocks may be.
fn placed_by_time(id: &str, now: chrono::DateTime<Utc>) -> bool {
    id.len() == 27 && !is_newer(id, &time_key(now + CLOCK_AHEAD_TOLERANCE))
}

fuzz_target!(|data: &[u8]| {
    let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
    let x = SearchContext { account: "2244994945", handle: "AcmeAir", reference: "fuzz" };
    if let Ok(page) = parse_page(data, &x, at) {
        check(&page.mentions, "2244994945");
        let ids: Vec<&str> = page.ids.iter().map(String::as_str).collect();
        let moved = after_since_pages(&Cursor::default(), newest(ids.iter().copied()), None);
        assert!(moved.newest_id.as_deref().is_none_or(|id| ids.contains(&id)));
    }
    let mastodon = FeedContext { account: "14715", reference: "fuzz" };
    for page in [notifications_page(data, mastodon, at), statuses_page(data, mastodon, at)].into_iter().flatten() {
        check(&page.mentions, "14715");
        let ids: Vec<&str> = page.ids.iter().map(String::as_str).collect();
        let moved = after_forward_page(&Cursor::default(), &ids);
        assert!(moved.newest_id.as_deref().is_none_or(|id| ids.contains(&id)));
    }
    let sky = bluesky::feed::FeedContext { account: "plc_acme4irbr4nd2a2b3c4d5e6f", reference: "fuzz" };
    let sky_pages = [bluesky::feed::notifications_page(data, sky, at), bluesky::feed::search_page(data, sky, at)];
    for page in sky_pages.into_iter().flatten() {
        check_bounded(&page.mentions, sky.account, 160);
        for mention in &page.mentions {
            let uri = bluesky::ids::post_uri(&mention.message_id).expect("a post id maps back to its URI");
            assert_eq!(bluesky::ids::post_id(&uri).as_deref(), Some(mention.message_id.as_str()));
        }
        let ids: Vec<&str> = page.ids.iter().map(String::as_str).collect();
        assert!(ids.iter().all(|id| placed_by_time(id, at)), "time keys are one length and not ahead: {ids:?}");
    }
    let youtube = ThreadsContext { channel: "UCacmeAirBrand0000000000", reference: "fuzz" };
    if let Ok(page) = threads_page(data, youtube, at) {
        check_bounded(&page.mentions, youtube.channel, 128);
        assert!(page.ids.iter().all(|id| placed_by_time(id, at)), "time keys: {:?}", page.ids);
        assert!(page.mentions.iter().all(|m| m.parent_id.as_deref().is_none_or(|p| m.message_id.starts_with(p))));
    }
    let reddit = ListingContext { account: "acmeair", reference: "fuzz" };
    if let Ok(page) = parse_listing(data, reddit, at) {
        check(&page.mentions, "acmeair");
        assert!(page.mentions.iter().all(|m| m.listening), "Reddit is only ever listened to");
        assert!(page.next.as_deref().is_none_or(hark_shared::channels::reddit::is_post_fullname));
    }
});
