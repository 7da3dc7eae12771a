//! Reddit's API for the listener: an application-only token (`client_credentials`, kept
//! for its `expires_in`), listings read newest first, and Reddit's rate-limit headers
//! (`X-Ratelimit-Remaining`, a float; `X-Ratelimit-Reset`, seconds) honoured. Every request
//! carries the operator's User-Agent, as Reddit requires.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::listing::{ListingContext, is_subreddit, parse_listing};
use crate::channels::feed::{FeedPage, reset_at};
use crate::credentials::RedditCredentials;
use crate::domain::secret::Secret;
use crate::error::{Error, Result};

const PLATFORM: &str = "Reddit";
/// Reddit's window is ten minutes; when it says nothing, wait that long.
const DEFAULT_PAUSE: Duration = Duration::from_secs(600);
/// A token is renewed this long before Reddit says it expires.
const EARLY: Duration = Duration::from_secs(60);

/// What one listing request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedditListen<'a> {
    /// `GET /search?q=…&sort=new&type=link`: posts anywhere ([U] comments are not searchable).
    Search(&'a str),
    /// `GET /r/{subreddit}/new`.
    Subreddit(&'a str),
}

#[derive(Deserialize)]
struct Grant {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

pub struct RedditClient {
    http: reqwest::Client,
    auth_base: String,
    api_base: String,
    client_id: String,
    client_secret: Secret,
    user_agent: String,
    username: String,
    token: Mutex<Option<(Secret, Instant)>>,
}

impl RedditClient {
    /// `auth_base` is `https://www.reddit.com`, `api_base` `https://oauth.reddit.com`.
    pub fn new(auth_base: &str, api_base: &str, credentials: &RedditCredentials) -> Result<Self> {
        Ok(RedditClient {
            http: crate::adapters::http::client()?,
            auth_base: auth_base.trim_end_matches('/').to_owned(),
            api_base: api_base.trim_end_matches('/').to_owned(),
            client_id: credentials.client_id.clone(),
            client_secret: credentials.client_secret.clone(),
            user_agent: credentials.user_agent.clone(),
            username: credentials.username.clone(),
            token: Mutex::new(None),
        })
    }

    /// The brand's username: what Reddit posts are filed under.
    pub fn account(&self) -> &str {
        &self.username
    }

    async fn token(&self) -> Result<Secret> {
        let mut held = self.token.lock().await;
        if let Some((token, expires)) = held.as_ref()
            && Instant::now() + EARLY < *expires
        {
            return Ok(token.clone());
        }
        let answer = self
            .http
            .post(format!("{}/api/v1/access_token", self.auth_base))
            .basic_auth(&self.client_id, Some(self.client_secret.expose()))
            .header(reqwest::header::USER_AGENT, &self.user_agent)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| Error::PlatformUnavailable { platform: PLATFORM, message: e.without_url().to_string() })?;
        let status = answer.status().as_u16();
        if status == 401 || status == 403 {
            return Err(Error::CredentialsRejected {
                platform: PLATFORM,
                account: self.username.clone(),
                message: format!("the token endpoint answered {status}"),
            });
        }
        let grant: Grant = answer.json().await.map_err(|_| Error::PlatformUnavailable {
            platform: PLATFORM,
            message: format!("token answer ({status}) unreadable"),
        })?;
        let token = Secret::new(grant.access_token);
        let lifetime = Duration::from_secs(grant.expires_in.unwrap_or(3600));
        *held = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    /// One page of a listing, newest first, after `after` (older) when given.
    pub async fn listing_page(
        &self,
        listen: RedditListen<'_>,
        after: Option<&str>,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<FeedPage> {
        let (path, mut query) = match listen {
            RedditListen::Search(q) => ("/search".to_owned(), vec![("q", q), ("sort", "new"), ("type", "link")]),
            RedditListen::Subreddit(sub) if is_subreddit(sub) => (format!("/r/{sub}/new"), Vec::new()),
            RedditListen::Subreddit(sub) => return Err(Error::Config(format!("{sub:?} is not a subreddit"))),
        };
        query.extend([("limit", "100"), ("raw_json", "1")]);
        if let Some(after) = after {
            query.push(("after", after));
        }
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let response = self
                .http
                .get(format!("{}{path}", self.api_base))
                .bearer_auth(token.expose())
                .header(reqwest::header::USER_AGENT, &self.user_agent)
                .query(&query)
                .send()
                .await
                .map_err(|e| Error::PlatformUnavailable { platform: PLATFORM, message: e.without_url().to_string() })?;
            let status = response.status().as_u16();
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let remaining = header("x-ratelimit-remaining").and_then(|v| v.trim().parse::<f64>().ok());
            let reset = header("x-ratelimit-reset").and_then(|v| reset_at(&v, now));
            match status {
                200 => {
                    let body = response.bytes().await.map_err(|e| Error::PlatformUnavailable {
                        platform: PLATFORM,
                        message: e.without_url().to_string(),
                    })?;
                    let context = ListingContext { account: &self.username, reference };
                    let mut page = parse_listing(&body, context, now)
                        .map_err(|message| Error::PlatformUnavailable { platform: PLATFORM, message })?;
                    if remaining.is_some_and(|r| r < 1.0) {
                        page.pause_until = Some(reset.unwrap_or(now + chrono::TimeDelta::minutes(10)));
                    }
                    return Ok(page);
                }
                // A token Reddit no longer takes: a fresh one, once.
                401 if !retried => {
                    retried = true;
                    *self.token.lock().await = None;
                }
                429 => {
                    let retry_after = reset.and_then(|r| (r - now).to_std().ok()).unwrap_or(DEFAULT_PAUSE);
                    return Err(Error::RateLimited { platform: PLATFORM, retry_after });
                }
                401 | 403 => {
                    return Err(Error::CredentialsRejected {
                        platform: PLATFORM,
                        account: self.username.clone(),
                        message: format!("the API answered {status}"),
                    });
                }
                500..=599 => {
                    return Err(Error::PlatformUnavailable { platform: PLATFORM, message: format!("HTTP {status}") });
                }
                _ => {
                    return Err(Error::PlatformRejected {
                        platform: PLATFORM,
                        status,
                        message: format!("HTTP {status}"),
                    });
                }
            }
        }
    }
}
