use std::time::Duration;

/// Every failure the shared adapters and domain can report. [`Error::retry`] is the one
/// place that decides what a caller does about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("DynamoDB {operation} failed: {message}")]
    Store { operation: &'static str, message: String },
    #[error("SQS {operation} failed: {message}")]
    Queue { operation: &'static str, message: String },
    #[error("SNS publish failed: {0}")]
    Notify(String),
    #[error("reading secret failed: {0}")]
    Secret(String),
    #[error("{platform} rate limit reached; retry in {} s", retry_after.as_secs())]
    RateLimited { platform: &'static str, retry_after: Duration },
    /// Not sent: Hark keeps to the API's documented rate, and its next free slot is further
    /// off than a sender waits. Nothing went out, and no attempt is spent.
    #[error("{platform}'s request rate is taken up; the next slot is in {} s", wait.as_secs())]
    Throttled { platform: &'static str, wait: Duration },
    /// Not sent: it follows an earlier send that has not been made yet (a comment for a
    /// ticket whose create is still on its way). Nothing went out, and no attempt is spent.
    #[error("{platform}: waiting for {what}")]
    Waiting { platform: &'static str, what: &'static str },
    /// The platform could not be reached and certainly did not act on the request.
    #[error("{platform} unavailable: {message}")]
    PlatformUnavailable { platform: &'static str, message: String },
    /// The platform refused the request (4xx): sending the same thing again will not help.
    #[error("{platform} rejected the request with {status}: {message}")]
    PlatformRejected { platform: &'static str, status: u16, message: String },
    /// The request may or may not have been acted on: it timed out after it was sent, the
    /// platform answered 5xx, or it refused a duplicate of something that may be ours.
    #[error("{platform} outcome unknown: {message}")]
    PlatformOutcomeUnknown { platform: &'static str, message: String },
    /// The platform allows no automatic message any more (Meta's 24-hour messaging window
    /// closed): only a person may answer now.
    #[error("{platform} allows no automatic message now: {message}")]
    WindowClosed { platform: &'static str, message: String },
    /// The platform refused our credentials even after a refresh; nothing was sent. Only an
    /// operator can fix it (re-authorise), so sends wait for them.
    #[error("{platform} refused the credentials for account {account}: {message}")]
    CredentialsRejected { platform: &'static str, account: String, message: String },
    /// A help-desk endpoint answered 410 Gone, or was disabled after one: nothing more is
    /// sent to it until ops enable it again.
    #[error("help-desk endpoint {endpoint} is disabled: {message}")]
    EndpointDisabled { endpoint: String, message: String },
}

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Transient and certainly not done: try again soon, with backoff.
    Soon,
    /// Not done, and not to be tried before this long (rate limits, broken credentials).
    After(Duration),
    /// It may have happened: look before doing it again.
    CheckFirst,
    /// Retrying cannot help; keep the reason and move on (or dead-letter).
    Never,
}

/// How soon a send waiting for an earlier one looks again, at first.
pub const WAITING_FIRST: Duration = Duration::from_secs(15);

/// How long sends wait for an operator to fix refused credentials before trying again.
const CREDENTIALS_WAIT: Duration = Duration::from_secs(15 * 60);

impl Error {
    /// The one place a failure becomes a decision.
    pub fn retry(&self) -> Retry {
        match self {
            Error::Store { .. } | Error::Queue { .. } | Error::Notify(_) | Error::Secret(_) => Retry::Soon,
            Error::PlatformUnavailable { .. } => Retry::Soon,
            Error::RateLimited { retry_after, .. } => Retry::After(*retry_after),
            Error::Throttled { wait, .. } => Retry::After(*wait),
            Error::Waiting { .. } => Retry::After(WAITING_FIRST),
            Error::CredentialsRejected { .. } => Retry::After(CREDENTIALS_WAIT),
            Error::PlatformOutcomeUnknown { .. } => Retry::CheckFirst,
            Error::Config(_)
            | Error::Invalid(_)
            | Error::PlatformRejected { .. }
            | Error::WindowClosed { .. }
            | Error::EndpointDisabled { .. } => Retry::Never,
        }
    }

    #[cfg(feature = "aws")]
    pub(crate) fn store(operation: &'static str, err: impl std::fmt::Display) -> Self {
        Error::Store { operation, message: err.to_string() }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a JSON document, by category and position only. serde_json's own
/// message quotes the offending value ("invalid type: string \"…\""), and the documents Hark
/// parses carry secrets (credentials) and customers' words (deliveries): neither belongs
/// in an error that reaches a log line or an HTTP answer.
pub fn json_error_summary(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match error.classify() {
        Category::Io => "could not be read",
        Category::Syntax => "is not valid JSON",
        Category::Data => "does not have the expected shape",
        Category::Eof => "ends early",
    };
    format!("{what} (line {}, column {})", error.line(), error.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_summaries_never_quote_the_document() {
        for (document, category) in [
            (r#"{"token": "topsecret-value"}"#, "expected shape"),
            (r#"{"token": topsecret}"#, "not valid JSON"),
            (r#"{"token": "topsecret"#, "ends early"),
        ] {
            let error = serde_json::from_str::<std::collections::HashMap<String, u32>>(document).unwrap_err();
            let summary = json_error_summary(&error);
            assert!(!summary.contains("topsecret"), "{summary}");
            assert!(summary.contains(category), "{summary}");
        }
        // Why the summary exists: serde's own message quotes the value.
        let error = serde_json::from_str::<u32>(r#""topsecret""#).unwrap_err();
        assert!(error.to_string().contains("topsecret"));
    }
}
