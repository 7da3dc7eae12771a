//! A Mastodon instance's REST API, with the brand account's token: the pages the listener
//! reads (notifications, searches, hashtag timelines, each forward from `min_id`), and
//! replies (`POST /api/v1/statuses` with an `Idempotency-Key`, the customer's `@acct` in
//! the text, and the visibility of what it answers, never wider).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::feed::{self, FeedContext, Status};
use crate::adapters::http::{Exchange, ExchangeLog};
use crate::channels::feed::{FeedPage, reset_at};
use crate::credentials::MastodonCredentials;
use crate::domain::secret::Secret;
use crate::error::{Error, Result};
use crate::ports::{OutboxMessage, ReplySender, ReplyTarget, SendWindow};

const PLATFORM: &str = "Mastodon";
/// Mastodon's largest notification page, and a search's.
const NOTIFICATION_LIMIT: &str = "80";
const SEARCH_LIMIT: &str = "40";
/// When an instance says it is throttling but not until when: its window is five minutes.
const DEFAULT_PAUSE: Duration = Duration::from_secs(300);

#[derive(Clone)]
struct Account {
    instance: String,
    token: Secret,
}

pub struct MastodonClient {
    http: reqwest::Client,
    accounts: HashMap<String, Account>,
    log: ExchangeLog,
}

