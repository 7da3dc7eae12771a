//! The listener over DynamoDB Local (its cursors), LocalStack's FIFO queue, the local X
//! API's recent search, a local Mastodon instance and a local Bluesky service, and what it
//! finds through the real
//! processor: cursors under a crash between enqueue and advance and under two overlapping
//! runs, rate limits that pause one platform and not the others, a post seen by webhook
//! and by search stored once, and listening hits never answered automatically.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeDelta, Utc};
use hark_listener::{Ended, Feed, Listener, MastodonFeed};
use hark_local::bluesky_api::LocalBluesky;
use hark_local::mastodon_api::LocalMastodon;
use hark_local::reddit_api::LocalReddit;
use hark_local::youtube_api::LocalYouTube;
use hark_shared::adapters::dynamo::DynamoStore;
use hark_shared::adapters::sqs::SqsQueue;
use hark_shared::channels::bluesky::client::AwsBlueskyClient;
use hark_shared::channels::mastodon::MastodonClient;
use hark_shared::channels::reddit::RedditClient;
use hark_shared::channels::x::search::XSearchClient;
use hark_shared::channels::youtube::client::AwsYouTubeClient;
use hark_shared::credentials::Credentials;
use hark_shared::domain::listening::Cursor;
use hark_shared::domain::mention::Mention;
use hark_shared::ports::{Clock, CursorStore};
use hark_tests::*;
use serde_json::json;

type Item = HashMap<String, AttributeValue>;

const BRAND: &str = "2244994945";
const SEARCH_TOKEN: &str = "local-app-bearer-token";
const MASTODON_ACCOUNT: &str = "14715";
const MASTODON_TOKEN: &str = "local-mastodon-token";
const BLUESKY_DID: &str = "did:plc:acme4irbr4nd2a2b3c4d5e6f";
const BLUESKY_ACCOUNT: &str = "plc_acme4irbr4nd2a2b3c4d5e6f";
const BLUESKY_PASSWORD: &str = "abcd-efgh-ijkl-mnop";
const YOUTUBE_CHANNEL: &str = "UCacmeAirBrand0000000000";

struct Fixture {
    aws: aws_config::SdkConfig,
    table: String,
    queue: String,
    x_api: LocalXApi,
    mastodon: LocalMastodon,
    bluesky: LocalBluesky,
    youtube: LocalYouTube,
    reddit: LocalReddit,
    credentials: Credentials,
    clock: TestClock,
}

async fn fixture() -> Fixture {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let queue = create_queues(&aws, 30, 5).await.url;
    let x_api = LocalXApi::start(0).await.unwrap();
    x_api.register_search_token(SEARCH_TOKEN);
    let mastodon = LocalMastodon::start(0).await.unwrap();
    mastodon.register_account(MASTODON_ACCOUNT, "acme", MASTODON_TOKEN);
    let bluesky = LocalBluesky::start(0).await.unwrap();
    bluesky.register_account(BLUESKY_DID, "acmeair.bsky.social", BLUESKY_PASSWORD);
    let youtube = LocalYouTube::start(0).await.unwrap();
    youtube.register_channel(YOUTUBE_CHANNEL, "yt-client", "yt-secret", "1//yt-refresh");
    let reddit = LocalReddit::start(0).await.unwrap();
    reddit.register_client("reddit-client", "reddit-secret");
    let credentials = Credentials::from_json(
        &json!({
            "x": {"accounts": {BRAND: {"search": {"bearer_token": SEARCH_TOKEN, "handle": "AcmeAir",
                                                  "query": "\"acme air\" OR acmeair -from:AcmeAir -is:retweet"}}}},
            "mastodon": {"accounts": {MASTODON_ACCOUNT: {"instance": mastodon.url, "access_token": MASTODON_TOKEN,
                                                         "listen": ["acme air", "#acmeair"]}}},
            "bluesky": {"accounts": {BLUESKY_DID: {"service": bluesky.url, "identifier": "acmeair.bsky.social",
                                                   "app_password": BLUESKY_PASSWORD, "listen": ["acme air"]}}},
            "youtube": {"channels": {YOUTUBE_CHANNEL: {"client_id": "yt-client", "client_secret": "yt-secret",
                                                       "refresh_token": "1//yt-refresh"}}},
            "reddit": {"client_id": "reddit-client", "client_secret": "reddit-secret", "username": "acmeair",
                       "user_agent": "rust:com.acme.hark:v1.0 (by /u/acmeair)", "searches": ["acme air"], "subreddits": ["acmeair"]},
        })
        .to_string(),
    )
    .unwrap();
    Fixture {
        aws,
        table,
        queue,
        x_api,
        mastodon,
        bluesky,
        youtube,
        reddit,
        credentials,
        clock: TestClock::at(Utc::now()),
    }
}

