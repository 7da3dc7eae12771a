//! Bluesky: a brand account on the AT Protocol. Bluesky has no webhooks for an account,
//! so the listener reads its notifications (mentions, replies, quotes) and its searches;
//! answers are posts in the thread (`com.atproto.repo.createRecord`), written under a
//! record key derived from the outbox message so a retry never posts twice.

#[cfg(feature = "aws")]
pub mod client;
pub mod feed;
pub mod ids;
#[cfg(feature = "aws")]
pub mod session;

pub use ids::is_valid_account;

#[cfg(test)]
mod tests;
