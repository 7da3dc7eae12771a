//! The YouTube Data API v3 for the brand's channel: comment threads read for the listener
//! (`commentThreads.list`, one quota unit a page) and replies (`comments.insert` with the
//! thread's top-level comment as `parentId`, 50 units). Access tokens are Google OAuth
//! tokens renewed by the token manager. YouTube has no idempotency key, so an attempt whose
//! outcome is unknown is settled by reading the thread's replies for ours.
//!
//! The quota is per project and day (10,000 units by default) and resets at midnight
//! Pacific time: a `quotaExceeded` pauses the feed, and holds replies back, until then.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::threads::{ThreadsContext, is_valid_id, thread_of, threads_page};
use crate::adapters::http::{Exchange, ExchangeLog};
use crate::channels::feed::FeedPage;
use crate::error::{Error, Result};
use crate::ports::{AccessTokens, OutboxMessage, ReplySender, ReplyTarget, SendWindow};

const PLATFORM: &str = "YouTube";
/// Replies read when looking for one of ours: the newest hundred of the thread.
const LOOKUP_LIMIT: &str = "100";

/// When the next quota day starts: midnight in California. Taken as UTC−8 all year, so in
/// summer (UTC−7) a paused feed resumes an hour after the reset, never before it.
pub fn next_quota_day(now: DateTime<Utc>) -> DateTime<Utc> {
    let pacific = now - TimeDelta::hours(8);
    let next_midnight = pacific.date_naive().succ_opt().unwrap_or(pacific.date_naive()).and_hms_opt(0, 0, 0);
    next_midnight.map_or(now + TimeDelta::hours(24), |m| m.and_utc() + TimeDelta::hours(8))
}

pub struct YouTubeClient<T> {
    http: reqwest::Client,
    base_url: String,
    tokens: T,
    log: ExchangeLog,
}

/// The client as the functions build it: tokens in the table, renewed at Google's token
/// endpoint, re-seeded from the credentials secret.
pub type AwsYouTubeClient = YouTubeClient<
    crate::domain::oauth::TokenManager<
        crate::adapters::dynamo::DynamoStore,
        crate::adapters::http::HttpTokenEndpoint,
        crate::adapters::secrets::SecretSeeds,
    >,
>;

impl AwsYouTubeClient {
    /// `base_url` is `https://www.googleapis.com`; `token_url` Google's token endpoint.
    pub fn for_aws(
        aws: &aws_config::SdkConfig,
        base_url: &str,
        token_url: &str,
        table: &str,
        credentials: &crate::credentials::Credentials,
    ) -> Result<Self> {
        let seeds = credentials.youtube_seeds(token_url);
        let arn = crate::config::optional_env("CREDENTIALS_SECRET_ARN");
        let source = crate::adapters::secrets::SecretSeeds {
            client: arn.as_ref().map(|_| crate::adapters::aws_usage::clients::secrets_manager(aws)),
            arn,
            token_url: token_url.to_owned(),
            seeds_of: crate::credentials::Credentials::youtube_seeds,
            fallback: seeds.clone(),
        };
        let tokens = crate::domain::oauth::TokenManager::new(
            PLATFORM,
            "youtube",
            crate::adapters::dynamo::DynamoStore::from_config(aws, table),
            crate::adapters::http::HttpTokenEndpoint::new()?,
            source,
            seeds,
        );
        YouTubeClient::new(base_url, tokens, ExchangeLog::default())
    }

    /// From `YOUTUBE_API_BASE_URL` and `YOUTUBE_TOKEN_URL` (Google's by default).
    pub fn from_env(
        aws: &aws_config::SdkConfig,
        table: &str,
        credentials: &crate::credentials::Credentials,
    ) -> Result<Self> {
        use crate::config::env_or;
        Self::for_aws(
            aws,
            &env_or("YOUTUBE_API_BASE_URL", "https://www.googleapis.com".to_owned())?,
            &env_or("YOUTUBE_TOKEN_URL", "https://oauth2.googleapis.com/token".to_owned())?,
            table,
            credentials,
        )
    }
}

#[derive(Deserialize)]
struct Inserted {
    id: String,
}

#[derive(Deserialize)]
struct CommentList {
    #[serde(default)]
    items: Vec<ListedComment>,
}

#[derive(Deserialize)]
struct ListedComment {
    id: String,
    snippet: ListedSnippet,
}