impl Fixture {
    fn listener_with<S: CursorStore>(&self, store: S) -> Listener<S, SqsQueue> {
        Listener {
            store,
            queue: SqsQueue::from_config(&self.aws, self.queue.clone()),
            x: XSearchClient::new(&self.x_api.base_url, &self.credentials.x).unwrap(),
            mastodon: MastodonClient::new(self.credentials.mastodon.as_ref(), Default::default()).unwrap(),
            bluesky: self.bluesky_client(),
            youtube: self.youtube_client(),
            reddit: self
                .credentials
                .reddit
                .as_ref()
                .map(|r| RedditClient::new(&self.reddit.url, &self.reddit.url, r).unwrap()),
            feeds: hark_listener::feeds(&self.credentials, true),
            max_pages: 10,
            clock: Box::new(self.clock.clone()),
        }
    }

    /// Sessions kept in the table, as the functions keep them.
    fn bluesky_client(&self) -> AwsBlueskyClient {
        AwsBlueskyClient::for_aws(&self.aws, &self.table, &self.credentials).unwrap()
    }

    fn youtube_client(&self) -> AwsYouTubeClient {
        AwsYouTubeClient::for_aws(
            &self.aws,
            &self.youtube.url,
            &self.youtube.token_url(),
            &self.table,
            &self.credentials,
        )
        .unwrap()
    }

    fn listener(&self) -> Listener<DynamoStore, SqsQueue> {
        self.listener_with(DynamoStore::from_config(&self.aws, &self.table))
    }

    /// What the listener put on the queue.
    async fn queued(&self) -> Vec<Mention> {
        drain(&self.aws, &self.queue).await.iter().map(|m| serde_json::from_str(m.body().unwrap()).unwrap()).collect()
    }

    async fn cursor(&self, feed: &Feed) -> Cursor {
        DynamoStore::from_config(&self.aws, &self.table).cursor(&feed.key()).await.unwrap().cursor
    }

    async fn items(&self, item_type: &str) -> Vec<Item> {
        items_of_type(&self.aws, &self.table, item_type).await
    }
}

fn x_feed() -> Feed {
    Feed::XSearch { account: BRAND.into() }
}

/// A cursor store that crashes (fails) every advance: the run's enqueues stand, its cursor
/// does not move, as when the function dies between the two.
struct CrashingAdvance(DynamoStore);

impl CursorStore for CrashingAdvance {
    async fn cursor(&self, feed: &str) -> hark_shared::Result<hark_shared::domain::listening::StoredCursor> {
        self.0.cursor(feed).await
    }
    async fn advance(&self, _feed: &str, _from: u64, _to: &Cursor) -> hark_shared::Result<bool> {
        Err(hark_shared::Error::Store { operation: "PutItem", message: "the function was killed".into() })
    }
}

