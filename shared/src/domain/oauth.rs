//! OAuth 2.0 access tokens that stay valid: user tokens expire (X's after two hours), and
//! the refresh token that renews them is rotated on every use, so it must never be lost.
//!
//! The current tokens live in one store item per account. Any number of function instances
//! share it: the one that finds the access token expiring takes a short lease on the item,
//! refreshes, and writes the new pair under a version check; the others wait for the new
//! version instead of spending the refresh token a second time (which X would refuse, and
//! which would leave nobody holding a valid one). The operator's refresh token in the
//! credentials secret only seeds the item, and re-seeds it when the operator re-authorises.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};

use crate::domain::secret::Secret;
use crate::error::{Error, Result};
use crate::ports::{AccessTokens, SeedSource, TokenEndpoint, TokenStore};

/// Access tokens are renewed this long before they expire, so none is used as it lapses.
const EXPIRY_MARGIN: TimeDelta = TimeDelta::seconds(120);
/// How long a refresher holds the item: longer than one token request can take.
const LEASE: TimeDelta = TimeDelta::seconds(30);
/// How long an instance waits for another one's refresh before giving up for now.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(6);

/// An OAuth client and where its tokens are renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub token_url: String,
    pub client_id: String,
    /// Confidential clients authenticate with it; public clients have none.
    pub client_secret: Option<Secret>,
    /// How a confidential client presents its secret: HTTP Basic (X), or in the request's
    /// form beside `client_id` (Zendesk's documented way; RFC 6749 §2.3.1 allows both).
    pub secret_in_body: bool,
}

/// What the operator provided for an account: the client and a refresh token from the
/// consent flow. `issued_at` orders seeds: a newer one replaces what the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    pub client: OAuthClient,
    pub refresh_token: Secret,
    pub issued_at: Option<DateTime<Utc>>,
}

impl Seed {
    /// Names the seed without revealing it.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.refresh_token.expose().as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// A token endpoint's answer to a refresh.
#[derive(Debug, Clone)]
pub struct Grant {
    pub access_token: Secret,
    /// The rotated refresh token; `None` when the provider keeps the old one.
    pub refresh_token: Option<Secret>,
    pub expires_in: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// The refresh token or client was refused: only re-authorisation helps.
    #[error("refused: {0}")]
    Refused(String),
    /// The endpoint could not be reached or failed; the refresh token may still be good.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// The tokens of one account as the store holds them.
#[derive(Debug, Clone)]
pub struct StoredTokens {
    pub access_token: Option<Secret>,
    pub access_expires_at: DateTime<Utc>,
    pub refresh_token: Secret,
    /// Advances with every refresh and re-seed; every write is conditional on it.
    pub version: u64,
    pub seed_fingerprint: String,
    pub seeded_at: Option<DateTime<Utc>>,
    /// Set when the refresh token was refused; cleared by a re-seed.
    pub refused: Option<String>,
}

/// Seeds fixed at start-up (credentials from the environment, tests).
#[derive(Debug, Clone, Default)]
pub struct FixedSeeds(pub HashMap<String, Seed>);

impl SeedSource for FixedSeeds {
    async fn current_seed(&self, account: &str) -> Result<Option<Seed>> {
        Ok(self.0.get(account).cloned())
    }
}

/// Access tokens for the accounts of one provider.
pub struct TokenManager<S, E, C> {
    /// Names the platform in errors and logs ("X API").
    provider: &'static str,
    /// Names the platform in store keys ("x").
    key_prefix: &'static str,
    store: S,
    endpoint: E,
    seeds: C,
    /// The seeds read at cold start, by account.
    initial: HashMap<String, Seed>,
    /// This instance's name on leases.
    owner: String,
    cache: Mutex<HashMap<String, (Secret, DateTime<Utc>)>>,
}

impl<S: TokenStore, E: TokenEndpoint, C: SeedSource> TokenManager<S, E, C> {
    pub fn new(
        provider: &'static str,
        key_prefix: &'static str,
        store: S,
        endpoint: E,
        seeds: C,
        initial: HashMap<String, Seed>,
    ) -> Self {
        // Unique enough to tell instances apart on a lease; not a secret.
        let owner = format!("{:016x}", crate::stable_hash(&format!("{}{}", std::process::id(), Utc::now())));
        TokenManager { provider, key_prefix, store, endpoint, seeds, initial, owner, cache: Mutex::default() }
    }

    fn key(&self, account: &str) -> String {
        format!("{}#{account}", self.key_prefix)
    }

    fn cached(&self, account: &str) -> Option<Secret> {
        let cache = self.cache.lock().expect("token cache");
        cache.get(account).filter(|(_, expires)| *expires - EXPIRY_MARGIN > Utc::now()).map(|(t, _)| t.clone())
    }

    fn remember(&self, account: &str, token: &Secret, expires_at: DateTime<Utc>) {
        self.cache.lock().expect("token cache").insert(account.to_owned(), (token.clone(), expires_at));
    }

    fn forget(&self, account: &str) {
        self.cache.lock().expect("token cache").remove(account);
    }

    fn refused(&self, account: &str, message: String) -> Error {
        let mut metrics = crate::metrics::Metrics::new("tokens");
        metrics.count(crate::metrics::CREDENTIALS_REFUSED, 1);
        metrics.emit();
        tracing::error!(provider = self.provider, account, message, "access token cannot be renewed; re-authorise");
        Error::CredentialsRejected { platform: self.provider, account: account.to_owned(), message }
    }

