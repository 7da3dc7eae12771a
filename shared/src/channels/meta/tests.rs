//! Meta's inbound side, table-driven: each case is a fixture (testdata/), how it is signed,
//! and what must come out: the events (one line each) or the refusal, and the reasons for
//! whatever was skipped.

use chrono::{TimeZone, Utc};

use super::inbound::{self, SignatureError};
use crate::channels::testing::line;
use crate::channels::{ChallengeAnswer, Inbound, InboundChannel, InboundError, Normalised, WebhookRequest};
use crate::credentials::Credentials;

const APP: &str = "555";
const SECRET: &str = "hark_test_app_secret";
const OTHER_APP: &str = "556";
const OTHER_SECRET: &str = "another_app_secret";

fn channel() -> inbound::MetaInbound {
    let json = serde_json::json!({"meta": {
        "apps": {APP: {"app_secret": SECRET, "verify_token": "hark-verify"},
                 OTHER_APP: {"app_secret": OTHER_SECRET, "verify_token": "other-verify"}},
        "accounts": {
            "1234567890321": {"app_id": APP, "access_token": "page-token"},
            "1234567890999": {"app_id": APP, "access_token": "page-token-2"},
            "17841400000000001": {"app_id": APP, "access_token": "page-token", "page_id": "1234567890321"},
            "4444": {"app_id": OTHER_APP, "access_token": "other-token"}}}});
    inbound::MetaInbound::new(&Credentials::from_json(&json.to_string()).unwrap().meta)
}

fn fixture(name: &str) -> Vec<u8> {
    crate::channels::testing::fixture("meta", name)
}

enum Signing {
    With(&'static str),
    Absent,
    Header(&'static str),
}

fn receive(
    channel: &dyn InboundChannel,
    body: &[u8],
    signing: Signing,
    account: Option<&str>,
) -> Result<Normalised, InboundError> {
    let mut headers = http::HeaderMap::new();
    let header = match signing {
        Signing::With(secret) => Some(inbound::sign(secret, body)),
        Signing::Header(h) => Some(h.to_owned()),
        Signing::Absent => None,
    };
    if let Some(header) = header {
        headers.insert(inbound::SIGNATURE_HEADER, header.parse().unwrap());
    }
    let request = WebhookRequest {
        account,
        query: &[],
        headers: &headers,
        body,
        received_at: Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap(),
        request_id: "apigw:test",
    };
    Inbound::receive(channel, &request)
}

struct Case {
    label: &'static str,
    fixture: &'static str,
    signing: Signing,
    events: &'static [&'static str],
    /// A substring of each skip reason, in order.
    skipped: &'static [&'static str],
}