#[tokio::test]
async fn an_x_search_drains_every_page_then_reads_only_what_is_new() {
    let f = fixture().await;
    let ids: Vec<String> =
        (0..150).map(|n| f.x_api.public_post(("9001", "ana_b"), &format!("acme air lost bag #{n}"), None)).collect();
    let direct = f.x_api.public_post(("9002", "bo"), "@AcmeAir where is my refund?", None);
    f.x_api.public_post(("9003", "cy"), "nothing to do with anything", None);

    let run = f.listener().run().await;
    let x = run.feeds.iter().find(|o| o.feed == x_feed().key()).unwrap();
    assert_eq!((x.pages, x.enqueued, x.hits, x.ended.clone()), (2, 151, 150, Ended::Drained), "{x:?}");
    let newest = f.cursor(&x_feed()).await.newest_id.unwrap();
    assert_eq!(newest, direct, "the poll's newest id, once drained");
    let queued = f.queued().await;
    assert_eq!(queued.iter().filter(|m| m.channel.as_str() == "x").count(), 151);
    assert!(queued.iter().filter(|m| ids.contains(&m.message_id)).all(|m| m.listening));
    assert!(
        !queued.iter().find(|m| m.message_id == direct).unwrap().listening,
        "a post naming the handle is a mention"
    );

    let again = f.listener().run().await;
    assert_eq!(again.feeds.iter().find(|o| o.feed == x_feed().key()).unwrap().enqueued, 0);
    assert!(f.x_api.searches().last().unwrap().contains(&format!("since_id={newest}")));
    let later = f.x_api.public_post(("9004", "di"), "Acme Air delayed again", None);
    let third = f.listener().run().await;
    assert_eq!(third.feeds.iter().find(|o| o.feed == x_feed().key()).unwrap().enqueued, 1);
    assert_eq!(f.cursor(&x_feed()).await.newest_id, Some(later));
}

#[tokio::test]
async fn a_crash_between_enqueue_and_advance_re_reads_and_overlapping_runs_never_skip() {
    let f = fixture().await;
    for n in 0..5 {
        f.x_api.public_post(("9001", "ana_b"), &format!("acme air {n}"), None);
    }
    // The first run enqueues and dies before its cursor moves.
    let crashed = f.listener_with(CrashingAdvance(DynamoStore::from_config(&f.aws, &f.table))).run().await;
    assert_eq!(crashed.feeds.iter().find(|o| o.feed == x_feed().key()).unwrap().enqueued, 5);
    assert_eq!(f.cursor(&x_feed()).await, Cursor::default(), "nothing moved");
    let first = f.queued().await;

    // Two runs overlap: both read the same cursor and enqueue; one moves it.
    let (one, two) = (f.listener(), f.listener());
    let (a, b) = tokio::join!(one.run(), two.run());
    let outcome =
        |run: &hark_listener::RunSummary| run.feeds.iter().find(|o| o.feed == x_feed().key()).unwrap().clone();
    let (a, b) = (outcome(&a), outcome(&b));
    assert_eq!(a.enqueued + b.enqueued, 10, "both re-read the page the crash left");
    assert!(a.overtaken ^ b.overtaken, "exactly one run moved the cursor: {a:?} {b:?}");
    assert!(f.cursor(&x_feed()).await.newest_id.is_some());

    // Through the real processor, every copy lands on one stored message each.
    let mut all = first;
    all.extend(f.queued().await);
    let processor = processor(&f.aws, &f.table, &f.x_api, f.clock.clone());
    process_batch(&processor, &all).await;
    let messages = f.items("message").await;
    assert_eq!(messages.len(), 5, "stored once each");
    assert!(messages.iter().all(|m| m.get("listening").and_then(|v| v.as_bool().ok()) == Some(&true)));
    assert!(f.items("outbox").await.is_empty(), "a listening hit is never answered automatically");
    let conversations = f.items("conversation").await;
    assert!(conversations.iter().all(|c| c.get("listening").is_some()));
    // The HTTP API's view says so too.
    use hark_shared::ports::ConversationReader;
    let id = hark_shared::ports::ConversationId(attr_s(&conversations[0], "conversation_id"));
    let view = DynamoStore::from_config(&f.aws, &f.table).conversation_view(&id).await.unwrap().unwrap();
    assert!(view.listening);
}

