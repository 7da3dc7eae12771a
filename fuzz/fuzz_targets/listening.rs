//! The listener's parsers on arbitrary answers (X recent search pages, Mastodon
//! notifications and statuses, Reddit listings): never a panic, every mention one Hark may key on, and a
//! cursor that only ever moves to an id a page really held.
#![no_main]

use chrono::{TimeZone, Utc};
use hark_shared::channels::mastodon::feed::{FeedContext, notifications_page, statuses_page};
use hark_shared::channels::reddit::listing::{ListingContext, parse_listing};
use hark_shared::channels::x::search::{SearchContext, parse_page};
use hark_shared::domain::listening::{Cursor, after_forward_page, after_since_pages, newest};
use hark_shared::domain::mention::Mention;
use libfuzzer_sys::fuzz_target;

fn check(mentions: &[Mention], account: &str) {
    for mention in mentions {
        assert_eq!(mention.account_id, account);
        assert!(mention.customer_id != mention.account_id);
        assert!(!mention.message_id.is_empty() && mention.message_id.len() <= 64);
        assert!(mention.queue_deduplication_id().len() <= 128 && mention.queue_group_id().len() <= 128);
        let json = serde_json::to_string(mention).unwrap();
        assert_eq!(&serde_json::from_str::<Mention>(&json).unwrap(), mention);
    }
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
    let reddit = ListingContext { account: "acmeair", reference: "fuzz" };
    if let Ok(page) = parse_listing(data, reddit, at) {
        check(&page.mentions, "acmeair");
        assert!(page.mentions.iter().all(|m| m.listening), "Reddit is only ever listened to");
        assert!(page.next.as_deref().is_none_or(hark_shared::channels::reddit::is_post_fullname));
    }
});
