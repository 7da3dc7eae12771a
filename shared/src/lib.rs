//! Hark's shared library, laid out as a hexagon:
//!
//! - [`domain`]: pure logic: the normalised mention, the classifier, SLA clocks, the
//!   acknowledgement texts, the outbox's and token renewal's rules;
//! - [`ports`]: one narrow trait per capability the functions depend on;
//! - [`channels`]: one folder per platform, its inbound side (handshake, verification,
//!   parsing) and its outbound side (the reply client), behind one registry;
//! - [`helpdesks`]: the help desks' side: verifying what Zendesk, Freshdesk and Standard
//!   Webhooks receivers exchange with Hark;
//! - [`adapters`]: DynamoDB, SQS, SNS, Secrets Manager, HTTP and logging, behind the
//!   default `aws` feature (without it the crate is the domain and the channels' parsing).

#[cfg(feature = "aws")]
pub mod adapters;
pub mod channels;
pub mod config;
pub mod credentials;
pub mod domain;
pub mod error;
pub mod helpdesks;
pub mod metrics;
pub mod ports;

pub use error::{Error, Result, Retry};

/// FNV-1a: a hash that is stable across processes and releases (unlike the std hasher),
/// for choices that must come out the same on every redelivery.
pub fn stable_hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
