//! Request slots of rate-limited APIs in the table: `RATE#{bucket}` / `RATE` holds the
//! bucket's theoretical arrival time in epoch milliseconds (`tat_ms`), and expires a day
//! after it (TTL). Instances race for a slot with a conditional write on the value each
//! read; the loser reads again.

use chrono::{DateTime, TimeDelta, Utc};

use super::{DynamoStore, UpdateBuilder, get_n, is_conditional_failure, key, n};
use crate::domain::rate::{RateLimit, Slot, reserve};
use crate::error::{Error, Result};
use crate::ports::SendSlots;

/// Races lost in a row before the caller is told the bucket is busy.
const RACES: usize = 8;

impl SendSlots for DynamoStore {
    async fn reserve_slot(
        &self,
        bucket: &str,
        limit: RateLimit,
        requests: u32,
        now: DateTime<Utc>,
        max_wait: TimeDelta,
    ) -> Result<Slot> {
        let key = key(format!("RATE#{bucket}"), "RATE");
        for _ in 0..RACES {
            let item = self.get_consistent(key.clone(), "GetItem rate").await?;
            let seen: Option<i64> = item.as_ref().and_then(|item| get_n(item, "tat_ms"));
            let (slot, next) = reserve(limit, requests, seen.and_then(DateTime::from_timestamp_millis), now, max_wait);
            let Some(next) = next else { return Ok(slot) };
            let update = UpdateBuilder::default()
                .set("tat_ms", n(next.timestamp_millis()))
                .set("expires_at", n((next + TimeDelta::days(1)).timestamp()));
            let update = match seen {
                Some(seen) => update.value(":seen", n(seen)).build(&self.table, key.clone(), Some("#tat_ms = :seen")),
                None => update.build(&self.table, key.clone(), Some("attribute_not_exists(#tat_ms)")),
            }?;
            match self.update_item(update).await {
                Ok(_) => return Ok(slot),
                // Another instance took the slot first: look again.
                Err(err) if is_conditional_failure(&err) => continue,
                Err(err) => return Err(Error::store("UpdateItem rate", err.into_service_error())),
            }
        }
        Ok(Slot::Busy { free_at: now + limit.interval() })
    }
}
