//! Meta: Facebook Page feed and @mentions, Messenger, Instagram comments, mentions and DMs.
//! Webhooks in, the Graph API out.

pub mod inbound;

pub use inbound::{MetaInbound, is_valid_id, is_valid_path_id};

#[cfg(test)]
mod tests;
