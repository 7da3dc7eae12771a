//! Mastodon: a brand account on one instance. No per-account webhooks exist (Mastodon's
//! are for admins), so its mentions, like its searches and hashtags, are read by the
//! listener; answers go out through the instance's REST API.

pub mod feed;
#[cfg(feature = "aws")]
pub mod outbound;

pub use feed::is_valid_id;
#[cfg(feature = "aws")]
pub use outbound::MastodonClient;

#[cfg(test)]
mod tests;
