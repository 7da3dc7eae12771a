//! The listener, run on a schedule: polls every configured feed (X recent searches, a
//! Mastodon account's mentions, its searches and hashtags, a Bluesky account's
//! notifications and searches, a YouTube channel's comment threads, Reddit's searches and
//! subreddits) from its durable cursor and
//! enqueues what it finds for the processor, as the webhook does for pushed messages.
//!
//! Each feed's cursor moves only after the page it covers is on the queue, and only by a
//! conditional write on the version it read: a run that crashes after enqueueing reads
//! the page again next time, and two overlapping runs both enqueue but only one moves the
//! cursor; the queue's and the message store's deduplication keep each message once.
//! Feeds are polled side by side and fail on their own: one platform's outage or rate
//! limit pauses that feed (until the platform's reset) and no other.

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use hark_shared::channels::bluesky::client::{AwsBlueskyClient, BlueskyListen};
use hark_shared::channels::feed::FeedPage;
use hark_shared::channels::mastodon::MastodonClient;
use hark_shared::channels::mastodon::outbound::Listen;
use hark_shared::channels::reddit::RedditClient;
use hark_shared::channels::reddit::client::RedditListen;
use hark_shared::channels::x::search::XSearchClient;
use hark_shared::channels::youtube::client::AwsYouTubeClient;
use hark_shared::domain::listening::{
    Cursor, after_forward_page, after_since_pages, first_read_takes, is_newer, is_unseen, newest, time_key, with_ties,
};
use hark_shared::error::Retry;
use hark_shared::metrics::Metrics;
use hark_shared::ports::{Clock, CursorStore, MentionQueue, SystemClock};
use serde::Serialize;

/// Pages one feed may read in one run: bounds a run's time and each platform's calls.
pub const DEFAULT_MAX_PAGES: usize = 10;