#[tokio::test]
async fn a_rate_limit_pauses_its_platform_only_until_the_reset() {
    let f = fixture().await;
    f.x_api.public_post(("9001", "ana_b"), "acme air lost my bag", None);
    let brand = (MASTODON_ACCOUNT, "acme");
    f.mastodon.mention(("971724", "zsc@mastodon.social", "Zoe"), brand, "refund please", "public");
    let reset = Utc::now() + TimeDelta::minutes(12);
    f.x_api.respond_next_search(ScriptedResponse {
        status: 429,
        headers: vec![
            ("x-rate-limit-reset".into(), reset.timestamp().to_string()),
            ("x-rate-limit-remaining".into(), "0".into()),
        ],
        body: json!({"title": "Too Many Requests"}),
        delay: std::time::Duration::ZERO,
        only_for: None,
        create_anyway: false,
    });
    let run = f.listener().run().await;
    let x = run.feeds.iter().find(|o| o.feed == x_feed().key()).unwrap();
    assert_eq!(x.ended, Ended::Paused);
    assert_eq!(x.resume_at.map(|t| t.timestamp()), Some(reset.timestamp()));
    let mentions = Feed::Mastodon { account: MASTODON_ACCOUNT.into(), listen: MastodonFeed::Notifications };
    let m = run.feeds.iter().find(|o| o.feed == mentions.key()).unwrap();
    assert_eq!((m.enqueued, m.ended.clone()), (1, Ended::Drained), "Mastodon went on");

    // Before the reset nothing is asked of X; after it, the search runs again.
    let calls = f.x_api.searches().len();
    let waiting = f.listener().run().await;
    assert_eq!(waiting.feeds.iter().find(|o| o.feed == x_feed().key()).unwrap().ended, Ended::Waiting);
    assert_eq!(f.x_api.searches().len(), calls);
    f.clock.set(reset + TimeDelta::seconds(1));
    let resumed = f.listener().run().await;
    let x = resumed.feeds.iter().find(|o| o.feed == x_feed().key()).unwrap();
    assert_eq!((x.enqueued, x.ended.clone()), (1, Ended::Drained));
    assert_eq!(f.cursor(&x_feed()).await.resume_at, None);
}

#[tokio::test]
async fn the_same_post_by_webhook_and_by_search_is_stored_once_and_answered_once() {
    let f = fixture().await;
    let processor = processor(&f.aws, &f.table, &f.x_api, f.clock.clone());
    let post = f.x_api.public_post(("9002", "bo"), "@AcmeAir my flight was cancelled, help", None);
    // X's Account Activity webhook delivers it too, as the webhook normalises it.
    let delivery = hark_local::demo::tweet_delivery(
        &post,
        Some(hark_local::demo::Customer { id: "9002", handle: "bo", name: "Bo", followers: 10 }),
        "@AcmeAir my flight was cancelled, help",
        None,
    );
    let webhook =
        hark_shared::channels::x::parse(delivery.to_string().as_bytes()).unwrap().normalise(Utc::now(), "apigw:1");
    process_batch(&processor, &webhook.mentions).await;
    f.listener().run().await;
    process_batch(&processor, &f.queued().await).await;
    let messages = f.items("message").await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(f.items("outbox").await.len(), 1, "acknowledged once");
}

#[tokio::test]
async fn mastodon_mentions_are_acknowledged_and_its_search_hits_are_left_to_a_person() {
    let f = fixture().await;
    let brand = (MASTODON_ACCOUNT, "acme");
    let zoe = ("971724", "zsc@mastodon.social", "Zoe");
    let mention = f.mastodon.mention(zoe, brand, "my refund never came, 3 weeks now", "public");
    let private = f.mastodon.mention(("971725", "kim", "Kim"), brand, "my booking ref ACM4KZ was cancelled", "direct");
    let hit = f.mastodon.public_status(("971730", "pat@fosstodon.org", "Pat"), "Acme Air lost my luggage in Lisbon");
    let tagged = f.mastodon.public_status(("971731", "ray", "Ray"), "delayed 4 hours again #acmeair");

    let run = f.listener().run().await;
    assert_eq!(run.enqueued, 4, "{run:?}");
    let replies = hark_shared::channels::Outbound {
        mastodon: MastodonClient::new(f.credentials.mastodon.as_ref(), Default::default()).unwrap(),
        ..replies(x_client(&f.aws, &f.table, &f.x_api), None)
    };
    let processor = processor_with(&f.aws, &f.table, replies, f.clock.clone());
    let queued = f.queued().await;
    process_batch(&processor, &queued).await;

    let answered = f.mastodon.replies_to(MASTODON_ACCOUNT, &mention);
    assert_eq!(answered.len(), 1, "{answered:?}");
    assert!(answered[0].0.starts_with("@zsc@mastodon.social "), "the customer is named: {answered:?}");
    assert_eq!(answered[0].1, "public");
    let dm = f.mastodon.replies_to(MASTODON_ACCOUNT, &private);
    assert_eq!(dm.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>(), ["direct"], "a private mention stays private");
    assert!(f.mastodon.replies_to(MASTODON_ACCOUNT, &hit).is_empty(), "a search hit is left to a person");
    assert!(f.mastodon.replies_to(MASTODON_ACCOUNT, &tagged).is_empty());
    let listening: Vec<String> = f
        .items("message")
        .await
        .iter()
        .filter(|m| m.get("listening").is_some())
        .map(|m| attr_s(m, "message_id"))
        .collect();
    assert_eq!(listening.len(), 2);
    assert!(listening.contains(&hit) && listening.contains(&tagged));

    // The next run asks only for what is newer than each cursor.
    f.listener().run().await;
    assert!(
        f.mastodon.calls().iter().rev().take(3).all(|c| c.contains("min_id") || c.contains("/tag/")),
        "{:?}",
        f.mastodon.calls()
    );
}

