//! Mastodon, table-driven: each fixture's page as one line per mention with the skip
//! reasons, and the client against canned instance answers.

use chrono::{TimeZone, Utc};

use super::feed::{FeedContext, notifications_page, statuses_page};
use crate::channels::testing::{fixture, line};

const ACCOUNT: &str = "14715";

fn context() -> FeedContext<'static> {
    FeedContext { account: ACCOUNT, reference: "mastodon:test" }
}

#[test]
fn notifications_are_the_account_s_mentions() {
    let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
    let page = notifications_page(&fixture("mastodon", "notifications.json"), context(), at).unwrap();
    let lines: Vec<String> = page.mentions.iter().map(|m| format!("{} listening={}", line(m), m.listening)).collect();
    assert_eq!(
        lines,
        [
            "mastodon 14715 Post Inbound 103186126728896494 parent=- customer=971724 Created listening=false",
            "mastodon 14715 DirectMessage Inbound 103186126728896493 parent=103186126728896400 customer=971725 Created listening=false",
            "mastodon 14715 Post Inbound 103186126728896480 parent=- customer=971724 Edited listening=false",
        ]
    );
    assert_eq!(page.mentions[0].text, "@acme refund please, it's been 3 weeks");
    assert_eq!(page.mentions[0].author.handle.as_deref(), Some("zsc@mastodon.social"));
    assert_eq!(page.mentions[1].author.name, None, "an empty display name is no name");
    assert_eq!(page.ids, ["34975863", "34975862", "34975861", "34975860", "34975859", "34975858"]);
    let reasons: Vec<&str> = page.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    for (reason, words) in reasons.iter().zip(["favourite", "account's own", "notification id", "no status"]) {
        assert!(reason.contains(words), "{reason} should say {words}");
    }
    assert!(notifications_page(b"{}", context(), at).is_err());
}