#[derive(Deserialize)]
struct ListedSnippet {
    #[serde(default, rename = "authorChannelId")]
    author_channel_id: Option<Value>,
    #[serde(default, rename = "textOriginal")]
    text_original: Option<String>,
    #[serde(default, rename = "publishedAt")]
    published_at: Option<DateTime<Utc>>,
}

impl<T: AccessTokens> YouTubeClient<T> {
    pub fn new(base_url: &str, tokens: T, log: ExchangeLog) -> Result<Self> {
        Ok(YouTubeClient {
            http: crate::adapters::http::client()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            tokens,
            log,
        })
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.exchanges()
    }

    /// One call with the channel's token; a 401 renews it (unless another instance has) and
    /// the call is made once more: a refused call did nothing.
    async fn call(
        &self,
        channel: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Vec<u8>> {
        let write = method == Method::POST;
        let mut token = self.tokens.access_token(channel).await?;
        for attempt in 0..2 {
            let mut request =
                self.http.request(method.clone(), format!("{}{path}", self.base_url)).bearer_auth(token.expose());
            request = request.query(query);
            if let Some(body) = body {
                request = request.json(body);
            }
            let recorded = (&method, path.to_owned(), body.map(Value::to_string).unwrap_or_default());
            let refused = |status, _: &_, bytes: &[u8]| error(status, bytes, write, channel, Utc::now());
            match self.log.send(PLATFORM, request, recorded, refused).await.map(|(bytes, _)| bytes) {
                Err(Error::CredentialsRejected { .. }) if attempt == 0 => {
                    token = self.tokens.after_rejection(channel, &token).await?;
                }
                other => return other,
            }
        }
        unreachable!("the second attempt returns")
    }

    /// One page of the channel's comment threads, newest first; `page_token` goes on to
    /// older ones. A spent quota comes back as `RateLimited` until the next quota day.
    pub async fn threads_page(
        &self,
        channel: &str,
        page_token: Option<&str>,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<FeedPage> {
        let mut query = vec![
            ("part", "snippet,replies"),
            ("allThreadsRelatedToChannelId", channel),
            ("order", "time"),
            ("maxResults", "100"),
            ("textFormat", "plainText"),
        ];
        if let Some(token) = page_token {
            query.push(("pageToken", token));
        }
        let body = self.call(channel, Method::GET, "/youtube/v3/commentThreads", &query, None).await?;
        threads_page(&body, ThreadsContext { channel, reference }, now)
            .map_err(|message| Error::PlatformUnavailable { platform: PLATFORM, message })
    }

    /// Our reply to `message` in its thread, if one was posted since `since`.
    async fn our_reply(&self, message: &OutboxMessage, thread: &str, since: DateTime<Utc>) -> Result<Option<String>> {
        let query =
            [("part", "snippet"), ("parentId", thread), ("maxResults", LOOKUP_LIMIT), ("textFormat", "plainText")];
        let body = self.call(&message.account_id, Method::GET, "/youtube/v3/comments", &query, None).await?;
        let list: CommentList = serde_json::from_slice(&body).map_err(|_| Error::PlatformUnavailable {
            platform: PLATFORM,
            message: "comments answer unreadable".into(),
        })?;
        let ours = list.items.into_iter().find(|c| {
            let author = c.snippet.author_channel_id.as_ref().and_then(|a| a.get("value")).and_then(Value::as_str);
            author == Some(message.account_id.as_str())
                && c.snippet.text_original.as_deref().map(str::trim) == Some(message.text.trim())
                && c.snippet.published_at.is_none_or(|at| at >= since - TimeDelta::minutes(1))
        });
        Ok(ours.map(|c| c.id))
    }
}

/// The thread a reply to `message` goes in.
fn thread_for(message: &OutboxMessage) -> Result<&str> {
    let ReplyTarget::Post { in_reply_to } = &message.target else {
        return Err(Error::Invalid("Hark answers on YouTube in the comment thread only".into()));
    };
    if !is_valid_id(in_reply_to) {
        return Err(Error::Invalid(format!("{in_reply_to:?} is not a YouTube comment")));
    }
    Ok(thread_of(in_reply_to))
}

impl<T: AccessTokens> ReplySender for YouTubeClient<T> {
    async fn send(&self, message: &OutboxMessage) -> Result<String> {
        let thread = thread_for(message)?;
        let body = json!({"snippet": {"parentId": thread, "textOriginal": message.text}});
        let created = self
            .call(&message.account_id, Method::POST, "/youtube/v3/comments", &[("part", "snippet")], Some(&body))
            .await?;
        let inserted: Inserted = serde_json::from_slice(&created).map_err(|_| Error::PlatformOutcomeUnknown {
            platform: PLATFORM,
            message: "comments.insert answer unreadable".into(),
        })?;
        Ok(inserted.id)
    }

    async fn find_sent(&self, message: &OutboxMessage, window: SendWindow) -> Result<Option<String>> {
        self.our_reply(message, thread_for(message)?, window.from).await
    }
}

/// Google's error as Hark's: `error.errors[0].reason` says which 403 it is.
fn error(status: StatusCode, body: &[u8], write: bool, channel: &str, now: DateTime<Utc>) -> Error {
    let value = serde_json::from_slice::<Value>(body).ok();
    let reason = value
        .as_ref()
        .and_then(|v| v.pointer("/error/errors/0/reason"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let message: String = value
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(Value::as_str)
        .map_or_else(|| format!("HTTP {status} {reason}"), |m| format!("{reason}: {m}"))
        .chars()
        .take(200)
        .collect();
    match (status.as_u16(), reason.as_str()) {
        (403 | 429, "quotaExceeded" | "dailyLimitExceeded" | "rateLimitExceeded") => {
            let retry_after = (next_quota_day(now) - now).to_std().unwrap_or(Duration::from_secs(3600));
            Error::RateLimited { platform: PLATFORM, retry_after }
        }
        (401, _) => Error::CredentialsRejected { platform: PLATFORM, account: channel.to_owned(), message },
        (403, "insufficientPermissions" | "forbidden") if !write => {
            Error::CredentialsRejected { platform: PLATFORM, account: channel.to_owned(), message }
        }
        (500..=599, _) if write => Error::PlatformOutcomeUnknown { platform: PLATFORM, message },
        (500..=599, _) => Error::PlatformUnavailable { platform: PLATFORM, message },
        (code, _) => Error::PlatformRejected { platform: PLATFORM, status: code, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_quota_day_starts_at_midnight_in_california() {
        let cases = [
            ("winter evening", Utc.with_ymd_and_hms(2026, 12, 4, 3, 0, 0), Utc.with_ymd_and_hms(2026, 12, 4, 8, 0, 0)),
            (
                "just after the reset",
                Utc.with_ymd_and_hms(2026, 12, 4, 8, 0, 1),
                Utc.with_ymd_and_hms(2026, 12, 5, 8, 0, 0),
            ),
            (
                "summer: an hour late, never early",
                Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0),
                Utc.with_ymd_and_hms(2026, 7, 2, 8, 0, 0),
            ),
            ("new year", Utc.with_ymd_and_hms(2026, 12, 31, 20, 0, 0), Utc.with_ymd_and_hms(2027, 1, 1, 8, 0, 0)),
        ];
        for (label, now, expected) in cases {
            assert_eq!(next_quota_day(now.unwrap()), expected.unwrap(), "{label}");
        }
    }

    #[test]
    fn google_errors_say_what_to_do() {
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 3, 0, 0).unwrap();
        let quota = br#"{"error":{"code":403,"message":"The request cannot be completed because you have exceeded your quota.","errors":[{"reason":"quotaExceeded","domain":"youtube.quota"}]}}"#;
        match error(StatusCode::FORBIDDEN, quota, true, "UC1", now) {
            Error::RateLimited { retry_after, .. } => assert_eq!(retry_after, Duration::from_secs(5 * 3600)),
            other => panic!("{other}"),
        }
        let disabled =
            br#"{"error":{"code":403,"message":"Comments are disabled","errors":[{"reason":"commentsDisabled"}]}}"#;
        assert!(matches!(
            error(StatusCode::FORBIDDEN, disabled, true, "UC1", now),
            Error::PlatformRejected { status: 403, .. }
        ));
        assert!(matches!(error(StatusCode::UNAUTHORIZED, b"{}", false, "UC1", now), Error::CredentialsRejected { .. }));
        assert!(matches!(error(StatusCode::BAD_GATEWAY, b"", true, "UC1", now), Error::PlatformOutcomeUnknown { .. }));
        assert!(matches!(error(StatusCode::BAD_GATEWAY, b"", false, "UC1", now), Error::PlatformUnavailable { .. }));
    }
}