#[tokio::test]
async fn reddit_is_read_newest_first_without_an_anchor_so_a_deleted_post_never_stalls_it() {
    let f = fixture().await;
    let sub = Feed::Reddit { listen: hark_listener::RedditFeed::Subreddit("acmeair".into()) };
    let outcome = |run: &hark_listener::RunSummary| run.feeds.iter().find(|o| o.feed == sub.key()).unwrap().clone();
    for n in 0..130 {
        f.reddit.post("acmeair", "sky_traveller", &format!("Delayed again ({n})"), "");
    }
    // A feed's first read takes its newest page and starts from there.
    let first = outcome(&f.listener().run().await);
    assert_eq!((first.pages, first.enqueued), (1, 100), "{first:?}");
    let newest = f.cursor(&sub).await.newest_id.unwrap();

    // 120 new posts: read back page by page until the reading reaches the cursor.
    let fresh: Vec<String> =
        (0..120).map(|n| f.reddit.post("acmeair", "pat", &format!("Lost bag ({n})"), "")).collect();
    let second = outcome(&f.listener().run().await);
    assert_eq!((second.pages, second.enqueued, second.hits), (2, 120, 120), "{second:?}");
    assert_eq!(f.cursor(&sub).await.newest_id.as_ref(), fresh.last());
    assert_ne!(Some(&newest), fresh.last());

    // The post the cursor names is deleted; what comes after is still found.
    f.reddit.delete(fresh.last().unwrap());
    let later = f.reddit.post("acmeair", "ray", "Refund still pending", "three weeks now");
    let third = outcome(&f.listener().run().await);
    assert_eq!((third.enqueued, third.ended.clone()), (1, Ended::Drained), "{third:?}");
    assert_eq!(f.cursor(&sub).await.newest_id, Some(later));
    assert!(f.reddit.calls().iter().all(|c| !c.contains("before")), "no anchor is ever sent");

    // Everything Reddit gave is a listening hit, and Hark answers none of it.
    let queued = f.queued().await;
    assert!(queued.iter().filter(|m| m.channel.as_str() == "reddit").all(|m| m.listening));
    let processor = processor(&f.aws, &f.table, &f.x_api, f.clock.clone());
    process_batch(&processor, &queued[..10]).await;
    assert!(f.items("outbox").await.is_empty());
}

