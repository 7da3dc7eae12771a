//! A source's inbound side, table-driven: each case is a fixture (testdata/), how it is
//! signed, and what must come out (the message as one line, or the refusal). The
//! signatures are the Standard Webhooks spec's own reference vector and the same scheme
//! under a source's key.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::inbound::GenericInbound;
use crate::channels::testing::{fixture, line};
use crate::channels::{Inbound, InboundChannel, InboundError, Normalised, WebhookRequest};
use crate::credentials::Credentials;
use crate::helpdesks::standard_webhooks::{self, EndpointSecret};

const SOURCE: &str = "shop-app";
/// The spec's reference secret, as a source's.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET: &str = "whsec_C2FtcGxlLWtleS1mb3ItdGhlLWxvY2FsLWhlbHAtZGVzayE=";

fn channel() -> GenericInbound {
    let json = serde_json::json!({"sources": {
        SOURCE: {"secret": SECRET, "reply_url": "https://shop.example/hark/replies"},
        "reviews": {"secret": OLD_SECRET, "reply_url": "http://127.0.0.1:9/replies"}}});
    GenericInbound::new(&Credentials::from_json(&json.to_string()).unwrap().sources)
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()
}

/// How a case's request is signed.
enum Signing {
    /// Signed now with these secrets, each signature in the header.
    With(&'static [&'static str]),
    /// Signed with the key, `seconds` off now.
    Skewed(i64),
    /// These exact headers: id, timestamp, signature.
    Headers(&'static str, &'static str, &'static str),
    Unsigned,
}

fn receive(
    channel: &dyn InboundChannel,
    source: Option<&str>,
    id: &str,
    body: &[u8],
    signing: Signing,
    at: DateTime<Utc>,
) -> Result<Normalised, InboundError> {
    let mut headers = http::HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, value.parse().unwrap());
    };
    let sign_all = |secrets: &[&str], ts: i64| {
        secrets
            .iter()
            .map(|s| standard_webhooks::sign(&EndpointSecret::parse(s).unwrap(), id, ts, body))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match signing {
        Signing::With(secrets) => {
            set(standard_webhooks::ID_HEADER, id.to_owned());
            set(standard_webhooks::TIMESTAMP_HEADER, at.timestamp().to_string());
            set(standard_webhooks::SIGNATURE_HEADER, sign_all(secrets, at.timestamp()));
        }
        Signing::Skewed(seconds) => {
            let ts = at.timestamp() + seconds;
            set(standard_webhooks::ID_HEADER, id.to_owned());
            set(standard_webhooks::TIMESTAMP_HEADER, ts.to_string());
            set(standard_webhooks::SIGNATURE_HEADER, sign_all(&[SECRET], ts));
        }
        Signing::Headers(id, ts, signature) => {
            set(standard_webhooks::ID_HEADER, id.to_owned());
            set(standard_webhooks::TIMESTAMP_HEADER, ts.to_owned());
            set(standard_webhooks::SIGNATURE_HEADER, signature.to_owned());
        }
        Signing::Unsigned => {}
    }
    let request = WebhookRequest {
        account: source,
        query: &[],
        headers: &headers,
        body,
        received_at: at,
        request_id: "apigw:test",
    };
    Inbound::receive(channel, &request)
}

struct Case {
    label: &'static str,
    source: Option<&'static str>,
    id: &'static str,
    fixture: &'static str,
    signing: Signing,
    /// The message as one line, a substring of the skip reason, or a substring of the refusal.
    expected: Expect,
}

