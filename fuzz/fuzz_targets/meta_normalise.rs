//! Meta's signature check and delivery normaliser on arbitrary bodies: never a panic, only
//! the body's own signature verifies, and every mention is one Hark may rely on.
#![no_main]

use chrono::{TimeZone, Utc};
use hark_shared::channels::meta::inbound::{Context, is_valid_id, parse, sign, verify_signature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let signature = sign("fuzz-app-secret", data);
    assert!(verify_signature("fuzz-app-secret", data, Some(&signature)).is_ok());
    assert!(verify_signature("another-secret", data, Some(&signature)).is_err());
    let Ok(delivery) = parse(data) else { return };
    let accounts = ["1234567890321".to_owned(), "17841400000000001".to_owned()];
    let apps = ["555".to_owned()];
    let context = Context { accounts: &accounts, our_app_ids: &apps };
    let out = delivery.normalise(&context, Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap(), "fuzz");
    for mention in &out.mentions {
        assert!(accounts.contains(&mention.account_id), "only accounts we serve");
        assert!(is_valid_id(&mention.message_id));
        assert!(mention.customer_id != mention.account_id, "a mention is always with a customer");
        assert!(mention.queue_deduplication_id().len() <= 128 && mention.queue_group_id().len() <= 128);
        let json = serde_json::to_string(mention).unwrap();
        assert_eq!(&serde_json::from_str::<hark_shared::domain::mention::Mention>(&json).unwrap(), mention);
    }
    for skipped in &out.skipped {
        assert!(skipped.reason.len() < 400, "skip reasons stay short");
    }
});
