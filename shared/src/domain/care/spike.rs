//! Outage spikes. When something breaks, customers say so all at once: the number of
//! negative or outage-flagged messages an account receives in five minutes jumps far above
//! what it usually is. A spike opens an incident (one for the whole outage: accounts that
//! spike while it is open join it), escalated at once with samples and the channels
//! affected, and with a suggested proactive post that a person approves through the API.
//! Hark never posts it on its own.
//!
//! The rule: the current five-minute bucket holds at least `min_mentions` such messages
//! and at least `factor` times the mean of the preceding buckets (the last hour by default).
//! A quiet account needs `min_mentions`; a busy one needs a jump against its own normal.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::domain::classify::{Classification, Sentiment, UrgencyKind};
use crate::domain::mention::Channel;

/// The counting window.
pub const BUCKET: TimeDelta = TimeDelta::minutes(5);
/// An incident takes in further spikes until this long after its last one.
pub const QUIET: TimeDelta = TimeDelta::minutes(30);
/// The most a suggested post may be: X's limit, the tightest of the channels posted to.
pub const MAX_POST_CHARS: usize = 280;

pub const DEFAULT_POST: &str = "We know some of you are having trouble with our service right now. \
We're working on it and will post an update here as soon as we can. Sorry for the disruption. {signature}";

/// An account's thresholds and its suggested post.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeRule {
    pub min_mentions: u64,
    pub factor: f64,
    /// Buckets before the current one that make the baseline.
    pub baseline_buckets: u32,
    /// `{signature}` is the account's signature.
    pub post: String,
}

impl Default for SpikeRule {
    fn default() -> Self {
        SpikeRule { min_mentions: 10, factor: 3.0, baseline_buckets: 12, post: DEFAULT_POST.to_owned() }
    }
}

impl SpikeRule {
    /// From operators' settings, checked.
    pub fn new(min_mentions: u64, factor: f64, baseline_minutes: u32, post: &str) -> Result<Self, String> {
        if min_mentions < 2 {
            return Err("spike: min_mentions of at least 2 (one angry customer is not an outage)".into());
        }
        if !factor.is_finite() || factor < 1.0 {
            return Err(format!("spike: factor {factor} must be a number of at least 1"));
        }
        let bucket_minutes = BUCKET.num_minutes() as u32;
        if baseline_minutes < bucket_minutes
            || !baseline_minutes.is_multiple_of(bucket_minutes)
            || baseline_minutes > 24 * 60
        {
            return Err(format!(
                "spike: baseline_minutes {baseline_minutes} must be a multiple of {bucket_minutes}, up to a day"
            ));
        }
        let post = post.trim();
        let rendered = post.replace("{signature}", "");
        if rendered.trim().is_empty() || rendered.chars().count() > MAX_POST_CHARS - 20 {
            return Err(format!("spike: the post template is 1 to {} characters", MAX_POST_CHARS - 20));
        }
        Ok(SpikeRule {
            min_mentions,
            factor,
            baseline_buckets: baseline_minutes / bucket_minutes,
            post: post.to_owned(),
        })
    }

    /// The suggested post, signed.
    pub fn suggested_post(&self, signature: &str) -> String {
        self.post.replace("{signature}", signature).trim().to_owned()
    }
}

/// Whether a customer's message counts toward a spike: something is wrong for them.
pub fn counts(c: &Classification) -> bool {
    c.sentiment == Sentiment::Negative || c.urgency.iter().any(|u| u.kind == UrgencyKind::Outage)
}

/// The start of the bucket `at` falls in.
pub fn bucket_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(BUCKET).expect("five minutes divides time")
}

/// What the rule saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpikeReading {
    pub mentions: u64,
    /// The usual count per bucket.
    pub baseline: f64,
    pub threshold: u64,
}

/// The spike in `current`, given the counts of the buckets before it (missing ones count 0).
pub fn detect(rule: &SpikeRule, current: u64, previous: &[u64]) -> Option<SpikeReading> {
    let buckets = rule.baseline_buckets.max(1) as usize;
    let recent = &previous[previous.len().saturating_sub(buckets)..];
    let baseline = recent.iter().sum::<u64>() as f64 / buckets as f64;
    let threshold = rule.min_mentions.max((baseline * rule.factor).ceil() as u64);
    (current >= threshold).then_some(SpikeReading { mentions: current, baseline, threshold })
}

/// The incident a spike in `bucket` opens: named by the time, readable and sortable.
pub fn incident_id(bucket: DateTime<Utc>) -> String {
    format!("inc-{}", bucket.format("%Y%m%d-%H%M"))
}

/// Why, in words, for the escalation.
pub fn reasons(reading: &SpikeReading, channel: Channel, account: &str) -> Vec<String> {
    vec![format!(
        "{} negative or outage mentions in {} min on {} {account}, against a usual {:.1}",
        reading.mentions,
        BUCKET.num_minutes(),
        channel.as_str(),
        reading.baseline
    )]
}