enum Expect {
    Message(&'static str),
    Skipped(&'static str),
    Unauthenticated(&'static str),
    Malformed(&'static str),
}

#[test]
fn incoming_deliveries() {
    use Expect::*;
    let case = |label, fixture, expected| Case {
        label,
        source: Some(SOURCE),
        id: "msg_2LzTvIFcjJT6kx7Nnd9XZsNp",
        fixture,
        signing: Signing::With(&[SECRET]),
        expected,
    };
    let cases = [
        case(
            "a public review",
            "public_review.json",
            Message("generic shop-app Post Inbound msg_2LzTvIFcjJT6kx7Nnd9XZsNp parent=- customer=c-81 Created"),
        ),
        case(
            "a web form: private by default",
            "private_form.json",
            Message(
                "generic shop-app DirectMessage Inbound msg_2LzTvIFcjJT6kx7Nnd9XZsNp parent=- customer=ana@example.com Created",
            ),
        ),
        case(
            "a public reply in a thread",
            "public_reply.json",
            Message(
                "generic shop-app Reply Inbound msg_2LzTvIFcjJT6kx7Nnd9XZsNp parent=msg_review_1 customer=c-82 Created",
            ),
        ),
        case("another event type is read and left", "other_type.json", Skipped("customer.updated")),
        case("a customer id with a space", "bad_customer.json", Malformed("customer.id")),
        case("no text", "empty_text.json", Malformed("text is 0 characters")),
        case("written an hour from now", "future.json", Malformed("future")),
        case("the source as its own customer", "the_source_itself.json", Skipped("its own customer")),
        case("a field the shape does not have", "unknown_field.json", Malformed("expected shape")),
        case("a field given twice", "duplicate_text.json", Malformed("expected shape")),
        Case {
            label: "a rotated key: the old signature beside the new",
            signing: Signing::With(&[OLD_SECRET, SECRET]),
            ..case(
                "",
                "public_review.json",
                Message("generic shop-app Post Inbound msg_2LzTvIFcjJT6kx7Nnd9XZsNp parent=- customer=c-81 Created"),
            )
        },
        Case {
            label: "another source's key",
            signing: Signing::With(&[OLD_SECRET]),
            ..case("", "public_review.json", Unauthenticated("signature does not match"))
        },
        Case {
            label: "six minutes old",
            signing: Signing::Skewed(-360),
            ..case("", "public_review.json", Unauthenticated("replay window"))
        },
        Case {
            label: "six minutes ahead",
            signing: Signing::Skewed(360),
            ..case("", "public_review.json", Unauthenticated("replay window"))
        },
        Case {
            label: "four minutes old is fine",
            signing: Signing::Skewed(-240),
            ..case(
                "",
                "public_review.json",
                Message("generic shop-app Post Inbound msg_2LzTvIFcjJT6kx7Nnd9XZsNp parent=- customer=c-81 Created"),
            )
        },
        Case {
            label: "unsigned",
            signing: Signing::Unsigned,
            ..case("", "public_review.json", Unauthenticated("webhook-id header is missing"))
        },
        Case {
            label: "a source with no secret",
            source: Some("unknown"),
            ..case("", "public_review.json", Unauthenticated("no secret"))
        },
        Case {
            label: "no source in the URL",
            source: None,
            ..case("", "public_review.json", Unauthenticated("names no source"))
        },
        Case {
            label: "a signed id Hark cannot key on",
            id: "msg.1/../2",
            ..case("", "public_review.json", Malformed("webhook-id"))
        },
    ];
    let channel = channel();
    for case in cases {
        let body = fixture("generic", case.fixture);
        let result = receive(&channel, case.source, case.id, &body, case.signing, now());
        match (case.expected, result) {
            (Message(expected), Ok(n)) => {
                assert_eq!(n.mentions.iter().map(line).collect::<Vec<_>>(), [expected], "{}", case.label);
                assert!(n.skipped.is_empty(), "{}: {:?}", case.label, n.skipped);
            }
            (Skipped(why), Ok(n)) => {
                assert!(n.mentions.is_empty(), "{}", case.label);
                assert!(n.skipped.len() == 1 && n.skipped[0].reason.contains(why), "{}: {:?}", case.label, n.skipped);
            }
            (Unauthenticated(why), Err(InboundError::Unauthenticated(reason))) => {
                assert!(reason.contains(why), "{}: {reason}", case.label)
            }
            (Malformed(why), Err(InboundError::Malformed(reason))) => {
                assert!(reason.contains(why), "{}: {reason}", case.label)
            }
            (_, other) => panic!("{}: {other:?}", case.label),
        }
    }
}

#[test]
fn the_spec_reference_vector_verifies_through_the_channel() {
    // The spec's message and signature, verbatim: it verifies, then its body is refused for
    // what it is (not a message), which is the point: nothing is read before it verifies.
    let at = DateTime::from_timestamp(1_614_265_330, 0).unwrap();
    let body = br#"{"test": 2432232314}"#;
    let signing = Signing::Headers(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    );
    let result = receive(&channel(), Some(SOURCE), "msg_p5jXN8AQM9LWM0D4loKWxJek", body, signing, at);
    assert!(matches!(result, Err(InboundError::Malformed(_))), "{result:?}");
    let tampered = Signing::Headers(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF=",
    );
    let result = receive(&channel(), Some(SOURCE), "msg_p5jXN8AQM9LWM0D4loKWxJek", body, tampered, at);
    assert!(matches!(result, Err(InboundError::Unauthenticated(_))), "{result:?}");
}

#[test]
fn a_message_keeps_what_the_source_said() {
    let body = fixture("generic", "public_review.json");
    let n = receive(&channel(), Some(SOURCE), "msg_1", &body, Signing::With(&[SECRET]), now()).unwrap();
    let m = &n.mentions[0];
    assert_eq!(m.text, "The delivery was two weeks late and nobody answers the phone.");
    assert_eq!(
        (m.author.name.as_deref(), m.author.handle.as_deref(), m.author.followers),
        (Some("Ana Souza"), Some("ana"), Some(120))
    );
    assert_eq!(m.created_at, now() - TimeDelta::seconds(60));
    assert_eq!(m.language.as_deref(), Some("en"));
    assert_eq!(m.raw_ref, "apigw:test#msg_1");
    let handshake = WebhookRequest {
        account: Some(SOURCE),
        query: &[],
        headers: &http::HeaderMap::new(),
        body: b"",
        received_at: now(),
        request_id: "r",
    };
    assert!(matches!(channel().answer_challenge(&handshake), Err(InboundError::InvalidChallenge(_))));
}

#[cfg(feature = "aws")]
mod outbound {
    use serde_json::json;

    use super::super::outbound::{GenericClient, REPLY_CREATED, reply_id};
    use super::*;
    use crate::channels::canned::{Canned, answer, start};
    use crate::domain::mention::Channel;
    use crate::error::Error;
    use crate::ports::{OutboxMessage, OutboxPurpose, ReplySender, ReplyTarget};

    fn message(target: ReplyTarget) -> OutboxMessage {
        OutboxMessage {
            purpose: OutboxPurpose::Acknowledgement,
            record_id: "msg_1".into(),
            channel: Channel::Generic,
            account_id: SOURCE.into(),
            answers_message_id: "msg_1".into(),
            target,
            text: "Sorry, Ana. We're on it ^HK".into(),
            customer_wrote_at: None,
        }
    }

    async fn client(canned: Vec<Canned>) -> (GenericClient, crate::channels::canned::Shared) {
        let (base, server) = start(canned).await;
        let json = json!({"sources": {SOURCE: {"secret": SECRET, "reply_url": format!("{base}/hark/replies")}}});
        (GenericClient::new(&Credentials::from_json(&json.to_string()).unwrap().sources).unwrap(), server)
    }

    #[tokio::test]
    async fn replies_go_to_the_source_signed_and_with_one_id_per_reply() {
        let public = message(ReplyTarget::Post { in_reply_to: "msg_1".into() });
        let private = message(ReplyTarget::Direct { participant_id: "c-81".into() });
        let cases: Vec<(&str, OutboxMessage, Canned, Result<(), &str>)> = vec![
            ("public", public.clone(), answer("POST", "/hark/replies", 204, json!(null)), Ok(())),
            ("private", private.clone(), answer("POST", "/hark/replies", 200, json!({})), Ok(())),
            (
                "asked to wait",
                public.clone(),
                Canned {
                    headers: vec![("retry-after", "90".into())],
                    ..answer("POST", "/hark/replies", 429, json!({}))
                },
                Err("rate 90"),
            ),
            ("down", public.clone(), answer("POST", "/hark/replies", 503, json!({})), Err("unavailable")),
            ("refused", public.clone(), answer("POST", "/hark/replies", 422, json!({})), Err("rejected 422")),
            ("gone", public.clone(), answer("POST", "/hark/replies", 410, json!({})), Err("rejected 410")),
        ];
        for (label, message, canned, expected) in cases {
            let (client, server) = client(vec![canned]).await;
            let result = client.send(&message).await;
            match (&expected, &result) {
                (Ok(()), Ok(id)) => assert_eq!(id, &reply_id(&message), "{label}"),
                (Err("rate 90"), Err(Error::RateLimited { retry_after, .. })) => assert_eq!(retry_after.as_secs(), 90),
                (Err("unavailable"), Err(Error::PlatformUnavailable { .. })) => {}
                (Err(code), Err(Error::PlatformRejected { status, .. })) => {
                    assert!(code.ends_with(&status.to_string()), "{label}")
                }
                _ => panic!("{label}: {result:?}"),
            }
            let server = server.lock().unwrap();
            assert!(server.all_used(), "{label}: the canned answer was not used");
            let got = &server.received[0];
            let header = |name: &str| got.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
            // What a source's own receiver would check.
            let verified = standard_webhooks::verify(
                &EndpointSecret::parse(SECRET).unwrap(),
                header("webhook-id"),
                header("webhook-timestamp"),
                header("webhook-signature"),
                &got.raw,
                Utc::now(),
            );
            assert_eq!(verified, Ok(()), "{label}");
            assert_eq!(header("webhook-id"), Some(reply_id(&message).as_str()), "{label}");
            assert_eq!(got.body["type"], REPLY_CREATED);
            assert_eq!(got.body["data"]["text"], "Sorry, Ana. We're on it ^HK");
            assert_eq!(got.body["data"]["in_reply_to"], "msg_1");
        }
        assert_ne!(
            reply_id(&public),
            reply_id(&OutboxMessage {
                record_id: "other".into(),
                purpose: OutboxPurpose::AgentReply,
                ..public.clone()
            })
        );
        let (client, _) = client(vec![]).await;
        let unknown = OutboxMessage { account_id: "gone-app".into(), ..public };
        assert!(matches!(client.send(&unknown).await, Err(Error::Config(_))));
        let meta_target = message(ReplyTarget::PrivateReply { comment_id: "1".into() });
        assert!(matches!(client.send(&meta_target).await, Err(Error::Invalid(_))));
    }
}

#[test]
fn two_sources_may_use_the_same_ids() {
    let body = fixture("generic", "private_form.json");
    let channel = channel();
    let ours = receive(&channel, Some(SOURCE), "msg_1", &body, Signing::With(&[SECRET]), now()).unwrap();
    let theirs = receive(&channel, Some("reviews"), "msg_1", &body, Signing::With(&[OLD_SECRET]), now()).unwrap();
    assert_ne!(ours.mentions[0].queue_deduplication_id(), theirs.mentions[0].queue_deduplication_id());
}
