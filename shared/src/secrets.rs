//! Per-account X credentials. In AWS they live in Secrets Manager (the secret named by
//! `X_CREDENTIALS_SECRET_ARN`); locally they come from the `X_CREDENTIALS` variable.
//! Either way the JSON is `{"accounts": {"<for_user_id>": {"consumer_secret": "...",
//! "access_token": "..."}}}`.

use std::collections::HashMap;

use serde::Deserialize;

use crate::error::{Error, Result};

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

#[derive(Debug, Clone, Deserialize)]
pub struct AccountCredentials {
    /// Signs webhooks and CRC answers (the X app's consumer secret).
    pub consumer_secret: Option<Secret>,
    /// User-context token for posting replies and DMs as the brand.
    pub access_token: Option<Secret>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct XCredentials {
    pub accounts: HashMap<String, AccountCredentials>,
}

impl XCredentials {
    pub fn from_json(json: &str) -> Result<Self> {
        // serde's own message quotes the offending value, which here is a secret.
        let credentials: XCredentials = serde_json::from_str(json)
            .map_err(|e| Error::Secret(format!("the X credentials secret {}", crate::error::json_error_summary(&e))))?;
        if credentials.accounts.keys().any(|id| !crate::x::is_valid_id(id)) {
            return Err(Error::Secret("the X credentials secret names an account that is not a numeric X id".into()));
        }
        Ok(credentials)
    }

    /// Loads from Secrets Manager when `X_CREDENTIALS_SECRET_ARN` is set, else from `X_CREDENTIALS`.
    pub async fn load(aws: &aws_config::SdkConfig) -> Result<Self> {
        if let Some(arn) = crate::config::optional_env("X_CREDENTIALS_SECRET_ARN") {
            let client = aws_sdk_secretsmanager::Client::new(aws);
            let out = client
                .get_secret_value()
                .secret_id(&arn)
                .send()
                .await
                .map_err(|e| Error::Secret(format!("GetSecretValue {arn}: {}", e.into_service_error())))?;
            let json = out.secret_string().ok_or_else(|| Error::Secret(format!("secret {arn} has no string value")))?;
            return Self::from_json(json);
        }
        match crate::config::optional_env("X_CREDENTIALS") {
            Some(json) => Self::from_json(&json),
            None => Err(Error::Config("set X_CREDENTIALS_SECRET_ARN (AWS) or X_CREDENTIALS (local)".into())),
        }
    }

    pub fn consumer_secrets(&self) -> HashMap<String, Secret> {
        self.accounts.iter().filter_map(|(id, c)| Some((id.clone(), c.consumer_secret.clone()?))).collect()
    }

    pub fn access_tokens(&self) -> HashMap<String, Secret> {
        self.accounts.iter().filter_map(|(id, c)| Some((id.clone(), c.access_token.clone()?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_secret_values() {
        let creds = XCredentials::from_json(
            r#"{"accounts":{"100":{"consumer_secret":"topsecret-consumer","access_token":"topsecret-token"}}}"#,
        )
        .unwrap();
        let printed = format!("{creds:?} {:?} {:?}", creds.consumer_secrets(), creds.access_tokens());
        assert!(!printed.contains("topsecret"), "{printed}");
        assert_eq!(creds.consumer_secrets()["100"].expose(), "topsecret-consumer");
    }

    #[test]
    fn bad_json_and_bad_account_ids_are_refused_without_echoing_values() {
        // Each is a plausible operator mistake that puts secret material where serde would quote it.
        for json in [
            r#"{"accounts":{"100":{"consumer_secret":["topsecret-value"]}}}"#,
            r#"{"accounts":{"100":{"consumer_secret":"ok","access_token":{"t":"topsecret-value"}}}}"#,
            r#"{"accounts":"topsecret-value"}"#,
            r#"{"accounts":{"100":{"consumer_secret":"topsecret-value"}}"#,
            r#"{"accounts":{"100":{"consumer_secret":"topsecret-value",}}}"#,
            r#"{"accounts":{"topsecret-value":{}}}"#,
        ] {
            let err = XCredentials::from_json(json).unwrap_err().to_string();
            assert!(!err.contains("topsecret"), "{err}");
            assert!(err.contains("X credentials secret"), "{err}");
        }
    }
}
