//! The Comments API: answers as the organisation, under the comment or post they answer;
//! the text of comments and posts whose notification left it out; and, when an attempt's
//! outcome is unknown, a look at the thread for the organisation's comment.
//!
//! Every request pins `LinkedIn-Version` (LinkedIn retires a version about a year after
//! it ships: bump `LINKEDIN_VERSION` at least yearly) and speaks Rest.li 2.0.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::urn;
use crate::adapters::http::{Exchange, ExchangeLog};
use crate::credentials::LinkedInCredentials;
use crate::domain::mention::{Mention, TextSource};
use crate::domain::secret::Secret;
use crate::error::{Error, Result};
use crate::ports::{FetchedText, OutboxMessage, ReplySender, ReplyTarget, SendWindow};

const PLATFORM: &str = "LinkedIn API";
/// The version Hark was built against (`YYYYMM`).
pub const DEFAULT_VERSION: &str = "202611";
/// The comments looked through for ours when an attempt's outcome is unknown.
const LOOKUP_COUNT: &str = "100";
/// A throttle that is not the daily quota: wait a minute, then the outbox's backoff.
const SHORT_THROTTLE: Duration = Duration::from_secs(60);

pub struct LinkedInClient {
    http: reqwest::Client,
    /// `https://api.linkedin.com/rest`
    base: String,
    version: String,
    tokens: HashMap<String, Secret>,
    log: ExchangeLog,
}

/// How long a 429 asks Hark to wait. LinkedIn's quotas are daily and reset at midnight
/// UTC, and its 429s carry no rate-limit headers: a body that names the day limit waits
/// for midnight; any other throttle waits a minute. [U] The body's wording is LinkedIn's
/// current one; this is the one place to change if it changes.
pub fn throttle_wait(body: &str, now: DateTime<Utc>) -> Duration {
    if body.contains("DAY limit") || body.to_ascii_lowercase().contains("daily") {
        let midnight = (now.date_naive() + chrono::Days::new(1)).and_hms_opt(0, 0, 0).expect("midnight exists");
        let wait = Utc.from_utc_datetime(&midnight) - now;
        wait.to_std().unwrap_or(SHORT_THROTTLE).max(Duration::from_secs(1))
    } else {
        SHORT_THROTTLE
    }
}

impl LinkedInClient {
    /// `base_url` is LinkedIn's API (`https://api.linkedin.com`); `version` is `YYYYMM`.
    pub fn new(
        base_url: &str,
        version: &str,
        credentials: Option<&LinkedInCredentials>,
        log: ExchangeLog,
    ) -> Result<Self> {
        if version.len() != 6 || !version.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Config(format!("LinkedIn-Version {version:?} is not of the form 202611")));
        }
        let tokens: HashMap<String, Secret> = credentials
            .map(|c| c.organizations.iter().map(|(org, o)| (org.clone(), o.access_token.clone())).collect())
            .unwrap_or_default();
        let log = log.redacting(tokens.values().map(|t| t.expose().to_owned()));
        Ok(LinkedInClient {
            http: crate::adapters::http::client()?,
            base: format!("{}/rest", base_url.trim_end_matches('/')),
            version: version.to_owned(),
            tokens,
            log,
        })
    }

    /// The client as the functions build it: `LINKEDIN_API_BASE_URL` and `LINKEDIN_VERSION`
    /// (defaults: LinkedIn's, and [`DEFAULT_VERSION`]).
    pub fn from_env(credentials: &crate::credentials::Credentials) -> Result<Self> {
        use crate::config::env_or;
        let base = env_or("LINKEDIN_API_BASE_URL", "https://api.linkedin.com".to_owned())?;
        let version = env_or("LINKEDIN_VERSION", DEFAULT_VERSION.to_owned())?;
        Self::new(&base, &version, credentials.linkedin.as_ref(), ExchangeLog::default())
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.exchanges()
    }

    /// Where an answer to `in_reply_to` goes, and what it says: a comment under the post,
    /// or a reply under the comment (nested comments are posted to the parent's URN).
    fn comment_request(org: &str, in_reply_to: &str, text: &str) -> Result<(String, Value)> {
        let invalid = || Error::Invalid(format!("{in_reply_to:?} is not a LinkedIn post or comment"));
        let actor = format!("urn:li:organization:{org}");
        let target = urn::urn_of(in_reply_to).ok_or_else(invalid)?;
        let body = match urn::comment_parts(in_reply_to) {
            Some((post, _)) => {
                json!({"actor": actor, "object": post, "parentComment": target, "message": {"text": text}})
            }
            None if urn::is_post_id(in_reply_to) => {
                json!({"actor": actor, "object": target, "message": {"text": text}})
            }
            None => return Err(invalid()),
        };
        Ok((format!("socialActions/{}/comments", urn::path_encoded(&target)), body))
    }

    async fn call(
        &self,
        org: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(Value, Option<String>)> {
        let token = self
            .tokens
            .get(org)
            .ok_or_else(|| Error::Config(format!("the credentials hold no token for organisation {org}")))?;
        let write = method == Method::POST;
        let mut request = self
            .http
            .request(method.clone(), format!("{}/{path}", self.base))
            .bearer_auth(token.expose())
            .header("LinkedIn-Version", &self.version)
            .header("X-Restli-Protocol-Version", "2.0.0");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let recorded = (&method, format!("/rest/{path}"), body.map(Value::to_string).unwrap_or_default());
        let refused = |status, _: &_, bytes: &[u8]| error(status, &String::from_utf8_lossy(bytes), write, org);
        let (bytes, headers) = self.log.send(PLATFORM, request, recorded, refused).await?;
        let created = ["x-restli-id", "x-linkedin-id"]
            .iter()
            .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()).map(str::to_owned));
        Ok((serde_json::from_slice(&bytes).unwrap_or(Value::Null), created))
    }
}