#[tokio::test]
async fn refused_credentials_hold_a_feed_back_until_an_operator_can_renew_them() {
    let f = fixture().await;
    f.mastodon.respond_next(ScriptedResponse {
        status: 401,
        headers: Vec::new(),
        body: json!({"error": "The access token was revoked"}),
        delay: std::time::Duration::ZERO,
        only_for: None,
        create_anyway: false,
    });
    let run = f.listener().run().await;
    let refused: Vec<_> = run.feeds.iter().filter(|o| o.ended == Ended::Failed).collect();
    assert_eq!(refused.len(), 1, "{run:?}");
    let refused = refused[0].clone();
    assert!(refused.error.as_deref().unwrap_or_default().contains("credentials"), "{refused:?}");
    let wait = refused.resume_at.unwrap() - f.clock.now();
    assert_eq!(wait.num_minutes(), 15, "held back for the credentials wait");
    assert!(run.feeds.iter().filter(|o| o.feed != refused.feed).all(|o| o.ended == Ended::Drained), "{run:?}");

    let again = f.listener().run().await;
    let held = again.feeds.iter().find(|o| o.feed == refused.feed).unwrap();
    assert_eq!(held.ended, Ended::Waiting, "nothing asked in vain");
}

#[tokio::test]
async fn bluesky_mentions_are_answered_in_their_thread_on_one_session_and_search_hits_are_left_to_a_person() {
    let f = fixture().await;
    let brand = (BLUESKY_DID, "acmeair.bsky.social");
    let mia = ("did:plc:mia2c4st0mer5a6b7c8d9e0f1", "mia.bsky.social", "Mia");
    let mention = f.bluesky.mention(mia, brand, "acme air cancelled my flight AC88 and the app shows nothing");
    let hit =
        f.bluesky.public_post(("did:plc:ola2c4st0mer5a6b7c8d9e0f1", "ola.bsky.social", "Ola"), "Acme Air wifi is down");

    let run = f.listener().run().await;
    let of = |run: &hark_listener::RunSummary, key: &str| run.feeds.iter().find(|o| o.feed == key).unwrap().clone();
    let notifications = format!("bluesky:{BLUESKY_ACCOUNT}:notifications");
    let search = format!("bluesky:{BLUESKY_ACCOUNT}:search:{:016x}", hark_shared::stable_hash("acme air"));
    assert_eq!((of(&run, &notifications).enqueued, of(&run, &notifications).hits), (1, 0), "{run:?}");
    // The search finds both posts: the mention (stored once with the notification's) and the hit.
    assert_eq!((of(&run, &search).enqueued, of(&run, &search).hits), (2, 1), "{run:?}");
    let replies = hark_shared::channels::Outbound {
        bluesky: f.bluesky_client(),
        ..replies(x_client(&f.aws, &f.table, &f.x_api), None)
    };
    let processor = processor_with(&f.aws, &f.table, replies, f.clock.clone());
    let queued = f.queued().await;
    process_batch(&processor, &queued).await;

    let answered = f.bluesky.replies_to(BLUESKY_DID, &mention);
    assert_eq!(answered.len(), 1, "answered once, though read twice: {answered:?}");
    assert_eq!(answered[0].1, mention, "a top-level post is its own thread's root");
    assert!(f.bluesky.replies_to(BLUESKY_DID, &hit).is_empty(), "a search hit is left to a person");
    let messages = f.items("message").await;
    let stored = messages.iter().filter(|m| attr_s(m, "message_id").starts_with("plc_")).count();
    assert_eq!(stored, 2, "each post stored once");

    // Later runs read only what is new, on the same session; an expired token is refreshed,
    // never replaced by a new login (Bluesky allows few a day).
    let later =
        f.bluesky.public_post(("did:plc:ola2c4st0mer5a6b7c8d9e0f1", "ola.bsky.social", "Ola"), "acme air again");
    f.bluesky.expire_access_tokens();
    let again = f.listener().run().await;
    assert_eq!((of(&again, &notifications).enqueued, of(&again, &search).enqueued), (0, 1), "{again:?}");
    let queued = f.queued().await;
    assert_eq!(queued.len(), 1);
    assert!(queued[0].message_id.ends_with(later.rsplit('/').next().unwrap()));
    assert_eq!(f.bluesky.sessions_created(), 1, "one login, shared by the listener and the processor");
    assert!(f.bluesky.calls().iter().any(|c| c.contains("refreshSession")));
    let quiet = f.listener().run().await;
    assert_eq!(quiet.enqueued, 0, "{quiet:?}");
    let searches = f.bluesky.calls().into_iter().filter(|c| c.contains("searchPosts")).collect::<Vec<_>>();
    assert!(searches.last().unwrap().contains("since="), "a search asks only for what is recent: {searches:?}");
}

