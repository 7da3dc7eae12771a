//! LinkedIn's inbound side, table-driven: the contract's vectors (challenge, both readings
//! of `X-LI-Signature`), and each fixture's notifications as one line each, with the
//! reasons for what was skipped.

use chrono::{TimeZone, Utc};

use super::inbound::{self, LinkedInInbound, SignatureError, SignatureVariant};
use crate::channels::testing::{fixture, line};
use crate::channels::{ChallengeAnswer, Inbound, InboundChannel, InboundError, Normalised, WebhookRequest};
use crate::credentials::Credentials;

const SECRET: &str = "hark_test_client_secret";
const ORG: &str = "96072893";
const VARIANT_A: &str = "c71f87c84f37885bbca6e1170e8f09e2b0437b9b4ef7fea56513d228373e0740";
const VARIANT_B: &str = "307e1205a58494ec72fd40cf4931cd7a2ad53a58b82643aabaacf4b6e917fc73";

fn channel() -> LinkedInInbound {
    let json =
        serde_json::json!({"linkedin": {"client_secret": SECRET, "organizations": {ORG: {"access_token": "t"}}}});
    LinkedInInbound::new(Credentials::from_json(&json.to_string()).unwrap().linkedin.as_ref())
}

fn request<'a>(headers: &'a http::HeaderMap, query: &'a [(String, String)], body: &'a [u8]) -> WebhookRequest<'a> {
    WebhookRequest {
        account: None,
        query,
        headers,
        body,
        received_at: Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap(),
        request_id: "apigw:test",
    }
}

fn receive(channel: &LinkedInInbound, body: &[u8], signature: Option<&str>) -> Result<Normalised, InboundError> {
    let mut headers = http::HeaderMap::new();
    if let Some(signature) = signature {
        headers.insert(inbound::SIGNATURE_HEADER, signature.parse().unwrap());
    }
    Inbound::receive(channel, &request(&headers, &[], body))
}

#[test]
fn the_contract_vectors() {
    let body = fixture("linkedin", "contract_vector.json");
    assert_eq!(body.len(), 382);
    assert_eq!(inbound::sign(SECRET, SignatureVariant::Prefixed, &body), VARIANT_A);
    assert_eq!(inbound::sign(SECRET, SignatureVariant::BodyOnly, &body), VARIANT_B);
    let prefixed_b = format!("hmacsha256={VARIANT_B}");
    let upper_a = format!("HMACSHA256={}", VARIANT_A.to_uppercase());
    let cases: [(Option<&str>, Result<SignatureVariant, SignatureError>); 7] = [
        (Some(VARIANT_A), Ok(SignatureVariant::Prefixed)),
        (Some(VARIANT_B), Ok(SignatureVariant::BodyOnly)),
        (Some(&prefixed_b), Ok(SignatureVariant::BodyOnly)),
        (Some(&upper_a), Ok(SignatureVariant::Prefixed)),
        (Some("307e1205a58494ec72fd40cf4931cd7a2ad53a58b82643aabaacf4b6e917fc74"), Err(SignatureError::Mismatch)),
        (Some("sha256=307e1205"), Err(SignatureError::Malformed)),
        (None, Err(SignatureError::Missing)),
    ];
    for (header, expected) in cases {
        assert_eq!(inbound::verify_signature(SECRET, &body, header), expected, "{header:?}");
    }
    let mut altered = body.clone();
    altered[100] ^= 1;
    assert_eq!(inbound::verify_signature(SECRET, &altered, Some(VARIANT_A)), Err(SignatureError::Mismatch));

    let n = receive(&channel(), &body, Some(VARIANT_A)).unwrap();
    assert_eq!(
        n.mentions.iter().map(line).collect::<Vec<_>>(),
        [
            "linkedin 96072893 Reply Inbound comment:activity:7094637247890620418:7094977717598625792 parent=activity:7094637247890620418 customer=commenter:7094977717598625792 Created fetch-text"
        ]
    );
    assert_eq!(n.mentions[0].created_at, Utc.timestamp_millis_opt(1_691_574_506_310).unwrap());
    assert_eq!(n.mentions[0].raw_ref, "apigw:test#n0:5603453321");
}