#[test]
fn incoming_deliveries() {
    let cases = [
        Case {
            label: "the contract's vector: escaped unicode, hashed as received",
            fixture: "contract_vector.json",
            signing: Signing::Header("sha256=244833551678aa36ea3e1ccb269bc972e14ee4c5c7790df24661940424279c92"),
            events: &[
                "facebook 1234567890321 Reply Inbound 901097836652708_903438993085259 parent=1234567890321_901097836652708 customer=5566778899 Created",
            ],
            skipped: &[],
        },
        Case {
            label: "a batch of two Pages: comments, a reply, the Page's answer, an edit, a removal; one Page not ours",
            fixture: "feed_two_pages.json",
            signing: Signing::With(SECRET),
            events: &[
                "facebook 1234567890321 Reply Inbound 901097836652708_903438993085260 parent=1234567890321_901097836652708 customer=5566778899 Created",
                "facebook 1234567890321 Reply Inbound 901097836652708_903438993085261 parent=901097836652708_903438993085260 customer=5566778800 Created",
                "facebook 1234567890321 Reply Outbound 901097836652708_903438993085262 parent=901097836652708_903438993085260 customer=901097836652708_903438993085260 Created",
                "facebook 1234567890321 Reply Inbound 901097836652708_903438993085260 parent=1234567890321_901097836652708 customer=5566778899 Edited",
                "facebook 1234567890321 Reply Inbound 901097836652708_903438993085261 parent=901097836652708_903438993085260 customer=5566778800 Removed",
                "facebook 1234567890999 Post Inbound 1234567890999_55 parent=- customer=5566778822 Created",
                "facebook 1234567890999 Reply Inbound 777_888 parent=777 customer=5566778833 Created",
            ],
            skipped: &["reaction", "Page's own", "does not serve"],
        },
        Case {
            label: "Messenger: a customer, our echo, a person's echo, a read receipt, a photo, standby",
            fixture: "messenger.json",
            signing: Signing::With(SECRET),
            events: &[
                "facebook 1234567890321 DirectMessage Inbound m_AbC1dEf2GhI3 parent=- customer=24001 Created",
                "facebook 1234567890321 DirectMessage Outbound m_echo_ours parent=- customer=24001 Created automated=true",
                "facebook 1234567890321 DirectMessage Outbound m_echo_human parent=- customer=24001 Created automated=false",
                "facebook 1234567890321 DirectMessage Inbound m_photo parent=- customer=24002 Created",
                "facebook 1234567890321 DirectMessage Inbound m_standby parent=- customer=24003 Created standby",
            ],
            skipped: &["without a message"],
        },
        Case {
            label: "Instagram: comments keyed id and comment_id, the account's own reply, a mention, DMs and a deletion",
            fixture: "instagram.json",
            signing: Signing::With(SECRET),
            events: &[
                "instagram 17841400000000001 Reply Inbound 17865799348089039 parent=17918195224117851 customer=32001 Created",
                "instagram 17841400000000001 Reply Inbound 17865799348089040 parent=17865799348089039 customer=32002 Created",
                "instagram 17841400000000001 Reply Outbound 17865799348089041 parent=17865799348089039 customer=17865799348089039 Created",
                "instagram 17841400000000001 Reply Inbound 17894227972186120 parent=17918195224117999 customer=mention:17894227972186120 Created fetch-text",
                "instagram 17841400000000001 DirectMessage Inbound aWdfZAG1faXRlbToxOklH parent=- customer=33001 Created",
                "instagram 17841400000000001 DirectMessage Inbound aWdfZAG1faXRlbToxOklI parent=- customer=33001 Removed",
            ],
            skipped: &[],
        },
    ];
    let meta = channel();
    for case in cases {
        let out = receive(&meta, &fixture(case.fixture), case.signing, None)
            .unwrap_or_else(|e| panic!("{}: {e}", case.label));
        let lines: Vec<String> = out.mentions.iter().map(line).collect();
        assert_eq!(lines, case.events, "{}", case.label);
        let reasons: Vec<&str> = out.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons.len(), case.skipped.len(), "{}: {reasons:?}", case.label);
        for (reason, expected) in reasons.iter().zip(case.skipped) {
            assert!(reason.contains(expected), "{}: {reason:?} should mention {expected:?}", case.label);
        }
    }
}

#[test]
fn text_and_times_come_through_as_meta_sent_them() {
    let meta = channel();
    let out = receive(&meta, &fixture("contract_vector.json"), Signing::With(SECRET), None).unwrap();
    let m = &out.mentions[0];
    assert_eq!(m.text, "Café order #42 still not here 😡 see https://x.co/a");
    assert_eq!(m.created_at, Utc.timestamp_opt(1_449_135_003, 0).unwrap(), "feed times are seconds");
    assert_eq!(m.parent_author_id.as_deref(), Some("1234567890321"), "a comment on the Page's own post");
    let out = receive(&meta, &fixture("messenger.json"), Signing::With(SECRET), None).unwrap();
    assert_eq!(out.mentions[0].created_at, Utc.timestamp_millis_opt(1_785_312_004_523).unwrap(), "messaging is ms");
    assert_eq!(out.mentions[3].text, "[image]");
    let out = receive(&meta, &fixture("feed_two_pages.json"), Signing::With(SECRET), None).unwrap();
    assert_eq!(out.mentions[3].text, "My refund for order 42 never came. Still waiting!", "the edit's text");
    assert_eq!(out.mentions[3].author.name.as_deref(), Some("Ana"), "edits name their author as sender_name");
    assert_ne!(out.mentions[0].queue_deduplication_id(), out.mentions[3].queue_deduplication_id());
    assert_ne!(out.mentions[1].queue_deduplication_id(), out.mentions[4].queue_deduplication_id());
}

