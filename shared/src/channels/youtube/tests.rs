use chrono::{TimeZone, Utc};

use super::threads::{ThreadsContext, thread_of, threads_page};
use crate::channels::testing::{fixture, line};

const CHANNEL: &str = "UCacmeAirBrand0000000000";

fn context() -> ThreadsContext<'static> {
    ThreadsContext { channel: CHANNEL, reference: "youtube:UCacmeAirBrand0000000000:threads" }
}

#[test]
fn comments_on_the_channel_are_addressed_to_it_and_viewers_talking_among_themselves_are_hits() {
    let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
    let page = threads_page(&fixture("youtube", "threads.json"), context(), at).unwrap();
    let lines: Vec<String> = page.mentions.iter().map(|m| format!("{} listening={}", line(m), m.listening)).collect();
    assert_eq!(
        lines,
        [
            "youtube UCacmeAirBrand0000000000 Post Inbound UgzViewerThread1AaABAg parent=- customer=UCdanaViewer000000000000 Created listening=false",
            "youtube UCacmeAirBrand0000000000 Reply Inbound UgzViewerThread1AaABAg.9xReplyFromEli parent=UgzViewerThread1AaABAg customer=UCeliViewer0000000000000 Created listening=true",
            "youtube UCacmeAirBrand0000000000 Reply Inbound UgzBrandThread2AaABAg.9xReplyFromFay parent=UgzBrandThread2AaABAg customer=UCfayViewer0000000000000 Created listening=false",
        ]
    );
    assert_eq!(page.mentions[0].author.name.as_deref(), Some("@dana"));
    assert_eq!(page.mentions[2].parent_author_id.as_deref(), Some(CHANNEL), "a reply in the brand's own thread");
    assert_eq!(page.mentions[0].created_at, Utc.with_ymd_and_hms(2026, 12, 4, 9, 50, 0).unwrap());
    assert_eq!(
        page.ids,
        [
            "2026-12-04T09:50:00.000000Z",
            "2026-12-04T09:55:00.000000Z",
            "2026-12-04T09:40:00.000000Z",
            "2026-12-04T09:45:00.000000Z",
            "2026-12-04T09:44:00.000000Z"
        ]
    );
    assert_eq!(page.next.as_deref(), Some("QURTSl9pMk9wb2Rfc2NJY1h3"));
    let reasons: Vec<&str> = page.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    for (reason, words) in reasons.iter().zip(["channel's own", "no author", "comment thread"]) {
        assert!(reason.contains(words), "{reason} should say {words}");
    }
    assert!(threads_page(br#"{"items": 3}"#, context(), at).is_err());
}

#[test]
fn a_comment_dated_where_no_comment_can_be_is_skipped_and_moves_no_cursor() {
    let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
    let comment = |id: &str, published_at: &str| {
        serde_json::json!({"id": id, "snippet": {"authorChannelId": {"value": "UCdanaViewer000000000000"},
            "textOriginal": "the refund form errors out", "publishedAt": published_at}})
    };
    for impossible in ["4052-12-04T09:59:20Z", "1970-01-01T00:00:00Z", "2026-12-04T10:11:00Z"] {
        let thread = serde_json::json!({"id": "UgzThread", "snippet": {
            "topLevelComment": comment("UgzThread", "2026-12-04T09:50:00Z")},
            "replies": {"comments": [comment("UgzThread.9xOdd", impossible)]}});
        let body = serde_json::json!({"items": [thread]});
        let page = threads_page(body.to_string().as_bytes(), context(), at).unwrap();
        assert_eq!(page.mentions.len(), 1, "{impossible}");
        assert_eq!(page.ids, ["2026-12-04T09:50:00.000000Z"], "{impossible}");
        assert!(page.skipped[0].reason.contains("is dated"), "{impossible}: {}", page.skipped[0].reason);
    }
}

#[test]
fn a_reply_goes_to_its_thread() {
    assert_eq!(thread_of("UgzViewerThread1AaABAg.9xReplyFromEli"), "UgzViewerThread1AaABAg");
    assert_eq!(thread_of("UgzViewerThread1AaABAg"), "UgzViewerThread1AaABAg");
}

#[cfg(feature = "aws")]
mod client {
    use serde_json::json;

    use super::*;
    use crate::adapters::http::ExchangeLog;
    use crate::channels::canned::{Canned, Shared, answer, start};
    use crate::channels::youtube::client::YouTubeClient;
    use crate::domain::mention::Channel;
    use crate::domain::secret::Secret;
    use crate::error::Error;
    use crate::ports::{AccessTokens, OutboxMessage, OutboxPurpose, ReplySender, ReplyTarget};

    struct Token;

    impl AccessTokens for Token {
        async fn access_token(&self, _account: &str) -> crate::Result<Secret> {
            Ok(Secret::new("ya29.token".to_owned()))
        }
        async fn after_rejection(&self, _account: &str, _rejected: &Secret) -> crate::Result<Secret> {
            Err(Error::CredentialsRejected { platform: "YouTube", account: CHANNEL.into(), message: "revoked".into() })
        }
    }

    async fn client(canned: Vec<Canned>) -> (YouTubeClient<Token>, Shared) {
        let (base, server) = start(canned).await;
        (YouTubeClient::new(&base, Token, ExchangeLog::keeping()).unwrap(), server)
    }

    fn reply(to: &str) -> OutboxMessage {
        OutboxMessage {
            purpose: OutboxPurpose::Acknowledgement,
            record_id: to.into(),
            channel: Channel::YouTube,
            account_id: CHANNEL.into(),
            answers_message_id: to.into(),
            target: ReplyTarget::Post { in_reply_to: to.into() },
            text: "Sorry, Eli. We are on it ^HK".into(),
            customer_wrote_at: None,
        }
    }

    fn quota() -> Canned {
        answer(
            "POST",
            "/youtube/v3/comments",
            403,
            json!({"error": {"code": 403, "message": "The request cannot be completed because you have exceeded your quota.",
                             "errors": [{"message": "quota", "domain": "youtube.quota", "reason": "quotaExceeded"}]}}),
        )
    }

    #[tokio::test]
    async fn replies_go_to_the_thread_s_top_level_comment() {
        let inserted = answer("POST", "/youtube/v3/comments", 200, json!({"id": "UgzViewerThread1AaABAg.9xOurs"}));
        type Case = (&'static str, OutboxMessage, Vec<Canned>, Result<&'static str, &'static str>);
        let cases: Vec<Case> = vec![
            (
                "a top-level comment",
                reply("UgzViewerThread1AaABAg"),
                vec![inserted.clone()],
                Ok("UgzViewerThread1AaABAg.9xOurs"),
            ),
            (
                "a reply: in its thread",
                reply("UgzViewerThread1AaABAg.9xReplyFromEli"),
                vec![inserted.clone()],
                Ok("UgzViewerThread1AaABAg.9xOurs"),
            ),
            ("the quota spent", reply("UgzViewerThread1AaABAg"), vec![quota()], Err("quota")),
            (
                "comments turned off",
                reply("UgzViewerThread1AaABAg"),
                vec![answer(
                    "POST",
                    "/youtube/v3/comments",
                    403,
                    json!({"error": {"code": 403, "errors": [{"reason": "commentsDisabled"}]}}),
                )],
                Err("rejected"),
            ),
            (
                "a 5xx after the insert",
                reply("UgzViewerThread1AaABAg"),
                vec![answer("POST", "/youtube/v3/comments", 503, json!({}))],
                Err("unknown"),
            ),
            (
                "a revoked grant",
                reply("UgzViewerThread1AaABAg"),
                vec![answer(
                    "POST",
                    "/youtube/v3/comments",
                    401,
                    json!({"error": {"code": 401, "errors": [{"reason": "authError"}]}}),
                )],
                Err("credentials"),
            ),
            ("not a comment id: nothing asked", reply("../videos"), vec![], Err("invalid")),
        ];
        for (label, message, canned, expected) in cases {
            let (client, server) = client(canned).await;
            let got = match client.send(&message).await {
                Ok(id) => Ok(id),
                Err(Error::RateLimited { retry_after, .. }) if retry_after.as_secs() > 60 => Err("quota"),
                Err(Error::PlatformRejected { .. }) => Err("rejected"),
                Err(Error::PlatformOutcomeUnknown { .. }) => Err("unknown"),
                Err(Error::CredentialsRejected { .. }) => Err("credentials"),
                Err(Error::Invalid(_)) => Err("invalid"),
                Err(other) => panic!("{label}: {other}"),
            };
            assert_eq!(got.as_deref().map_err(|e| *e), expected, "{label}");
            let server = server.lock().unwrap();
            assert!(server.all_used(), "{label}: a canned answer was not used");
            if let Some(post) = server.received.iter().find(|r| r.method == "POST") {
                assert_eq!(post.body["snippet"]["parentId"], "UgzViewerThread1AaABAg", "{label}");
                assert_eq!(post.body["snippet"]["textOriginal"], "Sorry, Eli. We are on it ^HK");
                assert_eq!(post.query, "part=snippet");
                assert_eq!(post.authorization, "Bearer ya29.token");
            }
        }
    }

    #[tokio::test]
    async fn an_unknown_outcome_is_settled_by_reading_the_thread() {
        let message = reply("UgzViewerThread1AaABAg.9xReplyFromEli");
        let ours = |text: &str| {
            json!({"id": "UgzViewerThread1AaABAg.9xOurs", "snippet": {
            "authorChannelId": {"value": CHANNEL}, "textOriginal": text, "publishedAt": Utc::now().to_rfc3339()}})
        };
        let theirs = json!({"id": "UgzViewerThread1AaABAg.9xTheirs", "snippet": {
            "authorChannelId": {"value": "UCeliViewer0000000000000"}, "textOriginal": "Sorry, Eli. We are on it ^HK"}});
        let (client, server) = client(vec![
            answer("GET", "/youtube/v3/comments", 200, json!({"items": [theirs.clone(), ours("another answer")]})),
            answer(
                "GET",
                "/youtube/v3/comments",
                200,
                json!({"items": [theirs, ours("Sorry, Eli. We are on it ^HK")]}),
            ),
        ])
        .await;
        let since = Utc::now() - chrono::TimeDelta::minutes(5);
        let window = crate::ports::SendWindow { from: since, until: Utc::now() };
        assert_eq!(
            client.find_sent(&message, window).await.unwrap(),
            None,
            "neither ours with its text nor its text by us"
        );
        assert_eq!(client.find_sent(&message, window).await.unwrap().as_deref(), Some("UgzViewerThread1AaABAg.9xOurs"));
        assert!(server.lock().unwrap().received[0].query.contains("parentId=UgzViewerThread1AaABAg&"));
    }

    #[tokio::test]
    async fn threads_are_read_newest_first_and_a_spent_quota_waits_for_the_next_day() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let (client, server) = client(vec![
            answer(
                "GET",
                "/youtube/v3/commentThreads",
                200,
                serde_json::from_slice(&fixture("youtube", "threads.json")).unwrap(),
            ),
            answer(
                "GET",
                "/youtube/v3/commentThreads",
                403,
                json!({"error": {"code": 403, "errors": [{"reason": "quotaExceeded"}]}}),
            ),
        ])
        .await;
        let page = client.threads_page(CHANNEL, Some("tok"), "r", now).await.unwrap();
        assert_eq!(page.mentions.len(), 3);
        match client.threads_page(CHANNEL, None, "r", Utc::now()).await {
            Err(Error::RateLimited { retry_after, .. }) => {
                assert!(retry_after.as_secs() > 0 && retry_after.as_secs() <= 86_400)
            }
            other => panic!("{other:?}"),
        }
        let server = server.lock().unwrap();
        let q = &server.received[0].query;
        assert!(
            q.contains("allThreadsRelatedToChannelId=UCacmeAirBrand0000000000")
                && q.contains("order=time")
                && q.contains("pageToken=tok"),
            "{q}"
        );
        assert!(!server.received[1].query.contains("pageToken"));
    }
}