#[test]
fn the_challenge_signs_uuids_and_nothing_else() {
    let headers = http::HeaderMap::new();
    let ask = |code: &str| {
        let query = [("challengeCode".to_owned(), code.to_owned())];
        channel().answer_challenge(&request(&headers, &query, b""))
    };
    assert_eq!(
        ask("890e4665-4dfe-4ab1-b689-ed553bceeed0"),
        Ok(ChallengeAnswer::Json(serde_json::json!({
            "challengeCode": "890e4665-4dfe-4ab1-b689-ed553bceeed0",
            "challengeResponse": "2527a4cdf7b9583575b04ff6898a5f6a726a4960a117c1034530b5b835b51f0f"
        })))
    );
    // The answer is the MAC a body-only signature would be: a body sent as a challenge
    // would come back signed.
    let body = String::from_utf8(fixture("linkedin", "contract_vector.json")).unwrap();
    for code in [
        body.as_str(),
        "hmacsha256={}",
        "",
        "890e4665-4dfe-4ab1-b689-ed553bceeed",
        "890e4665-4dfe-4ab1-b689-ed553bceeedz",
    ] {
        assert!(matches!(ask(code), Err(InboundError::InvalidChallenge(_))), "{code:?}");
    }
    let none = LinkedInInbound::new(None);
    let query = [("challengeCode".to_owned(), "890e4665-4dfe-4ab1-b689-ed553bceeed0".to_owned())];
    assert!(matches!(none.answer_challenge(&request(&headers, &query, b"")), Err(InboundError::Unauthenticated(_))));
    let body = fixture("linkedin", "contract_vector.json");
    assert!(
        matches!(receive(&none, &body, Some(VARIANT_A)), Err(InboundError::Unauthenticated(_))),
        "no secret, no trust"
    );
}

#[test]
fn a_batch_of_social_actions() {
    let body = fixture("linkedin", "social_actions.json");
    let signature = inbound::sign(SECRET, SignatureVariant::Prefixed, &body);
    let n = receive(&channel(), &body, Some(&signature)).unwrap();
    let post = "activity:7094637247890620418";
    let first = "comment:activity:7094637247890620418:7094977717598625792";
    let second = "comment:activity:7094637247890620418:7094977717598625800";
    assert_eq!(
        n.mentions.iter().map(line).collect::<Vec<_>>(),
        [
            format!("linkedin {ORG} Reply Inbound {first} parent={post} customer=person:AbC123 Created"),
            format!("linkedin {ORG} Reply Inbound {second} parent={first} customer=person:XyZ789 Created"),
            format!(
                "linkedin {ORG} Reply Outbound comment:activity:7094637247890620418:7094977717598625900 parent={first} customer={first} Created"
            ),
            format!(
                "linkedin {ORG} Reply Outbound comment:activity:7094637247890620418:7094977717598626000 parent={post} customer={post} Created"
            ),
            format!(
                "linkedin {ORG} Reply Inbound {first} parent={post} customer=commenter:7094977717598625792 Edited fetch-text"
            ),
            format!(
                "linkedin {ORG} Reply Inbound {second} parent={post} customer=commenter:7094977717598625800 Removed"
            ),
            format!("linkedin {ORG} Post Inbound share:7094637247487999999 parent=- customer=person:Mnop42 Created"),
        ]
    );
    assert_eq!(n.mentions[0].text, "Is this available in EU?");
    let parent_authors: Vec<Option<&str>> = n.mentions.iter().map(|m| m.parent_author_id.as_deref()).collect();
    assert_eq!(
        parent_authors,
        [Some(ORG), None, None, Some(ORG), Some(ORG), Some(ORG), None],
        "a top-level comment answers the organisation's post; a reply answers a comment"
    );
    assert_eq!(n.mentions[6].text, "Three weeks waiting for @Acme to ship my order");
    let reasons: Vec<&str> = n.skipped.iter().map(|s| s.reason.as_str()).collect();
    let expected = ["LIKE", "organisation 11111111 is not one Hark serves", "no comment URN", "expected shape"];
    assert_eq!(reasons.len(), expected.len(), "{reasons:?}");
    for (reason, words) in reasons.iter().zip(expected) {
        assert!(reason.contains(words), "{reason} should say {words}");
    }
    assert_eq!(n.skipped.iter().filter(|s| s.malformed).count(), 2);
}

#[test]
fn envelopes_that_are_not_social_actions_are_refused() {
    for body in [
        &br#"{"type":"SOMETHING_ELSE","notifications":[]}"#[..],
        br#"{"type":"ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS","notifications":{}}"#,
        br#"{"type":"ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS","type":"ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS","notifications":[]}"#,
        b"[]",
    ] {
        let signature = inbound::sign(SECRET, SignatureVariant::BodyOnly, body);
        assert!(matches!(receive(&channel(), body, Some(&signature)), Err(InboundError::Malformed(_))), "{:?}", String::from_utf8_lossy(body));
    }
}

#[cfg(feature = "aws")]
mod outbound {
    use chrono::TimeDelta;
    use serde_json::json;

    use super::*;
    use crate::adapters::http::ExchangeLog;
    use crate::channels::canned::{Canned, Shared, answer, start};
    use crate::channels::linkedin::outbound::{DEFAULT_VERSION, LinkedInClient, throttle_wait};
    use crate::domain::mention::{Channel, TextSource};
    use crate::error::Error;
    use crate::ports::{OutboxMessage, OutboxPurpose, ReplySender, ReplyTarget};