/// The one place LinkedIn's answers become errors.
fn error(status: StatusCode, body: &str, write: bool, org: &str) -> Error {
    let message: String = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| format!("HTTP {status}"))
        .chars()
        .take(200)
        .collect();
    match status.as_u16() {
        429 => Error::RateLimited { platform: PLATFORM, retry_after: throttle_wait(body, Utc::now()) },
        401 => Error::CredentialsRejected { platform: PLATFORM, account: org.to_owned(), message },
        // A 5xx after a write may have been acted on.
        500..=599 if write => Error::PlatformOutcomeUnknown { platform: PLATFORM, message },
        500..=599 => Error::PlatformUnavailable { platform: PLATFORM, message },
        code => Error::PlatformRejected { platform: PLATFORM, status: code, message },
    }
}

/// The created comment's id, from the body's `$URN` or the id header.
fn created_id(body: &Value, header: Option<&str>) -> Option<String> {
    body.get("$URN").and_then(Value::as_str).and_then(urn::id_of).or_else(|| header.and_then(urn::id_of))
}

impl ReplySender for LinkedInClient {
    async fn send(&self, message: &OutboxMessage) -> Result<String> {
        let ReplyTarget::Post { in_reply_to } = &message.target else {
            return Err(Error::Invalid("a LinkedIn organisation answers in public only".into()));
        };
        let (path, body) = Self::comment_request(&message.account_id, in_reply_to, &message.text)?;
        let (answer, header) = self.call(&message.account_id, Method::POST, &path, &[], Some(&body)).await?;
        created_id(&answer, header.as_deref()).ok_or_else(|| Error::PlatformOutcomeUnknown {
            platform: PLATFORM,
            message: "created, but the answer names no comment".into(),
        })
    }

    /// The thread's comments, for the organisation's own with this text, made within `window`.
    async fn find_sent(&self, message: &OutboxMessage, window: SendWindow) -> Result<Option<String>> {
        let ReplyTarget::Post { in_reply_to } = &message.target else { return Ok(None) };
        let (path, _) = Self::comment_request(&message.account_id, in_reply_to, &message.text)?;
        let (answer, _) = self.call(&message.account_id, Method::GET, &path, &[("count", LOOKUP_COUNT)], None).await?;
        let actor = format!("urn:li:organization:{}", message.account_id);
        let ours = answer.get("elements").and_then(Value::as_array).into_iter().flatten().find(|c| {
            let at =
                c.pointer("/created/time").and_then(Value::as_i64).and_then(|ms| Utc.timestamp_millis_opt(ms).single());
            c.get("actor").and_then(Value::as_str) == Some(actor.as_str())
                && c.pointer("/message/text").and_then(Value::as_str).map(str::trim) == Some(message.text.trim())
                && at.is_some_and(|at| at >= window.from)
        });
        Ok(ours.and_then(|c| created_id(c, None)))
    }
}

impl LinkedInClient {
    /// The text of a comment (`GET socialActions/{post}/comments/{n}`) or a post
    /// (`GET posts/{urn}`) whose notification left it out.
    pub async fn fetch_text(&self, mention: &Mention) -> Result<FetchedText> {
        if mention.text_source != Some(TextSource::LinkedIn) {
            return Err(Error::Invalid("not a LinkedIn message to fetch".into()));
        }
        let id = &mention.message_id;
        let invalid = || Error::Invalid(format!("{id:?} is not a LinkedIn post or comment"));
        let (path, text_at, time_at) = match urn::comment_parts(id) {
            Some((post, n)) => {
                (format!("socialActions/{}/comments/{n}", urn::path_encoded(&post)), "/message/text", "/created/time")
            }
            None if urn::is_post_id(id) => (
                format!("posts/{}", urn::path_encoded(&urn::urn_of(id).ok_or_else(invalid)?)),
                "/commentary",
                "/createdAt",
            ),
            None => return Err(invalid()),
        };
        let (answer, _) = self.call(&mention.account_id, Method::GET, &path, &[], None).await?;
        let text = answer.pointer(text_at).and_then(Value::as_str).map(str::trim).unwrap_or_default();
        if text.is_empty() {
            return Err(Error::PlatformRejected {
                platform: PLATFORM,
                status: 200,
                message: "the message has no text".into(),
            });
        }
        Ok(FetchedText {
            text: text.to_owned(),
            author_handle: None,
            created_at: answer
                .pointer(time_at)
                .and_then(Value::as_i64)
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
        })
    }
}
