//! The delivery parser and normaliser on arbitrary bodies: never a panic, and whatever comes
//! out as a mention is something the rest of Hark may rely on.
#![no_main]

use chrono::{TimeZone, Utc};
use hark_shared::channels::x::{is_valid_id, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(delivery) = parse(data) else { return };
    let account = delivery.for_user_id.clone();
    let received = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
    let out = delivery.normalise(received, "fuzz");
    for mention in &out.mentions {
        assert_eq!(mention.account_id, account);
        assert!(is_valid_id(&mention.message_id) && is_valid_id(&mention.customer_id));
        assert!(!mention.text.trim().is_empty() && mention.text.chars().count() <= 10_000);
        assert!(mention.customer_id != account, "a mention is always with a customer");
        // What the webhook enqueues must serialise and read back unchanged.
        let json = serde_json::to_string(mention).unwrap();
        let back: hark_shared::domain::mention::Mention = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, mention);
    }
    for skipped in &out.skipped {
        assert!(skipped.reason.len() < 400, "skip reasons stay short");
    }
});
