//! Hark's shared library: the domain (mentions, classification, SLAs, acknowledgements),
//! the ports each function depends on, and the adapters (DynamoDB, SQS, SNS, X API,
//! Secrets Manager) behind them.

pub mod classify;
pub mod config;
#[cfg(feature = "aws")]
pub mod dynamo;
pub mod error;
#[cfg(feature = "aws")]
pub mod http;
pub mod mention;
pub mod metrics;
pub mod oauth;
pub mod outbox;
pub mod ports;
pub mod reply;
pub mod secrets;
pub mod sla;
#[cfg(feature = "aws")]
pub mod sns;
#[cfg(feature = "aws")]
pub mod sqs;
#[cfg(feature = "aws")]
pub mod telemetry;
pub mod x;
#[cfg(feature = "aws")]
pub mod x_api;

pub use error::{Error, Result, Retry};

/// FNV-1a: a hash that is stable across processes and releases (unlike the std hasher),
/// for choices that must come out the same on every redelivery.
pub(crate) fn stable_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
