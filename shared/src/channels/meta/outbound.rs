//! The Graph API, as Hark uses it to answer on Facebook and Instagram (Facebook Login):
//! comment replies, Instagram replies and @mention replies, private replies to a public
//! comment, and messages inside Messenger's and Instagram's 24-hour window; the lookups
//! that settle an attempt whose outcome is unknown; and the text of an Instagram @mention.
//!
//! Meta signals throttling with error codes, usually not with 429, and says how long to
//! wait in `X-Business-Use-Case-Usage`. What Meta's documents leave uncertain is decided
//! here, one place each: the throttling codes, the codes for a closed messaging window,
//! and "already replied", which is settled by looking rather than guessed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::inbound::is_valid_path_id;
use crate::adapters::http::{Exchange, ExchangeLog};
use crate::credentials::MetaCredentials;
use crate::domain::mention::{Channel, Mention, TextSource};
use crate::domain::secret::Secret;
use crate::error::{Error, Result};
use crate::ports::{FetchedText, OutboxMessage, ReplySender, ReplyTarget, SendWindow, TextFetcher};

const PLATFORM: &str = "Graph API";
/// When a throttled answer does not say how long to wait. [U] Meta's documents give no figure.
const DEFAULT_THROTTLE_WAIT: Duration = Duration::from_secs(5 * 60);
/// Graph error codes that mean "slow down": app (4), user (17), Page (32), custom (613),
/// and the business use case limits (800xx). [U] Meta lists more than it documents.
const THROTTLING_CODES: &[i64] = &[4, 17, 32, 613, 80001, 80002, 80004, 80005, 80006, 80008, 80014];
/// The messaging window is closed: Messenger's subcode and Instagram's. [U]
const WINDOW_CLOSED_SUBCODES: &[i64] = &[2018278, 2534022];
/// An access token that is expired, revoked or wrong.
const INVALID_TOKEN: i64 = 190;
/// How long after the customer's message Messenger and Instagram take an automatic answer.
/// Meta's window is 24 hours from the customer's message; an hour is kept back for clock
/// skew and a send that is slow to land.
const MESSAGING_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(23);
/// How long after the customer's message a person's reply may still go out, with the
/// HUMAN_AGENT tag (Meta: 7 days; an hour kept back as above).
const HUMAN_AGENT_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(7 * 24 - 1);
/// How often a refused Page token may make the client read the credentials again.
const RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// Where a Page or Instagram account is answered from.
#[derive(Debug, Clone)]
struct Account {
    page_id: String,
    token: Secret,
}

/// Reads the Meta credentials as they are now (the credentials secret, again).
pub type CredentialsReload =
    Arc<dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<MetaCredentials>> + Send>> + Send + Sync>;

pub struct MetaClient {
    http: reqwest::Client,
    /// `https://graph.facebook.com/v26.0`
    base: String,
    accounts: RwLock<HashMap<String, Account>>,
    log: ExchangeLog,
    /// When a Page token is refused, the operator may have put a new one in the secret.
    reload: Option<CredentialsReload>,
    last_reload: Mutex<Option<Instant>>,
}

#[derive(Debug, Deserialize, Default)]
struct GraphErrorBody {
    #[serde(default)]
    error: GraphError,
}

#[derive(Debug, Deserialize, Default)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    error_subcode: Option<i64>,
}

