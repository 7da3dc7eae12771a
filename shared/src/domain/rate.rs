//! Spacing requests to an API that allows only so many a minute (a help desk's documented
//! rate limit), across every function instance that calls it.
//!
//! The bucket is the generic cell rate algorithm's one timestamp, the theoretical arrival
//! time (TAT): the moment the bucket is empty again. A request reserves the slot at
//! `max(TAT, now)` and moves the TAT one interval on; a caller whose slot is near waits for
//! it, one whose slot is far is told when the bucket frees up and gives its turn back (the
//! TAT does not move), so waiting callers never pile reservations into the future. With
//! a bucket of one, requests are evenly spaced and no minute ever holds more than the limit.

use chrono::{DateTime, TimeDelta, Utc};

/// A documented limit, as requests a minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    per_minute: u32,
}

impl RateLimit {
    /// `None` for 0: no limit.
    pub fn per_minute(per_minute: u32) -> Option<Self> {
        (per_minute > 0).then_some(RateLimit { per_minute })
    }

    /// The spacing between two requests, rounded up: never faster than the limit.
    pub fn interval(self) -> TimeDelta {
        TimeDelta::microseconds((60_000_000 + i64::from(self.per_minute) - 1) / i64::from(self.per_minute))
    }
}

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Reserved: send at this moment (now, or after a short wait).
    At(DateTime<Utc>),
    /// Nothing reserved: the next slot is further off than the caller would wait.
    Busy { free_at: DateTime<Utc> },
}

/// The decision for `requests` requests made together at `now` (one send to a help desk
/// is a few), given the bucket's TAT (`None`: never used), and the TAT to store when their
/// slot is reserved: they take as many intervals as they are requests.
pub fn reserve(
    limit: RateLimit,
    requests: u32,
    tat: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    max_wait: TimeDelta,
) -> (Slot, Option<DateTime<Utc>>) {
    let slot = tat.map_or(now, |tat| tat.max(now));
    if slot - now > max_wait {
        return (Slot::Busy { free_at: slot }, None);
    }
    (Slot::At(slot), Some(slot + limit.interval() * requests.max(1) as i32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn requests_are_spaced_by_the_limit_and_far_slots_are_not_reserved() {
        let limit = RateLimit::per_minute(200).unwrap();
        assert_eq!(limit.interval(), TimeDelta::milliseconds(300));
        assert_eq!(RateLimit::per_minute(0), None);
        assert_eq!(RateLimit::per_minute(7).unwrap().interval(), TimeDelta::microseconds(8_571_429), "rounded up");
        let wait = TimeDelta::seconds(1);
        // (what, TAT before, now, slot, TAT after), in ms from t(0)
        type Case = (&'static str, Option<i64>, i64, Slot, Option<i64>);
        let cases: Vec<Case> = vec![
            ("first use: at once", None, 0, Slot::At(t(0)), Some(300)),
            ("idle bucket: at once", Some(-5_000), 0, Slot::At(t(0)), Some(300)),
            ("just used: the next slot", Some(300), 0, Slot::At(t(300)), Some(600)),
            ("as far as the caller waits", Some(1_000), 0, Slot::At(t(1_000)), Some(1_300)),
            ("further: busy, nothing reserved", Some(1_001), 0, Slot::Busy { free_at: t(1_001) }, None),
        ];
        for (name, tat, now, slot, after) in cases {
            assert_eq!(reserve(limit, 1, tat.map(t), t(now), wait), (slot, after.map(t)), "{name}");
        }
        // A send of three requests takes three intervals.
        assert_eq!(reserve(limit, 3, Some(t(0)), t(0), wait), (Slot::At(t(0)), Some(t(900))));
        {}
    }

    #[test]
    fn a_minute_of_callers_never_holds_more_than_the_limit() {
        // 1,000 callers arriving every 10 ms, each retrying when busy, each send one to
        // three requests made at once.
        let limit = RateLimit::per_minute(200).unwrap();
        let mut tat = None;
        let mut sent: Vec<DateTime<Utc>> = Vec::new();
        for arrival in 0..1_000 {
            let mut now = t(arrival * 10);
            let requests = 1 + (arrival % 3) as u32;
            loop {
                let (slot, next) = reserve(limit, requests, tat, now, TimeDelta::seconds(2));
                match slot {
                    Slot::At(at) => {
                        tat = next;
                        sent.extend(std::iter::repeat_n(at, requests as usize));
                        break;
                    }
                    Slot::Busy { free_at } => now = free_at,
                }
            }
        }
        sent.sort();
        for (i, at) in sent.iter().enumerate() {
            let in_minute = sent[i..].iter().take_while(|later| **later - *at < TimeDelta::minutes(1)).count();
            // A send's requests go out together: a minute may hold one send's more.
            assert!(in_minute <= 200 + 2, "{in_minute} requests in the minute from {at}");
        }
        let asked: u32 = (0..1_000).map(|arrival| 1 + arrival % 3).sum();
        assert_eq!(sent.len(), asked as usize, "every caller got its slots");
    }
}
