//! The one credentials secret, with a section per channel. In AWS it lives in Secrets
//! Manager (the secret named by `CREDENTIALS_SECRET_ARN`, read once at cold start); locally
//! it may come from the `HARK_CREDENTIALS` variable. The JSON:
//!
//! ```json
//! {"x": {"accounts": {"<for_user_id>": {
//!      "consumer_secret": "<X app consumer secret: verifies webhooks>",
//!      "oauth2": {"client_id": "...", "client_secret": "... (confidential clients)",
//!                 "refresh_token": "<from the consent flow, with offline.access>"}}}},
//!  "meta": {
//!    "apps": {"<app id>": {"app_secret": "<verifies webhooks>", "verify_token": "<the handshake's>"}},
//!    "accounts": {"<Page id or Instagram account id>": {
//!      "app_id": "<the app whose webhooks bring it>",
//!      "access_token": "<the Page's access token>",
//!      "page_id": "<for an Instagram account: its Facebook Page>"}}},
//!  "linkedin": {"client_secret": "<the LinkedIn app's: verifies webhooks and the challenge>",
//!    "organizations": {"<organization id>": {"access_token": "<an admin member's token with
//!      w_organization_social_feed and r_organization_social_feed>"}}},
//!  "mastodon": {"accounts": {"<account id>": {"instance": "https://mastodon.social",
//!      "access_token": "...", "listen": ["acme air", "#acmeair"]}}},
//!  "bluesky": {"accounts": {"did:plc:<the account's DID>": {"identifier": "acme.bsky.social",
//!      "app_password": "<an app password>", "service": "https://bsky.social" (optional),
//!      "listen": ["acme air"] (optional)}}},
//!  "youtube": {"channels": {"<channel id, UC…>": {"client_id": "...", "client_secret": "...",
//!      "refresh_token": "<Google OAuth, scope youtube.force-ssl, from the channel's owner>"}}},
//!  "sources": {"<source name: a-z 0-9 - _>": {
//!      "secret": "whsec_<base64 of 24 to 64 bytes: the source signs with it, Hark signs replies with it>",
//!      "reply_url": "https://app.example.com/hark/replies"}},
//!  "webhooks": {"endpoints": {"<endpoint id: a-z 0-9 - _>": {
//!      "url": "https://desk.example.com/hark",
//!      "secret": "whsec_<base64 of 24 to 64 random bytes>",
//!      "events": ["conversation.created", "message.received"] (optional: every event)}}},
//!  "zendesk": {"url": "https://acme.zendesk.com",
//!    "oauth2": {"client_id": "...", "client_secret": "...", "refresh_token": "..."},
//!    "events": [...] (optional)},
//!  "freshdesk": {"url": "https://acme.freshdesk.com", "api_key": "...",
//!    "custom_field": "cf_hark_conversation" (optional), "events": [...] (optional)}}
//! ```
//!
//! Any section may be left out. X's and Zendesk's refresh tokens only seed the token store (see
//! `domain::oauth`): X rotates it on every use, and the store keeps the current one. Meta's
//! Page tokens do not expire.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::oauth::{OAuthClient, Seed};
use crate::domain::secret::Secret;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[serde(default)]
    pub x: XCredentials,
    #[serde(default)]
    pub meta: MetaCredentials,
    /// LinkedIn organisation pages.
    #[serde(default)]
    pub linkedin: Option<LinkedInCredentials>,
    /// Mastodon brand accounts, read by the listener.
    #[serde(default)]
    pub mastodon: Option<MastodonCredentials>,
    /// Bluesky brand accounts, read by the listener.
    #[serde(default)]
    pub bluesky: Option<BlueskyCredentials>,
    /// YouTube channels whose comments the listener reads.
    #[serde(default)]
    pub youtube: Option<YouTubeCredentials>,
    /// Reddit, for listening (off unless `ListenReddit` is on).
    #[serde(default)]
    pub reddit: Option<RedditCredentials>,
    /// Sources that send their own messages by Standard Webhooks (`/webhooks/generic/{source}`).
    #[serde(default)]
    pub sources: std::collections::BTreeMap<String, SourceCredentials>,
    /// Help desks Hark forwards conversations to by Standard Webhooks.
    #[serde(default)]
    pub webhooks: WebhookCredentials,
    /// Zendesk, by its Tickets API: one ticket per conversation.
    #[serde(default)]
    pub zendesk: Option<ZendeskCredentials>,
    /// Freshdesk, by its tickets API: one ticket per conversation.
    #[serde(default)]
    pub freshdesk: Option<FreshdeskCredentials>,
    /// When this version of the secret was written (Secrets Manager's `CreatedDate`): a
    /// newer version's refresh tokens replace the ones in the token store.
    #[serde(skip)]
    pub issued_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XCredentials {
    pub accounts: HashMap<String, XAccount>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XAccount {
    /// Signs webhooks and CRC answers (the X app's consumer secret).
    pub consumer_secret: Option<Secret>,
    /// The OAuth 2.0 client and refresh token Hark posts replies and DMs with.
    pub oauth2: Option<OAuth2Credentials>,
    /// Listening: a recent search the listener runs for the account.
    #[serde(default)]
    pub search: Option<XSearch>,
    /// No longer used: refused with an explanation rather than ignored.
    #[serde(default)]
    access_token: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XSearch {
    /// The X app's bearer token (app-only: search needs no user).
    pub bearer_token: Secret,
    /// The account's handle, without `@`: a post naming it is a direct mention.
    pub handle: String,
    /// X's search query, at most 512 characters (`"acme air" OR acmeair -from:acmeair -is:retweet`).
    pub query: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Credentials {
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub refresh_token: Secret,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaCredentials {
    #[serde(default)]
    pub apps: HashMap<String, MetaApp>,
    #[serde(default)]
    pub accounts: HashMap<String, MetaAccount>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaApp {
    /// Signs webhooks (`X-Hub-Signature-256`). An Instagram-Login app signs with its
    /// Instagram app secret: give that one for such an app.
    pub app_secret: Secret,
    /// Answers the subscription handshake.
    pub verify_token: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkedInCredentials {
    /// The app's client secret: LinkedIn signs webhooks and is answered its challenge with it.
    pub client_secret: Secret,
    /// The organisations Hark answers for, by numeric id (`urn:li:organization:{id}`).
    #[serde(default)]
    pub organizations: HashMap<String, LinkedInOrganization>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkedInOrganization {
    /// An admin member's access token (LinkedIn's last 60 days; refreshed by ops).
    pub access_token: Secret,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MastodonCredentials {
    /// By the account's id on its instance.
    pub accounts: HashMap<String, MastodonAccount>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MastodonAccount {
    /// `https://mastodon.social`
    pub instance: String,
    /// A token with `read:notifications`, `read:statuses`, `read:search` and `write:statuses`.
    pub access_token: Secret,
    /// What the listener looks for beyond the account's mentions: search terms, and
    /// hashtags (`#acmeair`), each its own feed.
    #[serde(default)]
    pub listen: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueskyCredentials {
    /// By the account's DID (`did:plc:…`).
    pub accounts: HashMap<String, BlueskyAccount>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueskyAccount {
    /// Where the account's sessions are made: `https://bsky.social`, or its own PDS.
    #[serde(default = "bluesky_service")]
    pub service: String,
    /// The handle (`acme.bsky.social`) or email the account logs in with.
    pub identifier: String,
    /// An app password (Settings → Privacy and security → App passwords), never the
    /// account's own: it seeds the session, which is then kept and refreshed.
    pub app_password: Secret,
    /// Search terms the listener looks for beyond the account's notifications.
    #[serde(default)]
    pub listen: Vec<String>,
}

fn bluesky_service() -> String {
    "https://bsky.social".into()
}

impl BlueskyCredentials {
    /// The accounts by the compact DID Hark keys on (`plc_…`); validation has made sure
    /// every DID has one.
    pub fn accounts(&self) -> impl Iterator<Item = (String, &BlueskyAccount)> {
        self.accounts.iter().filter_map(|(did, a)| crate::channels::bluesky::ids::account_of_did(did).map(|id| (id, a)))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YouTubeCredentials {
    /// By the channel's id (`UC…`).
    pub channels: HashMap<String, OAuth2Credentials>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedditCredentials {
    /// A script or web app's client, approved for the Data API.
    pub client_id: String,
    pub client_secret: Secret,
    /// The brand's Reddit username: its own posts are skipped, and posts are filed under it.
    pub username: String,
    /// What Reddit requires: `<platform>:<app id>:<version> (by /u/<username>)`.
    pub user_agent: String,
    #[serde(default)]
    pub searches: Vec<String>,
    /// Subreddits whose new posts are read whole (without `r/`).
    #[serde(default)]
    pub subreddits: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceCredentials {
    /// `whsec_…`: what the source signs its deliveries with, and Hark its replies.
    pub secret: Secret,
    /// Where Hark's answers to the source's messages go, as Standard Webhooks events.
    pub reply_url: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookCredentials {
    #[serde(default)]
    pub endpoints: HashMap<String, WebhookEndpoint>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    pub url: String,
    /// `whsec_…`, the endpoint's own signing key.
    pub secret: Secret,
    /// The event types it takes; every one when left out.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

impl WebhookCredentials {
    /// Which endpoint takes which events, in a fixed order.
    pub fn subscriptions(&self) -> Vec<crate::domain::forward::Subscription> {
        let mut subscriptions: Vec<_> = self
            .endpoints
            .iter()
            .map(|(id, e)| crate::domain::forward::Subscription { endpoint: id.clone(), events: e.events.clone() })
            .collect();
        subscriptions.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        subscriptions
    }
}

/// The endpoint ids the native help desks go by in forward records and subscriptions; a
/// Standard Webhooks endpoint may not take them.
pub const ZENDESK: &str = "zendesk";
pub const FRESHDESK: &str = "freshdesk";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZendeskCredentials {
    /// The account's address, `https://{subdomain}.zendesk.com`.
    pub url: String,
    /// An OAuth client of the account and a refresh token from its consent flow (API tokens
    /// are retired in 2027). Zendesk rotates the refresh token on every use.
    pub oauth2: OAuth2Credentials,
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreshdeskCredentials {
    /// The account's address, `https://{domain}.freshdesk.com`.
    pub url: String,
    /// An agent's API key (Freshdesk has no OAuth for its API).
    pub api_key: Secret,
    /// The ticket field, a single-line text custom field made for Hark, that holds the
    /// conversation id: what a retried create searches for, Freshdesk having no idempotency key.
    #[serde(default = "default_freshdesk_field")]
    pub custom_field: String,
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

fn default_freshdesk_field() -> String {
    "cf_hark_conversation".to_owned()
}

impl ZendeskCredentials {
    pub fn token_url(&self) -> String {
        format!("{}/oauth/tokens", self.url.trim_end_matches('/'))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaAccount {
    pub app_id: String,
    pub access_token: Secret,
    /// The Facebook Page an Instagram account is linked to; a Page's own id for a Page.
    #[serde(default)]
    pub page_id: Option<String>,
}

impl Credentials {
    pub fn from_json(json: &str) -> Result<Self> {
        // A secret of the earlier, X-only shape gets a way forward, not a parse error.
        if let Ok(serde_json::Value::Object(top)) = serde_json::from_str::<serde_json::Value>(json)
            && top.contains_key("accounts")
        {
            return Err(Error::Secret(
                "the credentials secret has a section per channel now: move \"accounts\" into \"x\" \
                 ({\"x\": {\"accounts\": {...}}})"
                    .into(),
            ));
        }
        // serde's own message quotes the offending value, which here is a secret.
        let credentials: Credentials = serde_json::from_str(json)
            .map_err(|e| Error::Secret(format!("the credentials secret {}", crate::error::json_error_summary(&e))))?;
        credentials.check()?;
        Ok(credentials)
    }

    fn check(&self) -> Result<()> {
        use crate::channels::{meta, x};
        if self.x.accounts.keys().any(|id| !x::is_valid_id(id)) {
            return Err(Error::Secret("the X credentials name an account that is not a numeric X id".into()));
        }
        for (id, search) in self.x.accounts.iter().filter_map(|(id, c)| Some((id, c.search.as_ref()?))) {
            let handle_ok = (1..=15).contains(&search.handle.len())
                && search.handle.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !handle_ok || search.query.trim().is_empty() || search.query.chars().count() > 512 {
                return Err(Error::Secret(format!(
                    "the X account {id}'s search: handle is 1 to 15 of A-Z a-z 0-9 _ (no @), query 1 to 512 characters"
                )));
            }
        }
        if let Some((id, _)) = self.x.accounts.iter().find(|(_, c)| c.access_token.is_some()) {
            return Err(Error::Secret(format!(
                "the X credentials for account {id} give an access_token: X user tokens expire after two hours, \
                 so give \"oauth2\": {{\"client_id\", \"client_secret\", \"refresh_token\"}} instead (README, Security)"
            )));
        }
        let ids = self.meta.apps.keys().chain(self.meta.accounts.keys());
        if ids
            .chain(self.meta.accounts.values().filter_map(|a| a.page_id.as_ref()))
            .any(|id| !meta::is_valid_path_id(id))
        {
            return Err(Error::Secret(
                "the Meta credentials name an app, account or Page that is not a numeric id".into(),
            ));
        }
        for (id, endpoint) in &self.webhooks.endpoints {
            if id == ZENDESK || id == FRESHDESK {
                return Err(Error::Secret(format!(
                    "the webhook endpoint id {id:?} is the native help desk's: give it its own section, or another id"
                )));
            }
            crate::domain::forward::check_endpoint(id, &endpoint.url, endpoint.events.as_deref())
                .map_err(|why| Error::Secret(format!("the webhook endpoint {}: {why}", shown_id(id))))?;
            crate::helpdesks::standard_webhooks::EndpointSecret::parse(endpoint.secret.expose())
                .map_err(|e| Error::Secret(format!("the webhook endpoint {}: {e}", shown_id(id))))?;
        }
        if let Some(linkedin) = &self.linkedin
            && linkedin.organizations.keys().any(|id| !crate::channels::linkedin::is_valid_organization(id))
        {
            return Err(Error::Secret("the LinkedIn credentials name an organization that is not a numeric id".into()));
        }
        for (id, account) in self.mastodon.iter().flat_map(|m| &m.accounts) {
            if !crate::channels::mastodon::is_valid_id(id) {
                return Err(Error::Secret("the Mastodon credentials name an account id that is not one".into()));
            }
            crate::domain::forward::check_endpoint("mastodon", &account.instance, None)
                .map_err(|why| Error::Secret(format!("the Mastodon account {}: the instance {why}", shown_id(id))))?;
            if let Some(bad) = account.listen.iter().find(|l| l.trim().is_empty() || l.chars().count() > 200) {
                return Err(Error::Secret(format!(
                    "the Mastodon account {}: {:?} is not a search term (1 to 200 characters)",
                    shown_id(id),
                    bad.chars().take(40).collect::<String>()
                )));
            }
        }
        for (did, account) in self.bluesky.iter().flat_map(|b| &b.accounts) {
            if crate::channels::bluesky::ids::account_of_did(did).is_none() {
                return Err(Error::Secret(format!(
                    "the Bluesky credentials name {} where a DID (did:plc:… or did:web:…) belongs",
                    shown_id(did)
                )));
            }
            crate::domain::forward::check_endpoint("bluesky", &account.service, None)
                .map_err(|why| Error::Secret(format!("the Bluesky account {}: the service {why}", shown_id(did))))?;
            if account.identifier.trim().is_empty() || account.identifier.len() > 253 {
                return Err(Error::Secret(format!("the Bluesky account {}: identifier is its handle", shown_id(did))));
            }
            if let Some(bad) = account.listen.iter().find(|l| l.trim().is_empty() || l.chars().count() > 200) {
                return Err(Error::Secret(format!(
                    "the Bluesky account {}: {:?} is not a search term (1 to 200 characters)",
                    shown_id(did),
                    bad.chars().take(40).collect::<String>()
                )));
            }
        }
        if let Some(youtube) = &self.youtube
            && youtube.channels.keys().any(|id| !id.starts_with("UC") || !crate::channels::youtube::is_valid_id(id))
        {
            return Err(Error::Secret("the YouTube credentials name a channel whose id is not UC…".into()));
        }
        if let Some(reddit) = &self.reddit {
            let username_ok = (3..=20).contains(&reddit.username.len())
                && reddit.username.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !username_ok {
                return Err(Error::Secret("the reddit username is 3 to 20 of A-Z a-z 0-9 _ -".into()));
            }
            if !reddit.user_agent.contains("(by /u/") {
                return Err(Error::Secret(
                    "the reddit user_agent is Reddit's form: <platform>:<app id>:<version> (by /u/<username>)".into(),
                ));
            }
            if let Some(bad) = reddit.subreddits.iter().find(|s| !crate::channels::reddit::listing::is_subreddit(s)) {
                return Err(Error::Secret(format!(
                    "the reddit subreddit {:?} is not a subreddit's name",
                    bad.chars().take(30).collect::<String>()
                )));
            }
            if reddit.searches.iter().any(|q| q.trim().is_empty() || q.chars().count() > 512) {
                return Err(Error::Secret("a reddit search is 1 to 512 characters".into()));
            }
        }
        for (name, source) in &self.sources {
            if !crate::channels::generic::is_valid_source(name) {
                return Err(Error::Secret(format!("the source {}: a name is 1 to 40 of a-z 0-9 - _", shown_id(name))));
            }
            crate::domain::forward::check_endpoint(name, &source.reply_url, None)
                .map_err(|why| Error::Secret(format!("the source {}: {why}", shown_id(name))))?;
            crate::helpdesks::standard_webhooks::EndpointSecret::parse(source.secret.expose())
                .map_err(|e| Error::Secret(format!("the source {}: {e}", shown_id(name))))?;
        }
        if let Some(zendesk) = &self.zendesk {
            crate::domain::forward::check_endpoint(ZENDESK, &zendesk.url, zendesk.events.as_deref())
                .map_err(|why| Error::Secret(format!("the zendesk section: {why}")))?;
        }
        if let Some(freshdesk) = &self.freshdesk {
            crate::domain::forward::check_endpoint(FRESHDESK, &freshdesk.url, freshdesk.events.as_deref())
                .map_err(|why| Error::Secret(format!("the freshdesk section: {why}")))?;
            let field_ok = freshdesk.custom_field.starts_with("cf_")
                && freshdesk.custom_field.len() <= 64
                && freshdesk.custom_field.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !field_ok {
                return Err(Error::Secret(
                    "the freshdesk custom_field is a field name like cf_hark_conversation".into(),
                ));
            }
        }
        if let Some((id, account)) = self.meta.accounts.iter().find(|(_, a)| !self.meta.apps.contains_key(&a.app_id)) {
            return Err(Error::Secret(format!(
                "the Meta account {id} names app {}, which the credentials do not hold",
                account.app_id.chars().take(24).collect::<String>()
            )));
        }
        Ok(())
    }
}

impl Credentials {
    /// Every help desk that takes Hark's events, and which ones, in a fixed order: the
    /// Standard Webhooks endpoints, then Zendesk and Freshdesk when configured.
    pub fn subscriptions(&self) -> Vec<crate::domain::forward::Subscription> {
        use crate::domain::forward::Subscription;
        let mut subscriptions = self.webhooks.subscriptions();
        if let Some(zendesk) = &self.zendesk {
            subscriptions.push(Subscription { endpoint: ZENDESK.to_owned(), events: zendesk.events.clone() });
        }
        if let Some(freshdesk) = &self.freshdesk {
            subscriptions.push(Subscription { endpoint: FRESHDESK.to_owned(), events: freshdesk.events.clone() });
        }
        subscriptions
    }

    /// X's OAuth seeds by account, renewed at `token_url`.
    pub fn x_seeds(&self, token_url: &str) -> HashMap<String, Seed> {
        self.x.seeds(token_url, self.issued_at)
    }

    /// The Bluesky accounts' seeds, by compact DID: the app password is both the client's
    /// secret and the chain's first "refresh token" (see `channels::bluesky::session`).
    pub fn bluesky_seeds(&self, _token_url: &str) -> HashMap<String, Seed> {
        let Some(bluesky) = &self.bluesky else { return HashMap::new() };
        bluesky
            .accounts()
            .map(|(id, account)| {
                let client = OAuthClient {
                    token_url: account.service.trim_end_matches('/').to_owned(),
                    client_id: account.identifier.clone(),
                    client_secret: Some(account.app_password.clone()),
                    secret_in_body: true,
                };
                (id, Seed { client, refresh_token: account.app_password.clone(), issued_at: self.issued_at })
            })
            .collect()
    }

    /// The YouTube channels' seeds (Google OAuth clients, secrets in the form).
    pub fn youtube_seeds(&self, token_url: &str) -> HashMap<String, Seed> {
        let Some(youtube) = &self.youtube else { return HashMap::new() };
        youtube
            .channels
            .iter()
            .map(|(id, oauth)| {
                let client = OAuthClient {
                    token_url: token_url.to_owned(),
                    client_id: oauth.client_id.clone(),
                    client_secret: oauth.client_secret.clone(),
                    secret_in_body: true,
                };
                (id.clone(), Seed { client, refresh_token: oauth.refresh_token.clone(), issued_at: self.issued_at })
            })
            .collect()
    }

    /// Zendesk's OAuth seed, under the account name [`ZENDESK`]; it is renewed at the
    /// account's own token URL, whatever `_token_url` says.
    pub fn zendesk_seeds(&self, _token_url: &str) -> HashMap<String, Seed> {
        let Some(zendesk) = &self.zendesk else { return HashMap::new() };
        let client = OAuthClient {
            token_url: zendesk.token_url(),
            client_id: zendesk.oauth2.client_id.clone(),
            client_secret: zendesk.oauth2.client_secret.clone(),
            secret_in_body: true,
        };
        let seed = Seed { client, refresh_token: zendesk.oauth2.refresh_token.clone(), issued_at: self.issued_at };
        HashMap::from([(ZENDESK.to_owned(), seed)])
    }
}

/// An id from the secret, bounded for a message.
fn shown_id(id: &str) -> String {
    format!("{:?}", id.chars().take(40).collect::<String>())
}

impl XCredentials {
    pub fn consumer_secrets(&self) -> HashMap<String, Secret> {
        self.accounts.iter().filter_map(|(id, c)| Some((id.clone(), c.consumer_secret.clone()?))).collect()
    }

    /// The OAuth seeds of every account that can post, renewed at `token_url`.
    pub fn seeds(&self, token_url: &str, issued_at: Option<DateTime<Utc>>) -> HashMap<String, Seed> {
        self.accounts
            .iter()
            .filter_map(|(id, c)| {
                let oauth = c.oauth2.as_ref()?;
                let client = OAuthClient {
                    token_url: token_url.to_owned(),
                    client_id: oauth.client_id.clone(),
                    client_secret: oauth.client_secret.clone(),
                    secret_in_body: false,
                };
                Some((id.clone(), Seed { client, refresh_token: oauth.refresh_token.clone(), issued_at }))
            })
            .collect()
    }
}

impl MetaCredentials {
    /// The accounts (Pages and Instagram accounts) an app's webhooks may carry.
    pub fn accounts_of(&self, app_id: &str) -> Vec<String> {
        let mut accounts: Vec<String> =
            self.accounts.iter().filter(|(_, a)| a.app_id == app_id).map(|(id, _)| id.clone()).collect();
        accounts.sort();
        accounts
    }

    /// The Page an account is sent from: its own id for a Page, the linked Page for Instagram.
    pub fn page_of<'a>(&'a self, account: &'a str) -> Option<(&'a str, &'a Secret)> {
        let entry = self.accounts.get(account)?;
        Some((entry.page_id.as_deref().unwrap_or(account), &entry.access_token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"x": {"accounts": {"100": {"consumer_secret": "topsecret-consumer",
        "oauth2": {"client_id": "client-1", "client_secret": "topsecret-client", "refresh_token": "topsecret-refresh"}}}},
        "meta": {"apps": {"555": {"app_secret": "topsecret-app", "verify_token": "topsecret-verify"}},
                 "accounts": {"1234567890321": {"app_id": "555", "access_token": "topsecret-page"},
                              "17841400000000001": {"app_id": "555", "access_token": "topsecret-page", "page_id": "1234567890321"}}}}"#;

    #[test]
    fn each_section_reads_and_nothing_prints_a_secret() {
        let creds = Credentials::from_json(JSON).unwrap();
        let seeds = creds.x.seeds("http://127.0.0.1:9/2/oauth2/token", None);
        let printed = format!("{creds:?} {:?} {seeds:?}", creds.x.consumer_secrets());
        assert!(!printed.contains("topsecret"), "{printed}");
        assert_eq!(creds.x.consumer_secrets()["100"].expose(), "topsecret-consumer");
        assert_eq!(seeds["100"].refresh_token.expose(), "topsecret-refresh");
        assert_eq!(creds.meta.accounts_of("555"), vec!["1234567890321".to_owned(), "17841400000000001".to_owned()]);
        assert_eq!(creds.meta.page_of("17841400000000001").unwrap().0, "1234567890321");
        assert_eq!(creds.meta.page_of("1234567890321").unwrap().0, "1234567890321");
        // Either section may be absent.
        assert!(Credentials::from_json(r#"{"meta": {}}"#).unwrap().x.accounts.is_empty());
        assert!(Credentials::from_json("{}").is_ok());
    }

    #[test]
    fn bad_shapes_are_refused_without_echoing_values() {
        // Each is a plausible operator mistake that puts secret material where serde would quote it.
        for json in [
            r#"{"x": {"accounts": {"100": {"consumer_secret": ["topsecret-value"]}}}}"#,
            r#"{"x": {"accounts": {"100": {"oauth2": {"client_id": "c", "refresh_token": {"t": "topsecret-value"}}}}}}"#,
            r#"{"x": {"accounts": "topsecret-value"}}"#,
            r#"{"x": {"accounts": {"100": {"consumer_secret": "topsecret-value"}}}"#,
            r#"{"x": {"accounts": {"100": {"consumer_secret": "topsecret-value",}}}}"#,
            r#"{"x": {"accounts": {"topsecret-value": {}}}}"#,
            r#"{"x": {"accounts": {"100": {"access_token": "topsecret-value"}}}}"#,
            r#"{"accounts": {"100": {"consumer_secret": "topsecret-value"}}}"#,
            r#"{"meta": {"apps": {"topsecret-value": {"app_secret": "a", "verify_token": "v"}}}}"#,
            r#"{"meta": {"apps": {}, "accounts": {"1": {"app_id": "9", "access_token": "topsecret-value"}}}}"#,
            r#"{"meta": {"apps": {"5": {"app_secret": "topsecret-value"}}}}"#,
            r#"{"slack": {"token": "topsecret-value"}}"#,
        ] {
            let err = Credentials::from_json(json).unwrap_err().to_string();
            assert!(!err.contains("topsecret"), "{err}");
            assert!(err.contains("credentials"), "{err}");
        }
        let err = Credentials::from_json(r#"{"x": {"accounts": {"100": {"access_token": "t"}}}}"#).unwrap_err();
        assert!(err.to_string().contains("expire") && err.to_string().contains("oauth2"), "{err}");
        let err = Credentials::from_json(r#"{"accounts": {}}"#).unwrap_err();
        assert!(err.to_string().contains("\"x\""), "{err}");
    }

    #[test]
    fn native_help_desks_are_subscribers_with_their_own_sections() {
        let creds = Credentials::from_json(
            r#"{"webhooks": {"endpoints": {"crm": {"url": "https://crm.example/hark", "secret": "whsec_C2FtcGxlLWtleS1mb3ItdGhlLWxvY2FsLWhlbHAtZGVzayE="}}},
                "zendesk": {"url": "https://acme.zendesk.com", "oauth2": {"client_id": "hark", "client_secret": "topsecret-c", "refresh_token": "topsecret-r"}},
                "freshdesk": {"url": "https://acme.freshdesk.com", "api_key": "topsecret-k", "events": ["conversation.created", "message.received"]}}"#,
        )
        .unwrap();
        let endpoints: Vec<String> = creds.subscriptions().into_iter().map(|s| s.endpoint).collect();
        assert_eq!(endpoints, ["crm", ZENDESK, FRESHDESK]);
        assert_eq!(creds.freshdesk.as_ref().unwrap().custom_field, "cf_hark_conversation");
        let seed = &creds.zendesk_seeds("ignored")[ZENDESK];
        assert_eq!(seed.client.token_url, "https://acme.zendesk.com/oauth/tokens");
        assert!(seed.client.secret_in_body, "Zendesk takes the client secret in the form");
        assert!(!format!("{creds:?}").contains("topsecret"));
        for (json, why) in [
            (
                r#"{"webhooks": {"endpoints": {"zendesk": {"url": "https://a.example", "secret": "whsec_C2FtcGxlLWtleS1mb3ItdGhlLWxvY2FsLWhlbHAtZGVzayE="}}}}"#,
                "native",
            ),
            (
                r#"{"zendesk": {"url": "http://acme.zendesk.com", "oauth2": {"client_id": "c", "refresh_token": "r"}}}"#,
                "https",
            ),
            (r#"{"freshdesk": {"url": "https://a.freshdesk.com", "api_key": "k", "custom_field": "hark id"}}"#, "cf_"),
            (
                r#"{"freshdesk": {"url": "https://a.freshdesk.com", "api_key": "k", "events": ["ticket.made"]}}"#,
                "event",
            ),
        ] {
            let err = Credentials::from_json(json).unwrap_err().to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
    }
}