/// One thing the listener polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    /// An X account's recent search.
    XSearch { account: String },
    /// A Mastodon account's mentions, a search of its instance, or a hashtag.
    Mastodon { account: String, listen: MastodonFeed },
    /// A Bluesky account's notifications, or a search.
    Bluesky { account: String, listen: BlueskyFeed },
    /// The comment threads on a YouTube channel's videos.
    YouTube { channel: String },
    /// A Reddit search or a subreddit's new posts (only when `ListenReddit` is on).
    Reddit { listen: RedditFeed },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlueskyFeed {
    Notifications,
    Search(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedditFeed {
    Search(String),
    Subreddit(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MastodonFeed {
    Notifications,
    Search(String),
    Hashtag(String),
}

impl Feed {
    /// The cursor's name: stable across runs and deployments.
    pub fn key(&self) -> String {
        match self {
            Feed::XSearch { account } => format!("x:{account}:search"),
            Feed::Mastodon { account, listen } => match listen {
                MastodonFeed::Notifications => format!("mastodon:{account}:notifications"),
                MastodonFeed::Search(q) => format!("mastodon:{account}:search:{:016x}", hark_shared::stable_hash(q)),
                MastodonFeed::Hashtag(tag) => format!("mastodon:{account}:tag:{tag}"),
            },
            Feed::Bluesky { account, listen } => match listen {
                BlueskyFeed::Notifications => format!("bluesky:{account}:notifications"),
                BlueskyFeed::Search(q) => format!("bluesky:{account}:search:{:016x}", hark_shared::stable_hash(q)),
            },
            Feed::YouTube { channel } => format!("youtube:{channel}:threads"),
            Feed::Reddit { listen } => match listen {
                RedditFeed::Search(q) => format!("reddit:search:{:016x}", hark_shared::stable_hash(q)),
                RedditFeed::Subreddit(sub) => format!("reddit:r:{}", sub.to_ascii_lowercase()),
            },
        }
    }

    fn platform(&self) -> &'static str {
        match self {
            Feed::XSearch { .. } => "x",
            Feed::Mastodon { .. } => "mastodon",
            Feed::Bluesky { .. } => "bluesky",
            Feed::YouTube { .. } => "youtube",
            Feed::Reddit { .. } => "reddit",
        }
    }
}

/// Every feed the credentials configure, in a fixed order; Reddit's only with `reddit` on
/// (its Data API needs an agreement for commercial use).
pub fn feeds(credentials: &hark_shared::credentials::Credentials, reddit: bool) -> Vec<Feed> {
    let mut feeds: Vec<Feed> = credentials
        .x
        .accounts
        .iter()
        .filter(|(_, a)| a.search.is_some())
        .map(|(id, _)| Feed::XSearch { account: id.clone() })
        .collect();
    for (id, account) in credentials.mastodon.iter().flat_map(|m| &m.accounts) {
        feeds.push(Feed::Mastodon { account: id.clone(), listen: MastodonFeed::Notifications });
        for term in &account.listen {
            let term = term.trim();
            let listen = match term.strip_prefix('#') {
                Some(tag) => MastodonFeed::Hashtag(tag.to_owned()),
                None => MastodonFeed::Search(term.to_owned()),
            };
            feeds.push(Feed::Mastodon { account: id.clone(), listen });
        }
    }
    for (id, account) in credentials.bluesky.iter().flat_map(|b| b.accounts()) {
        feeds.push(Feed::Bluesky { account: id.clone(), listen: BlueskyFeed::Notifications });
        feeds.extend(
            account
                .listen
                .iter()
                .map(|q| Feed::Bluesky { account: id.clone(), listen: BlueskyFeed::Search(q.trim().to_owned()) }),
        );
    }
    feeds.extend(
        credentials.youtube.iter().flat_map(|y| y.channels.keys()).map(|id| Feed::YouTube { channel: id.clone() }),
    );
    if let Some(r) = credentials.reddit.as_ref().filter(|_| reddit) {
        feeds.extend(r.searches.iter().map(|q| Feed::Reddit { listen: RedditFeed::Search(q.trim().to_owned()) }));
        feeds.extend(r.subreddits.iter().map(|s| Feed::Reddit { listen: RedditFeed::Subreddit(s.clone()) }));
    }
    feeds.sort_by_key(Feed::key);
    feeds
}

pub struct Listener<S, Q> {
    pub store: S,
    pub queue: Q,
    pub x: XSearchClient,
    pub mastodon: MastodonClient,
    pub bluesky: AwsBlueskyClient,
    pub youtube: AwsYouTubeClient,
    /// When Reddit listening is on and configured.
    pub reddit: Option<RedditClient>,
    pub feeds: Vec<Feed>,
    pub max_pages: usize,
    pub clock: Box<dyn Clock>,
}

/// How one feed's poll ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// Everything new was taken.
    Drained,
    /// The run's page budget was spent; the next run goes on.
    PageBudget,
    /// The platform's rate limit or quota: the feed waits until `resume_at`.
    Paused,
    /// Still paused from an earlier run: nothing was asked.
    Waiting,
    /// The platform failed; the cursor stays and the next run tries again.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedOutcome {
    pub feed: String,
    pub pages: usize,
    pub enqueued: usize,
    /// Of which listening hits (never answered automatically).
    pub hits: usize,
    pub ended: Ended,
    /// Another run moved the cursor first; this run's cursor was not written.
    pub overtaken: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub enqueued: usize,
    pub hits: usize,
    pub feeds: Vec<FeedOutcome>,
}

pub type AwsListener = Listener<hark_shared::adapters::dynamo::DynamoStore, hark_shared::adapters::sqs::SqsQueue>;

impl AwsListener {
    pub async fn from_env() -> hark_shared::Result<Self> {
        use hark_shared::config::{env_or, required_env};
        let aws = hark_shared::config::aws().await;
        let credentials = hark_shared::credentials::Credentials::load(&aws).await?;
        let table = required_env("TABLE_NAME")?;
        let reddit_on = env_or("LISTEN_REDDIT", "off".to_owned())? == "on";
        let reddit = match credentials.reddit.as_ref().filter(|_| reddit_on) {
            Some(r) => Some(RedditClient::new(
                &env_or("REDDIT_AUTH_BASE_URL", "https://www.reddit.com".to_owned())?,
                &env_or("REDDIT_API_BASE_URL", "https://oauth.reddit.com".to_owned())?,
                r,
            )?),
            None => None,
        };
        Ok(Listener {
            store: hark_shared::adapters::dynamo::DynamoStore::from_config(&aws, &table),
            queue: hark_shared::adapters::sqs::SqsQueue::from_config(&aws, required_env("QUEUE_URL")?),
            x: XSearchClient::new(&env_or("X_API_BASE_URL", "https://api.x.com".to_owned())?, &credentials.x)?,
            mastodon: MastodonClient::new(credentials.mastodon.as_ref(), Default::default())?,
            bluesky: AwsBlueskyClient::for_aws(&aws, &table, &credentials)?,
            youtube: AwsYouTubeClient::from_env(&aws, &table, &credentials)?,
            reddit,
            feeds: feeds(&credentials, reddit_on),
            max_pages: env_or("LISTENER_MAX_PAGES", DEFAULT_MAX_PAGES)?,
            clock: Box::new(SystemClock),
        })
    }
}

/// How a newest-first feed's items are placed against its cursor.
#[derive(Debug, Clone, Copy)]
enum Placed {
    /// By id (Reddit's fullnames grow).
    ById,
    /// By time (`time_key`): the mention's `created_at` is the time the platform ordered it by.
    ByTime,
}

impl Placed {
    fn of(self, mention: &hark_shared::domain::mention::Mention) -> String {
        match self {
            Placed::ById => mention.message_id.clone(),
            Placed::ByTime => time_key(mention.created_at),
        }
    }
}

/// What polling a feed did to its cursor, and what it took.
struct Polled {
    cursor: Cursor,
    pages: usize,
    enqueued: usize,
    hits: usize,
    ended: Ended,
    error: Option<String>,
}

impl From<&Cursor> for Polled {
    /// Nothing taken yet, from `cursor`.
    fn from(cursor: &Cursor) -> Self {
        Polled { cursor: cursor.clone(), pages: 0, enqueued: 0, hits: 0, ended: Ended::Drained, error: None }
    }
}

impl<S: CursorStore, Q: MentionQueue> Listener<S, Q> {
    /// Polls every feed side by side; one feed's failure is its own.
    pub async fn run(&self) -> RunSummary {
        let outcomes = join_all(self.feeds.iter().map(|feed| self.poll(feed))).await;
        let mut metrics = Metrics::new("listener");
        let mut summary = RunSummary::default();
        for (feed, outcome) in self.feeds.iter().zip(outcomes) {
            summary.enqueued += outcome.enqueued;
            summary.hits += outcome.hits;
            let platform = [("Platform", feed.platform())];
            metrics.count_by("MentionsEnqueued", &platform, outcome.enqueued as u64);
            metrics.count_by("ListeningHits", &platform, outcome.hits as u64);
            match outcome.ended {
                Ended::Failed => {
                    metrics.count_by("FeedFailures", &platform, 1);
                    tracing::error!(feed = outcome.feed, error = outcome.error, "listening feed failed");
                }
                Ended::Paused => {
                    metrics.count_by("FeedsPaused", &platform, 1);
                    tracing::warn!(feed = outcome.feed, resume_at = ?outcome.resume_at, "listening feed paused by its platform");
                }
                _ => {}
            }
            summary.feeds.push(outcome);
        }
        metrics.emit();
        tracing::info!(enqueued = summary.enqueued, hits = summary.hits, feeds = summary.feeds.len(), "listener run");
        summary
    }

    async fn poll(&self, feed: &Feed) -> FeedOutcome {
        let key = feed.key();
        let outcome = |polled: Option<&Polled>, overtaken: bool, error: Option<String>| FeedOutcome {
            feed: key.clone(),
            pages: polled.map_or(0, |p| p.pages),
            enqueued: polled.map_or(0, |p| p.enqueued),
            hits: polled.map_or(0, |p| p.hits),
            ended: polled.map_or(Ended::Failed, |p| p.ended.clone()),
            overtaken,
            resume_at: polled.and_then(|p| p.cursor.resume_at),
            error: error.or_else(|| polled.and_then(|p| p.error.clone())),
        };
        let stored = match self.store.cursor(&key).await {
            Ok(stored) => stored,
            Err(e) => return outcome(None, false, Some(e.to_string())),
        };
        let now = self.clock.now();
        if stored.cursor.resume_at.is_some_and(|at| at > now) {
            let waiting = Polled { ended: Ended::Waiting, ..Polled::from(&stored.cursor) };
            return outcome(Some(&waiting), false, None);
        }
        let mut polled = match feed {
            Feed::XSearch { account } => self.poll_x(account, &key, &stored.cursor, now).await,
            Feed::Mastodon { account, listen } => self.poll_mastodon(account, listen, &key, &stored.cursor, now).await,
            Feed::Bluesky { account, listen } => self.poll_bluesky(account, listen, &key, &stored.cursor, now).await,
            Feed::YouTube { channel } => {
                let key = key.as_str();
                self.poll_pages(&stored.cursor, now, Some(Placed::ByTime), |page| async move {
                    self.youtube.threads_page(channel, page.as_deref(), key, now).await
                })
                .await
            }
            Feed::Reddit { listen } => self.poll_reddit(listen, &key, &stored.cursor, now).await,
        };
        polled.cursor.polled_at = Some(now);
        if polled.cursor.resume_at.is_some_and(|at| at <= now) {
            polled.cursor.resume_at = None;
        }
        match self.store.advance(&key, stored.version, &polled.cursor).await {
            Ok(advanced) => outcome(Some(&polled), !advanced, None),
            // What was enqueued stays enqueued; the next run reads from the old cursor.
            Err(e) => outcome(Some(&Polled { ended: Ended::Failed, ..polled }), false, Some(e.to_string())),
        }
    }

    /// Enqueues a page's mentions: the cursor may move past them only once this succeeds.
    async fn take(&self, page: &FeedPage, polled: &mut Polled) -> Result<(), hark_shared::Error> {
        if !page.mentions.is_empty() {
            self.queue.enqueue(&page.mentions).await?;
        }
        polled.pages += 1;
        polled.enqueued += page.mentions.len();
        polled.hits += page.mentions.iter().filter(|m| m.listening).count();
        for skipped in page.skipped.iter().filter(|s| s.malformed) {
            tracing::warn!(reason = skipped.reason, "listening result skipped");
        }
        Ok(())
    }

    /// A platform error ends the poll. One that says when to try again (a rate limit until
    /// the platform's reset; refused credentials until an operator has had time to renew
    /// them) pauses the feed until then, so a run does not ask again in vain; anything else
    /// leaves the cursor for the next run.
    fn stopped(polled: &mut Polled, error: hark_shared::Error, now: DateTime<Utc>) {
        if let Retry::After(wait) = error.retry() {
            polled.cursor.resume_at =
                Some(now + chrono::TimeDelta::from_std(wait).unwrap_or(chrono::TimeDelta::minutes(15)));
        }
        polled.ended =
            if matches!(error, hark_shared::Error::RateLimited { .. }) { Ended::Paused } else { Ended::Failed };
        polled.error = Some(error.to_string());
    }

    /// One page fetched and enqueued, or the poll stopped by its error (`None`).
    async fn taken(
        &self,
        polled: &mut Polled,
        fetched: hark_shared::Result<FeedPage>,
        now: DateTime<Utc>,
    ) -> Option<FeedPage> {
        let mut page = match fetched {
            Ok(page) => page,
            Err(e) => {
                Self::stopped(polled, e, now);
                return None;
            }
        };
        // A feed's first read starts from the last day; the cursor still moves past it all.
        if polled.cursor.newest_id.is_none() {
            page.mentions.retain(|m| first_read_takes(m.created_at, now));
        }
        if let Err(e) = self.take(&page, polled).await {
            Self::stopped(polled, e, now);
            return None;
        }
        Some(page)
    }

    fn out_of_pages(&self, polled: &mut Polled) -> bool {
        let out = polled.pages == self.max_pages;
        if out {
            polled.ended = Ended::PageBudget;
        }
        out
    }

    /// Newest-first pages followed by their page token (X's `next_token`, Reddit's `after`,
    /// Bluesky's `cursor`): the cursor moves to the poll's newest once it is drained
    /// (`after_since_pages`). With `placed` (the platform is sent no cursor: Reddit's anchor
    /// may be deleted and stall `before=` for good; Bluesky's and YouTube's lists page only
    /// backwards), only what is newer than the cursor is taken, and older pages are read only
    /// while a whole page is new; a feed's first read takes its newest page.
    async fn poll_pages<F, Fut>(
        &self,
        cursor: &Cursor,
        now: DateTime<Utc>,
        placed: Option<Placed>,
        mut fetch: F,
    ) -> Polled
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: std::future::Future<Output = hark_shared::Result<FeedPage>>,
    {
        let mut polled = Polled::from(cursor);
        let old = cursor.newest_id.clone();
        let mut next = cursor.draining.as_ref().map(|d| d.next.clone());
        let mut first_newest: Option<String> = None;
        let mut taken: Vec<(String, String)> = Vec::new();
        while !self.out_of_pages(&mut polled) {
            let mut fetched = fetch(next.clone()).await;
            if let (Ok(page), Some(placed)) = (&mut fetched, placed) {
                page.mentions.retain(|m| match placed {
                    Placed::ById => old.as_deref().is_none_or(|o| is_newer(&m.message_id, o)),
                    Placed::ByTime => is_unseen(cursor, &placed.of(m), &m.message_id),
                });
            }
            let Some(page) = self.taken(&mut polled, fetched, now).await else { return polled };
            if let Some(Placed::ByTime) = placed {
                taken.extend(page.mentions.iter().map(|m| (time_key(m.created_at), m.message_id.clone())));
            }
            if polled.pages == 1 {
                first_newest = newest(page.ids.iter().map(String::as_str)).map(str::to_owned);
            }
            let reached = placed.is_some() && old.as_deref().is_none_or(|o| page.ids.iter().any(|id| !is_newer(id, o)));
            let following = if reached { None } else { page.next.clone() };
            polled.cursor = after_since_pages(cursor, first_newest.as_deref(), following.as_deref());
            if let Some(Placed::ByTime) = placed {
                polled.cursor = with_ties(cursor, polled.cursor.clone(), &taken);
            }
            if let Some(until) = page.pause_until {
                polled.cursor.resume_at = Some(until);
                polled.ended = if following.is_some() { Ended::Paused } else { Ended::Drained };
                break;
            }
            match following {
                Some(following) => next = Some(following),
                None => break,
            }
        }
        polled
    }

    async fn poll_x(&self, account: &str, key: &str, cursor: &Cursor, now: DateTime<Utc>) -> Polled {
        let since = cursor.newest_id.clone();
        self.poll_pages(cursor, now, None, |next| {
            let since = since.clone();
            async move { self.x.page(account, since.as_deref(), next.as_deref(), key, now).await }
        })
        .await
    }

    async fn poll_reddit(&self, feed: &RedditFeed, key: &str, cursor: &Cursor, now: DateTime<Utc>) -> Polled {
        let Some(reddit) = &self.reddit else {
            return Polled {
                ended: Ended::Failed,
                error: Some("Reddit listening is off".into()),
                ..Polled::from(cursor)
            };
        };
        let listen = match feed {
            RedditFeed::Search(q) => RedditListen::Search(q),
            RedditFeed::Subreddit(sub) => RedditListen::Subreddit(sub),
        };
        self.poll_pages(cursor, now, Some(Placed::ById), |after| async move {
            reddit.listing_page(listen, after.as_deref(), key, now).await
        })
        .await
    }

    /// Bluesky's lists page backwards only, and its URIs do not order: items are placed by
    /// the time Bluesky indexed them. A search asks only for what is newer than the cursor
    /// less a margin (`since` is on Bluesky's sort time, which is the earlier of the post's
    /// own `createdAt` and its indexing, so a few minutes' skew must not drop a post).
    async fn poll_bluesky(
        &self,
        account: &str,
        feed: &BlueskyFeed,
        key: &str,
        cursor: &Cursor,
        now: DateTime<Utc>,
    ) -> Polled {
        let listen = match feed {
            BlueskyFeed::Notifications => BlueskyListen::Notifications,
            BlueskyFeed::Search(q) => BlueskyListen::Search(q),
        };
        let since = cursor
            .newest_id
            .as_deref()
            .and_then(|key| key.parse::<DateTime<Utc>>().ok())
            .map(|at| at - chrono::TimeDelta::minutes(15));
        self.poll_pages(cursor, now, Some(Placed::ByTime), |page| async move {
            self.bluesky.listen_page(account, listen, page.as_deref(), since, key, now).await
        })
        .await
    }

    /// Mastodon's pages are read forward from `min_id`, the cursor moving past each page.
    async fn poll_mastodon(
        &self,
        account: &str,
        feed: &MastodonFeed,
        key: &str,
        cursor: &Cursor,
        now: DateTime<Utc>,
    ) -> Polled {
        let mut polled = Polled::from(cursor);
        let listen = match feed {
            MastodonFeed::Notifications => Listen::Notifications,
            MastodonFeed::Search(q) => Listen::Search(q),
            MastodonFeed::Hashtag(tag) => Listen::Hashtag(tag),
        };
        while !self.out_of_pages(&mut polled) {
            let min_id = polled.cursor.newest_id.clone();
            let fetched = self.mastodon.listen_page(account, listen, min_id.as_deref(), key, now).await;
            let Some(page) = self.taken(&mut polled, fetched, now).await else { return polled };
            let ids: Vec<&str> = page.ids.iter().map(String::as_str).collect();
            polled.cursor = after_forward_page(&polled.cursor, &ids);
            if let Some(until) = page.pause_until {
                polled.cursor.resume_at = Some(until);
                polled.ended = Ended::Paused;
                break;
            }
            // An empty page, or one that moved nothing, is the end of what is new. The first
            // read of a feed takes its newest page and starts from there.
            if ids.is_empty() || polled.cursor.newest_id == min_id || min_id.is_none() {
                break;
            }
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configured_feed_has_a_stable_key() {
        let credentials = hark_shared::credentials::Credentials::from_json(
            r#"{"x": {"accounts": {"100": {"search": {"bearer_token": "t", "handle": "acme", "query": "acme"}},
                                   "200": {"consumer_secret": "s"}}},
                "mastodon": {"accounts": {"14715": {"instance": "https://mastodon.social", "access_token": "t",
                                                     "listen": ["acme air", " #acmeair "]}}},
                "bluesky": {"accounts": {"did:plc:acme4irbr4nd2a2b3c4d5e6f": {"identifier": "acmeair.bsky.social",
                                                                            "app_password": "p", "listen": ["acme air"]}}}}"#,
        )
        .unwrap();
        let keys: Vec<String> = feeds(&credentials, false).iter().map(Feed::key).collect();
        let search = format!("mastodon:14715:search:{:016x}", hark_shared::stable_hash("acme air"));
        assert_eq!(
            keys,
            [
                "bluesky:plc_acme4irbr4nd2a2b3c4d5e6f:notifications".to_owned(),
                format!("bluesky:plc_acme4irbr4nd2a2b3c4d5e6f:search:{:016x}", hark_shared::stable_hash("acme air")),
                "mastodon:14715:notifications".into(),
                search,
                "mastodon:14715:tag:acmeair".into(),
                "x:100:search".into()
            ]
        );
        assert!(feeds(&Default::default(), true).is_empty(), "no credentials, nothing to poll");
        let with_reddit = hark_shared::credentials::Credentials::from_json(
            r#"{"reddit": {"client_id": "c", "client_secret": "s", "username": "acmeair",
                           "user_agent": "rust:com.acme.hark:v1 (by /u/acmeair)", "searches": ["acme air"], "subreddits": ["AcmeAir"]}}"#,
        )
        .unwrap();
        assert!(feeds(&with_reddit, false).is_empty(), "Reddit is off unless turned on");
        let keys: Vec<String> = feeds(&with_reddit, true).iter().map(Feed::key).collect();
        assert_eq!(
            keys,
            ["reddit:r:acmeair".to_owned(), format!("reddit:search:{:016x}", hark_shared::stable_hash("acme air"))]
        );
    }
}
