//! X API v2 client for replies and direct messages (user-context OAuth 2.0 bearer tokens,
//! renewed by the token manager), and for looking up what we posted when an attempt's
//! outcome is unknown. A 401 is answered by renewing the token and trying once more.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use reqwest::{Response, StatusCode};
use serde::Deserialize;

use crate::channels::x::comparable_text;
use crate::domain::secret::Secret;
use crate::error::{Error, Result};
use crate::ports::AccessTokens;
use crate::ports::{OutboxMessage, ReplySender, ReplyTarget, SendWindow};

const PLATFORM: &str = "X API";
/// When X gives no reset time, wait out its 15-minute window rather than hammer it.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(15 * 60);
/// Pages of the brand's timeline read when looking for one reply, at 100 per page: X
/// serves no more than the newest 3,200 posts of a timeline, and the window searched is
/// only the attempt's own minutes, so a window this full cannot be settled by reading.
const LOOKUP_PAGES: usize = 32;
/// Where X renews user tokens, relative to the API's base URL.
pub const TOKEN_PATH: &str = "/2/oauth2/token";

pub struct XApiClient<T> {
    http: reqwest::Client,
    base_url: String,
    tokens: T,
}

/// The X client as the functions build it: tokens in the table, renewed at X, re-seeded
/// from the credentials secret.
pub type AwsXApiClient = XApiClient<
    crate::domain::oauth::TokenManager<
        crate::adapters::dynamo::DynamoStore,
        crate::adapters::http::HttpTokenEndpoint,
        crate::adapters::secrets::SecretSeeds,
    >,
>;

impl AwsXApiClient {
    pub fn for_aws(
        aws: &aws_config::SdkConfig,
        base_url: &str,
        table: &str,
        credentials: &crate::credentials::Credentials,
    ) -> Result<Self> {
        let base_url = base_url.trim_end_matches('/');
        let token_url = format!("{base_url}{TOKEN_PATH}");
        let seeds = credentials.x.seeds(&token_url, credentials.issued_at);
        let arn = crate::config::optional_env("CREDENTIALS_SECRET_ARN");
        let source = crate::adapters::secrets::SecretSeeds {
            client: arn.as_ref().map(|_| crate::adapters::aws_usage::clients::secrets_manager(aws)),
            arn,
            token_url,
            seeds_of: crate::credentials::Credentials::x_seeds,
            fallback: seeds.clone(),
        };
        let tokens = crate::domain::oauth::TokenManager::new(
            PLATFORM,
            "x",
            crate::adapters::dynamo::DynamoStore::from_config(aws, table),
            crate::adapters::http::HttpTokenEndpoint::new()?,
            source,
            seeds,
        );
        XApiClient::new(base_url, tokens)
    }
}

#[derive(Deserialize)]
struct Created {
    data: CreatedData,
}

#[derive(Deserialize)]
struct CreatedData {
    id: Option<String>,
    dm_event_id: Option<String>,
}

#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    #[serde(default)]
    meta: PageMeta,
}

#[derive(Deserialize, Default)]
struct PageMeta {
    next_token: Option<String>,
}

#[derive(Deserialize)]
struct TimelinePost {
    id: String,
    text: String,
    #[serde(default)]
    referenced_tweets: Vec<Reference>,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Deserialize)]
struct DmEvent {
    id: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    sender_id: Option<String>,
}

impl<T: AccessTokens> XApiClient<T> {
    pub fn new(base_url: &str, tokens: T) -> Result<Self> {
        Ok(XApiClient {
            http: crate::adapters::http::client()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            tokens,
        })
    }

    /// Sends what `build` makes with the account's token; on 401 renews the token (unless
    /// another instance already has) and tries once more. A second 401 means the
    /// credentials themselves are refused. (A 401 means nothing was done, so trying again
    /// can never post twice.)
    async fn authorised(
        &self,
        account: &str,
        build: impl Fn(&Secret) -> reqwest::RequestBuilder,
        on_send_error: fn(reqwest::Error) -> Error,
    ) -> Result<Response> {
        let mut token = self.tokens.access_token(account).await?;
        for attempt in 0..2 {
            let response = build(&token).send().await.map_err(on_send_error)?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            if attempt == 0 {
                token = self.tokens.after_rejection(account, &token).await?;
            }
        }
        Err(Error::CredentialsRejected {
            platform: PLATFORM,
            account: account.to_owned(),
            message: "HTTP 401 with a freshly renewed token".into(),
        })
    }

