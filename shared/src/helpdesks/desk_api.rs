//! What the native help desks' APIs answer, as one of Hark's errors: the one place their
//! HTTP outcomes become retry decisions. A write whose outcome is unknown (a timeout after
//! sending, a 5xx) is checked at the desk before it is made again (`find_sent`); a read
//! that failed is simply tried again.

use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};

/// When a desk answers 429 without saying how long to wait.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// Zendesk and Freshdesk both time their webhook receivers out at 10 s; Hark gives their
/// APIs a little longer.
pub const TIMEOUT: Duration = Duration::from_secs(20);

pub fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("hark/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Config(format!("HTTP client: {e}")))
}

/// Whether a request may have changed something at the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

/// A request that got no answer.
pub fn unsent(platform: &'static str, kind: Kind, error: reqwest::Error) -> Error {
    let connect = error.is_connect();
    let message = error.without_url().to_string();
    if connect || kind == Kind::Read {
        Error::PlatformUnavailable { platform, message }
    } else {
        Error::PlatformOutcomeUnknown { platform, message }
    }
}

/// An answer: its JSON on success (`Null` for an empty body), else the error it means. A
/// refusal's message keeps only the desk's error code and description, bounded: desks echo
/// fields back, and those fields hold customers' words.
pub async fn answer(platform: &'static str, kind: Kind, response: reqwest::Response) -> Result<Value> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        let bytes = response.bytes().await.map_err(|e| unsent(platform, kind, e))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(&bytes).map_err(|e| Error::PlatformOutcomeUnknown {
            platform,
            message: format!("answer {}", crate::error::json_error_summary(&e)),
        });
    }
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body: Value = response.json().await.unwrap_or_default();
    let summary = refusal_summary(&body);
    match status {
        429 => Err(Error::RateLimited {
            platform,
            retry_after: retry_after.map(Duration::from_secs).unwrap_or(DEFAULT_RATE_LIMIT_WAIT),
        }),
        500.. if kind == Kind::Write => {
            Err(Error::PlatformOutcomeUnknown { platform, message: format!("HTTP {status}: {summary}") })
        }
        500.. => Err(Error::PlatformUnavailable { platform, message: format!("HTTP {status}: {summary}") }),
        _ => Err(Error::PlatformRejected { platform, status, message: summary }),
    }
}

/// Zendesk answers `{"error": …, "description": …}`, Freshdesk `{"description": …,
/// "errors": [{"field", "code"}]}`: codes and field names only.
fn refusal_summary(body: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    for key in ["error", "description"] {
        if let Some(text) = body.get(key).and_then(Value::as_str) {
            parts.push(text.chars().take(120).collect());
        }
    }
    for error in body.get("errors").and_then(Value::as_array).into_iter().flatten().take(5) {
        let field = error.get("field").and_then(Value::as_str).unwrap_or("?");
        let code = error.get("code").and_then(Value::as_str).unwrap_or("?");
        parts.push(format!(
            "{}: {}",
            field.chars().take(40).collect::<String>(),
            code.chars().take(40).collect::<String>()
        ));
    }
    if parts.is_empty() { "no reason given".to_owned() } else { parts.join("; ") }
}

/// An id from a desk's answer, numeric or text.
pub fn id_at(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refusals_keep_codes_and_never_the_fields_echoed_back() {
        let zendesk = json!({"error": "RecordInvalid", "description": "Record validation errors",
            "details": {"subject": [{"description": "my card 4111 was charged"}]}});
        assert_eq!(refusal_summary(&zendesk), "RecordInvalid; Record validation errors");
        let freshdesk = json!({"description": "Validation failed",
            "errors": [{"field": "requester_id", "message": "Ana's phone 555", "code": "invalid_value"}]});
        assert_eq!(refusal_summary(&freshdesk), "Validation failed; requester_id: invalid_value");
        assert_eq!(refusal_summary(&json!(null)), "no reason given");
        assert_eq!(id_at(&json!({"ticket": {"id": 35436}}), "/ticket/id").as_deref(), Some("35436"));
        assert_eq!(id_at(&json!({"id": ""}), "/id"), None);
    }
}
