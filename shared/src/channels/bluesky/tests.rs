use chrono::{TimeZone, Utc};

use super::feed::{FeedContext, notifications_page, search_page};
use crate::channels::testing::{fixture, line};

const ACCOUNT: &str = "plc_acme4irbr4nd2a2b3c4d5e6f";

fn context() -> FeedContext<'static> {
    FeedContext { account: ACCOUNT, reference: "bluesky:plc_acme4irbr4nd2a2b3c4d5e6f:notifications" }
}

#[test]
fn notifications_are_the_account_s_mentions_replies_and_quotes() {
    let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
    let page = notifications_page(&fixture("bluesky", "notifications.json"), context(), at).unwrap();
    let lines: Vec<String> = page.mentions.iter().map(|m| format!("{} listening={}", line(m), m.listening)).collect();
    assert_eq!(
        lines,
        [
            "bluesky plc_acme4irbr4nd2a2b3c4d5e6f Post Inbound plc_zoe2c4st0mer5a6b7c8d9e0f1_3ld2a7kq4xz2c parent=- customer=plc_zoe2c4st0mer5a6b7c8d9e0f1 Created listening=false",
            "bluesky plc_acme4irbr4nd2a2b3c4d5e6f Reply Inbound plc_sam2c4st0mer5a6b7c8d9e0f1_3ld2a7kq3aa2c parent=plc_acme4irbr4nd2a2b3c4d5e6f_3ld2a2acmepst customer=plc_sam2c4st0mer5a6b7c8d9e0f1 Created listening=false",
        ]
    );
    let zoe = &page.mentions[0];
    assert_eq!(zoe.text, "@acmeair.bsky.social my bag never arrived, flight AC123");
    assert_eq!((zoe.author.handle.as_deref(), zoe.author.name.as_deref()), (Some("zoe.bsky.social"), Some("Zoe")));
    assert_eq!(zoe.language.as_deref(), Some("en"));
    assert_eq!(
        zoe.created_at,
        Utc.with_ymd_and_hms(2026, 12, 4, 9, 59, 30).unwrap() + chrono::TimeDelta::milliseconds(120)
    );
    assert_eq!(page.mentions[1].parent_author_id.as_deref(), Some(ACCOUNT));
    assert_eq!(page.mentions[1].author.name, None, "an empty display name is no name");
    // Every readable item moves the cursor, mentions or not.
    assert_eq!(
        page.ids,
        [
            "2026-12-04T09:59:30.120000Z",
            "2026-12-04T09:59:00.500000Z",
            "2026-12-04T09:58:40.000000Z",
            "2026-12-04T09:58:30.000000Z",
            "2026-12-04T09:58:20.000000Z"
        ]
    );
    assert_eq!(page.next.as_deref(), Some("2026-12-04T09:58:00.000Z"));
    let reasons: Vec<&str> = page.skipped.iter().map(|s| s.reason.as_str()).collect();
    for (reason, words) in reasons.iter().zip(["like", "account's own", "not a post", "a notification"]) {
        assert!(reason.contains(words), "{reason} should say {words}");
    }
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(notifications_page(br#"{"notifications": 5}"#, context(), at).is_err());
}

#[test]
fn searches_find_hits_unless_they_speak_to_the_account() {
    let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
    let page = search_page(&fixture("bluesky", "search.json"), context(), at).unwrap();
    let found: Vec<(&str, bool)> =
        page.mentions.iter().map(|m| (m.author.handle.as_deref().unwrap(), m.listening)).collect();
    assert_eq!(found, [("pat.bsky.social", true), ("kim.bsky.social", false), ("ann.bsky.social", false)]);
    assert_eq!(page.ids.len(), 4);
    assert!(page.skipped[0].reason.contains("account's own"));
    assert_eq!(page.next.as_deref(), Some("25"));
    let empty = search_page(br#"{"posts":[]}"#, context(), at).unwrap();
    assert!(empty.ids.is_empty() && empty.next.is_none());
}

#[test]
fn hostile_values_are_skipped_not_trusted() {
    let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
    let post = |uri: &str, did: &str, text: &str| {
        serde_json::json!({"posts": [{"uri": uri, "author": {"did": did},
            "record": {"$type": "app.bsky.feed.post", "text": text}, "indexedAt": "2026-12-04T09:00:00Z"}]})
        .to_string()
    };
    let cases = [
        ("a URI with a path", post("at://did:plc:a/app.bsky.feed.post/3l/../x", "did:plc:a", "hi"), "not a post"),
        ("an author that is not a DID", post("at://did:plc:a/app.bsky.feed.post/3l", "acme", "hi"), "key on"),
        ("no text", post("at://did:plc:a/app.bsky.feed.post/3l", "did:plc:a", "  "), "no text"),
        ("a URI by handle", post("at://acme.bsky.social/app.bsky.feed.post/3l", "did:plc:a", "hi"), "not a post"),
        (
            "the account as its own customer",
            post("at://did:plc:a/app.bsky.feed.post/3l", "did:plc:acme4irbr4nd2a2b3c4d5e6f", "hi"),
            "own",
        ),
    ];
    for (label, body, words) in cases {
        let page = search_page(body.as_bytes(), context(), at).unwrap();
        assert!(page.mentions.is_empty(), "{label}");
        assert!(page.skipped[0].reason.contains(words), "{label}: {}", page.skipped[0].reason);
    }
}

#[test]
fn a_post_dated_where_no_post_can_be_is_skipped_and_moves_no_cursor() {
    let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
    let post = |rkey: &str, indexed_at: &str| {
        serde_json::json!({"uri": format!("at://did:plc:pat2c4st0mer5a6b7c8d9e0f1/app.bsky.feed.post/{rkey}"),
            "author": {"did": "did:plc:pat2c4st0mer5a6b7c8d9e0f1"},
            "record": {"$type": "app.bsky.feed.post", "text": "Acme Air lost my bag"}, "indexedAt": indexed_at})
    };
    // A far future or a negative year would carry the cursor past every real post (the
    // negative year's key is longer, so it sorts as newer), and the feed would go silent.
    for impossible in ["4052-12-04T09:59:20Z", "-0026-12-04T09:59:50Z", "2026-12-04T10:11:00Z"] {
        let body = serde_json::json!({"posts": [post("3lreal", "2026-12-04T09:59:00Z"), post("3lodd", impossible)]});
        let page = search_page(body.to_string().as_bytes(), context(), at).unwrap();
        assert_eq!(page.mentions.len(), 1, "{impossible}");
        assert_eq!(page.ids, ["2026-12-04T09:59:00.000000Z"], "{impossible}");
        assert!(page.skipped[0].reason.contains("is dated"), "{impossible}: {}", page.skipped[0].reason);
    }
}

#[cfg(feature = "aws")]
mod client {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;
    use crate::adapters::http::ExchangeLog;
    use crate::channels::bluesky::client::{BlueskyClient, BlueskyListen, record_key};
    use crate::channels::bluesky::session::SessionEndpoint;
    use crate::channels::canned::{Canned, Shared, answer, start};
    use crate::credentials::Credentials;
    use crate::domain::mention::Channel;
    use crate::domain::oauth::{OAuthClient, RefreshError};
    use crate::domain::secret::Secret;
    use crate::error::Error;
    use crate::ports::{AccessTokens, OutboxMessage, OutboxPurpose, ReplySender, ReplyTarget, TokenEndpoint};

    const PASSWORD: &str = "abcd-efgh-ijkl-mnop";

    /// Two sessions: the first, then the one a rejection renews to.
    #[derive(Default)]
    struct Sessions {
        renewed: Mutex<bool>,
    }

    impl AccessTokens for Sessions {
        async fn access_token(&self, _account: &str) -> crate::Result<Secret> {
            let renewed = *self.renewed.lock().unwrap();
            Ok(Secret::new(if renewed { "jwt-2" } else { "jwt-1" }.to_owned()))
        }
        async fn after_rejection(&self, _account: &str, rejected: &Secret) -> crate::Result<Secret> {
            assert_eq!(rejected.expose(), "jwt-1");
            *self.renewed.lock().unwrap() = true;
            Ok(Secret::new("jwt-2".to_owned()))
        }
    }

    async fn client(canned: Vec<Canned>) -> (BlueskyClient<Sessions>, Shared) {
        let (base, server) = start(canned).await;
        let json = json!({"bluesky": {"accounts": {"did:plc:acme4irbr4nd2a2b3c4d5e6f": {
            "service": base, "identifier": "acmeair.bsky.social", "app_password": PASSWORD}}}});
        let credentials = Credentials::from_json(&json.to_string()).unwrap();
        let client =
            BlueskyClient::new(credentials.bluesky.as_ref(), Sessions::default(), ExchangeLog::keeping()).unwrap();
        (client, server)
    }

    const PARENT: &str = "plc_zoe2c4st0mer5a6b7c8d9e0f1_3ld2a7kq4xz2c";
    const PARENT_URI: &str = "at://did:plc:zoe2c4st0mer5a6b7c8d9e0f1/app.bsky.feed.post/3ld2a7kq4xz2c";
    const ROOT_URI: &str = "at://did:plc:acme4irbr4nd2a2b3c4d5e6f/app.bsky.feed.post/3ld2a2acmepst";

    fn reply(target: ReplyTarget) -> OutboxMessage {
        OutboxMessage {
            purpose: OutboxPurpose::Acknowledgement,
            record_id: PARENT.into(),
            channel: Channel::Bluesky,
            account_id: ACCOUNT.into(),
            answers_message_id: PARENT.into(),
            target,
            text: "Sorry, Zoe. Looking into it ^HK".into(),
            customer_wrote_at: None,
        }
    }

    fn parent(in_thread: bool) -> Canned {
        let mut record = json!({"$type": "app.bsky.feed.post", "text": "my bag"});
        if in_thread {
            record["reply"] =
                json!({"root": {"uri": ROOT_URI, "cid": "bafyroot"}, "parent": {"uri": ROOT_URI, "cid": "bafyroot"}});
        }
        answer(
            "GET",
            "/xrpc/app.bsky.feed.getPosts",
            200,
            json!({"posts": [{"uri": PARENT_URI, "cid": "bafyparent", "author": {"did": "did:plc:zoe2c4st0mer5a6b7c8d9e0f1"},
                              "record": record, "indexedAt": "2026-12-04T09:59:30.120Z"}]}),
        )
    }

    fn created(rkey: &str) -> Canned {
        let uri = format!("at://did:plc:acme4irbr4nd2a2b3c4d5e6f/app.bsky.feed.post/{rkey}");
        answer("POST", "/xrpc/com.atproto.repo.createRecord", 200, json!({"uri": uri, "cid": "bafynew"}))
    }

    #[tokio::test]
    async fn replies_go_in_the_thread_under_one_record_key_per_message() {
        let message = reply(ReplyTarget::Post { in_reply_to: PARENT.into() });
        let rkey = record_key(&message);
        let sent = format!("{ACCOUNT}_{rkey}");
        let exists = answer(
            "GET",
            "/xrpc/com.atproto.repo.getRecord",
            200,
            json!({"uri": format!("at://did:plc:acme4irbr4nd2a2b3c4d5e6f/app.bsky.feed.post/{rkey}"), "value": {}}),
        );
        let expired = answer(
            "GET",
            "/xrpc/app.bsky.feed.getPosts",
            400,
            json!({"error": "ExpiredToken", "message": "Token has expired"}),
        );
        type Case = (&'static str, OutboxMessage, Vec<Canned>, Result<String, &'static str>, Option<&'static str>);
        let cases: Vec<Case> = vec![
            (
                "a top-level post: it is the root",
                message.clone(),
                vec![parent(false), created(&rkey)],
                Ok(sent.clone()),
                Some(PARENT_URI),
            ),
            (
                "a reply: the thread's root",
                message.clone(),
                vec![parent(true), created(&rkey)],
                Ok(sent.clone()),
                Some(ROOT_URI),
            ),
            (
                "written by an earlier attempt",
                message.clone(),
                vec![
                    parent(false),
                    answer(
                        "POST",
                        "/xrpc/com.atproto.repo.createRecord",
                        400,
                        json!({"error": "InvalidRequest", "message": "Record already exists"}),
                    ),
                    exists.clone(),
                ],
                Ok(sent.clone()),
                Some(PARENT_URI),
            ),
            (
                "an expired session is renewed once",
                message.clone(),
                vec![expired.clone(), parent(false), created(&rkey)],
                Ok(sent.clone()),
                Some(PARENT_URI),
            ),
            (
                "rate limited",
                message.clone(),
                vec![
                    parent(false),
                    Canned {
                        headers: vec![("ratelimit-reset", "120".into())],
                        ..answer(
                            "POST",
                            "/xrpc/com.atproto.repo.createRecord",
                            429,
                            json!({"error": "RateLimitExceeded"}),
                        )
                    },
                ],
                Err("rate"),
                Some(PARENT_URI),
            ),
            (
                "a 5xx after the post",
                message.clone(),
                vec![parent(false), answer("POST", "/xrpc/com.atproto.repo.createRecord", 502, json!({}))],
                Err("unknown"),
                Some(PARENT_URI),
            ),
            (
                "the post is gone",
                message.clone(),
                vec![answer("GET", "/xrpc/app.bsky.feed.getPosts", 200, json!({"posts": []}))],
                Err("rejected"),
                None,
            ),
            (
                "refused twice: the credentials",
                message.clone(),
                vec![
                    expired.clone(),
                    answer("GET", "/xrpc/app.bsky.feed.getPosts", 401, json!({"error": "AuthenticationRequired"})),
                ],
                Err("credentials"),
                None,
            ),
            (
                "no chats: nothing asked",
                reply(ReplyTarget::Direct { participant_id: "plc_zoe".into() }),
                vec![],
                Err("invalid"),
                None,
            ),
            (
                "not a post id",
                reply(ReplyTarget::Post { in_reply_to: "../admin".into() }),
                vec![],
                Err("invalid"),
                None,
            ),
        ];
        for (label, message, canned, expected, root) in cases {
            let (client, server) = client(canned).await;
            let result = client.send(&message).await;
            let got = match result {
                Ok(id) => Ok(id),
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
                assert_eq!(post.body["repo"], "did:plc:acme4irbr4nd2a2b3c4d5e6f", "{label}");
                assert_eq!(post.body["rkey"], rkey.as_str(), "{label}: the same key on every attempt");
                assert_eq!(post.body["record"]["text"], "Sorry, Zoe. Looking into it ^HK");
                assert_eq!(post.body["record"]["reply"]["parent"], json!({"uri": PARENT_URI, "cid": "bafyparent"}));
                assert_eq!(post.body["record"]["reply"]["root"]["uri"].as_str(), root, "{label}");
                let session = if label.contains("renewed") { "Bearer jwt-2" } else { "Bearer jwt-1" };
                assert_eq!(post.authorization, session, "{label}");
            }
            for exchange in client.exchanges() {
                assert!(!format!("{exchange:?}").contains(PASSWORD));
            }
        }
    }

    #[tokio::test]
    async fn an_unknown_outcome_is_settled_by_the_record_key() {
        let message = reply(ReplyTarget::Post { in_reply_to: PARENT.into() });
        let (client, server) = client(vec![
            answer("GET", "/xrpc/com.atproto.repo.getRecord", 400, json!({"error": "RecordNotFound"})),
            answer(
                "GET",
                "/xrpc/com.atproto.repo.getRecord",
                200,
                json!({"uri": format!("at://did:plc:acme4irbr4nd2a2b3c4d5e6f/app.bsky.feed.post/{}", record_key(&message))}),
            ),
        ])
        .await;
        let window = crate::ports::SendWindow { from: Utc::now(), until: Utc::now() };
        assert_eq!(client.find_sent(&message, window).await.unwrap(), None);
        assert_eq!(
            client.find_sent(&message, window).await.unwrap(),
            Some(format!("{ACCOUNT}_{}", record_key(&message)))
        );
        let server = server.lock().unwrap();
        assert!(server.received[0].query.contains(&format!("rkey={}", record_key(&message))));
        assert!(server.received[0].query.contains("collection=app.bsky.feed.post"));
    }

    #[tokio::test]
    async fn the_listener_reads_newest_first_and_stops_when_the_budget_is_spent() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let (client, server) = client(vec![
            Canned {
                headers: vec![("ratelimit-remaining", "0".into()), ("ratelimit-reset", "1796378700".into())],
                ..answer(
                    "GET",
                    "/xrpc/app.bsky.notification.listNotifications",
                    200,
                    serde_json::from_slice(&fixture("bluesky", "notifications.json")).unwrap(),
                )
            },
            answer(
                "GET",
                "/xrpc/app.bsky.feed.searchPosts",
                200,
                serde_json::from_slice(&fixture("bluesky", "search.json")).unwrap(),
            ),
            answer("GET", "/xrpc/app.bsky.feed.searchPosts", 429, json!({"error": "RateLimitExceeded"})),
        ])
        .await;
        let page = client.listen_page(ACCOUNT, BlueskyListen::Notifications, Some("c1"), None, "r", now).await.unwrap();
        assert_eq!(page.mentions.len(), 2);
        assert_eq!(page.pause_until, Some(Utc.with_ymd_and_hms(2026, 12, 4, 10, 5, 0).unwrap()));
        let since = Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap();
        let hits =
            client.listen_page(ACCOUNT, BlueskyListen::Search("acme air"), None, Some(since), "r", now).await.unwrap();
        assert_eq!((hits.mentions.len(), hits.pause_until), (3, None));
        assert!(matches!(
            client.listen_page(ACCOUNT, BlueskyListen::Search("acme air"), None, None, "r", now).await,
            Err(Error::RateLimited { .. })
        ));
        assert!(matches!(
            client.listen_page("plc_other", BlueskyListen::Notifications, None, None, "r", now).await,
            Err(Error::Config(_))
        ));
        let server = server.lock().unwrap();
        assert!(server.all_used());
        let first = &server.received[0].query;
        assert!(
            first.contains("cursor=c1") && first.contains("reasons=mention") && first.contains("limit=100"),
            "{first}"
        );
        let search = &server.received[1].query;
        assert!(
            search.contains("q=acme+air")
                && search.contains("sort=latest")
                && search.contains("since=2026-12-04T09%3A00%3A00.000Z"),
            "{search}"
        );
        assert_eq!(server.received[0].authorization, "Bearer jwt-1");
    }

    #[tokio::test]
    async fn sessions_are_created_from_the_app_password_only_when_none_can_be_refreshed() {
        let session = |access: &str| json!({"accessJwt": access, "refreshJwt": format!("refresh-{access}"), "did": "did:plc:acme4irbr4nd2a2b3c4d5e6f", "handle": "acmeair.bsky.social"});
        let (base, server) = start(vec![
            answer("POST", "/xrpc/com.atproto.server.createSession", 200, session("a1")),
            answer("POST", "/xrpc/com.atproto.server.refreshSession", 200, session("a2")),
            answer("POST", "/xrpc/com.atproto.server.refreshSession", 400, json!({"error": "ExpiredToken"})),
            answer("POST", "/xrpc/com.atproto.server.createSession", 200, session("a3")),
            answer("POST", "/xrpc/com.atproto.server.refreshSession", 400, json!({"error": "ExpiredToken"})),
            answer(
                "POST",
                "/xrpc/com.atproto.server.createSession",
                401,
                json!({"error": "AuthenticationRequired", "message": "Invalid identifier or password"}),
            ),
            answer("POST", "/xrpc/com.atproto.server.refreshSession", 502, json!({})),
        ])
        .await;
        let endpoint = SessionEndpoint::new().unwrap();
        let client = OAuthClient {
            token_url: base,
            client_id: "acmeair.bsky.social".into(),
            client_secret: Some(Secret::new(PASSWORD.to_owned())),
            secret_in_body: true,
        };
        let password = Secret::new(PASSWORD.to_owned());
        let refresh = Secret::new("refresh-a1".to_owned());
        let first = endpoint.refresh(&client, &password).await.unwrap();
        assert_eq!((first.access_token.expose(), first.refresh_token.unwrap().expose()), ("a1", "refresh-a1"));
        assert_eq!(endpoint.refresh(&client, &refresh).await.unwrap().access_token.expose(), "a2");
        assert_eq!(
            endpoint.refresh(&client, &refresh).await.unwrap().access_token.expose(),
            "a3",
            "lapsed: log in again"
        );
        assert!(matches!(endpoint.refresh(&client, &refresh).await, Err(RefreshError::Refused(_))));
        assert!(matches!(endpoint.refresh(&client, &refresh).await, Err(RefreshError::Unavailable(_))));
        let server = server.lock().unwrap();
        assert!(server.all_used());
        assert_eq!(server.received[0].body, json!({"identifier": "acmeair.bsky.social", "password": PASSWORD}));
        assert_eq!(server.received[1].authorization, "Bearer refresh-a1");
    }
}