/// What one listening request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen<'a> {
    /// The account's mentions (and edits of them).
    Notifications,
    /// A full-text search ([U] an instance without full-text search finds only the
    /// account's own and its mentions: prefer hashtags there).
    Search(&'a str),
    /// A hashtag's public timeline (`tag` without `#`).
    Hashtag(&'a str),
}

impl MastodonClient {
    pub fn new(credentials: Option<&MastodonCredentials>, log: ExchangeLog) -> Result<Self> {
        let accounts: HashMap<String, Account> = credentials
            .map(|c| {
                c.accounts
                    .iter()
                    .map(|(id, a)| {
                        let instance = a.instance.trim_end_matches('/').to_owned();
                        (id.clone(), Account { instance, token: a.access_token.clone() })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let log = log.redacting(accounts.values().map(|a| a.token.expose().to_owned()));
        Ok(MastodonClient { http: crate::adapters::http::client()?, accounts, log })
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.exchanges()
    }

    async fn call(
        &self,
        account: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<(&Value, &str)>,
    ) -> Result<(Vec<u8>, reqwest::header::HeaderMap)> {
        let Account { instance, token } = self
            .accounts
            .get(account)
            .cloned()
            .ok_or_else(|| Error::Config(format!("the credentials hold no Mastodon account {account}")))?;
        let write = method == Method::POST;
        let mut request = self.http.request(method.clone(), format!("{instance}{path}")).bearer_auth(token.expose());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some((body, idempotency_key)) = body {
            request = request.json(body).header("Idempotency-Key", idempotency_key);
        }
        let recorded = (&method, path.to_owned(), body.map(|(b, _)| b.to_string()).unwrap_or_default());
        self.log
            .send(PLATFORM, request, recorded, |status, headers, bytes| error(status, headers, bytes, write, account))
            .await
    }

    /// One page forward from `min_id` (the whole feed's newest when `None`): what the
    /// listener enqueues, and whether the instance's budget is spent.
    pub async fn listen_page(
        &self,
        account: &str,
        listen: Listen<'_>,
        min_id: Option<&str>,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<FeedPage> {
        let mut query: Vec<(&str, &str)> = Vec::new();
        let path = match listen {
            Listen::Notifications => {
                query.extend([("types[]", "mention"), ("types[]", "update"), ("limit", NOTIFICATION_LIMIT)]);
                "/api/v1/notifications".to_owned()
            }
            Listen::Search(q) => {
                query.extend([("q", q), ("type", "statuses"), ("resolve", "false"), ("limit", SEARCH_LIMIT)]);
                "/api/v2/search".to_owned()
            }
            Listen::Hashtag(tag) => {
                if !tag.chars().all(|c| c.is_alphanumeric() || c == '_') || tag.is_empty() {
                    return Err(Error::Config(format!("{tag:?} is not a hashtag")));
                }
                query.push(("limit", SEARCH_LIMIT));
                format!("/api/v1/timelines/tag/{tag}")
            }
        };
        if let Some(min_id) = min_id {
            query.push(("min_id", min_id));
        }
        let (body, headers) = self.call(account, Method::GET, &path, &query, None).await?;
        let context = FeedContext { account, reference };
        let mut page = match listen {
            Listen::Notifications => feed::notifications_page(&body, context, now),
            Listen::Search(_) | Listen::Hashtag(_) => feed::statuses_page(&body, context, now),
        }
        .map_err(|message| Error::PlatformUnavailable { platform: PLATFORM, message })?;
        if remaining(&headers) == Some(0) {
            page.pause_until = header(&headers, "x-ratelimit-reset").and_then(|v| reset_at(v, now));
        }
        Ok(page)
    }

    async fn status(&self, account: &str, id: &str) -> Result<Status> {
        if !feed::is_valid_id(id) {
            return Err(Error::Invalid(format!("{id:?} is not a Mastodon status id")));
        }
        let (body, _) = self.call(account, Method::GET, &format!("/api/v1/statuses/{id}"), &[], None).await?;
        serde_json::from_slice(&body)
            .map_err(|_| Error::PlatformUnavailable { platform: PLATFORM, message: "an unreadable status".into() })
    }
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn remaining(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    header(headers, "x-ratelimit-remaining").and_then(|v| v.trim().parse::<f64>().ok()).map(|v| v.max(0.0) as u64)
}

/// The one place Mastodon's answers become errors.
fn error(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &[u8], write: bool, account: &str) -> Error {
    let message: String = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| format!("HTTP {status}"))
        .chars()
        .take(200)
        .collect();
    match status.as_u16() {
        429 => {
            let now = Utc::now();
            let until = header(headers, "x-ratelimit-reset").and_then(|v| reset_at(v, now));
            let retry_after = until.and_then(|u| (u - now).to_std().ok()).unwrap_or(DEFAULT_PAUSE);
            Error::RateLimited { platform: PLATFORM, retry_after }
        }
        401 | 403 => Error::CredentialsRejected { platform: PLATFORM, account: account.to_owned(), message },
        500..=599 if write => Error::PlatformOutcomeUnknown { platform: PLATFORM, message },
        500..=599 => Error::PlatformUnavailable { platform: PLATFORM, message },
        code => Error::PlatformRejected { platform: PLATFORM, status: code, message },
    }
}

/// The key Mastodon keeps for an hour to make a retried post one post: the same for every
/// attempt at one outbox record (after the hour, `find_sent` settles it).
pub fn idempotency_key(message: &OutboxMessage) -> String {
    let digest = Sha256::digest(format!("{}|{}", message.account_id, message.key()).as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Narrowest first: a reply is never seen by more people than what it answers.
fn visibility_for(parent: Option<&str>, private: bool) -> &'static str {
    if private {
        return "direct";
    }
    match parent {
        Some("direct") => "direct",
        Some("private") => "private",
        Some("unlisted") => "unlisted",
        _ => "public",
    }
}

impl ReplySender for MastodonClient {
    async fn send(&self, message: &OutboxMessage) -> Result<String> {
        let (in_reply_to, private) = match &message.target {
            ReplyTarget::Post { in_reply_to } => (in_reply_to.as_str(), false),
            ReplyTarget::Direct { .. } => (message.answers_message_id.as_str(), true),
            other => return Err(Error::Invalid(format!("Mastodon takes public or private replies, not {other:?}"))),
        };
        // The customer is told only when named, and the reply follows what it answers.
        let parent = self.status(&message.account_id, in_reply_to).await?;
        let acct = parent.account.acct.clone().unwrap_or_default();
        let text = if acct.is_empty() || message.text.contains(&format!("@{acct}")) {
            message.text.clone()
        } else {
            format!("@{acct} {}", message.text)
        };
        let body = json!({
            "status": text,
            "in_reply_to_id": in_reply_to,
            "visibility": visibility_for(parent.visibility.as_deref(), private),
        });
        let key = idempotency_key(message);
        let (answer, _) =
            self.call(&message.account_id, Method::POST, "/api/v1/statuses", &[], Some((&body, &key))).await?;
        serde_json::from_slice::<Value>(&answer)
            .ok()
            .and_then(|v| v.get("id").and_then(Value::as_str).filter(|id| feed::is_valid_id(id)).map(str::to_owned))
            .ok_or_else(|| Error::PlatformOutcomeUnknown {
                platform: PLATFORM,
                message: "posted, but the answer names no status".into(),
            })
    }

    /// The account's latest statuses, for one answering the same status since `since`.
    async fn find_sent(&self, message: &OutboxMessage, window: SendWindow) -> Result<Option<String>> {
        let in_reply_to = match &message.target {
            ReplyTarget::Post { in_reply_to } => in_reply_to.as_str(),
            _ => message.answers_message_id.as_str(),
        };
        let path = format!("/api/v1/accounts/{}/statuses", message.account_id);
        let (body, _) = self.call(&message.account_id, Method::GET, &path, &[("limit", "40")], None).await?;
        let statuses: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
        Ok(statuses
            .iter()
            .find(|s| {
                let at = s.get("created_at").and_then(Value::as_str).and_then(|t| DateTime::parse_from_rfc3339(t).ok());
                s.get("in_reply_to_id").and_then(Value::as_str) == Some(in_reply_to)
                    && at.is_some_and(|at| at.with_timezone(&Utc) >= window.from)
            })
            .and_then(|s| s.get("id").and_then(Value::as_str).map(str::to_owned)))
    }
}