    /// The answer to a write: the new object's id, or what X's status says about the attempt.
    async fn created(response: Response) -> Result<String> {
        let response = Self::checked(response, true).await?;
        // Created: from here on the message exists, so any failure to read its id is "unknown", not "retry".
        let created: Created = response.json().await.map_err(|e| Error::PlatformOutcomeUnknown {
            platform: PLATFORM,
            message: format!("unreadable response: {e}"),
        })?;
        created
            .data
            .id
            .or(created.data.dm_event_id)
            .ok_or_else(|| Error::PlatformOutcomeUnknown { platform: PLATFORM, message: "response has no id".into() })
    }

    /// Maps X's status to an error. For writes (`write`), a 5xx or a duplicate-content
    /// refusal does not say whether the post exists, so they are "unknown".
    async fn checked(response: Response, write: bool) -> Result<Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(Error::RateLimited { platform: PLATFORM, retry_after: rate_limit_wait(&response) });
        }
        let body: String = response.text().await.unwrap_or_default().chars().take(300).collect();
        let message = format!("HTTP {status}: {body}");
        if status.is_server_error() {
            return Err(if write {
                Error::PlatformOutcomeUnknown { platform: PLATFORM, message }
            } else {
                Error::PlatformUnavailable { platform: PLATFORM, message }
            });
        }
        // X refuses a post identical to one it already has: perhaps ours, from a lost answer.
        if write && status == StatusCode::FORBIDDEN && body.to_ascii_lowercase().contains("duplicate") {
            return Err(Error::PlatformOutcomeUnknown { platform: PLATFORM, message });
        }
        Err(Error::PlatformRejected { platform: PLATFORM, status: status.as_u16(), message })
    }

    async fn get<D: for<'de> Deserialize<'de>>(&self, account: &str, url: &str, query: &[(&str, &str)]) -> Result<D> {
        let build = |token: &Secret| self.http.get(url).query(query).bearer_auth(token.expose());
        let response = self.authorised(account, build, read_failed).await?;
        let response = Self::checked(response, false).await?;
        response
            .json()
            .await
            .map_err(|e| Error::PlatformUnavailable { platform: PLATFORM, message: format!("unreadable answer: {e}") })
    }

    /// Our post with this text on the account's timeline within `window`: a reply to
    /// `in_reply_to`, or with `None` a post answering no one (an incident's announcement).
    /// The window is read to its end, so not finding the post means it was not made.
    async fn find_post(
        &self,
        account: &str,
        in_reply_to: Option<&str>,
        text: &str,
        window: SendWindow,
    ) -> Result<Option<String>> {
        let url = format!("{}/2/users/{account}/tweets", self.base_url);
        let start = window.from.to_rfc3339_opts(SecondsFormat::Secs, true);
        // X refuses an end in the future; a window still open is read up to now.
        let end = (window.until < Utc::now()).then(|| window.until.to_rfc3339_opts(SecondsFormat::Secs, true));
        let wanted = comparable_text(text);
        let mut next: Option<String> = None;
        for _ in 0..LOOKUP_PAGES {
            let mut query = vec![
                ("start_time", start.as_str()),
                ("max_results", "100"),
                ("tweet.fields", "referenced_tweets,created_at"),
            ];
            if let Some(end) = end.as_deref() {
                query.push(("end_time", end));
            }
            if let Some(next) = next.as_deref() {
                query.push(("pagination_token", next));
            }
            let page: Page<TimelinePost> = self.get(account, &url, &query).await?;
            let found = page.data.into_iter().find(|post| {
                let replied_to = post.referenced_tweets.iter().find(|r| r.kind == "replied_to").map(|r| r.id.as_str());
                replied_to == in_reply_to && comparable_text(&post.text) == wanted
            });
            if let Some(post) = found {
                return Ok(Some(post.id));
            }
            match page.meta.next_token {
                Some(token) => next = Some(token),
                None => return Ok(None),
            }
        }
        // More posts in the window than X serves of a timeline: say so rather than guess "not sent".
        Err(Error::PlatformUnavailable {
            platform: PLATFORM,
            message: format!("more than {} posts while the reply may have been sent", LOOKUP_PAGES * 100),
        })
    }

    /// Our DM to `participant` with this text, among the conversation's newest events.
    async fn find_direct(&self, account: &str, participant: &str, text: &str) -> Result<Option<String>> {
        let url = format!("{}/2/dm_conversations/with/{participant}/dm_events", self.base_url);
        let wanted = comparable_text(text);
        let query = [
            ("max_results", "100"),
            ("event_types", "MessageCreate"),
            ("dm_event.fields", "id,text,sender_id,created_at"),
        ];
        let page: Page<DmEvent> = self.get(account, &url, &query).await?;
        Ok(page
            .data
            .into_iter()
            .find(|event| {
                event.sender_id.as_deref() == Some(account)
                    && event.text.as_deref().is_some_and(|t| comparable_text(t) == wanted)
            })
            .map(|event| event.id))
    }
}

