//! Reddit, by listening only: searches and subreddits' new posts, read by the listener with
//! an application-only token. Hark never posts on Reddit (communities remove and ban
//! brands' automated replies, and an app-only token cannot post): every post found is left
//! to a person. Reddit requires a data agreement for commercial use, so its feeds are off
//! until the operator turns them on (`ListenReddit`).

#[cfg(feature = "aws")]
pub mod client;
pub mod listing;

#[cfg(feature = "aws")]
pub use client::RedditClient;
pub use listing::is_post_fullname;

#[cfg(test)]
mod tests;
