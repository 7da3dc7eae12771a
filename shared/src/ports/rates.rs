//! Request slots of a rate-limited API, shared by every function instance that calls it.

use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::rate::{RateLimit, Slot};
use crate::error::Result;

pub trait SendSlots: Send + Sync {
    /// Reserves the next slot of `bucket` (a help desk) for `requests` requests if it comes
    /// within `max_wait` of `now`; else says when the bucket frees up, reserving nothing.
    fn reserve_slot(
        &self,
        bucket: &str,
        limit: RateLimit,
        requests: u32,
        now: DateTime<Utc>,
        max_wait: TimeDelta,
    ) -> impl Future<Output = Result<Slot>> + Send;
}
