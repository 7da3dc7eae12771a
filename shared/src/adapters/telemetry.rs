//! Logging for the functions, configured as Lambda's advanced logging controls say
//! (`AWS_LAMBDA_LOG_LEVEL`, `AWS_LAMBDA_LOG_FORMAT`), with one difference from the runtime's
//! default subscriber: the level applies to Hark's own code only. Dependencies log at most
//! warnings, because at TRACE the AWS SDK writes whole request and response bodies, and
//! those carry OAuth tokens (the token item) and customers' messages.

use tracing_subscriber::EnvFilter;

/// Hark's crates all start with this; an `EnvFilter` directive matches by prefix.
const OWN_CODE: &str = "hark";

/// The filter the functions log through: `level` for Hark, WARN for everything else.
pub fn filter(level: &str) -> EnvFilter {
    let level = match level.trim().to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "warn" => "warn",
        "error" | "fatal" => "error",
        _ => "info",
    };
    EnvFilter::new(format!("warn,{OWN_CODE}={level}"))
}

/// Installs the subscriber: JSON lines when Lambda asks for JSON, at Lambda's level.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").unwrap_or_else(|_| "INFO".to_owned());
    let builder = tracing_subscriber::fmt().with_target(false).without_time().with_env_filter(filter(&level));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json { builder.json().init() } else { builder.init() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn the_level_applies_to_hark_and_dependencies_stay_at_warnings() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let sink = seen.clone();
        let collector = tracing_subscriber::registry().with(filter("TRACE")).with(
            tracing_subscriber::fmt::layer().with_writer(move || Capture(sink.clone())).with_ansi(false).without_time(),
        );
        tracing::subscriber::with_default(collector, || {
            tracing::trace!(target: "hark_shared::oauth", "own trace");
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "sdk body");
            tracing::info!(target: "hyper::proto", "hyper info");
            tracing::warn!(target: "aws_smithy_runtime", "sdk warning");
        });
        let text = seen.lock().unwrap().concat();
        assert!(text.contains("own trace") && text.contains("sdk warning"), "{text}");
        assert!(!text.contains("sdk body") && !text.contains("hyper info"), "{text}");
    }

    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<String>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(String::from_utf8_lossy(bytes).into_owned());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
