//! Keeping to each native help desk's documented rate limit across every instance of the
//! outbox function: before a send starts, its requests' slots are reserved in the desk's
//! bucket (`domain::rate`, in the table); a slot a few seconds off is waited for, a later
//! one defers the send (`Error::Throttled`: nothing went out, no attempt is spent) until
//! the bucket frees up. A desk's own `429` and `Retry-After` still win when it answers one.

use std::time::Duration;

use chrono::{TimeDelta, Utc};

use crate::domain::rate::{RateLimit, Slot};
use crate::error::{Error, Result};
use crate::ports::SendSlots;

/// The limits Hark keeps to, and how long a send waits for its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeskRates {
    pub zendesk: Option<RateLimit>,
    pub freshdesk: Option<RateLimit>,
    pub max_wait: TimeDelta,
}

impl DeskRates {
    /// No limit kept: only the desks' own 429s slow sends down.
    pub fn unlimited() -> Self {
        DeskRates { zendesk: None, freshdesk: None, max_wait: TimeDelta::zero() }
    }

    /// The same limits, with no waiting: a send whose slot is not free now is deferred.
    pub fn without_waiting(self) -> Self {
        DeskRates { max_wait: TimeDelta::zero(), ..self }
    }

    /// `ZENDESK_REQUESTS_PER_MINUTE` (default 200, Suite Team's limit),
    /// `FRESHDESK_REQUESTS_PER_MINUTE` (default 200, Growth's; a new ticket is three
    /// requests, so its 80 creates a minute are never reached); 0 keeps none. `DESK_SLOT_MAX_WAIT_SECONDS` (default 10).
    pub fn from_env() -> Result<Self> {
        use crate::config::env_or;
        Ok(DeskRates {
            zendesk: RateLimit::per_minute(env_or("ZENDESK_REQUESTS_PER_MINUTE", 200)?),
            freshdesk: RateLimit::per_minute(env_or("FRESHDESK_REQUESTS_PER_MINUTE", 200)?),
            max_wait: TimeDelta::seconds(env_or("DESK_SLOT_MAX_WAIT_SECONDS", 10)?),
        })
    }
}

/// The desks' buckets, in `slots`.
pub struct Spacing<S> {
    pub slots: S,
    pub rates: DeskRates,
}

impl<S: SendSlots> Spacing<S> {
    /// Waits for the slot of `requests` requests to `desk` (`zendesk`, `freshdesk`), or
    /// says the send must wait longer than a sender does.
    pub async fn take(&self, platform: &'static str, desk: &str, requests: u32) -> Result<()> {
        let limit = match desk {
            crate::credentials::ZENDESK => self.rates.zendesk,
            crate::credentials::FRESHDESK => self.rates.freshdesk,
            _ => None,
        };
        let Some(limit) = limit else { return Ok(()) };
        let now = Utc::now();
        match self.slots.reserve_slot(desk, limit, requests, now, self.rates.max_wait).await? {
            Slot::At(at) => {
                if let Ok(wait) = (at - now).to_std() {
                    tokio::time::sleep(wait).await;
                }
                Ok(())
            }
            Slot::Busy { free_at } => {
                let wait = (free_at - now).to_std().unwrap_or(Duration::ZERO);
                Err(Error::Throttled { platform, wait })
            }
        }
    }
}
