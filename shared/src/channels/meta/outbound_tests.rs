//! The Graph API client, table-driven: each case is a message (or a lookup), the answers a
//! canned Graph server gives by method and path, the requests it must have received, and
//! the result. A canned answer left unused fails the case, and no token may appear in what
//! the client recorded.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::outbound::MetaClient;
use crate::adapters::http::ExchangeLog;
use crate::channels::canned::{Canned, Shared, answer};
use crate::credentials::Credentials;
use crate::domain::mention::{Author, Channel, Direction, Mention, MentionKind, TextSource};
use crate::error::Error;
use crate::ports::{OutboxMessage, OutboxPurpose, ReplySender, ReplyTarget, TextFetcher};

const PAGE: &str = "1234567890321";
const IG: &str = "17841400000000001";
const TOKEN: &str = "page-token-secret-4f1c";

async fn graph(canned: Vec<Canned>) -> (MetaClient, Shared) {
    let (base, state) = crate::channels::canned::start(canned).await;
    let credentials = Credentials::from_json(
        &json!({"meta": {"apps": {"555": {"app_secret": "s", "verify_token": "v"}},
            "accounts": {PAGE: {"app_id": "555", "access_token": TOKEN},
                         IG: {"app_id": "555", "access_token": TOKEN, "page_id": PAGE}}}})
        .to_string(),
    )
    .unwrap();
    (MetaClient::new(&base, "v26.0", &credentials.meta, ExchangeLog::keeping()).unwrap(), state)
}

fn message(channel: Channel, account: &str, target: ReplyTarget) -> OutboxMessage {
    OutboxMessage {
        purpose: OutboxPurpose::Acknowledgement,
        record_id: "m".into(),
        channel,
        account_id: account.to_owned(),
        answers_message_id: "m".into(),
        target,
        text: "Sorry about this, Ana. Looking into it now ^HK".into(),
        customer_wrote_at: None,
    }
}

/// What an agent wrote, `hours` after the customer's last message.
fn agent_reply(channel: Channel, account: &str, target: ReplyTarget, hours: i64) -> OutboxMessage {
    OutboxMessage {
        purpose: OutboxPurpose::AgentReply,
        record_id: "key-1".into(),
        customer_wrote_at: Some(chrono::Utc::now() - chrono::TimeDelta::hours(hours)),
        ..message(channel, account, target)
    }
}

