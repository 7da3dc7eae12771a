//! Bluesky sessions as renewable tokens, so the token manager shares them between function
//! instances like any OAuth client's.
//!
//! `createSession` (from the app password) is limited to 30 per 5 minutes and 100 a day per
//! account, so it must never run per poll or per cold start: the store keeps the session's
//! `refreshJwt`, and `refreshSession` renews it. The app password is the chain's seed: when
//! the token manager asks to "refresh" the seed itself, or the stored refresh token has
//! lapsed, a new session is created from the password.

use base64::Engine;
use serde::Deserialize;

use crate::domain::oauth::{Grant, OAuthClient, RefreshError};
use crate::domain::secret::Secret;
use crate::ports::TokenEndpoint;

/// When an access token's lifetime cannot be read from it: Bluesky's last about two hours.
const DEFAULT_LIFETIME_SECONDS: i64 = 30 * 60;

/// `createSession` and `refreshSession` at the account's service (`OAuthClient::token_url`:
/// `https://bsky.social`, or its own PDS), with the handle as `client_id` and the app
/// password as `client_secret`.
#[derive(Debug, Clone)]
pub struct SessionEndpoint {
    http: reqwest::Client,
}

impl SessionEndpoint {
    pub fn new() -> crate::Result<Self> {
        Ok(SessionEndpoint { http: crate::adapters::http::client()? })
    }
}

#[derive(Deserialize)]
struct Session {
    #[serde(rename = "accessJwt")]
    access_jwt: Secret,
    #[serde(rename = "refreshJwt")]
    refresh_jwt: Secret,
}

#[derive(Deserialize, Default)]
struct XrpcError {
    #[serde(default)]
    error: Option<String>,
}

/// Seconds until a JWT's `exp`, read without verifying it (Hark only schedules renewal by it).
pub fn lifetime_seconds(jwt: &str, now: chrono::DateTime<chrono::Utc>) -> Option<i64> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let exp = serde_json::from_slice::<serde_json::Value>(&bytes).ok()?.get("exp")?.as_i64()?;
    Some(exp - now.timestamp()).filter(|s| *s > 0)
}

impl SessionEndpoint {
    async fn session(
        &self,
        service: &str,
        method: &str,
        bearer: Option<&Secret>,
        login: Option<(&str, &Secret)>,
    ) -> Result<Grant, RefreshError> {
        let mut request = self.http.post(format!("{}/xrpc/com.atproto.server.{method}", service.trim_end_matches('/')));
        if let Some(token) = bearer {
            request = request.bearer_auth(token.expose());
        }
        if let Some((identifier, password)) = login {
            request = request.json(&serde_json::json!({"identifier": identifier, "password": password.expose()}));
        }
        // reqwest's error names the URL, never the body.
        let response = request.send().await.map_err(|e| RefreshError::Unavailable(e.to_string()))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            let session: Session = response
                .json()
                .await
                .map_err(|e| RefreshError::Unavailable(format!("unreadable {method} answer: {e}")))?;
            let expires_in =
                lifetime_seconds(session.access_jwt.expose(), chrono::Utc::now()).unwrap_or(DEFAULT_LIFETIME_SECONDS);
            return Ok(Grant {
                access_token: session.access_jwt,
                refresh_token: Some(session.refresh_jwt),
                expires_in: Some(expires_in),
            });
        }
        let error = response.json::<XrpcError>().await.unwrap_or_default().error.unwrap_or_default();
        let error: String = error.chars().take(60).collect();
        match status {
            // XRPC says a refused login or token with 400/401 and names it (`ExpiredToken`,
            // `InvalidToken`, `AuthenticationRequired`, `AccountTakedown`).
            400 | 401 => Err(RefreshError::Refused(format!("{method}: HTTP {status} {error}"))),
            _ => Err(RefreshError::Unavailable(format!("{method}: HTTP {status} {error}"))),
        }
    }
}

impl TokenEndpoint for SessionEndpoint {
    async fn refresh(&self, client: &OAuthClient, refresh_token: &Secret) -> Result<Grant, RefreshError> {
        let password = client
            .client_secret
            .as_ref()
            .ok_or_else(|| RefreshError::Refused("no app password for this account".into()))?;
        if refresh_token.expose() != password.expose() {
            match self.session(&client.token_url, "refreshSession", Some(refresh_token), None).await {
                // The refresh token lapsed (they last about two months): log in again.
                Err(RefreshError::Refused(why)) => {
                    tracing::warn!(why, "Bluesky session could not be refreshed; creating one from the app password")
                }
                other => return other,
            }
        }
        self.session(&client.token_url, "createSession", None, Some((&client.client_id, password))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_jwt_says_how_long_it_lasts() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!(r#"{{"scope":"com.atproto.appPass","exp":{}}}"#, now.timestamp() + 7200));
        assert_eq!(lifetime_seconds(&format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig"), now), Some(7200));
        let expired = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"exp":1}"#);
        assert_eq!(lifetime_seconds(&format!("h.{expired}.s"), now), None);
        assert_eq!(lifetime_seconds("not-a-jwt", now), None);
    }
}
