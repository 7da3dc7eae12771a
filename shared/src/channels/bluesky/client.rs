//! Bluesky's XRPC API for a brand account: the pages the listener reads (notifications,
//! searches, newest first), and replies (`createRecord` under a record key derived from the
//! outbox message, `reply.root`/`reply.parent` as strong references read with `getPosts`).
//! Access tokens are the account's session, shared through the token manager; a token
//! Bluesky calls expired is renewed once and the call tried again.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::feed::{self, FeedContext};
use super::ids::{did_of_account, post_id, post_uri, record_key_for};
use crate::adapters::http::{Exchange, ExchangeLog};
use crate::channels::feed::{FeedPage, reset_at};
use crate::credentials::BlueskyCredentials;
use crate::error::{Error, Result};
use crate::ports::{AccessTokens, OutboxMessage, ReplySender, ReplyTarget, SendWindow};

const PLATFORM: &str = "Bluesky";
/// The largest page either list gives.
const PAGE_LIMIT: &str = "100";
/// Bluesky's per-IP window is five minutes: when a 429 says nothing more, wait that long.
const DEFAULT_PAUSE: Duration = Duration::from_secs(300);
const POST_COLLECTION: &str = "app.bsky.feed.post";

/// What one listening request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlueskyListen<'a> {
    /// Mentions of the account, replies to it and quotes of its posts.
    Notifications,
    /// `searchPosts?sort=latest` for a term (it needs a session; Bluesky meant it for
    /// people's searches, so the listener reads one page a run unless a page is all new).
    Search(&'a str),
}

pub struct BlueskyClient<T> {
    http: reqwest::Client,
    /// By compact DID: the service the account's session lives at.
    services: HashMap<String, String>,
    tokens: T,
    log: ExchangeLog,
}

/// The client as the functions build it: sessions in the table, renewed at the account's
/// service, re-seeded from the credentials secret.
pub type AwsBlueskyClient = BlueskyClient<
    crate::domain::oauth::TokenManager<
        crate::adapters::dynamo::DynamoStore,
        super::session::SessionEndpoint,
        crate::adapters::secrets::SecretSeeds,
    >,
>;

impl AwsBlueskyClient {
    pub fn for_aws(
        aws: &aws_config::SdkConfig,
        table: &str,
        credentials: &crate::credentials::Credentials,
    ) -> Result<Self> {
        let seeds = credentials.bluesky_seeds("");
        let arn = crate::config::optional_env("CREDENTIALS_SECRET_ARN");
        let source = crate::adapters::secrets::SecretSeeds {
            client: arn.as_ref().map(|_| crate::adapters::aws_usage::clients::secrets_manager(aws)),
            arn,
            token_url: String::new(),
            seeds_of: crate::credentials::Credentials::bluesky_seeds,
            fallback: seeds.clone(),
        };
        let tokens = crate::domain::oauth::TokenManager::new(
            PLATFORM,
            "bluesky",
            crate::adapters::dynamo::DynamoStore::from_config(aws, table),
            super::session::SessionEndpoint::new()?,
            source,
            seeds,
        );
        BlueskyClient::new(credentials.bluesky.as_ref(), tokens, ExchangeLog::default())
    }
}

#[derive(Deserialize)]
struct Posts {
    #[serde(default)]
    posts: Vec<PostRef>,
}

#[derive(Deserialize)]
struct PostRef {
    uri: String,
    cid: String,
    #[serde(default)]
    record: Value,
}

#[derive(Deserialize)]
struct Created {
    uri: String,
}

impl<T: AccessTokens> BlueskyClient<T> {
    pub fn new(credentials: Option<&BlueskyCredentials>, tokens: T, log: ExchangeLog) -> Result<Self> {
        let services = credentials
            .map(|c| c.accounts().map(|(account, a)| (account, a.service.trim_end_matches('/').to_owned())).collect())
            .unwrap_or_default();
        let secrets =
            credentials.into_iter().flat_map(|c| c.accounts.values()).map(|a| a.app_password.expose().to_owned());
        Ok(BlueskyClient { http: crate::adapters::http::client()?, services, tokens, log: log.redacting(secrets) })
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.exchanges()
    }