#[test]
fn signatures_are_checked_over_the_raw_bytes_and_nothing_is_parsed_before() {
    let meta = channel();
    let body = fixture("contract_vector.json");
    let header = "sha256=244833551678aa36ea3e1ccb269bc972e14ee4c5c7790df24661940424279c92";
    assert_eq!(inbound::sign(SECRET, &body), header);
    assert_eq!(inbound::verify_signature(SECRET, &body, Some(header)), Ok(()));
    // The contract's negative vector: serde writes é and / unescaped, so the hash differs.
    // (The message is the only escaped string; it is re-written as serde writes it, keys in place.)
    let text = String::from_utf8(body.clone()).unwrap();
    let escaped = text.split("\"message\":").nth(1).unwrap().split('}').next().unwrap();
    let unescaped: String = serde_json::from_str(escaped).unwrap();
    let reserialised = text.replace(escaped, &serde_json::to_string(&unescaped).unwrap()).into_bytes();
    assert_eq!(
        inbound::sign(SECRET, &reserialised),
        "sha256=12c9a5997f49a33a161ef9e6855f2d416c6cc4f84b0ad5da1bdb88494bea0a7c"
    );
    assert_eq!(inbound::verify_signature(SECRET, &reserialised, Some(header)), Err(SignatureError::Mismatch));
    // The published cross-check: HMAC-SHA256(secret, test).
    assert_eq!(
        inbound::sign("secret", b"test"),
        "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
    );

    let unauthorized =
        |result: Result<Normalised, InboundError>| matches!(result, Err(InboundError::Unauthenticated(_)));
    assert!(unauthorized(receive(&meta, &body, Signing::Absent, None)));
    assert!(unauthorized(receive(&meta, &body, Signing::Header("sha1=abc"), None)), "the legacy header is not enough");
    assert!(unauthorized(receive(&meta, &body, Signing::Header("sha256=zz"), None)));
    assert!(unauthorized(receive(&meta, &body, Signing::With("guess"), None)));
    assert!(unauthorized(receive(&meta, &reserialised, Signing::Header(header), None)));
    // Signed by the other app, which does not serve these Pages: verified, every entry skipped.
    let out = receive(&meta, &body, Signing::With(OTHER_SECRET), None).unwrap();
    assert!(out.mentions.is_empty() && out.skipped[0].reason.contains("does not serve"), "{:?}", out.skipped);
    // The URL names an app: only its secret counts.
    assert!(unauthorized(receive(&meta, &body, Signing::With(SECRET), Some(OTHER_APP))));
    assert!(receive(&meta, &body, Signing::With(SECRET), Some(APP)).is_ok());
    assert!(unauthorized(receive(&meta, &body, Signing::With(SECRET), Some("777"))));
    assert_eq!(receive(&meta, &body, Signing::With(SECRET), Some("../x")).unwrap_err(), InboundError::InvalidAccount);
    // Garbage that is signed is malformed, not a crash; garbage that is not is unauthorized.
    for garbage in
        [&b"not json"[..], b"{\"object\":\"user\",\"entry\":[]}", b"{\"object\":\"page\",\"entry\":{}}", b"[]"]
    {
        assert!(unauthorized(receive(&meta, garbage, Signing::Absent, None)));
        let signed = receive(&meta, garbage, Signing::With(SECRET), None);
        assert!(matches!(signed, Err(InboundError::Malformed(_))), "{signed:?}");
    }
}

