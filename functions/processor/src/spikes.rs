//! Watching for outage spikes as messages are stored (`domain::care::spike` decides): each
//! negative or outage-flagged customer message is counted in its account's five-minute
//! bucket, and the count it gets back is exact, so the message that brings the bucket to its
//! threshold is the one that records the spike. The threshold depends only on the buckets
//! before, which do not change: a warm function reads them once per account and bucket. A
//! burst of ten thousand complaints is ten thousand counter updates and a handful of reads.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use hark_shared::domain::care::CarePolicy;
use hark_shared::domain::care::spike::{self, BUCKET};
use hark_shared::domain::mention::{Channel, Mention};
use hark_shared::domain::sla::{SPIKE, level_name};
use hark_shared::ports::{
    ConversationId, Escalation, Incidents, Route, SpikeCounter, SpikeRecord, SpikeRecorded, SpikeSample,
    incident_escalation,
};

/// The most of a message a sample keeps.
const SAMPLE_CHARS: usize = 280;
/// Accounts a function remembers; past it, it forgets and reads again.
const REMEMBERED: usize = 10_000;

/// What a function knows of an account's current bucket.
#[derive(Debug, Clone)]
struct Known {
    bucket: DateTime<Utc>,
    /// The counts of the buckets before it, oldest first.
    previous: Vec<u64>,
    /// This function recorded the bucket's spike already.
    recorded: bool,
}

#[derive(Default)]
pub struct SpikeWatch(Mutex<HashMap<(Channel, String), Known>>);

impl SpikeWatch {
    fn known(&self, account: &(Channel, String), bucket: DateTime<Utc>) -> Option<Known> {
        let known = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        known.get(account).filter(|k| k.bucket == bucket).cloned()
    }

    fn remember(&self, account: (Channel, String), known: Known) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if all.len() >= REMEMBERED && !all.contains_key(&account) {
            all.clear();
        }
        all.insert(account, known);
    }
}

/// The message as the counter keeps it.
pub struct Counted<'a> {
    pub mention: &'a Mention,
    pub conversation: &'a ConversationId,
    /// As stored: personal data redacted.
    pub text: &'a str,
    pub due_shard: u32,
}

/// Counts the message and, when the account's bucket may be a spike, judges it; an incident
/// it opens or joins is returned.
pub async fn observe<S: SpikeCounter + Incidents>(
    store: &S,
    watch: &SpikeWatch,
    policy: &CarePolicy,
    counted: Counted<'_>,
    now: DateTime<Utc>,
) -> hark_shared::Result<Option<SpikeRecorded>> {
    let m = counted.mention;
    let rule = &policy.spike;
    let bucket = spike::bucket_of(m.received_at);
    let sample = SpikeSample {
        channel: m.channel,
        account_id: m.account_id.clone(),
        message_id: m.message_id.clone(),
        conversation_id: counted.conversation.0.clone(),
        text: counted.text.chars().take(SAMPLE_CHARS).collect(),
        at: m.received_at,
    };
    let mentions = store.count_for_spike(bucket, &sample).await?;
    // Below the floor nothing is a spike, whatever came before: no read needed.
    if mentions < rule.min_mentions {
        return Ok(None);
    }
    let account = (m.channel, m.account_id.clone());
    let known = match watch.known(&account, bucket) {
        Some(known) => known,
        None => {
            let baseline = i32::try_from(rule.baseline_buckets).unwrap_or(i32::MAX);
            let counts =
                store.spike_counts(m.channel, &m.account_id, bucket - BUCKET * baseline, bucket - BUCKET).await?;
            let previous = (1..=baseline)
                .rev()
                .map(|i| counts.iter().find(|c| c.bucket == bucket - BUCKET * i).map_or(0, |c| c.mentions))
                .collect();
            let known = Known { bucket, previous, recorded: false };
            watch.remember(account.clone(), known.clone());
            known
        }
    };
    if known.recorded {
        return Ok(None);
    }
    let Some(reading) = spike::detect(rule, mentions, &known.previous) else { return Ok(None) };
    let current = store.spike_counts(m.channel, &m.account_id, bucket, bucket).await?;
    let mut samples = current.into_iter().next().map(|c| c.samples).unwrap_or_default();
    samples.sort_by_key(|s| s.at);
    let incident_id = spike::incident_id(bucket);
    let escalation = Escalation {
        conversation_id: incident_escalation(&incident_id, m.channel, &m.account_id),
        channel: m.channel.as_str().to_owned(),
        account_id: m.account_id.clone(),
        customer_id: String::new(),
        customer_handle: None,
        level: SPIKE,
        level_name: level_name(SPIKE).to_owned(),
        // Each account's spike is its own escalation of the incident, keyed by when it was seen.
        sla_started_at: now,
        breach_due_at: now,
        escalated_at: now,
        last_text: samples.first().map(|s| s.text.clone()),
        route: if policy.hours.is_open(now) { Route::Day } else { Route::OffHours },
        reasons: spike::reasons(&reading, m.channel, &m.account_id),
        needs_person: Some("a proactive post is suggested and waits for a person to approve it".to_owned()),
        due_at: Some(now),
    };
    let record = SpikeRecord {
        incident_id,
        channel: m.channel,
        account_id: m.account_id.clone(),
        reading,
        samples,
        suggested_post: rule.suggested_post(policy.templates.signature()),
        escalation,
        due_shard: counted.due_shard,
        now,
    };
    let recorded = store.record_spike(&record).await?;
    watch.remember(account, Known { recorded: true, ..known });
    Ok(Some(recorded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_s_earlier_buckets_are_remembered_for_its_current_one_only() {
        let watch = SpikeWatch::default();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let account = (Channel::X, "1".to_owned());
        assert!(watch.known(&account, t0).is_none());
        watch.remember(account.clone(), Known { bucket: t0, previous: vec![1, 2], recorded: false });
        assert_eq!(watch.known(&account, t0).unwrap().previous, [1, 2]);
        assert!(watch.known(&account, t0 + BUCKET).is_none(), "a new bucket is read afresh");
        assert!(watch.known(&(Channel::Facebook, "1".to_owned()), t0).is_none(), "each account on its own");
    }
}