    const TOKEN: &str = "li-token-secret-93ab";
    const POST: &str = "activity:7094637247890620418";
    const COMMENT: &str = "comment:activity:7094637247890620418:7094977717598625792";
    const POST_PATH: &str = "/rest/socialActions/urn%3Ali%3Aactivity%3A7094637247890620418/comments";
    const COMMENT_PATH: &str = "/rest/socialActions/urn%3Ali%3Acomment%3A%28urn%3Ali%3Aactivity%3A7094637247890620418%2C7094977717598625792%29/comments";

    async fn client(canned: Vec<Canned>) -> (LinkedInClient, Shared) {
        let (base, server) = start(canned).await;
        let json = json!({"linkedin": {"client_secret": SECRET, "organizations": {ORG: {"access_token": TOKEN}}}});
        let credentials = Credentials::from_json(&json.to_string()).unwrap();
        (
            LinkedInClient::new(&base, DEFAULT_VERSION, credentials.linkedin.as_ref(), ExchangeLog::keeping()).unwrap(),
            server,
        )
    }

    fn reply(in_reply_to: &str) -> OutboxMessage {
        OutboxMessage {
            purpose: OutboxPurpose::Acknowledgement,
            record_id: "m".into(),
            channel: Channel::LinkedIn,
            account_id: ORG.into(),
            answers_message_id: in_reply_to.into(),
            target: ReplyTarget::Post { in_reply_to: in_reply_to.into() },
            text: "Thanks for asking! It is, since March ^HK".into(),
            customer_wrote_at: None,
        }
    }

    fn created(path: &'static str, n: &str) -> Canned {
        answer(
            "POST",
            path,
            201,
            json!({"$URN": format!("urn:li:comment:(urn:li:activity:7094637247890620418,{n})"), "id": n}),
        )
    }

