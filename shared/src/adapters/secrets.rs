//! The credentials secret from Secrets Manager: read once at cold start, and read again
//! only when a stored refresh token is refused (an operator's re-authorisation then takes
//! effect without waiting for a cold start).

use std::collections::HashMap;

use chrono::DateTime;

use crate::credentials::Credentials;
use crate::domain::oauth::Seed;
use crate::error::{Error, Result};
use crate::ports::SeedSource;

impl Credentials {
    /// From Secrets Manager when `CREDENTIALS_SECRET_ARN` is set, else from `HARK_CREDENTIALS`.
    pub async fn load(aws: &aws_config::SdkConfig) -> Result<Self> {
        if let Some(arn) = crate::config::optional_env("CREDENTIALS_SECRET_ARN") {
            return fetch(&crate::adapters::aws_usage::clients::secrets_manager(aws), &arn).await;
        }
        match crate::config::optional_env("HARK_CREDENTIALS") {
            Some(json) => Self::from_json(&json),
            None => Err(Error::Config("set CREDENTIALS_SECRET_ARN (AWS) or HARK_CREDENTIALS (local)".into())),
        }
    }
}

impl crate::helpdesks::DeskSecrets {
    /// From Secrets Manager when `HELPDESK_SECRET_ARN` is set, else from
    /// `HARK_HELPDESK_SECRETS`; with neither, no help desk is configured (each is refused).
    pub async fn load(aws: &aws_config::SdkConfig) -> Result<Self> {
        if let Some(arn) = crate::config::optional_env("HELPDESK_SECRET_ARN") {
            let out = crate::adapters::aws_usage::clients::secrets_manager(aws)
                .get_secret_value()
                .secret_id(&arn)
                .send()
                .await
                .map_err(|e| Error::Secret(format!("GetSecretValue {arn}: {}", e.into_service_error())))?;
            let json = out.secret_string().ok_or_else(|| Error::Secret(format!("secret {arn} has no string value")))?;
            return Self::from_json(json);
        }
        match crate::config::optional_env("HARK_HELPDESK_SECRETS") {
            Some(json) => Self::from_json(&json),
            None => Ok(Self::default()),
        }
    }
}

async fn fetch(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<Credentials> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| Error::Secret(format!("GetSecretValue {arn}: {}", e.into_service_error())))?;
    let json = out.secret_string().ok_or_else(|| Error::Secret(format!("secret {arn} has no string value")))?;
    let mut credentials = Credentials::from_json(json)?;
    credentials.issued_at = out.created_date().and_then(|d| DateTime::from_timestamp(d.secs(), d.subsec_nanos()));
    Ok(credentials)
}

/// Reads the credentials secret again, for a client whose credentials were refused.
#[derive(Clone)]
pub struct SecretReader {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
}

impl SecretReader {
    /// The secret named by `CREDENTIALS_SECRET_ARN`; `None` when credentials come from the
    /// environment, which cannot change under a running function.
    pub fn from_env(aws: &aws_config::SdkConfig) -> Option<Self> {
        let arn = crate::config::optional_env("CREDENTIALS_SECRET_ARN")?;
        Some(SecretReader { client: crate::adapters::aws_usage::clients::secrets_manager(aws), arn })
    }

    pub async fn read(&self) -> Result<Credentials> {
        fetch(&self.client, &self.arn).await
    }
}

/// Which seeds of the credentials a token manager renews (`Credentials::x_seeds`,
/// `Credentials::zendesk_seeds`), given the token URL.
pub type SeedsOf = fn(&Credentials, &str) -> HashMap<String, Seed>;

/// A provider's OAuth seeds as the credentials secret holds them now.
pub struct SecretSeeds {
    pub client: Option<aws_sdk_secretsmanager::Client>,
    pub arn: Option<String>,
    pub token_url: String,
    pub seeds_of: SeedsOf,
    /// Used when there is no secret to read again (credentials from the environment).
    pub fallback: HashMap<String, Seed>,
}

impl SeedSource for SecretSeeds {
    async fn current_seed(&self, account: &str) -> Result<Option<Seed>> {
        match (&self.client, &self.arn) {
            (Some(client), Some(arn)) => {
                let credentials = fetch(client, arn).await?;
                Ok((self.seeds_of)(&credentials, &self.token_url).remove(account))
            }
            _ => Ok(self.fallback.get(account).cloned()),
        }
    }
}