/// What a case expects back: the created id, or the kind of error.
#[derive(Debug, PartialEq)]
enum Outcome {
    Id(&'static str),
    Found(Option<&'static str>),
    RateLimited(u64),
    Credentials,
    Rejected(&'static str),
    WindowClosed,
    Unknown,
    Invalid,
}

fn outcome<T: std::fmt::Debug>(result: &Result<T, Error>) -> String {
    match result {
        Ok(value) => format!("{value:?}"),
        Err(Error::RateLimited { retry_after, .. }) => format!("{:?}", Outcome::RateLimited(retry_after.as_secs())),
        Err(Error::CredentialsRejected { .. }) => format!("{:?}", Outcome::Credentials),
        Err(Error::PlatformOutcomeUnknown { .. }) => format!("{:?}", Outcome::Unknown),
        Err(Error::WindowClosed { .. }) => format!("{:?}", Outcome::WindowClosed),
        Err(Error::Invalid(_)) => format!("{:?}", Outcome::Invalid),
        Err(other) => format!("other: {other}"),
    }
}

fn expected(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Id(id) => format!("{:?}", id.to_string()),
        Outcome::Found(found) => format!("{:?}", found.map(str::to_owned)),
        other => format!("{other:?}"),
    }
}

struct SendCase {
    label: &'static str,
    message: OutboxMessage,
    canned: Vec<Canned>,
    /// (method, path, a key of the body or query that must hold this value).
    requests: Vec<(&'static str, String, &'static str, Value)>,
    outcome: Outcome,
}

fn check_exchanges(client: &MetaClient, label: &str) {
    for exchange in client.exchanges() {
        let printed = format!("{exchange:?}");
        assert!(!printed.contains(TOKEN), "{label}: a token in the recorded exchange");
    }
}

#[tokio::test]
async fn outgoing_sends() {
    let text = "Sorry about this, Ana. Looking into it now ^HK";
    let throttled = Canned {
        headers: vec![(
            "x-business-use-case-usage",
            json!({PAGE: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 7}]}).to_string(),
        )],
        ..answer(
            "POST",
            "/v26.0/901_903/comments",
            400,
            json!({"error": {"message": "Page request limit reached", "code": 32}}),
        )
    };
    let cases = vec![
        SendCase {
            label: "a Facebook comment reply",
            message: message(Channel::Facebook, PAGE, ReplyTarget::Post { in_reply_to: "901_903".into() }),
            canned: vec![answer("POST", "/v26.0/901_903/comments", 200, json!({"id": "901_999"}))],
            requests: vec![("POST", "/v26.0/901_903/comments".into(), "message", json!(text))],
            outcome: Outcome::Id("901_999"),
        },
        SendCase {
            label: "an Instagram reply",
            message: message(Channel::Instagram, IG, ReplyTarget::Post { in_reply_to: "17865799348089039".into() }),
            canned: vec![answer("POST", "/v26.0/17865799348089039/replies", 200, json!({"id": "17865799348089099"}))],
            requests: vec![("POST", "/v26.0/17865799348089039/replies".into(), "message", json!(text))],
            outcome: Outcome::Id("17865799348089099"),
        },
        SendCase {
            label: "a reply to an Instagram @mention",
            message: message(
                Channel::Instagram,
                IG,
                ReplyTarget::InstagramMention {
                    media_id: "17918195224117999".into(),
                    comment_id: Some("17894227972186120".into()),
                },
            ),
            canned: vec![answer("POST", "/v26.0/17841400000000001/mentions", 200, json!({"id": "17894227972186199"}))],
            requests: vec![("POST", format!("/v26.0/{IG}/mentions"), "comment_id", json!("17894227972186120"))],
            outcome: Outcome::Id("17894227972186199"),
        },
        SendCase {
            label: "a Messenger answer inside the window",
            message: message(Channel::Facebook, PAGE, ReplyTarget::Direct { participant_id: "24001".into() }),
            canned: vec![answer(
                "POST",
                "/v26.0/1234567890321/messages",
                200,
                json!({"recipient_id": "24001", "message_id": "m_1"}),
            )],
            requests: vec![("POST", format!("/v26.0/{PAGE}/messages"), "messaging_type", json!("RESPONSE"))],
            outcome: Outcome::Id("m_1"),
        },
        SendCase {
            label: "an agent's Messenger reply on the same day is a response",
            message: agent_reply(Channel::Facebook, PAGE, ReplyTarget::Direct { participant_id: "24001".into() }, 2),
            canned: vec![answer(
                "POST",
                "/v26.0/1234567890321/messages",
                200,
                json!({"recipient_id": "24001", "message_id": "m_2"}),
            )],
            requests: vec![("POST", format!("/v26.0/{PAGE}/messages"), "messaging_type", json!("RESPONSE"))],
            outcome: Outcome::Id("m_2"),
        },
        SendCase {
            label: "an agent's Instagram reply two days on carries the HUMAN_AGENT tag",
            message: agent_reply(Channel::Instagram, IG, ReplyTarget::Direct { participant_id: "33001".into() }, 48),
            canned: vec![answer(
                "POST",
                "/v26.0/1234567890321/messages",
                200,
                json!({"recipient_id": "33001", "message_id": "m_3"}),
            )],
            requests: vec![("POST", format!("/v26.0/{PAGE}/messages"), "messaging_type", json!("MESSAGE_TAG"))],
            outcome: Outcome::Id("m_3"),
        },
        SendCase {
            label: "an Instagram DM goes through the linked Page",
            message: message(Channel::Instagram, IG, ReplyTarget::Direct { participant_id: "33001".into() }),
            canned: vec![answer(
                "POST",
                "/v26.0/1234567890321/messages",
                200,
                json!({"recipient_id": "33001", "message_id": "aWdf_1"}),
            )],
            requests: vec![("POST", format!("/v26.0/{PAGE}/messages"), "recipient", json!({"id": "33001"}))],
            outcome: Outcome::Id("aWdf_1"),
        },
        SendCase {
            label: "a private reply to a public comment",
            message: message(Channel::Facebook, PAGE, ReplyTarget::PrivateReply { comment_id: "901_903".into() }),
            canned: vec![answer(
                "POST",
                "/v26.0/1234567890321/messages",
                200,
                json!({"recipient_id": "5566778899", "message_id": "m_2"}),
            )],
            requests: vec![("POST", format!("/v26.0/{PAGE}/messages"), "recipient", json!({"comment_id": "901_903"}))],
            outcome: Outcome::Id("m_2"),
        },
        SendCase {
            label: "throttled by code 32, waiting what the usage header says",
            message: message(Channel::Facebook, PAGE, ReplyTarget::Post { in_reply_to: "901_903".into() }),
            canned: vec![throttled],
            requests: vec![("POST", "/v26.0/901_903/comments".into(), "message", json!(text))],
            outcome: Outcome::RateLimited(420),
        },
        SendCase {
            label: "a plain 429 waits the default",
            message: message(Channel::Facebook, PAGE, ReplyTarget::Post { in_reply_to: "901_903".into() }),
            canned: vec![answer("POST", "/v26.0/901_903/comments", 429, json!({}))],
            requests: vec![("POST", "/v26.0/901_903/comments".into(), "message", json!(text))],
            outcome: Outcome::RateLimited(300),
        },
        SendCase {
            label: "an expired Page token",
            message: message(Channel::Facebook, PAGE, ReplyTarget::Post { in_reply_to: "901_903".into() }),
            canned: vec![answer(
                "POST",
                "/v26.0/901_903/comments",
                400,
                json!({"error": {"message": "Session has expired", "code": 190}}),
            )],
            requests: vec![("POST", "/v26.0/901_903/comments".into(), "message", json!(text))],
            outcome: Outcome::Credentials,
        },
        SendCase {
            label: "outside the 24-hour window",
            message: message(Channel::Facebook, PAGE, ReplyTarget::Direct { participant_id: "24001".into() }),
            canned: vec![answer(
                "POST",
                "/v26.0/1234567890321/messages",
                400,
                json!({"error": {"message": "This message is sent outside of allowed window.", "code": 10, "error_subcode": 2018278}}),
            )],
            requests: vec![("POST", format!("/v26.0/{PAGE}/messages"), "messaging_type", json!("RESPONSE"))],
            outcome: Outcome::WindowClosed,
        },
        SendCase {
            label: "a 500 may hide a reply that was made",
            message: message(Channel::Facebook, PAGE, ReplyTarget::Post { in_reply_to: "901_903".into() }),
            canned: vec![answer(
                "POST",
                "/v26.0/901_903/comments",
                500,
                json!({"error": {"message": "unknown", "code": 1}}),
            )],
            requests: vec![("POST", "/v26.0/901_903/comments".into(), "message", json!(text))],
            outcome: Outcome::Unknown,
        },
        SendCase {
            label: "already replied privately: the customer has their one private reply",
            message: message(Channel::Facebook, PAGE, ReplyTarget::PrivateReply { comment_id: "901_903".into() }),
            canned: vec![answer(
                "POST",
                "/v26.0/1234567890321/messages",
                400,
                json!({"error": {"message": "Activity already replied to", "code": 10900}}),
            )],
            requests: vec![("POST", format!("/v26.0/{PAGE}/messages"), "recipient", json!({"comment_id": "901_903"}))],
            outcome: Outcome::Id("private-reply:901_903"),
        },
        SendCase {
            label: "a private reply to a visitor post",
            message: message(
                Channel::Facebook,
                PAGE,
                ReplyTarget::PrivateReplyToPost { post_id: "1234567890321_77".into() },
            ),
            canned: vec![answer(
                "POST",
                "/v26.0/1234567890321/messages",
                200,
                json!({"recipient_id": "5566778899", "message_id": "m_3"}),
            )],
            requests: vec![(
                "POST",
                format!("/v26.0/{PAGE}/messages"),
                "recipient",
                json!({"post_id": "1234567890321_77"}),
            )],
            outcome: Outcome::Id("m_3"),
        },
        SendCase {
            label: "an already-replied that is not a private reply may be ours: looked for",
            message: message(Channel::Facebook, PAGE, ReplyTarget::Post { in_reply_to: "901_903".into() }),
            canned: vec![answer(
                "POST",
                "/v26.0/901_903/comments",
                400,
                json!({"error": {"message": "You already replied to this", "code": 368}}),
            )],
            requests: vec![("POST", "/v26.0/901_903/comments".into(), "message", json!(text))],
            outcome: Outcome::Unknown,
        },
        SendCase {
            label: "a refusal is final",
            message: message(Channel::Facebook, PAGE, ReplyTarget::Post { in_reply_to: "901_903".into() }),
            canned: vec![answer(
                "POST",
                "/v26.0/901_903/comments",
                400,
                json!({"error": {"message": "(#100) Invalid parameter", "code": 100}}),
            )],
            requests: vec![("POST", "/v26.0/901_903/comments".into(), "message", json!(text))],
            outcome: Outcome::Rejected("Invalid parameter"),
        },
        SendCase {
            label: "an id that is not a Graph id is never put in a path",
            message: message(Channel::Facebook, PAGE, ReplyTarget::Post { in_reply_to: "../me/feed".into() }),
            canned: vec![],
            requests: vec![],
            outcome: Outcome::Invalid,
        },
    ];
    for case in cases {
        let (client, server) = graph(case.canned).await;
        let result = client.send(&case.message).await;
        match &case.outcome {
            Outcome::Rejected(words) => match &result {
                Err(Error::PlatformRejected { message, .. }) => {
                    assert!(message.contains(words), "{}: {message}", case.label)
                }
                other => panic!("{}: {other:?}", case.label),
            },
            wanted => assert_eq!(outcome(&result), expected(wanted), "{}", case.label),
        }
        let server = server.lock().unwrap();
        assert!(server.canned.iter().all(|(_, used)| *used), "{}: a canned answer was not used", case.label);
        assert_eq!(server.received.len(), case.requests.len(), "{}: {:?}", case.label, server.received);
        for (got, (method, path, key, value)) in server.received.iter().zip(&case.requests) {
            assert_eq!((got.method.as_str(), got.path.as_str()), (*method, path.as_str()), "{}", case.label);
            assert_eq!(&got.body[*key], value, "{}: {:?}", case.label, got.body);
            assert_eq!(got.authorization, format!("Bearer {TOKEN}"), "{}", case.label);
            assert!(!got.query.contains(TOKEN), "{}: the token never goes in a URL", case.label);
        }
        check_exchanges(&client, case.label);
    }
}

