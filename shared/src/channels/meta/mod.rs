//! Meta: Facebook Page feed and @mentions, Messenger, Instagram comments, mentions and DMs.
//! Webhooks in, the Graph API out.

pub mod inbound;
#[cfg(feature = "aws")]
pub mod outbound;

pub use inbound::{MetaInbound, is_valid_id, is_valid_path_id};
#[cfg(feature = "aws")]
pub use outbound::MetaClient;

#[cfg(all(test, feature = "aws"))]
mod outbound_tests;
#[cfg(test)]
mod tests;
