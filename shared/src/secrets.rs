//! Per-account X credentials. In AWS they live in Secrets Manager (the secret named by
//! `X_CREDENTIALS_SECRET_ARN`); locally they may come from the `X_CREDENTIALS` variable.
//! Either way the JSON is:
//!
//! ```json
//! {"accounts": {"<for_user_id>": {
//!     "consumer_secret": "<X app consumer secret: verifies webhooks>",
//!     "oauth2": {"client_id": "...", "client_secret": "... (confidential clients)",
//!                "refresh_token": "<from the consent flow, with offline.access>"}}}}
//! ```
//!
//! The refresh token only seeds the token store (see `oauth`): X rotates it on every use,
//! and the store keeps the current one.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::error::{Error, Result};
#[cfg(feature = "aws")]
use crate::oauth::SeedSource;
use crate::oauth::{OAuthClient, Seed};

/// A credential that never prints.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Equality for bookkeeping (is this the token that was refused?); never use it to check a
/// caller's credential, which needs a constant-time comparison.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}
impl Eq for Secret {}

#[derive(Debug, Clone, Deserialize)]
pub struct AccountCredentials {
    /// Signs webhooks and CRC answers (the X app's consumer secret).
    pub consumer_secret: Option<Secret>,
    /// The OAuth 2.0 client and refresh token Hark posts replies and DMs with.
    pub oauth2: Option<OAuth2Credentials>,
    /// No longer used: refused with an explanation rather than ignored.
    #[serde(default)]
    access_token: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OAuth2Credentials {
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub refresh_token: Secret,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct XCredentials {
    pub accounts: HashMap<String, AccountCredentials>,
    /// When this version of the secret was written (Secrets Manager's `CreatedDate`): a
    /// newer version's refresh token replaces the one in the token store.
    #[serde(skip)]
    pub issued_at: Option<DateTime<Utc>>,
}

impl XCredentials {
    pub fn from_json(json: &str) -> Result<Self> {
        // serde's own message quotes the offending value, which here is a secret.
        let credentials: XCredentials = serde_json::from_str(json)
            .map_err(|e| Error::Secret(format!("the X credentials secret {}", crate::error::json_error_summary(&e))))?;
        if credentials.accounts.keys().any(|id| !crate::x::is_valid_id(id)) {
            return Err(Error::Secret("the X credentials secret names an account that is not a numeric X id".into()));
        }
        if let Some((id, _)) = credentials.accounts.iter().find(|(_, c)| c.access_token.is_some()) {
            return Err(Error::Secret(format!(
                "the X credentials for account {id} give an access_token: X user tokens expire after two hours, \
                 so give \"oauth2\": {{\"client_id\", \"client_secret\", \"refresh_token\"}} instead (README, Security)"
            )));
        }
        Ok(credentials)
    }

    /// Loads from Secrets Manager when `X_CREDENTIALS_SECRET_ARN` is set, else from `X_CREDENTIALS`.
    #[cfg(feature = "aws")]
    pub async fn load(aws: &aws_config::SdkConfig) -> Result<Self> {
        if let Some(arn) = crate::config::optional_env("X_CREDENTIALS_SECRET_ARN") {
            return Self::fetch(&aws_sdk_secretsmanager::Client::new(aws), &arn).await;
        }
        match crate::config::optional_env("X_CREDENTIALS") {
            Some(json) => Self::from_json(&json),
            None => Err(Error::Config("set X_CREDENTIALS_SECRET_ARN (AWS) or X_CREDENTIALS (local)".into())),
        }
    }

    #[cfg(feature = "aws")]
    async fn fetch(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<Self> {
        let out = client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| Error::Secret(format!("GetSecretValue {arn}: {}", e.into_service_error())))?;
        let json = out.secret_string().ok_or_else(|| Error::Secret(format!("secret {arn} has no string value")))?;
        let mut credentials = Self::from_json(json)?;
        credentials.issued_at = out.created_date().and_then(|d| DateTime::from_timestamp(d.secs(), d.subsec_nanos()));
        Ok(credentials)
    }

    pub fn consumer_secrets(&self) -> HashMap<String, Secret> {
        self.accounts.iter().filter_map(|(id, c)| Some((id.clone(), c.consumer_secret.clone()?))).collect()
    }

    /// The OAuth seeds of every account that can post, renewed at `token_url`.
    pub fn seeds(&self, token_url: &str) -> HashMap<String, Seed> {
        self.accounts
            .iter()
            .filter_map(|(id, c)| {
                let oauth = c.oauth2.as_ref()?;
                let client = OAuthClient {
                    token_url: token_url.to_owned(),
                    client_id: oauth.client_id.clone(),
                    client_secret: oauth.client_secret.clone(),
                };
                Some((
                    id.clone(),
                    Seed { client, refresh_token: oauth.refresh_token.clone(), issued_at: self.issued_at },
                ))
            })
            .collect()
    }
}

#[cfg(feature = "aws")]
pub use self::aws_seeds::SecretSeeds;

#[cfg(feature = "aws")]
mod aws_seeds {
    use super::*;

    /// The seeds as the credentials secret holds them now: read again when a stored refresh
    /// token is refused, so a re-authorisation takes effect without waiting for a cold start.
    pub struct SecretSeeds {
        pub client: Option<aws_sdk_secretsmanager::Client>,
        pub arn: Option<String>,
        pub token_url: String,
        /// Used when there is no secret to read again (credentials from the environment).
        pub fallback: HashMap<String, Seed>,
    }

    impl SeedSource for SecretSeeds {
        async fn current_seed(&self, account: &str) -> Result<Option<Seed>> {
            match (&self.client, &self.arn) {
                (Some(client), Some(arn)) => {
                    Ok(XCredentials::fetch(client, arn).await?.seeds(&self.token_url).remove(account))
                }
                _ => Ok(self.fallback.get(account).cloned()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"accounts":{"100":{"consumer_secret":"topsecret-consumer",
        "oauth2":{"client_id":"client-1","client_secret":"topsecret-client","refresh_token":"topsecret-refresh"}}}}"#;

    #[test]
    fn debug_output_never_contains_secret_values() {
        let creds = XCredentials::from_json(JSON).unwrap();
        let seeds = creds.seeds("http://127.0.0.1:9/2/oauth2/token");
        let printed = format!("{creds:?} {:?} {seeds:?}", creds.consumer_secrets());
        assert!(!printed.contains("topsecret"), "{printed}");
        assert_eq!(creds.consumer_secrets()["100"].expose(), "topsecret-consumer");
        assert_eq!(seeds["100"].refresh_token.expose(), "topsecret-refresh");
        assert_eq!(seeds["100"].client.client_id, "client-1");
    }

    #[test]
    fn bad_json_and_bad_account_ids_are_refused_without_echoing_values() {
        // Each is a plausible operator mistake that puts secret material where serde would quote it.
        for json in [
            r#"{"accounts":{"100":{"consumer_secret":["topsecret-value"]}}}"#,
            r#"{"accounts":{"100":{"consumer_secret":"ok","oauth2":{"client_id":"c","refresh_token":{"t":"topsecret-value"}}}}}"#,
            r#"{"accounts":"topsecret-value"}"#,
            r#"{"accounts":{"100":{"consumer_secret":"topsecret-value"}}"#,
            r#"{"accounts":{"100":{"consumer_secret":"topsecret-value",}}}"#,
            r#"{"accounts":{"topsecret-value":{}}}"#,
            r#"{"accounts":{"100":{"access_token":"topsecret-value"}}}"#,
        ] {
            let err = XCredentials::from_json(json).unwrap_err().to_string();
            assert!(!err.contains("topsecret"), "{err}");
            assert!(err.contains("X credentials"), "{err}");
        }
        let err = XCredentials::from_json(r#"{"accounts":{"100":{"access_token":"t"}}}"#).unwrap_err().to_string();
        assert!(err.contains("expire") && err.contains("oauth2"), "{err}");
    }
}
