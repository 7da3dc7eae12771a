//! A signed source's deliveries on arbitrary bodies and ids, through the channel as the
//! webhook calls it: never a panic, and a message is only ever one Hark may key on.
#![no_main]

use chrono::{TimeZone, Utc};
use hark_shared::channels::generic::is_valid_message_id;
use hark_shared::channels::{Inbound, WebhookRequest};
use hark_shared::credentials::Credentials;
use hark_shared::helpdesks::standard_webhooks::{self, EndpointSecret};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fuzz_target!(|data: &[u8]| {
    // The first line is the webhook-id, the rest the body.
    let (id, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"msg_fuzz"[..], data),
    };
    let Ok(id) = std::str::from_utf8(id) else { return };
    let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
    let secret = EndpointSecret::parse(SECRET).unwrap();
    let mut headers = http::HeaderMap::new();
    let (Ok(id_value), Ok(signature)) =
        (id.parse(), standard_webhooks::sign(&secret, id, at.timestamp(), body).parse())
    else {
        return;
    };
    headers.insert(standard_webhooks::ID_HEADER, id_value);
    headers.insert(standard_webhooks::TIMESTAMP_HEADER, at.timestamp().to_string().parse().unwrap());
    headers.insert(standard_webhooks::SIGNATURE_HEADER, signature);
    let json = format!(r#"{{"sources": {{"shop": {{"secret": "{SECRET}", "reply_url": "https://shop.example/r"}}}}}}"#);
    let inbound = Inbound::new(&Credentials::from_json(&json).unwrap());
    let request =
        WebhookRequest { account: Some("shop"), query: &[], headers: &headers, body, received_at: at, request_id: "fuzz" };
    let Ok(out) = Inbound::receive(inbound.channel("generic").unwrap(), &request) else { return };
    assert!(out.mentions.len() <= 1, "one message a delivery");
    for mention in &out.mentions {
        assert_eq!((mention.account_id.as_str(), mention.message_id.as_str()), ("shop", id));
        assert!(is_valid_message_id(&mention.message_id));
        assert!(mention.parent_id.as_deref().is_none_or(is_valid_message_id));
        assert!(!mention.text.trim().is_empty() && mention.text.chars().count() <= 10_000);
        assert!(mention.customer_id != mention.account_id);
        let json = serde_json::to_string(mention).unwrap();
        assert_eq!(&serde_json::from_str::<hark_shared::domain::mention::Mention>(&json).unwrap(), mention);
    }
});