impl MetaClient {
    /// `base_url` is Graph's (`https://graph.facebook.com`), `version` the pinned one (`v26.0`).
    pub fn new(base_url: &str, version: &str, credentials: &MetaCredentials, log: ExchangeLog) -> Result<Self> {
        if !version.starts_with('v') || !version[1..].chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(Error::Config(format!("Graph API version {version:?} is not of the form v26.0")));
        }
        let accounts = accounts_of(credentials);
        let log = log.redacting(accounts.values().map(|a| a.token.expose().to_owned()));
        Ok(MetaClient {
            http: crate::adapters::http::client()?,
            base: format!("{}/{version}", base_url.trim_end_matches('/')),
            accounts: RwLock::new(accounts),
            log,
            reload: None,
            last_reload: Mutex::new(None),
        })
    }

    /// Reads the credentials again with `reload` when a Page token is refused.
    pub fn reloading(mut self, reload: CredentialsReload) -> Self {
        self.reload = Some(reload);
        self
    }

    /// The client as the functions build it: Page tokens from the credentials secret, read
    /// again (at most once a minute) when Meta refuses one.
    pub fn for_aws(
        aws: &aws_config::SdkConfig,
        base_url: &str,
        version: &str,
        credentials: &crate::credentials::Credentials,
    ) -> Result<Self> {
        let client = MetaClient::new(base_url, version, &credentials.meta, ExchangeLog::default())?;
        Ok(match crate::adapters::secrets::SecretReader::from_env(aws) {
            Some(reader) => client.reloading(Arc::new(move || {
                let reader = reader.clone();
                Box::pin(async move { Ok(reader.read().await?.meta) })
            })),
            None => client,
        })
    }

    fn account(&self, id: &str) -> Result<Account> {
        self.accounts
            .read()
            .expect("Meta accounts")
            .get(id)
            .cloned()
            .ok_or_else(|| Error::Config(format!("no Meta access token for account {id}")))
    }

    /// After Meta refused `refused` for `account`: the account's token as the credentials
    /// hold it now, if that is a different one.
    async fn reloaded_token(&self, account: &str, refused: &Secret) -> Option<Secret> {
        let reload = self.reload.as_ref()?;
        {
            let mut last = self.last_reload.lock().expect("Meta reload");
            if last.is_some_and(|at| at.elapsed() < RELOAD_INTERVAL) {
                return None;
            }
            *last = Some(Instant::now());
        }
        let credentials = match reload().await {
            Ok(credentials) => credentials,
            Err(error) => {
                tracing::warn!(%error, "the Meta credentials could not be read again");
                return None;
            }
        };
        let accounts = accounts_of(&credentials);
        self.log.add_secrets(accounts.values().map(|a| a.token.expose().to_owned()));
        let fresh = accounts.get(account).map(|a| a.token.clone());
        *self.accounts.write().expect("Meta accounts") = accounts;
        fresh.filter(|token| token.expose() != refused.expose())
    }

    /// The one place a Graph answer becomes an error. For a write, an answer that does not
    /// say whether the message exists is "unknown", so the outbox looks before resending.
    fn error(
        status: StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &str,
        write: bool,
        account: &str,
    ) -> Error {
        let graph = serde_json::from_str::<GraphErrorBody>(body).unwrap_or_default().error;
        let message =
            format!("HTTP {status}, code {}: {}", graph.code, graph.message.chars().take(200).collect::<String>());
        if status == StatusCode::TOO_MANY_REQUESTS || THROTTLING_CODES.contains(&graph.code) {
            return Error::RateLimited { platform: PLATFORM, retry_after: regain_wait(headers) };
        }
        if graph.code == INVALID_TOKEN || status == StatusCode::UNAUTHORIZED {
            return Error::CredentialsRejected { platform: PLATFORM, account: account.to_owned(), message };
        }
        if graph.error_subcode.is_some_and(|s| WINDOW_CLOSED_SUBCODES.contains(&s)) {
            return Error::WindowClosed {
                platform: PLATFORM,
                message: format!("outside the 24-hour messaging window; a person must answer ({message})"),
            };
        }
        if status.is_server_error() || (write && graph.message.to_ascii_lowercase().contains("already")) {
            // "Already replied" may be ours, from an answer lost on the way back: look.
            return if write {
                Error::PlatformOutcomeUnknown { platform: PLATFORM, message }
            } else {
                Error::PlatformUnavailable { platform: PLATFORM, message }
            };
        }
        Error::PlatformRejected { platform: PLATFORM, status: status.as_u16(), message }
    }

    /// One Graph call. A refused token is replaced from the credentials, if the operator
    /// has put a new one there, and the call made once more: a refusal means nothing was done.
    async fn call(
        &self,
        account: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Value> {
        let token = self.account(account)?.token;
        match self.call_with(&token, account, method.clone(), path, query, body.as_ref()).await {
            Err(Error::CredentialsRejected { platform, account: rejected, message }) => {
                match self.reloaded_token(account, &token).await {
                    Some(fresh) => self.call_with(&fresh, account, method, path, query, body.as_ref()).await,
                    None => {
                        refused_credentials(account);
                        Err(Error::CredentialsRejected { platform, account: rejected, message })
                    }
                }
            }
            other => other,
        }
    }

    /// One Graph call, recorded.
    async fn call_with(
        &self,
        token: &Secret,
        account: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let write = method == Method::POST;
        let mut request =
            self.http.request(method.clone(), format!("{}/{path}", self.base)).bearer_auth(token.expose());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let (mut exchange, started) = Exchange::begin(
            PLATFORM,
            &method,
            format!("/{path}"),
            body.map(Value::to_string).unwrap_or_else(|| serde_urlencoded_pairs(query)),
        );
        let result = match request.send().await {
            Err(e) => Err(if !write || e.is_connect() {
                Error::PlatformUnavailable { platform: PLATFORM, message: e.to_string() }
            } else {
                // Timed out after it left: Meta may have acted on it.
                Error::PlatformOutcomeUnknown { platform: PLATFORM, message: e.to_string() }
            }),
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                let text = response.text().await.unwrap_or_default();
                exchange.status = Some(status.as_u16());
                exchange.answer = text.chars().take(300).collect();
                if status.is_success() {
                    serde_json::from_str(&text).map_err(|_| {
                        let message = "unreadable answer".to_owned();
                        if write {
                            Error::PlatformOutcomeUnknown { platform: PLATFORM, message }
                        } else {
                            Error::PlatformUnavailable { platform: PLATFORM, message }
                        }
                    })
                } else {
                    Err(Self::error(status, &headers, &text, write, account))
                }
            }
        };
        self.log.finish(exchange, started, &result);
        result
    }

    /// The exchanges kept so far (when the log keeps them).
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.exchanges()
    }
}

