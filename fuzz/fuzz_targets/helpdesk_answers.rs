//! The help desks' webhooks, once verified (Zendesk's events, a Freshdesk rule's body), on
//! arbitrary bytes: never a panic, and what Hark takes from them is only what it may act
//! on. An answer is posted to a customer and its event id becomes part of a record key.
#![no_main]

use hark_shared::helpdesks::answers::{self, DeskEvent};
use hark_shared::helpdesks::tickets::is_harks;
use libfuzzer_sys::fuzz_target;

fn check(event: DeskEvent) {
    match event {
        DeskEvent::Answer { event_id, conversation, text } => {
            assert!(!event_id.is_empty() && event_id.len() <= 64);
            assert!(event_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{event_id:?}");
            assert!(hark_shared::ports::ConversationId::parse(&conversation.0).is_some());
            assert!(!text.is_empty() && text == text.trim() && text.chars().count() <= 10_000);
            assert!(!is_harks(&text), "Hark's own text is never taken back as an answer");
        }
        DeskEvent::Solved { event_id, conversation } => {
            assert!(!event_id.is_empty() && event_id.len() <= 64);
            assert!(hark_shared::ports::ConversationId::parse(&conversation.0).is_some());
        }
        DeskEvent::Ignored(reason) => assert!(!reason.is_empty()),
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks Hark's own Zendesk user, as the credentials may or may not name it.
    let (hark_user, body) = match data.split_first() {
        Some((b, rest)) if b % 2 == 0 => (Some("99"), rest),
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    if let Ok(event) = answers::zendesk(body, hark_user) {
        check(event);
    }
    if let Ok(event) = answers::freshdesk(body) {
        check(event);
    }
});
