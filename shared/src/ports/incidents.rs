//! Outage spikes and the incidents they open (`domain::care::spike`): counting what is going
//! wrong per account and five minutes, and the incident a person reads and approves a
//! proactive post for.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ConversationId, Escalation, OutboxMessage};
use crate::domain::care::spike::SpikeReading;
use crate::domain::mention::Channel;
use crate::error::Result;

/// A message that counts toward a spike, as a person reading the incident sees it
/// (redacted, as stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpikeSample {
    pub channel: Channel,
    pub account_id: String,
    pub message_id: String,
    pub conversation_id: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// One five-minute bucket of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketCount {
    pub bucket: DateTime<Utc>,
    pub mentions: u64,
    pub samples: Vec<SpikeSample>,
}

pub trait SpikeCounter: Send + Sync {
    /// Counts `sample`'s message in its account's bucket, and keeps it as a sample while the
    /// bucket has few; answers the bucket's count, this message included. One item per
    /// account and bucket, so exactly one message sees each count (a thousand writes a
    /// second is the item's limit: far past any threshold).
    fn count_for_spike(&self, bucket: DateTime<Utc>, sample: &SpikeSample) -> impl Future<Output = Result<u64>> + Send;

    /// The account's buckets from `from` to `to` (both included), oldest first; buckets
    /// nobody counted in are left out.
    fn spike_counts(
        &self,
        channel: Channel,
        account: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<BucketCount>>> + Send;
}

/// An account's spike, to open an incident with or to join the open one.
#[derive(Debug, Clone)]
pub struct SpikeRecord {
    /// The incident this spike opens, if none is open.
    pub incident_id: String,
    pub channel: Channel,
    pub account_id: String,
    pub reading: SpikeReading,
    pub samples: Vec<SpikeSample>,
    pub suggested_post: String,
    /// The spike's escalation (level `spike`), announced by the escalator like any other.
    /// Its conversation names the incident and the account ([`incident_escalation`]); the
    /// store sets it to the incident the spike opens or joins.
    pub escalation: Escalation,
    pub due_shard: u32,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpikeRecorded {
    /// A new incident.
    Opened(String),
    /// The account joined the incident already open.
    Joined(String),
    /// The account was already part of it: nothing changed.
    Known(String),
}

/// An incident as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    pub id: String,
    /// `open` until a person approves the post, then `posted`.
    pub status: String,
    pub opened_at: DateTime<Utc>,
    pub last_spike_at: DateTime<Utc>,
    pub mentions: u64,
    pub channels: Vec<String>,
    pub suggested_post: String,
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
    pub accounts: Vec<IncidentAccount>,
    pub posts: Vec<IncidentPost>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentAccount {
    pub channel: String,
    pub account_id: String,
    pub mentions: u64,
    pub baseline: f64,
    pub threshold: u64,
    pub detected_at: DateTime<Utc>,
    pub samples: Vec<SpikeSample>,
}

/// The approved post on one account, as the outbox has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentPost {
    pub channel: String,
    pub account_id: String,
    pub text: String,
    /// `pending`, `sent`, `failed`…, as the outbox record stands.
    pub status: String,
    pub platform_message_id: Option<String>,
    pub last_error: Option<String>,
}

/// The conversation an incident's approved posts belong to.
pub fn incident_conversation(id: &str) -> ConversationId {
    ConversationId(format!("incident:{id}"))
}

/// The conversation of one account's escalation of an incident: each account that spikes
/// is escalated once, on its own.
pub fn incident_escalation(id: &str, channel: Channel, account: &str) -> ConversationId {
    ConversationId(format!("incident:{id}:{}:{account}", channel.as_str()))
}

/// The incident an escalation's conversation belongs to, if it is an incident's.
pub fn incident_of(conversation: &ConversationId) -> Option<&str> {
    let rest = conversation.0.strip_prefix("incident:")?;
    Some(rest.split(':').next().unwrap_or(rest))
}

pub trait Incidents: Send + Sync {
    /// Opens an incident for the spike, or adds the account to the one open (its last spike
    /// within `spike::QUIET`); once per incident and account, whoever records it.
    fn record_spike(&self, spike: &SpikeRecord) -> impl Future<Output = Result<SpikeRecorded>> + Send;

    /// Newest first.
    fn incidents(&self, limit: usize) -> impl Future<Output = Result<Vec<Incident>>> + Send;

    fn incident(&self, id: &str) -> impl Future<Output = Result<Option<Incident>>> + Send;

    /// Writes the approved post of each account to the outbox, once: an account whose post
    /// is already there keeps it. Marks the incident approved. Answers each post as it
    /// stands, and whether this call queued it.
    fn queue_incident_posts(
        &self,
        id: &str,
        posts: &[OutboxMessage],
        approved_by: &str,
        due_shard: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<(IncidentPost, bool)>>> + Send;
}
