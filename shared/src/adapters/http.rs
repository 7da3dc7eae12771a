//! HTTP adapters shared by the platform clients: the client every outbound call uses, and
//! the OAuth 2.0 token endpoint.

use std::time::Duration;

use serde::Deserialize;

use crate::domain::oauth::{Grant, OAuthClient, RefreshError};
use crate::domain::secret::Secret;
use crate::error::{Error, Result};
use crate::ports::TokenEndpoint;

/// Short timeouts: every call runs inside a Lambda invocation with a deadline, and a slow
/// answer is better treated as "unknown" and checked later than waited for.
pub fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(8))
        .user_agent(concat!("hark/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Config(format!("HTTP client: {e}")))
}

/// RFC 6749 refresh at the client's token URL: form body, HTTP Basic for confidential clients.
#[derive(Debug, Clone)]
pub struct HttpTokenEndpoint {
    http: reqwest::Client,
}

impl HttpTokenEndpoint {
    pub fn new() -> Result<Self> {
        Ok(HttpTokenEndpoint { http: client()? })
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Secret,
    #[serde(default)]
    refresh_token: Option<Secret>,
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Deserialize, Default)]
struct TokenRefusal {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl TokenEndpoint for HttpTokenEndpoint {
    async fn refresh(&self, client: &OAuthClient, refresh_token: &Secret) -> std::result::Result<Grant, RefreshError> {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
            ("client_id", client.client_id.as_str()),
        ];
        let secret = client.client_secret.as_ref().map(Secret::expose);
        if let (Some(secret), true) = (secret, client.secret_in_body) {
            form.push(("client_secret", secret));
        }
        let mut request = self.http.post(&client.token_url).form(&form);
        if let (Some(secret), false) = (secret, client.secret_in_body) {
            request = request.basic_auth(&client.client_id, Some(secret));
        }
        // reqwest's error names the URL, never the form.
        let response = request.send().await.map_err(|e| RefreshError::Unavailable(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            let answer: TokenAnswer = response
                .json()
                .await
                .map_err(|e| RefreshError::Unavailable(format!("unreadable token answer: {e}")))?;
            return Ok(Grant {
                access_token: answer.access_token,
                refresh_token: answer.refresh_token,
                expires_in: answer.expires_in,
            });
        }
        // RFC 6749 §5.2: 400 (and 401 for client authentication) mean the grant or client
        // is refused. Only the error code and description are kept; they name no secret.
        if status.as_u16() == 400 || status.as_u16() == 401 {
            let refusal: TokenRefusal = response.json().await.unwrap_or_default();
            let code = refusal.error.unwrap_or_else(|| format!("HTTP {status}"));
            let description: String = refusal.error_description.unwrap_or_default().chars().take(200).collect();
            return Err(RefreshError::Refused(format!("{code}: {description}")));
        }
        Err(RefreshError::Unavailable(format!("token endpoint answered HTTP {status}")))
    }
}

/// One request to a platform and what came of it, for support and debugging. Whatever is
/// recorded has the platform's secrets replaced by `***`; tokens travel in headers, which
/// are never recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Exchange {
    pub platform: &'static str,
    pub method: String,
    pub path: String,
    pub request: String,
    pub status: Option<u16>,
    pub answer: String,
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

impl Exchange {
    /// A request on its way out, timed from now; [`ExchangeLog::finish`] records its end.
    pub fn begin(
        platform: &'static str,
        method: &reqwest::Method,
        path: impl Into<String>,
        request: String,
    ) -> (Self, std::time::Instant) {
        let exchange = Exchange {
            platform,
            method: method.to_string(),
            path: path.into(),
            request,
            status: None,
            answer: String::new(),
            error: None,
            elapsed_ms: 0,
        };
        (exchange, std::time::Instant::now())
    }
}

/// Where a client's exchanges go: always the debug log, and a list when one is kept (tests).
#[derive(Clone, Default)]
pub struct ExchangeLog {
    kept: Option<std::sync::Arc<std::sync::Mutex<Vec<Exchange>>>>,
    secrets: std::sync::Arc<std::sync::RwLock<Vec<String>>>,
}

impl ExchangeLog {
    /// Keeps every exchange for [`ExchangeLog::exchanges`].
    pub fn keeping() -> Self {
        ExchangeLog { kept: Some(Default::default()), secrets: Default::default() }
    }

    /// Values that must never appear in what is recorded.
    pub fn redacting(self, secrets: impl IntoIterator<Item = String>) -> Self {
        self.add_secrets(secrets);
        self
    }

    /// More such values (credentials read again).
    pub fn add_secrets(&self, secrets: impl IntoIterator<Item = String>) {
        let mut known = self.secrets.write().expect("exchange log secrets");
        known.extend(secrets.into_iter().filter(|s| s.len() >= 4));
        known.sort();
        known.dedup();
    }

    fn redact(&self, text: &str) -> String {
        let bounded: String = text.chars().take(500).collect();
        let secrets = self.secrets.read().expect("exchange log secrets");
        secrets.iter().fold(bounded, |text, secret| text.replace(secret.as_str(), "***"))
    }

    pub fn record(&self, mut exchange: Exchange) {
        exchange.path = self.redact(&exchange.path);
        exchange.request = self.redact(&exchange.request);
        exchange.answer = self.redact(&exchange.answer);
        exchange.error = exchange.error.map(|e| self.redact(&e));
        tracing::debug!(
            platform = exchange.platform,
            method = exchange.method,
            path = exchange.path,
            status = exchange.status,
            error = exchange.error,
            elapsed_ms = exchange.elapsed_ms,
            "platform exchange"
        );
        if let Some(kept) = &self.kept {
            kept.lock().expect("exchange log").push(exchange);
        }
    }

    /// Records `exchange` with how it ended.
    pub fn finish<T>(&self, mut exchange: Exchange, started: std::time::Instant, result: &crate::Result<T>) {
        exchange.error = result.as_ref().err().map(ToString::to_string);
        exchange.elapsed_ms = started.elapsed().as_millis() as u64;
        self.record(exchange);
    }

    /// Sends `request` (`method` to `path`, with `body` as recorded) and records the exchange.
    /// A transport error becomes Hark's: a write that may have arrived is "outcome unknown",
    /// anything else "unavailable"; a non-2xx answer becomes what `refused` makes of it.
    /// Returns a 2xx answer's body and headers.
    pub async fn send(
        &self,
        platform: &'static str,
        request: reqwest::RequestBuilder,
        (method, path, body): (&reqwest::Method, String, String),
        refused: impl FnOnce(reqwest::StatusCode, &reqwest::header::HeaderMap, &[u8]) -> crate::Error,
    ) -> crate::Result<(Vec<u8>, reqwest::header::HeaderMap)> {
        let write = method != reqwest::Method::GET;
        let (mut exchange, started) = Exchange::begin(platform, method, path, body);
        let result = match request.send().await {
            Err(e) if write && !e.is_connect() => {
                Err(Error::PlatformOutcomeUnknown { platform, message: e.without_url().to_string() })
            }
            Err(e) => Err(Error::PlatformUnavailable { platform, message: e.without_url().to_string() }),
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                let bytes = response.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                exchange.status = Some(status.as_u16());
                exchange.answer = String::from_utf8_lossy(&bytes).chars().take(300).collect();
                if status.is_success() { Ok((bytes, headers)) } else { Err(refused(status, &headers, &bytes)) }
            }
        };
        self.finish(exchange, started, &result);
        result
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.kept.as_ref().map(|k| k.lock().expect("exchange log").clone()).unwrap_or_default()
    }
}
