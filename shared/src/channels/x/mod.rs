//! X (Twitter): Account Activity webhooks in, the X API v2 out.

pub mod inbound;
#[cfg(feature = "aws")]
pub mod outbound;
pub mod search;

pub use inbound::*;
#[cfg(feature = "aws")]
pub use outbound::{AwsXApiClient, TOKEN_PATH, XApiClient};