#[tokio::test]
async fn youtube_comments_are_answered_in_their_thread_and_a_spent_quota_waits_for_the_next_quota_day() {
    let f = fixture().await;
    let dana = f.youtube.comment(YOUTUBE_CHANNEL, ("UCdanaViewer000000000000", "dana"), "the refund form errors out");
    let eli = f.youtube.reply(&dana, ("UCeliViewer0000000000000", "eli"), "same here, two weeks and nothing");
    let feed = Feed::YouTube { channel: YOUTUBE_CHANNEL.into() };
    let outcome = |run: &hark_listener::RunSummary| run.feeds.iter().find(|o| o.feed == feed.key()).unwrap().clone();

    let run = f.listener().run().await;
    assert_eq!((outcome(&run).enqueued, outcome(&run).hits), (2, 1), "{run:?}");
    let replies = hark_shared::channels::Outbound {
        youtube: f.youtube_client(),
        ..replies(x_client(&f.aws, &f.table, &f.x_api), None)
    };
    let processor = processor_with(&f.aws, &f.table, replies, f.clock.clone());
    let queued = f.queued().await;
    process_batch(&processor, &queued).await;
    assert_eq!(f.youtube.replies_by(YOUTUBE_CHANNEL, &dana).len(), 1, "the comment acknowledged in its thread, once");
    let inserts = f.youtube.calls().iter().filter(|c| c.as_str() == "POST comments").count();
    assert_eq!(inserts, 1, "Eli's reply to Dana is a listening hit, left to a person: {eli}");
    assert_eq!(f.youtube.units_left(), hark_local::youtube_api::DAILY_UNITS - 1 - 50, "one list, one insert");

    // A quiet run costs one unit; with the quota spent, the feed waits for midnight Pacific.
    let quiet = f.listener().run().await;
    assert_eq!(outcome(&quiet).enqueued, 0, "{quiet:?}");
    f.youtube.set_units_left(0);
    f.youtube.comment(YOUTUBE_CHANNEL, ("UCgusViewer0000000000000", "gus"), "is the lounge open?");
    let spent = f.listener().run().await;
    let paused = outcome(&spent);
    assert_eq!(paused.ended, Ended::Paused, "{paused:?}");
    let resume = paused.resume_at.unwrap();
    let midnight = hark_shared::channels::youtube::client::next_quota_day(f.clock.now());
    assert!((resume - midnight).num_seconds().abs() < 60, "{resume} is the next quota day, {midnight}");
    assert!(spent.feeds.iter().filter(|o| o.feed != feed.key()).all(|o| o.ended == Ended::Drained), "{spent:?}");
    assert_eq!(outcome(&f.listener().run().await).ended, Ended::Waiting, "nothing asked before the reset");
    f.youtube.set_units_left(10_000);
    f.clock.set(resume + TimeDelta::seconds(1));
    let next_day = f.listener().run().await;
    assert_eq!(outcome(&next_day).enqueued, 1, "{next_day:?}");
}

#[tokio::test]
async fn a_feed_s_first_read_takes_the_last_day_and_never_answers_what_was_written_before() {
    let f = fixture().await;
    let old =
        f.youtube.comment(YOUTUBE_CHANNEL, ("UCdanaViewer000000000000", "dana"), "refund form broken (last month)");
    f.youtube.backdate(&old, Utc::now() - TimeDelta::days(30));
    let new = f.youtube.comment(YOUTUBE_CHANNEL, ("UCeliViewer0000000000000", "eli"), "refund form broken (today)");
    let feed = Feed::YouTube { channel: YOUTUBE_CHANNEL.into() };
    let taken = |run: &hark_listener::RunSummary| run.feeds.iter().find(|o| o.feed == feed.key()).unwrap().enqueued;

    assert_eq!(taken(&f.listener().run().await), 1);
    let queued = f.queued().await;
    assert_eq!(queued.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(), [new.as_str()]);
    assert_eq!(taken(&f.listener().run().await), 0, "the cursor is past the old comment too");
}