    #[tokio::test]
    async fn answers_are_comments_as_the_organisation() {
        let text = "Thanks for asking! It is, since March ^HK";
        let day_limit = json!({"status": 429, "message": "Resource level throttle APPLICATION DAY limit for calls to this resource is reached."});
        type Case = (&'static str, OutboxMessage, Vec<Canned>, Result<&'static str, &'static str>);
        let cases: Vec<Case> = vec![
            (
                "a comment on a post",
                reply(POST),
                vec![created(POST_PATH, "901")],
                Ok("comment:activity:7094637247890620418:901"),
            ),
            (
                "a reply under a comment",
                reply(COMMENT),
                vec![created(COMMENT_PATH, "902")],
                Ok("comment:activity:7094637247890620418:902"),
            ),
            (
                "the id in the header",
                reply(POST),
                vec![Canned {
                    headers: vec![("x-restli-id", "urn:li:comment:(urn:li:activity:7094637247890620418,903)".into())],
                    ..answer("POST", POST_PATH, 201, json!(null))
                }],
                Ok("comment:activity:7094637247890620418:903"),
            ),
            ("the daily quota", reply(POST), vec![answer("POST", POST_PATH, 429, day_limit)], Err("midnight")),
            (
                "a short throttle",
                reply(POST),
                vec![answer("POST", POST_PATH, 429, json!({"status": 429}))],
                Err("a minute"),
            ),
            (
                "a token refused",
                reply(POST),
                vec![answer("POST", POST_PATH, 401, json!({"message": "Invalid access token"}))],
                Err("credentials"),
            ),
            ("a 5xx after the write", reply(POST), vec![answer("POST", POST_PATH, 500, json!({}))], Err("unknown")),
            (
                "refused",
                reply(POST),
                vec![answer("POST", POST_PATH, 422, json!({"message": "Comment too long"}))],
                Err("rejected"),
            ),
            ("created, but no id", reply(POST), vec![answer("POST", POST_PATH, 201, json!({}))], Err("unknown")),
            ("not a LinkedIn id: nothing sent", reply("../../me"), vec![], Err("invalid")),
            (
                "no private messages: nothing sent",
                OutboxMessage { target: ReplyTarget::Direct { participant_id: "person:AbC123".into() }, ..reply(POST) },
                vec![],
                Err("invalid"),
            ),
            (
                "an organisation without a token: nothing sent",
                OutboxMessage { account_id: "1".into(), ..reply(POST) },
                vec![],
                Err("config"),
            ),
        ];
        for (label, message, canned, expected) in cases {
            let sends = !canned.is_empty();
            let (client, server) = client(canned).await;
            let result = client.send(&message).await;
            let got = match &result {
                Ok(id) => Ok(id.as_str()),
                Err(Error::RateLimited { retry_after, .. }) if retry_after.as_secs() == 60 => Err("a minute"),
                Err(Error::RateLimited { retry_after, .. }) if retry_after.as_secs() > 60 => Err("midnight"),
                Err(Error::CredentialsRejected { .. }) => Err("credentials"),
                Err(Error::PlatformOutcomeUnknown { .. }) => Err("unknown"),
                Err(Error::PlatformRejected { .. }) => Err("rejected"),
                Err(Error::Invalid(_)) => Err("invalid"),
                Err(Error::Config(_)) => Err("config"),
                Err(other) => panic!("{label}: {other}"),
            };
            assert_eq!(got, expected, "{label}");
            let server = server.lock().unwrap();
            assert!(server.all_used(), "{label}: a canned answer was not used");
            assert_eq!(server.received.len(), usize::from(sends), "{label}");
            if let Some(request) = server.received.first() {
                let header = |name: &str| request.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
                assert_eq!(header("linkedin-version"), Some(DEFAULT_VERSION), "{label}");
                assert_eq!(header("x-restli-protocol-version"), Some("2.0.0"), "{label}");
                assert_eq!(request.authorization, format!("Bearer {TOKEN}"));
                assert_eq!(request.body["actor"], "urn:li:organization:96072893");
                assert_eq!(request.body["object"], "urn:li:activity:7094637247890620418");
                assert_eq!(request.body["message"]["text"], text);
                let nested = request.path == COMMENT_PATH;
                assert_eq!(
                    request.body.get("parentComment").is_some(),
                    nested,
                    "{label}: parentComment only under a comment"
                );
            }
            for exchange in client.exchanges() {
                assert!(!format!("{exchange:?}").contains(TOKEN), "{label}: a token in the recorded exchange");
            }
        }
    }

    #[test]
    fn quota_throttles_wait_for_midnight_utc() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 22, 30, 0).unwrap();
        assert_eq!(throttle_wait("Resource level throttle APPLICATION DAY limit", now).as_secs(), 90 * 60);
        assert_eq!(throttle_wait("MEMBER DAY limit", now + TimeDelta::minutes(89)).as_secs(), 60);
        assert_eq!(throttle_wait("{}", now).as_secs(), 60);
    }

    #[tokio::test]
    async fn an_unknown_outcome_is_settled_by_reading_the_thread_and_texts_are_fetched() {
        let since = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let ms = |minutes: i64| (since + TimeDelta::minutes(minutes)).timestamp_millis();
        let thread = json!({"elements": [
            {"$URN": "urn:li:comment:(urn:li:activity:7094637247890620418,1)", "actor": "urn:li:person:AbC123",
             "message": {"text": "Thanks for asking! It is, since March ^HK"}, "created": {"time": ms(1)}},
            {"$URN": "urn:li:comment:(urn:li:activity:7094637247890620418,2)", "actor": "urn:li:organization:96072893",
             "message": {"text": "Thanks for asking! It is, since March ^HK"}, "created": {"time": ms(-5)}},
            {"$URN": "urn:li:comment:(urn:li:activity:7094637247890620418,3)", "actor": "urn:li:organization:96072893",
             "message": {"text": "Thanks for asking! It is, since March ^HK"}, "created": {"time": ms(2)}}]});
        let (client, server) = client(vec![
            answer("GET", POST_PATH, 200, thread),
            answer("GET", POST_PATH, 200, json!({"elements": []})),
            answer(
                "GET",
                "/rest/socialActions/urn%3Ali%3Aactivity%3A7094637247890620418/comments/7094977717598625792",
                200,
                json!({"actor": "urn:li:person:AbC123", "message": {"text": " Is this available in EU? "}, "created": {"time": ms(0)}}),
            ),
            answer("GET", "/rest/posts/urn%3Ali%3Ashare%3A7", 200, json!({"commentary": "Where is my order, @Acme?", "createdAt": ms(3)})),
        ])
        .await;
        assert_eq!(
            client
                .find_sent(&reply(POST), crate::ports::SendWindow { from: since, until: since + TimeDelta::hours(1) })
                .await
                .unwrap()
                .as_deref(),
            Some("comment:activity:7094637247890620418:3"),
            "the organisation's, with the text, since the attempt"
        );
        assert_eq!(
            client
                .find_sent(&reply(POST), crate::ports::SendWindow { from: since, until: since + TimeDelta::hours(1) })
                .await
                .unwrap(),
            None
        );
        let mut mention = crate::channels::testing::mention(Channel::LinkedIn, ORG, COMMENT);
        mention.text_source = Some(TextSource::LinkedIn);
        let fetched = client.fetch_text(&mention).await.unwrap();
        assert_eq!((fetched.text.as_str(), fetched.created_at), ("Is this available in EU?", Some(since)));
        mention.message_id = "share:7".into();
        assert_eq!(client.fetch_text(&mention).await.unwrap().text, "Where is my order, @Acme?");
        let server = server.lock().unwrap();
        assert!(server.all_used());
        assert_eq!(server.received[0].query, "count=100");
    }
}