#[test]
fn one_odd_event_costs_only_itself() {
    let meta = channel();
    let body = br#"{"object":"page","entry":[{"id":"1234567890321","changes":[
        {"field":"feed","value":{"item":"comment","verb":"add","comment_id":"1_2","post_id":"1_1","from":{"id":"9"},"message":"bad \ud800"}},
        {"field":"feed","value":{"item":"comment","verb":"add","comment_id":"../../x","post_id":"1_1","from":{"id":"9"},"message":"hi"}},
        {"field":"feed","value":{"item":"comment","verb":"add","comment_id":"1_3","post_id":"1_1","message":"no author"}},
        {"field":"feed","value":{"item":"comment","verb":"add","comment_id":"1_4","post_id":"1_1","from":{"id":"9"},"message":"kept"}},
        "not an object"],
      "messaging":[{"sender":{"id":"9"},"recipient":{"id":"1234567890321"},"message":{"mid":"m_1"}},
                   {"sender":{"id":"1234567890321"},"recipient":{"id":"1234567890321"},"message":{"mid":"m_2","text":"to myself"}}]},
      {"id":"1234567890321","changes":{"not":"a list"}},
      {"id":"1234567890321","changes":[
        {"field":"feed","value":{"item":"comment","verb":"add","comment_id":"1_5","parent_id":"1234567890321","from":{"id":"1234567890321"},"message":"the Page answering itself"}}]}]}"#;
    let out = receive(&meta, body, Signing::With(SECRET), None).unwrap();
    let kept: Vec<&str> = out.mentions.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(kept, vec!["1_4"]);
    assert_eq!(out.skipped.len(), 8, "{:?}", out.skipped);
    assert!(out.skipped[7].reason.contains("its own customer"), "{:?}", out.skipped[7]);
    assert!(out.skipped.iter().all(|s| s.reason.len() < 120 && !s.reason.contains("\\ud800")));
}

#[test]
fn the_handshake_answers_only_our_token_and_only_with_a_number() {
    let meta = channel();
    let challenge = |pairs: &[(&str, &str)], account: Option<&str>| {
        let query: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let headers = http::HeaderMap::new();
        let request = WebhookRequest {
            account,
            query: &query,
            headers: &headers,
            body: b"",
            received_at: Utc::now(),
            request_id: "r",
        };
        meta.answer_challenge(&request)
    };
    let ok = [("hub.mode", "subscribe"), ("hub.verify_token", "hark-verify"), ("hub.challenge", "1158201444")];
    assert_eq!(challenge(&ok, None), Ok(ChallengeAnswer::Text("1158201444".into())));
    assert_eq!(challenge(&ok, Some(APP)), Ok(ChallengeAnswer::Text("1158201444".into())));
    assert!(matches!(challenge(&ok, Some(OTHER_APP)), Err(InboundError::Forbidden(_))), "the other app's token");
    let other = [("hub.mode", "subscribe"), ("hub.verify_token", "other-verify"), ("hub.challenge", "7")];
    assert!(challenge(&other, None).is_ok());
    let wrong = [("hub.mode", "subscribe"), ("hub.verify_token", "hark-verif"), ("hub.challenge", "1")];
    assert!(matches!(challenge(&wrong, None), Err(InboundError::Forbidden(_))));
    for bad in [
        vec![("hub.mode", "unsubscribe"), ("hub.verify_token", "hark-verify"), ("hub.challenge", "1")],
        vec![("hub.mode", "subscribe"), ("hub.verify_token", "hark-verify"), ("hub.challenge", "<script>")],
        vec![("hub.mode", "subscribe"), ("hub.verify_token", "hark-verify")],
    ] {
        assert!(matches!(challenge(&bad, None), Err(InboundError::InvalidChallenge(_))), "{bad:?}");
    }
}
