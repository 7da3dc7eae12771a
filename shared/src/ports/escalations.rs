//! The escalator's ports: what it reads from the due index, what it records, and who it tells.

use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::ConversationId;
use crate::domain::sla::{EscalationLevel, SlaClock};
use crate::error::Result;

/// A conversation whose next SLA checkpoint has passed, as read from the due index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueConversation {
    pub id: ConversationId,
    pub channel: String,
    pub account_id: String,
    pub customer_id: String,
    pub customer_handle: Option<String>,
    pub clock: SlaClock,
    pub level: EscalationLevel,
    pub shard: String,
    pub due_at: i64,
    pub last_text: Option<String>,
    /// Why Hark left it to a person, if it did (a send it could not make).
    pub needs_person: Option<String>,
}

/// An escalation that is recorded but whose notification has not been confirmed sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub conversation_id: ConversationId,
    pub channel: String,
    pub account_id: String,
    pub customer_id: String,
    pub customer_handle: Option<String>,
    pub level: EscalationLevel,
    pub level_name: String,
    pub sla_started_at: DateTime<Utc>,
    pub breach_due_at: DateTime<Utc>,
    pub escalated_at: DateTime<Utc>,
    pub last_text: Option<String>,
    /// Who is told: the day team, or whoever covers outside business hours.
    #[serde(default)]
    pub route: Route,
    /// Why, in words (a fast track's reasons; how long past the SLA).
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Why Hark left the conversation to a person, if it did.
    #[serde(default)]
    pub needs_person: Option<String>,
    /// When this level fell due (the checkpoint that passed): `escalated_at` minus this is
    /// how late the escalation came. Absent on notices recorded before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
}

/// Where an escalation goes: SNS carries it as the message attribute `route`, which
/// subscriptions filter on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    #[default]
    Day,
    OffHours,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Day => "day",
            Route::OffHours => "off_hours",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueItem {
    Conversation(DueConversation),
    /// Recorded, notice not yet confirmed sent; `due_at` is when it may be (re)sent.
    PendingNotification {
        escalation: Escalation,
        due_at: i64,
    },
    /// An item the escalator cannot read; reported, never allowed to stop the others.
    Unreadable {
        key: String,
        reason: String,
    },
}

/// Where the next page of a due-index read starts; only the store that made it reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCursor(pub String);

/// One page of the due index, earliest first.
#[derive(Debug, Default)]
pub struct DuePage {
    pub items: Vec<DueItem>,
    /// `None`: nothing more is due by the time asked.
    pub next: Option<DueCursor>,
}

/// The escalator's view of the table: the due index and escalation records.
pub trait EscalationStore: Send + Sync {
    /// Up to `limit` items of one shard due at or before `until`, earliest first, from
    /// `after` (a previous page's `next`) or from the start.
    fn due_items(
        &self,
        shard: u32,
        until: DateTime<Utc>,
        limit: i32,
        after: Option<DueCursor>,
    ) -> impl Future<Output = Result<DuePage>> + Send;

    /// Records the escalation and moves the conversation's checkpoint to `next_due` (`None`:
    /// the ladder is done and the clock ends), only if nobody else escalated or answered it
    /// since it was read. `false` when they had.
    fn escalate(
        &self,
        due: &DueConversation,
        escalation: &Escalation,
        next_due: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Moves a due conversation's checkpoint without escalating (it was read early), or
    /// ends its clock when no rung is left.
    fn reschedule(
        &self,
        due: &DueConversation,
        next_due: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Takes a pending notification for one run: moves its retry time to `retry_at`, only
    /// if no other run took it or confirmed it since it was read at `seen_due_at`. `false`
    /// when one had.
    fn claim_notification(
        &self,
        escalation: &Escalation,
        seen_due_at: i64,
        retry_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Records that these notices were sent and takes them out of the due index.
    fn mark_notified(&self, escalations: &[Escalation], now: DateTime<Utc>) -> impl Future<Output = Result<()>> + Send;
}

/// How long a notice taken by a run (escalated by it, or claimed) stays its own: a run that
/// has not confirmed it by then is taken to have failed, and the next run sends it. Longer
/// than any run, so overlapping runs never send one notice twice.
pub const UNCONFIRMED_NOTICE_RETRY: TimeDelta = TimeDelta::seconds(180);

/// Tells people about escalations (SNS `Publish`, `PublishBatch`).
pub trait Notifier: Send + Sync {
    fn notify(&self, escalation: &Escalation) -> impl Future<Output = Result<()>> + Send;

    /// Up to [`NOTIFY_BATCH`] notices in one request: each one's outcome, in order.
    fn notify_all(&self, escalations: &[Escalation]) -> impl Future<Output = Vec<Result<()>>> + Send;
}

/// Notices sent in one request at most (SNS `PublishBatch` takes ten).
pub const NOTIFY_BATCH: usize = 10;