    /// One XRPC call with the account's session; a token Bluesky refuses is renewed (unless
    /// another instance has) and the call made once more: a refused call did nothing.
    async fn call(
        &self,
        account: &str,
        method: Method,
        nsid: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(Vec<u8>, reqwest::header::HeaderMap)> {
        let service = self
            .services
            .get(account)
            .ok_or_else(|| Error::Config(format!("the credentials hold no Bluesky account {account}")))?;
        let write = method == Method::POST;
        let mut token = self.tokens.access_token(account).await?;
        for attempt in 0..2 {
            let mut request =
                self.http.request(method.clone(), format!("{service}/xrpc/{nsid}")).bearer_auth(token.expose());
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let recorded = (&method, nsid.to_owned(), body.map(Value::to_string).unwrap_or_default());
            let refused = |status, headers: &_, bytes: &[u8]| error(status, headers, bytes, write, account);
            match self.log.send(PLATFORM, request, recorded, refused).await {
                Err(Error::CredentialsRejected { .. }) if attempt == 0 => {
                    token = self.tokens.after_rejection(account, &token).await?;
                }
                other => return other,
            }
        }
        unreachable!("the second attempt returns")
    }

    /// One page of a feed, newest first; `cursor` goes on to older items. `since` (a
    /// search's) leaves out what is older than the listener has already taken.
    pub async fn listen_page(
        &self,
        account: &str,
        listen: BlueskyListen<'_>,
        cursor: Option<&str>,
        since: Option<DateTime<Utc>>,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<FeedPage> {
        let since = since.map(|s| s.to_rfc3339_opts(SecondsFormat::Millis, true));
        let mut query: Vec<(&str, &str)> = vec![("limit", PAGE_LIMIT)];
        let nsid = match listen {
            BlueskyListen::Notifications => {
                query.extend([("reasons", "mention"), ("reasons", "reply"), ("reasons", "quote")]);
                "app.bsky.notification.listNotifications"
            }
            BlueskyListen::Search(q) => {
                query.extend([("q", q), ("sort", "latest")]);
                if let Some(since) = &since {
                    query.push(("since", since));
                }
                "app.bsky.feed.searchPosts"
            }
        };
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor));
        }
        let (body, headers) = self.call(account, Method::GET, nsid, &query, None).await?;
        let context = FeedContext { account, reference };
        let mut page = match listen {
            BlueskyListen::Notifications => feed::notifications_page(&body, context, now),
            BlueskyListen::Search(_) => feed::search_page(&body, context, now),
        }
        .map_err(|message| Error::PlatformUnavailable { platform: PLATFORM, message })?;
        if header(&headers, "ratelimit-remaining").and_then(|v| v.trim().parse::<u64>().ok()) == Some(0) {
            let until = header(&headers, "ratelimit-reset").and_then(|v| reset_at(v, now));
            page.pause_until = Some(until.unwrap_or(now + chrono::TimeDelta::minutes(5)));
        }
        Ok(page)
    }

    /// The record the reply to `message` is written as, whatever the attempt.
    async fn own_record(&self, message: &OutboxMessage) -> Result<Option<String>> {
        let did = did_of(&message.account_id)?;
        let rkey = record_key(message);
        let query = [("repo", did.as_str()), ("collection", POST_COLLECTION), ("rkey", rkey.as_str())];
        match self.call(&message.account_id, Method::GET, "com.atproto.repo.getRecord", &query, None).await {
            Ok((body, _)) => {
                let created: Created = serde_json::from_slice(&body).map_err(|_| Error::PlatformUnavailable {
                    platform: PLATFORM,
                    message: "getRecord answer unreadable".into(),
                })?;
                Ok(Some(post_id(&created.uri).unwrap_or(created.uri)))
            }
            // `RecordNotFound` comes as a 400.
            Err(Error::PlatformRejected { status: 400 | 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn did_of(account: &str) -> Result<String> {
    did_of_account(account).ok_or_else(|| Error::Invalid(format!("{account:?} is not a Bluesky account")))
}

/// The reply's record key: a TID derived from the account and the outbox message.
pub fn record_key(message: &OutboxMessage) -> String {
    let digest = Sha256::digest(format!("{}|{}", message.account_id, message.key()).as_bytes());
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&digest[..8]);
    record_key_for(&seed)
}

impl<T: AccessTokens> ReplySender for BlueskyClient<T> {
    async fn send(&self, message: &OutboxMessage) -> Result<String> {
        let ReplyTarget::Post { in_reply_to } = &message.target else {
            return Err(Error::Invalid("Hark answers on Bluesky in the thread only".into()));
        };
        let parent_uri =
            post_uri(in_reply_to).ok_or_else(|| Error::Invalid(format!("{in_reply_to:?} is not a Bluesky post")))?;
        let did = did_of(&message.account_id)?;
        let account = message.account_id.as_str();
        let (body, _) =
            self.call(account, Method::GET, "app.bsky.feed.getPosts", &[("uris", parent_uri.as_str())], None).await?;
        let posts: Posts = serde_json::from_slice(&body).map_err(|_| Error::PlatformUnavailable {
            platform: PLATFORM,
            message: "getPosts answer unreadable".into(),
        })?;
        let Some(parent) = posts.posts.into_iter().find(|p| p.uri == parent_uri) else {
            return Err(Error::PlatformRejected {
                platform: PLATFORM,
                status: 404,
                message: "the post is gone".into(),
            });
        };
        let parent_ref = json!({"uri": parent.uri, "cid": parent.cid});
        // The thread's root: the parent's own root when it is a reply, else the parent.
        let root = parent
            .record
            .pointer("/reply/root")
            .filter(|r| r.get("uri").is_some_and(Value::is_string) && r.get("cid").is_some_and(Value::is_string))
            .cloned()
            .unwrap_or_else(|| parent_ref.clone());
        let record = json!({
            "repo": did,
            "collection": POST_COLLECTION,
            "rkey": record_key(message),
            "record": {
                "$type": POST_COLLECTION,
                "text": message.text,
                "createdAt": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
                "reply": {"root": root, "parent": parent_ref},
            },
        });
        match self.call(account, Method::POST, "com.atproto.repo.createRecord", &[], Some(&record)).await {
            Ok((body, _)) => {
                let created: Created = serde_json::from_slice(&body).map_err(|_| Error::PlatformOutcomeUnknown {
                    platform: PLATFORM,
                    message: "createRecord answer unreadable".into(),
                })?;
                Ok(post_id(&created.uri).unwrap_or(created.uri))
            }
            // Refused with a 400: perhaps because an earlier attempt wrote this very record.
            Err(Error::PlatformRejected { status: 400, message: why, .. }) => match self.own_record(message).await? {
                Some(id) => Ok(id),
                None => Err(Error::PlatformRejected { platform: PLATFORM, status: 400, message: why }),
            },
            Err(e) => Err(e),
        }
    }

    async fn find_sent(&self, message: &OutboxMessage, _window: SendWindow) -> Result<Option<String>> {
        self.own_record(message).await
    }
}

fn header<'h>(headers: &'h reqwest::header::HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Bluesky's answer as Hark's error: XRPC names the error (`ExpiredToken`, `RecordNotFound`).
fn error(status: StatusCode, headers: &reqwest::header::HeaderMap, body: &[u8], write: bool, account: &str) -> Error {
    let value = serde_json::from_slice::<Value>(body).ok();
    let name = value.as_ref().and_then(|v| v.get("error")).and_then(Value::as_str).unwrap_or_default();
    let message: String = value
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str)
        .map(|m| format!("{name}: {m}"))
        .unwrap_or_else(|| format!("HTTP {status} {name}"))
        .chars()
        .take(200)
        .collect();
    match status.as_u16() {
        429 => {
            let now = Utc::now();
            let until = header(headers, "ratelimit-reset").and_then(|v| reset_at(v, now));
            let retry_after = until.and_then(|u| (u - now).to_std().ok()).unwrap_or(DEFAULT_PAUSE);
            Error::RateLimited { platform: PLATFORM, retry_after }
        }
        400 if matches!(name, "ExpiredToken" | "InvalidToken") => {
            Error::CredentialsRejected { platform: PLATFORM, account: account.to_owned(), message }
        }
        401 | 403 => Error::CredentialsRejected { platform: PLATFORM, account: account.to_owned(), message },
        500..=599 if write => Error::PlatformOutcomeUnknown { platform: PLATFORM, message },
        500..=599 => Error::PlatformUnavailable { platform: PLATFORM, message },
        code => Error::PlatformRejected { platform: PLATFORM, status: code, message },
    }
}
