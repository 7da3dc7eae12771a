//! The listener's ports: its feeds' cursors.

use std::future::Future;

use crate::domain::listening::{Cursor, StoredCursor};
use crate::error::Result;

/// Where each listening feed stands (DynamoDB `GetItem`/`PutItem` on one item per feed).
pub trait CursorStore: Send + Sync {
    /// The feed's cursor, or a fresh one (version 0).
    fn cursor(&self, feed: &str) -> impl Future<Output = Result<StoredCursor>> + Send;

    /// Moves the cursor from `from` (the version read) to `to`. `false` when another run
    /// moved it first: that run's cursor stands, and what this run enqueued is deduplicated.
    fn advance(&self, feed: &str, from: u64, to: &Cursor) -> impl Future<Output = Result<bool>> + Send;
}