#[tokio::test]
async fn lookups_settle_what_an_unknown_outcome_hid() {
    let text = "Sorry about this, Ana. Looking into it now ^HK";
    let window = crate::ports::SendWindow { from: chrono::Utc::now(), until: chrono::Utc::now() };
    let cases: Vec<(&str, OutboxMessage, Canned, Outcome)> = vec![
        (
            "our comment reply is there",
            message(Channel::Facebook, PAGE, ReplyTarget::Post { in_reply_to: "901_903".into() }),
            answer(
                "GET",
                "/v26.0/901_903/comments",
                200,
                json!({"data": [
                {"id": "901_998", "message": text, "from": {"id": "5566778899"}},
                {"id": "901_999", "message": text, "from": {"id": PAGE}}]}),
            ),
            Outcome::Found(Some("901_999")),
        ),
        (
            "our DM is not in the conversation",
            message(Channel::Facebook, PAGE, ReplyTarget::Direct { participant_id: "24001".into() }),
            answer(
                "GET",
                "/v26.0/1234567890321/conversations",
                200,
                json!({"data": [{"messages": {"data": [
                {"id": "m_0", "message": "Hello?", "from": {"id": "24001"}}]}}]}),
            ),
            Outcome::Found(None),
        ),
        (
            "an Instagram reply is there",
            message(Channel::Instagram, IG, ReplyTarget::Post { in_reply_to: "17865799348089039".into() }),
            answer(
                "GET",
                "/v26.0/17865799348089039/replies",
                200,
                json!({"data": [
                {"id": "17865799348089099", "text": text, "from": {"id": IG, "username": "acme"}}]}),
            ),
            Outcome::Found(Some("17865799348089099")),
        ),
        (
            "the comment can no longer be answered privately: it was",
            message(Channel::Facebook, PAGE, ReplyTarget::PrivateReply { comment_id: "901_903".into() }),
            answer("GET", "/v26.0/901_903", 200, json!({"can_reply_privately": false, "id": "901_903"})),
            Outcome::Found(Some("private-reply:901_903")),
        ),
    ];
    for (label, message, canned, wanted) in cases {
        let (client, server) = graph(vec![canned]).await;
        let result = client.find_sent(&message, window).await;
        assert_eq!(outcome(&result), expected(&wanted), "{label}");
        assert!(server.lock().unwrap().canned.iter().all(|(_, used)| *used), "{label}: unused answer");
        check_exchanges(&client, label);
    }
}