fn accounts_of(credentials: &MetaCredentials) -> HashMap<String, Account> {
    credentials
        .accounts
        .keys()
        .filter_map(|id| {
            let (page_id, token) = credentials.page_of(id)?;
            Some((id.clone(), Account { page_id: page_id.to_owned(), token: token.clone() }))
        })
        .collect()
}

/// Only an operator can fix a refused Page token: the ops alarm watches this metric.
fn refused_credentials(account: &str) {
    let mut metrics = crate::metrics::Metrics::new("meta");
    metrics.count(crate::metrics::CREDENTIALS_REFUSED, 1);
    metrics.emit();
    tracing::error!(account, "Meta refused the Page access token; put a new one in the credentials secret");
}

fn serde_urlencoded_pairs(query: &[(&str, &str)]) -> String {
    query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// `X-Business-Use-Case-Usage: {"<id>": [{"estimated_time_to_regain_access": <minutes>, ...}]}`.
fn regain_wait(headers: &reqwest::header::HeaderMap) -> Duration {
    let minutes = headers
        .get("x-business-use-case-usage")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| serde_json::from_str::<HashMap<String, Vec<Value>>>(v).ok())
        .and_then(|usage| usage.values().flatten().filter_map(|u| u["estimated_time_to_regain_access"].as_u64()).max());
    match minutes {
        Some(m) if m > 0 => Duration::from_secs(m * 60),
        _ => DEFAULT_THROTTLE_WAIT,
    }
}

fn path_id(id: &str) -> Result<&str> {
    if is_valid_path_id(id) { Ok(id) } else { Err(Error::Invalid(format!("{id:?} is not a Graph id"))) }
}

