//! Reading configuration from the environment the template sets. Every function loads its
//! configuration once, at cold start, and refuses to start on anything invalid.

use std::str::FromStr;

use crate::error::{Error, Result};

pub fn optional_env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

pub fn required_env(name: &str) -> Result<String> {
    optional_env(name).ok_or_else(|| Error::Config(format!("{name} is not set")))
}

pub fn env_or<T: FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match optional_env(name) {
        Some(value) => value.parse().map_err(|e| Error::Config(format!("{name}={value:?}: {e}"))),
        None => Ok(default),
    }
}

/// The shared AWS configuration. `AWS_ENDPOINT_URL` points every client at a local emulator.
#[cfg(feature = "aws")]
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