#[test]
fn searches_find_hits_unless_they_speak_to_the_account() {
    let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
    let page = statuses_page(&fixture("mastodon", "search.json"), context(), at).unwrap();
    let lines: Vec<String> = page.mentions.iter().map(|m| format!("{} listening={}", line(m), m.listening)).collect();
    assert_eq!(
        lines,
        [
            "mastodon 14715 Post Inbound 103186126728896600 parent=- customer=971730 Created listening=true",
            "mastodon 14715 Post Inbound 103186126728896601 parent=- customer=971731 Created listening=false",
        ]
    );
    assert_eq!(page.ids.len(), 4);
    assert!(page.skipped[0].reason.contains("boost") && page.skipped[1].reason.contains("account's own"));
    // A hashtag timeline is the list itself.
    let timeline = br#"[{"id":"9","content":"<p>#acmeair delayed again</p>","account":{"id":"5"}}]"#;
    assert!(statuses_page(timeline, context(), at).unwrap().mentions[0].listening);
    assert!(statuses_page(br#"{"accounts":[]}"#, context(), at).is_err());
}

#[cfg(feature = "aws")]
mod client {
    use serde_json::json;

    use super::*;
    use crate::adapters::http::ExchangeLog;
    use crate::channels::canned::{Canned, Shared, answer, start};
    use crate::channels::mastodon::outbound::{Listen, MastodonClient, idempotency_key};
    use crate::credentials::Credentials;
    use crate::domain::mention::Channel;
    use crate::error::Error;
    use crate::ports::{OutboxMessage, OutboxPurpose, ReplySender, ReplyTarget};

    const TOKEN: &str = "masto-token-7f3e";

    async fn client(canned: Vec<Canned>) -> (MastodonClient, Shared) {
        let (base, server) = start(canned).await;
        let json = json!({"mastodon": {"accounts": {ACCOUNT: {"instance": base, "access_token": TOKEN}}}});
        let credentials = Credentials::from_json(&json.to_string()).unwrap();
        (MastodonClient::new(credentials.mastodon.as_ref(), ExchangeLog::keeping()).unwrap(), server)
    }

    fn reply(target: ReplyTarget) -> OutboxMessage {
        OutboxMessage {
            purpose: OutboxPurpose::Acknowledgement,
            record_id: "103186126728896494".into(),
            channel: Channel::Mastodon,
            account_id: ACCOUNT.into(),
            answers_message_id: "103186126728896494".into(),
            target,
            text: "Sorry, Zoe. Looking into it ^HK".into(),
            customer_wrote_at: None,
        }
    }

    fn parent(visibility: &str) -> Canned {
        answer(
            "GET",
            "/api/v1/statuses/103186126728896494",
            200,
            json!({"id": "103186126728896494", "visibility": visibility, "content": "x",
                   "account": {"id": "971724", "acct": "zsc@mastodon.social"}}),
        )
    }

    #[tokio::test]
    async fn replies_name_the_customer_and_never_widen_the_audience() {
        let public = reply(ReplyTarget::Post { in_reply_to: "103186126728896494".into() });
        let private = reply(ReplyTarget::Direct { participant_id: "971724".into() });
        let posted = answer("POST", "/api/v1/statuses", 200, json!({"id": "103186126728896999"}));
        type Case =
            (&'static str, OutboxMessage, Vec<Canned>, Result<&'static str, &'static str>, Option<&'static str>);
        let cases: Vec<Case> = vec![
            (
                "public",
                public.clone(),
                vec![parent("public"), posted.clone()],
                Ok("103186126728896999"),
                Some("public"),
            ),
            (
                "unlisted stays unlisted",
                public.clone(),
                vec![parent("unlisted"), posted.clone()],
                Ok("103186126728896999"),
                Some("unlisted"),
            ),
            (
                "a private mention is answered privately",
                public.clone(),
                vec![parent("direct"), posted.clone()],
                Ok("103186126728896999"),
                Some("direct"),
            ),
            (
                "personal data: privately",
                private.clone(),
                vec![parent("public"), posted.clone()],
                Ok("103186126728896999"),
                Some("direct"),
            ),
            (
                "rate limited",
                public.clone(),
                vec![
                    parent("public"),
                    Canned {
                        headers: vec![("x-ratelimit-reset", "120".into())],
                        ..answer("POST", "/api/v1/statuses", 429, json!({"error": "Too many requests"}))
                    },
                ],
                Err("rate"),
                Some("public"),
            ),
            (
                "a 5xx after the post",
                public.clone(),
                vec![parent("public"), answer("POST", "/api/v1/statuses", 502, json!({}))],
                Err("unknown"),
                Some("public"),
            ),
            (
                "the status is gone",
                public.clone(),
                vec![answer("GET", "/api/v1/statuses/103186126728896494", 404, json!({"error": "Record not found"}))],
                Err("rejected"),
                None,
            ),
            (
                "a token refused",
                public.clone(),
                vec![answer(
                    "GET",
                    "/api/v1/statuses/103186126728896494",
                    401,
                    json!({"error": "The access token is invalid"}),
                )],
                Err("credentials"),
                None,
            ),
            (
                "not a status id: nothing asked",
                reply(ReplyTarget::Post { in_reply_to: "../admin".into() }),
                vec![],
                Err("invalid"),
                None,
            ),
        ];
        for (label, message, canned, expected, visibility) in cases {
            let (client, server) = client(canned).await;
            let result = client.send(&message).await;
            let got = match &result {
                Ok(id) => Ok(id.as_str()),
                Err(Error::RateLimited { retry_after, .. }) if retry_after.as_secs() > 100 => Err("rate"),
                Err(Error::PlatformOutcomeUnknown { .. }) => Err("unknown"),
                Err(Error::PlatformRejected { .. }) => Err("rejected"),
                Err(Error::CredentialsRejected { .. }) => Err("credentials"),
                Err(Error::Invalid(_)) => Err("invalid"),
                Err(other) => panic!("{label}: {other}"),
            };
            assert_eq!(got, expected, "{label}");
            let server = server.lock().unwrap();
            assert!(server.all_used(), "{label}: a canned answer was not used");
            if let Some(post) = server.received.iter().find(|r| r.method == "POST") {
                assert_eq!(post.body["visibility"].as_str(), visibility, "{label}");
                assert_eq!(post.body["status"], "@zsc@mastodon.social Sorry, Zoe. Looking into it ^HK", "{label}");
                assert_eq!(post.body["in_reply_to_id"], "103186126728896494");
                let key = post.headers.iter().find(|(n, _)| n == "idempotency-key").map(|(_, v)| v.clone());
                assert_eq!(key, Some(idempotency_key(&message)), "{label}: the same key on every attempt");
                assert_eq!(post.authorization, format!("Bearer {TOKEN}"));
            }
            for exchange in client.exchanges() {
                assert!(!format!("{exchange:?}").contains(TOKEN));
            }
        }
    }

    #[tokio::test]
    async fn the_listener_reads_forward_from_min_id_and_stops_when_the_budget_is_spent() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let (client, server) = client(vec![
            Canned {
                headers: vec![
                    ("x-ratelimit-remaining", "0".into()),
                    ("x-ratelimit-reset", "2026-12-04T10:05:00.000Z".into()),
                ],
                ..answer(
                    "GET",
                    "/api/v1/notifications",
                    200,
                    serde_json::from_slice(&fixture("mastodon", "notifications.json")).unwrap(),
                )
            },
            answer("GET", "/api/v2/search", 200, serde_json::from_slice(&fixture("mastodon", "search.json")).unwrap()),
            answer("GET", "/api/v1/timelines/tag/acmeair", 200, json!([])),
        ])
        .await;
        let page = client.listen_page(ACCOUNT, Listen::Notifications, Some("34975800"), "r", now).await.unwrap();
        assert_eq!(page.mentions.len(), 3);
        assert_eq!(page.pause_until, Some(Utc.with_ymd_and_hms(2026, 12, 4, 10, 5, 0).unwrap()));
        let hits = client.listen_page(ACCOUNT, Listen::Search("acme air"), None, "r", now).await.unwrap();
        assert_eq!((hits.mentions.len(), hits.pause_until), (2, None));
        assert!(
            client.listen_page(ACCOUNT, Listen::Hashtag("acmeair"), Some("9"), "r", now).await.unwrap().ids.is_empty()
        );
        assert!(matches!(
            client.listen_page(ACCOUNT, Listen::Hashtag("../x"), None, "r", now).await,
            Err(Error::Config(_))
        ));
        let server = server.lock().unwrap();
        assert!(server.all_used());
        assert!(
            server.received[0].query.contains("min_id=34975800")
                && server.received[0].query.contains("types%5B%5D=mention")
        );
        assert!(server.received[1].query.contains("q=acme+air") && !server.received[1].query.contains("min_id"));
        assert!(server.received[2].query.contains("min_id=9"));
    }
}