fn read_failed(e: reqwest::Error) -> Error {
    Error::PlatformUnavailable { platform: PLATFORM, message: e.to_string() }
}

/// A write that failed before an answer: refused at connect means it never left; anything
/// later (a timeout) means X may have posted it.
fn write_failed(e: reqwest::Error) -> Error {
    if e.is_connect() {
        Error::PlatformUnavailable { platform: PLATFORM, message: e.to_string() }
    } else {
        Error::PlatformOutcomeUnknown { platform: PLATFORM, message: e.to_string() }
    }
}

/// `x-rate-limit-reset` is a unix time; `retry-after` (seconds) is honoured too.
fn rate_limit_wait(response: &Response) -> Duration {
    let header = |name: &str| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok())
    };
    if let Some(reset) = header("x-rate-limit-reset") {
        return Duration::from_secs((reset - Utc::now().timestamp()).max(1) as u64);
    }
    header("retry-after").map(|s| Duration::from_secs(s.max(1) as u64)).unwrap_or(DEFAULT_RATE_LIMIT_WAIT)
}

impl<T: AccessTokens> ReplySender for XApiClient<T> {
    async fn send(&self, message: &OutboxMessage) -> Result<String> {
        let (url, body) = match &message.target {
            ReplyTarget::Post { in_reply_to } => (
                format!("{}/2/tweets", self.base_url),
                serde_json::json!({ "text": message.text, "reply": { "in_reply_to_tweet_id": in_reply_to } }),
            ),
            ReplyTarget::Direct { participant_id } => (
                format!("{}/2/dm_conversations/with/{participant_id}/messages", self.base_url),
                serde_json::json!({ "text": message.text }),
            ),
            ReplyTarget::Announcement => {
                (format!("{}/2/tweets", self.base_url), serde_json::json!({ "text": message.text }))
            }
            other => return Err(Error::Invalid(format!("X cannot send to {other:?}"))),
        };
        let build = |token: &Secret| self.http.post(&url).json(&body).bearer_auth(token.expose());
        let response = self.authorised(&message.account_id, build, write_failed).await?;
        Self::created(response).await
    }

    async fn find_sent(&self, message: &OutboxMessage, window: SendWindow) -> Result<Option<String>> {
        match &message.target {
            ReplyTarget::Post { in_reply_to } => {
                self.find_post(&message.account_id, Some(in_reply_to), &message.text, window).await
            }
            ReplyTarget::Announcement => self.find_post(&message.account_id, None, &message.text, window).await,
            ReplyTarget::Direct { participant_id } => {
                self.find_direct(&message.account_id, participant_id, &message.text).await
            }
            other => Err(Error::Invalid(format!("X cannot send to {other:?}"))),
        }
    }
}
