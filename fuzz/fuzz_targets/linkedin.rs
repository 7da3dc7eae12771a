//! LinkedIn's signature check, challenge check and notification normaliser on arbitrary
//! bodies, through the channel as the webhook calls it: never a panic, both readings of
//! the signature verify only under the right secret, only UUIDs are ever signed as a
//! challenge, and every mention is one Hark may rely on.
#![no_main]

use chrono::{TimeZone, Utc};
use hark_shared::channels::linkedin::inbound::{SignatureVariant, is_challenge_code, sign, verify_signature};
use hark_shared::channels::linkedin::urn;
use hark_shared::channels::{Inbound, WebhookRequest};
use hark_shared::credentials::Credentials;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-client-secret";
const ORG: &str = "96072893";

fuzz_target!(|data: &[u8]| {
    for variant in [SignatureVariant::Prefixed, SignatureVariant::BodyOnly] {
        let signature = sign(SECRET, variant, data);
        assert_eq!(verify_signature(SECRET, data, Some(&signature)), Ok(variant));
        assert!(verify_signature("another-secret", data, Some(&signature)).is_err());
    }
    if let Ok(text) = std::str::from_utf8(data)
        && is_challenge_code(text)
    {
        assert!(text.len() == 36 && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));
    }
    let json = format!(r#"{{"linkedin": {{"client_secret": "{SECRET}", "organizations": {{"{ORG}": {{"access_token": "t"}}}}}}}}"#);
    let inbound = Inbound::new(&Credentials::from_json(&json).unwrap());
    let mut headers = http::HeaderMap::new();
    headers.insert("x-li-signature", sign(SECRET, SignatureVariant::Prefixed, data).parse().unwrap());
    let request = WebhookRequest {
        account: None,
        query: &[],
        headers: &headers,
        body: data,
        received_at: Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap(),
        request_id: "fuzz",
    };
    let Ok(out) = Inbound::receive(inbound.channel("linkedin").unwrap(), &request) else { return };
    for mention in &out.mentions {
        assert_eq!(mention.account_id, ORG, "only organisations we serve");
        assert!(urn::urn_of(&mention.message_id).is_some(), "an id the API can be called with");
        assert!(mention.parent_id.as_deref().is_none_or(|p| urn::urn_of(p).is_some()));
        assert!(mention.customer_id != mention.account_id);
        assert!(mention.queue_deduplication_id().len() <= 128 && mention.queue_group_id().len() <= 128);
        let json = serde_json::to_string(mention).unwrap();
        assert_eq!(&serde_json::from_str::<hark_shared::domain::mention::Mention>(&json).unwrap(), mention);
    }
    for skipped in &out.skipped {
        assert!(skipped.reason.len() < 400, "skip reasons stay short");
    }
});
