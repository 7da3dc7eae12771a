//! Customer values read lately: imports are rare and messages are not, so a customer's value
//! is read from the table at most once a minute per warm function.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use hark_shared::domain::customer_value::CustomerValue;
use hark_shared::domain::mention::Channel;

/// A customer, by channel and platform id.
pub type CustomerRef = (Channel, String);

/// What was read for a customer (nothing, too: most customers are not in the CRM) and when.
type Entry = (Option<CustomerValue>, DateTime<Utc>);

#[derive(Default)]
pub struct ValueCache(Mutex<HashMap<CustomerRef, Entry>>);

impl ValueCache {
    /// How long an import takes to reach a warm function.
    const KEEP: TimeDelta = TimeDelta::minutes(1);
    /// Bounds the memory a burst of distinct customers can take (a few MB).
    const MAX: usize = 50_000;

    /// `Some(value)` when read within the last minute.
    pub fn get(&self, customer: &CustomerRef, now: DateTime<Utc>) -> Option<Option<CustomerValue>> {
        let cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(customer).filter(|(_, at)| now - *at < Self::KEEP).map(|(value, _)| value.clone())
    }

    pub fn put(&self, customer: CustomerRef, value: Option<CustomerValue>, now: DateTime<Utc>) {
        let mut cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= Self::MAX {
            cache.clear();
        }
        cache.insert(customer, (value, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_kept_a_minute() {
        let cache = ValueCache::default();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let customer = (Channel::X, "801".to_owned());
        assert_eq!(cache.get(&customer, t0), None, "never read");
        let vip = CustomerValue { tier: Some("vip".into()), ..Default::default() };
        cache.put(customer.clone(), Some(vip.clone()), t0);
        assert_eq!(cache.get(&customer, t0 + TimeDelta::seconds(59)), Some(Some(vip)));
        assert_eq!(cache.get(&customer, t0 + TimeDelta::seconds(60)), None, "read again after a minute");
        cache.put(customer.clone(), None, t0);
        assert_eq!(cache.get(&customer, t0), Some(None), "not in the CRM is remembered too");
    }
}