/// Whether the post can go out on `channel` as a text of its own.
pub fn can_post(channel: Channel, text: &str) -> Result<(), String> {
    let n = text.chars().count();
    match channel {
        // Instagram publishes media only: a text needs an image, which is a person's call.
        Channel::Instagram => Err("Instagram takes no text-only posts: post it there by hand, with an image".into()),
        Channel::X if n > MAX_POST_CHARS => Err(format!("X takes at most {MAX_POST_CHARS} characters; this is {n}")),
        _ if n == 0 => Err("the post is empty".into()),
        // Facebook's limit for a Page post's message.
        Channel::Facebook if n > 63_206 => Err(format!("Facebook takes at most 63206 characters; this is {n}")),
        // Hark comments on LinkedIn but does not publish as the organisation; a source is
        // the company's own app, which has its own way to tell its users.
        Channel::LinkedIn
        | Channel::Mastodon
        | Channel::Bluesky
        | Channel::YouTube
        | Channel::Reddit
        | Channel::Generic => Err(format!("Hark does not post on {channel}: post it there by hand")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, h, m, s).unwrap()
    }

    #[test]
    fn a_spike_is_a_jump_against_the_accounts_own_normal() {
        let rule = SpikeRule::default();
        let quiet_hour = [0, 1, 0, 0, 2, 0, 1, 0, 0, 0, 1, 0];
        let busy_hour = [9; 12];
        let cases: &[(&str, u64, &[u64], Option<u64>)] = &[
            ("a quiet account's normal day", 3, &quiet_hour, None),
            ("a quiet account, under the floor", 9, &quiet_hour, None),
            ("a quiet account's outage", 14, &quiet_hour, Some(10)),
            ("a busy account's normal", 20, &busy_hour, None),
            ("a busy account's outage: three times its normal", 27, &busy_hour, Some(27)),
            ("no history at all: the floor decides", 10, &[], Some(10)),
            // Only the last hour counts: yesterday's storm does not raise today's bar.
            ("an old storm is forgotten", 12, &[500, 500, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], Some(10)),
        ];
        for (what, current, previous, threshold) in cases {
            let reading = detect(&rule, *current, previous);
            assert_eq!(reading.map(|r| r.threshold), *threshold, "{what}: {reading:?}");
        }
    }

    #[test]
    fn a_synthetic_outage_is_caught_within_its_first_bucket_and_a_normal_day_never() {
        // A day of 5-minute buckets: a normal day's background (deterministic noise around
        // 2 per bucket, busier in the evening), then the same day with an outage at 18:00.
        let normal: Vec<u64> = (0..288u64)
            .map(|i| (crate::stable_hash(&format!("bucket-{i}")) % 4) + u64::from((204..264).contains(&i)))
            .collect();
        let rule = SpikeRule::default();
        let spikes = |day: &[u64]| -> Vec<usize> {
            (0..day.len()).filter(|&i| detect(&rule, day[i], &day[..i]).is_some()).collect()
        };
        assert!(spikes(&normal).is_empty(), "a normal day raises nothing: {:?}", spikes(&normal));
        let mut outage = normal.clone();
        for (i, extra) in [(216, 25), (217, 60), (218, 40), (219, 12)] {
            outage[i] += extra;
        }
        let found = spikes(&outage);
        assert_eq!(found.first(), Some(&216), "caught in the outage's first five minutes: {found:?}");
        assert!(found.iter().all(|i| (216..=219).contains(i)), "{found:?}");
    }

    #[test]
    fn buckets_ids_and_posts() {
        assert_eq!(bucket_of(at(18, 7, 59)), at(18, 5, 0));
        assert_eq!(bucket_of(at(18, 10, 0)), at(18, 10, 0));
        assert_eq!(incident_id(at(18, 5, 0)), "inc-20261204-1805");
        assert!(SpikeRule::default().suggested_post("^HK").ends_with("disruption. ^HK"));
        assert!(can_post(Channel::X, &SpikeRule::default().suggested_post("^HK")).is_ok());
        assert!(can_post(Channel::X, &"x".repeat(281)).unwrap_err().contains("280"));
        assert!(can_post(Channel::Instagram, "down").unwrap_err().contains("by hand"));
        assert!(can_post(Channel::Facebook, "").is_err());
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(SpikeRule::new(1, 3.0, 60, DEFAULT_POST).unwrap_err().contains("min_mentions"));
        assert!(SpikeRule::new(10, 0.5, 60, DEFAULT_POST).unwrap_err().contains("factor"));
        assert!(SpikeRule::new(10, f64::NAN, 60, DEFAULT_POST).is_err());
        assert!(SpikeRule::new(10, 3.0, 7, DEFAULT_POST).unwrap_err().contains("multiple of 5"));
        assert!(SpikeRule::new(10, 3.0, 60, "").unwrap_err().contains("post template"));
        assert!(SpikeRule::new(10, 3.0, 60, &"y".repeat(300)).is_err());
        assert_eq!(SpikeRule::new(12, 2.5, 30, "Down. {signature}").unwrap().baseline_buckets, 6);
    }
}