    /// A current access token for `account`.
    pub async fn access_token(&self, account: &str) -> Result<Secret> {
        if let Some(token) = self.cached(account) {
            return Ok(token);
        }
        self.renewed(account, None).await
    }

    /// The platform refused `rejected`: a fresh token, refreshing unless another instance
    /// already has.
    pub async fn after_rejection(&self, account: &str, rejected: &Secret) -> Result<Secret> {
        self.forget(account);
        self.renewed(account, Some(rejected)).await
    }

    async fn renewed(&self, account: &str, rejected: Option<&Secret>) -> Result<Secret> {
        let key = self.key(account);
        let initial = self
            .initial
            .get(account)
            .ok_or_else(|| Error::Config(format!("no {} OAuth credentials for account {account}", self.provider)))?;
        let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHERS;
        let mut reread_seed = false;
        loop {
            let mut stored = match self.store.load_tokens(&key).await? {
                Some(stored) => stored,
                None => {
                    self.store.seed_tokens(&key, initial, None).await?;
                    continue;
                }
            };
            // The operator re-authorised (a newer seed), or the stored chain is dead and the
            // seed is a different token: start over from the seed.
            let newer = matches!((initial.issued_at, stored.seeded_at), (Some(i), Some(s)) if i > s)
                || (initial.issued_at.is_some() && stored.seeded_at.is_none());
            let different = initial.fingerprint() != stored.seed_fingerprint;
            if different && (newer || stored.refused.is_some()) {
                self.store.seed_tokens(&key, initial, Some(stored.version)).await?;
                continue;
            }
            if let Some(reason) = &stored.refused {
                if !reread_seed {
                    reread_seed = true;
                    if let Some(seed) = self.seeds.current_seed(account).await?
                        && seed.fingerprint() != stored.seed_fingerprint
                    {
                        self.store.seed_tokens(&key, &seed, Some(stored.version)).await?;
                        continue;
                    }
                }
                return Err(self.refused(account, format!("the refresh token was refused ({reason})")));
            }
            let now = Utc::now();
            let usable = stored.access_token.as_ref().filter(|token| {
                stored.access_expires_at - EXPIRY_MARGIN > now && Some(token.expose()) != rejected.map(Secret::expose)
            });
            if let Some(token) = usable {
                self.remember(account, token, stored.access_expires_at);
                return Ok(token.clone());
            }
            if self.store.lease_tokens(&key, stored.version, &self.owner, now, now + LEASE).await? {
                return self.refresh(account, &key, &mut stored).await;
            }
            // Another instance is refreshing: wait for its new version.
            if tokio::time::Instant::now() > deadline {
                return Err(Error::PlatformUnavailable {
                    platform: self.provider,
                    message: "another instance is renewing the access token".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    async fn refresh(&self, account: &str, key: &str, stored: &mut StoredTokens) -> Result<Secret> {
        let client = &self.initial[account].client;
        match self.endpoint.refresh(client, &stored.refresh_token).await {
            Ok(grant) => {
                let expires_at = Utc::now() + TimeDelta::seconds(grant.expires_in.unwrap_or(3600).max(60));
                let refresh_token = grant.refresh_token.as_ref().unwrap_or(&stored.refresh_token);
                // Conditional on the version alone: only one refresh of a rotated token can
                // succeed at the provider, so whoever got here holds the only valid pair.
                let written = self
                    .store
                    .store_refreshed(key, stored.version, &grant.access_token, expires_at, refresh_token)
                    .await?;
                if !written {
                    tracing::error!(provider = self.provider, account, "renewed tokens could not be stored");
                }
                tracing::info!(provider = self.provider, account, "access token renewed");
                self.remember(account, &grant.access_token, expires_at);
                Ok(grant.access_token)
            }
            Err(RefreshError::Refused(reason)) => {
                self.store.mark_refused(key, stored.version, &reason).await?;
                // The operator may have put a new refresh token in the secret since start-up.
                if let Some(seed) = self.seeds.current_seed(account).await?
                    && seed.fingerprint() != stored.seed_fingerprint
                    && self.store.seed_tokens(key, &seed, Some(stored.version)).await?
                {
                    return Box::pin(self.renewed(account, None)).await;
                }
                Err(self.refused(account, format!("the refresh token was refused ({reason})")))
            }
            Err(RefreshError::Unavailable(reason)) => {
                self.store.release_tokens(key, &self.owner).await?;
                Err(Error::PlatformUnavailable { platform: self.provider, message: format!("token refresh: {reason}") })
            }
        }
    }
}

impl<S: TokenStore, E: TokenEndpoint, C: SeedSource> AccessTokens for TokenManager<S, E, C> {
    async fn access_token(&self, account: &str) -> Result<Secret> {
        TokenManager::access_token(self, account).await
    }
    async fn after_rejection(&self, account: &str, rejected: &Secret) -> Result<Secret> {
        TokenManager::after_rejection(self, account, rejected).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_name_a_token_without_revealing_it() {
        let client =
            OAuthClient { token_url: "u".into(), client_id: "c".into(), client_secret: None, secret_in_body: false };
        let seed = |t: &str| Seed { client: client.clone(), refresh_token: Secret::new(t), issued_at: None };
        assert_eq!(seed("abc").fingerprint(), seed("abc").fingerprint());
        assert_ne!(seed("abc").fingerprint(), seed("abd").fingerprint());
        assert_eq!(seed("abc").fingerprint().len(), 16);
        assert!(!seed("topsecret").fingerprint().contains("topsecret"));
    }
}