#[tokio::test]
async fn an_instagram_mention_s_text_is_fetched() {
    let (client, server) = graph(vec![answer(
        "GET",
        "/v26.0/17841400000000001",
        200,
        json!({"mentioned_comment": {"id": "17894227972186120", "text": "@acme my parcel is lost", "username": "ana.b",
            "timestamp": "2026-11-22T10:00:00+0000"}, "id": IG}),
    )])
    .await;
    let mention = Mention {
        channel: Channel::Instagram,
        account_id: IG.into(),
        direction: Direction::Inbound,
        kind: MentionKind::Reply,
        message_id: "17894227972186120".into(),
        parent_id: Some("17918195224117999".into()),
        parent_author_id: None,
        quoted_id: None,
        author: Author { id: String::new(), handle: None, name: None, followers: None, verified: false },
        customer_id: "mention:17894227972186120".into(),
        text: String::new(),
        language: None,
        created_at: chrono::Utc::now(),
        received_at: chrono::Utc::now(),
        raw_ref: "r".into(),
        action: Default::default(),
        standby: false,
        automated: None,
        text_source: Some(TextSource::InstagramMention {
            media_id: "17918195224117999".into(),
            comment_id: Some("17894227972186120".into()),
        }),
        listening: false,
    };
    let fetched = client.fetch_text(&mention).await.unwrap();
    assert_eq!(fetched.text, "@acme my parcel is lost");
    assert_eq!(fetched.author_handle.as_deref(), Some("ana.b"));
    let received = server.lock().unwrap().received.clone();
    assert!(
        received[0].query.contains("mentioned_comment.comment_id%2817894227972186120%29"),
        "{:?}",
        received[0].query
    );
}

