//! YouTube: comments on the brand channel's videos. YouTube sends no webhooks for
//! comments, so the listener reads the channel's comment threads; answers are replies in
//! the thread, within the project's daily quota.

#[cfg(feature = "aws")]
pub mod client;
pub mod threads;

pub use threads::is_valid_id;

#[cfg(test)]
mod tests;