/// The created object's id, from `{"id"}` or `{"message_id"}`.
fn created_id(answer: &Value) -> Result<String> {
    answer["id"]
        .as_str()
        .or(answer["message_id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| Error::PlatformOutcomeUnknown { platform: PLATFORM, message: "answer has no id".into() })
}

/// A person's DM past the standard window goes out tagged HUMAN_AGENT (the tag is for
/// human-written text only, so never for an acknowledgement); inside it, as a response.
pub(crate) fn needs_human_agent_tag(message: &OutboxMessage, now: chrono::DateTime<chrono::Utc>) -> bool {
    message.purpose.is_human_written() && message.customer_wrote_at.is_some_and(|at| now - at > MESSAGING_WINDOW)
}

impl ReplySender for MetaClient {
    async fn send(&self, message: &OutboxMessage) -> Result<String> {
        let account_id = &message.account_id;
        let account = self.account(account_id)?;
        let text = &message.text;
        let answer = match (&message.target, message.channel) {
            (ReplyTarget::Post { in_reply_to }, Channel::Facebook) => {
                let path = format!("{}/comments", path_id(in_reply_to)?);
                self.call(account_id, Method::POST, &path, &[], Some(json!({ "message": text }))).await?
            }
            (ReplyTarget::Post { in_reply_to }, Channel::Instagram) => {
                let path = format!("{}/replies", path_id(in_reply_to)?);
                self.call(account_id, Method::POST, &path, &[], Some(json!({ "message": text }))).await?
            }
            (ReplyTarget::InstagramMention { media_id, comment_id }, Channel::Instagram) => {
                let path = format!("{}/mentions", path_id(account_id)?);
                let mut body = json!({ "media_id": path_id(media_id)?, "message": text });
                if let Some(comment) = comment_id {
                    body["comment_id"] = Value::String(path_id(comment)?.to_owned());
                }
                self.call(account_id, Method::POST, &path, &[], Some(body)).await?
            }
            (ReplyTarget::Direct { participant_id }, Channel::Facebook | Channel::Instagram) => {
                let mut body = json!({
                    "recipient": { "id": path_id(participant_id)? },
                    "messaging_type": "RESPONSE",
                    "message": { "text": text },
                });
                if needs_human_agent_tag(message, chrono::Utc::now()) {
                    body["messaging_type"] = json!("MESSAGE_TAG");
                    body["tag"] = json!("HUMAN_AGENT");
                }
                let path = format!("{}/messages", path_id(&account.page_id)?);
                self.call(account_id, Method::POST, &path, &[], Some(body)).await?
            }
            (ReplyTarget::PrivateReply { comment_id: id }, Channel::Facebook | Channel::Instagram)
            | (ReplyTarget::PrivateReplyToPost { post_id: id }, Channel::Facebook) => {
                let recipient = match &message.target {
                    ReplyTarget::PrivateReply { .. } => json!({ "comment_id": path_id(id)? }),
                    _ => json!({ "post_id": path_id(id)? }),
                };
                let body = json!({ "recipient": recipient, "message": { "text": text } });
                let path = format!("{}/messages", path_id(&account.page_id)?);
                match self.call(account_id, Method::POST, &path, &[], Some(body)).await {
                    // Meta takes one private reply per comment or post. Refused as already
                    // answered, the customer has their private reply: an earlier attempt of
                    // ours whose answer was lost, or a person's. Either way nothing more is sent.
                    Err(Error::PlatformOutcomeUnknown { message, .. })
                        if message.to_ascii_lowercase().contains("already") =>
                    {
                        return Ok(private_reply_id(id));
                    }
                    other => other?,
                }
            }
            // An incident's announcement, on the Page's own feed. (Instagram publishes media
            // only; the API never queues a text post there.)
            (ReplyTarget::Announcement, Channel::Facebook) => {
                let path = format!("{}/feed", path_id(&account.page_id)?);
                self.call(account_id, Method::POST, &path, &[], Some(json!({ "message": text }))).await?
            }
            (target, channel) => return Err(Error::Invalid(format!("{channel} cannot send to {target:?}"))),
        };
        created_id(&answer)
    }

    /// Messenger and Instagram DMs answer inside Meta's messaging window only; a person's
    /// reply has the HUMAN_AGENT tag's longer one. A private reply has its own 7 days,
    /// longer than the outbox keeps trying.
    fn window(&self, message: &OutboxMessage) -> Option<chrono::TimeDelta> {
        let window = if message.purpose.is_human_written() { HUMAN_AGENT_WINDOW } else { MESSAGING_WINDOW };
        matches!(message.target, ReplyTarget::Direct { .. }).then_some(window)
    }

    async fn find_sent(&self, message: &OutboxMessage, window: SendWindow) -> Result<Option<String>> {
        let account_id = &message.account_id;
        let account = self.account(account_id)?;
        let ours = |from: &Value| {
            let id = from["id"].as_str().unwrap_or_default();
            id == account_id || id == account.page_id
        };
        let same = |text: Option<&str>| text.is_some_and(|t| t.trim() == message.text.trim());
        let found = |items: &Value, text_field: &str| {
            items["data"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|item| ours(&item["from"]) && same(item[text_field].as_str()))
                .and_then(|item| item["id"].as_str().map(str::to_owned))
        };
        match (&message.target, message.channel) {
            (ReplyTarget::Post { in_reply_to }, Channel::Facebook) => {
                let path = format!("{}/comments", path_id(in_reply_to)?);
                let query = [("fields", "id,message,from"), ("order", "reverse_chronological"), ("limit", "50")];
                Ok(found(&self.call(account_id, Method::GET, &path, &query, None).await?, "message"))
            }
            (ReplyTarget::Post { in_reply_to: parent }, Channel::Instagram)
            | (ReplyTarget::InstagramMention { comment_id: Some(parent), .. }, Channel::Instagram) => {
                let path = format!("{}/replies", path_id(parent)?);
                let query = [("fields", "id,text,from")];
                Ok(found(&self.call(account_id, Method::GET, &path, &query, None).await?, "text"))
            }
            (ReplyTarget::Announcement, Channel::Facebook) => {
                let path = format!("{}/feed", path_id(&account.page_id)?);
                // A little before the record was written: clocks differ.
                let since = window.from.timestamp().to_string();
                let query = [("fields", "id,message,from"), ("since", since.as_str()), ("limit", "50")];
                Ok(found(&self.call(account_id, Method::GET, &path, &query, None).await?, "message"))
            }
            (ReplyTarget::Direct { participant_id }, channel) => {
                let platform = if channel == Channel::Instagram { "instagram" } else { "messenger" };
                let path = format!("{}/conversations", path_id(&account.page_id)?);
                let query = [
                    ("user_id", path_id(participant_id)?),
                    ("platform", platform),
                    ("fields", "messages.limit(25){id,message,from}"),
                ];
                let answer = self.call(account_id, Method::GET, &path, &query, None).await?;
                let messages = &answer["data"][0]["messages"];
                Ok(found(messages, "message"))
            }
            // Meta allows one private reply per comment: when it no longer allows one, it was
            // made, and a second would be refused anyway.
            (ReplyTarget::PrivateReply { comment_id }, _) => {
                let answer = self
                    .call(account_id, Method::GET, path_id(comment_id)?, &[("fields", "can_reply_privately")], None)
                    .await?;
                Ok((answer["can_reply_privately"] == false).then(|| private_reply_id(comment_id)))
            }
            // A visitor post has no such field; sending again is safe all the same, because
            // Meta refuses a second private reply (see `send`).
            (ReplyTarget::PrivateReplyToPost { .. }, _) => Ok(None),
            // A reply to a caption mention cannot be looked up: never resent on a guess.
            (target, _) => {
                Err(Error::PlatformUnavailable { platform: PLATFORM, message: format!("no way to look up {target:?}") })
            }
        }
    }
}

/// What a private reply is known by when Meta's answer to it was lost.
fn private_reply_id(id: &str) -> String {
    format!("private-reply:{id}")
}

impl TextFetcher for MetaClient {
    async fn fetch_text(&self, mention: &Mention) -> Result<FetchedText> {
        let Some(TextSource::InstagramMention { media_id, comment_id }) = &mention.text_source else {
            return Err(Error::Invalid("the mention has no text to fetch".into()));
        };
        let account = path_id(&mention.account_id)?;
        // [U] The field expansions Meta documents for reading a mention; one place to change.
        let (fields, key, text_field) = match comment_id {
            Some(comment) => (
                format!("mentioned_comment.comment_id({}){{id,text,username,timestamp}}", path_id(comment)?),
                "mentioned_comment",
                "text",
            ),
            None => (
                format!("mentioned_media.media_id({}){{id,caption,username,timestamp}}", path_id(media_id)?),
                "mentioned_media",
                "caption",
            ),
        };
        let answer = self.call(&mention.account_id, Method::GET, account, &[("fields", &fields)], None).await?;
        let found = &answer[key];
        let text = found[text_field].as_str().unwrap_or_default().trim().to_owned();
        if text.is_empty() {
            return Err(Error::PlatformRejected {
                platform: PLATFORM,
                status: 200,
                message: "the mention has no text".into(),
            });
        }
        Ok(FetchedText {
            text,
            author_handle: found["username"].as_str().map(str::to_owned),
            created_at: found["timestamp"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%z").ok())
                .map(|t| t.with_timezone(&chrono::Utc)),
        })
    }
}