#[tokio::test]
async fn only_direct_messages_wait_for_the_messaging_window() {
    let (client, _) = graph(vec![]).await;
    let direct = message(Channel::Facebook, PAGE, ReplyTarget::Direct { participant_id: "24001".into() });
    let window = client.window(&direct).expect("a DM has a window");
    assert!(window < chrono::TimeDelta::hours(24) && window >= chrono::TimeDelta::hours(23), "{window}");
    for target in [
        ReplyTarget::Post { in_reply_to: "901_903".into() },
        ReplyTarget::PrivateReply { comment_id: "901_903".into() },
    ] {
        assert_eq!(client.window(&message(Channel::Facebook, PAGE, target)), None);
    }
    // A person's reply may go out for 7 days, tagged once the standard window is past;
    // an acknowledgement never is, however late.
    let target = ReplyTarget::Direct { participant_id: "24001".into() };
    let person = agent_reply(Channel::Facebook, PAGE, target.clone(), 30);
    let window = client.window(&person).expect("a DM has a window");
    assert!(window > chrono::TimeDelta::days(6) && window < chrono::TimeDelta::days(7), "{window}");
    let now = chrono::Utc::now();
    assert!(super::outbound::needs_human_agent_tag(&person, now));
    assert!(!super::outbound::needs_human_agent_tag(&agent_reply(Channel::Facebook, PAGE, target.clone(), 1), now));
    let late_ack = OutboxMessage { customer_wrote_at: Some(now - chrono::TimeDelta::hours(30)), ..direct };
    assert!(!super::outbound::needs_human_agent_tag(&late_ack, now));
}

#[tokio::test]
async fn a_refused_token_is_replaced_from_the_credentials_once_and_the_call_made_again() {
    let refused =
        json!({"error": {"message": "Error validating access token: The session has been invalidated", "code": 190}});
    let (client, server) = graph(vec![
        answer("POST", "/v26.0/901_903/comments", 400, refused.clone()),
        answer("POST", "/v26.0/901_903/comments", 200, json!({"id": "901_999"})),
        answer("POST", "/v26.0/901_904/comments", 400, refused.clone()),
    ])
    .await;
    let reads = Arc::new(Mutex::new(0));
    let counter = reads.clone();
    let client = client.reloading(Arc::new(move || {
        *counter.lock().unwrap() += 1;
        let json = json!({"meta": {"apps": {"555": {"app_secret": "s", "verify_token": "v"}},
            "accounts": {PAGE: {"app_id": "555", "access_token": "page-token-renewed-77"}}}});
        Box::pin(async move { Ok(Credentials::from_json(&json.to_string())?.meta) })
    }));
    let reply = message(Channel::Facebook, PAGE, ReplyTarget::Post { in_reply_to: "901_903".into() });
    assert_eq!(client.send(&reply).await.unwrap(), "901_999");
    let received = server.lock().unwrap().received.clone();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].authorization, format!("Bearer {TOKEN}"));
    assert_eq!(received[1].authorization, "Bearer page-token-renewed-77", "the renewed token, once");
    // Refused again within the minute: not read again, and reported for ops.
    let other = message(Channel::Facebook, PAGE, ReplyTarget::Post { in_reply_to: "901_904".into() });
    assert_eq!(outcome(&client.send(&other).await), expected(&Outcome::Credentials));
    assert_eq!(*reads.lock().unwrap(), 1);
    let printed = format!("{:?}", client.exchanges());
    assert!(!printed.contains("page-token-renewed-77") && !printed.contains(TOKEN), "{printed}");
}
