//! The escalator function, run on a schedule: reads only what is due from the sparse due
//! index (its cost grows with due items, not with stored conversations), raises each SLA
//! level exactly once with a conditional write, and notifies through SNS.
//!
//! A run reads each shard page by page and works on many items at once, so an outage's
//! thousands of deadlines in one minute are not served one after another. It also reads
//! what falls due before the next run (`lookahead`) and raises each at its own deadline,
//! so an escalation comes seconds after its deadline, not up to a schedule period later.
//! What a run cannot reach before its time is up waits for the next one.
//!
//! Notifications are at least once: an escalation record stays in the due index until its
//! notification is confirmed, so a crash between recording and publishing is retried on
//! the next run. Overlapping runs are safe: the conditional write lets one of them win.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::{StreamExt, TryStreamExt, stream};
use hark_shared::domain::care::CarePolicies;
use hark_shared::domain::sla::{Ladder, level_name};
use hark_shared::metrics::Metrics;
use hark_shared::ports::{
    Clock, DueConversation, DueCursor, DueItem, Escalation, EscalationStore, NOTIFY_BATCH, Notifier, Route,
    SystemClock, UNCONFIRMED_NOTICE_RETRY,
};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum EscalatorError {
    #[error(transparent)]
    Shared(#[from] hark_shared::Error),
}

pub struct Escalator<S, N> {
    pub store: S,
    pub notifier: N,
    pub clock: Box<dyn Clock>,
    /// How often, and how many times, an unanswered breach is raised again.
    pub ladder: Ladder,
    pub due_shards: u32,
    /// Items read from the due index at a time.
    pub page_size: i32,
    /// Items worked on at once in each shard.
    pub concurrency: usize,
    /// How far past its start a run reads, raising each item at its deadline: the
    /// schedule's period, so deadlines between runs are met on time.
    pub lookahead: TimeDelta,
    /// Each account's business hours: outside them escalations take the off-hours route.
    pub care: CarePolicies,
}

/// What one run did, returned as the invocation's result and logged.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub due: usize,
    pub escalated: usize,
    /// Someone else escalated or answered first.
    pub lost_races: usize,
    pub notified: usize,
    pub failed: usize,
    /// Read but left for the next run: this run's time was up.
    pub deferred: usize,
    /// Escalations raised, by level name.
    pub by_level: std::collections::BTreeMap<String, usize>,
    /// Deadline to escalation, the slowest in this run, in milliseconds.
    pub slowest_ms: i64,
}

impl RunSummary {
    fn add(&mut self, other: RunSummary) {
        self.due += other.due;
        self.escalated += other.escalated;
        self.lost_races += other.lost_races;
        self.notified += other.notified;
        self.failed += other.failed;
        self.deferred += other.deferred;
        for (level, n) in other.by_level {
            *self.by_level.entry(level).or_default() += n;
        }
        self.slowest_ms = self.slowest_ms.max(other.slowest_ms);
    }
}

/// A notice for the shard's publisher, and where to say whether it went out.
struct Notice {
    escalation: Escalation,
    sent: oneshot::Sender<bool>,
}

/// What became of one item of the due index.
enum Outcome {
    /// Raised to this level, this many milliseconds after it fell due.
    Escalated {
        level_name: String,
        late_ms: Option<i64>,
        notified: bool,
    },
    Notified,
    LostRace,
    Failed,
    Deferred,
}

/// How hard and how far ahead a run works, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    pub concurrency: usize,
    pub page_size: i32,
    pub lookahead: TimeDelta,
}

impl Pacing {
    /// The longest lookahead: a run lasts at most the function's 120 s, less the time to
    /// finish what it started.
    pub const MAX_LOOKAHEAD_SECONDS: i64 = 100;

    pub fn new(concurrency: usize, page_size: i32, lookahead_seconds: i64) -> Result<Self, String> {
        if concurrency == 0 {
            return Err("ESCALATOR_CONCURRENCY must be at least 1".into());
        }
        if page_size < 1 {
            return Err(format!("ESCALATOR_PAGE_SIZE must be at least 1, not {page_size}"));
        }
        if !(0..=Self::MAX_LOOKAHEAD_SECONDS).contains(&lookahead_seconds) {
            return Err(format!(
                "ESCALATOR_LOOKAHEAD_SECONDS must be 0 to {} (a run lasts at most 120 s), not {lookahead_seconds}",
                Self::MAX_LOOKAHEAD_SECONDS
            ));
        }
        Ok(Pacing { concurrency, page_size, lookahead: TimeDelta::seconds(lookahead_seconds) })
    }
}

pub type AwsEscalator = Escalator<hark_shared::adapters::dynamo::DynamoStore, hark_shared::adapters::sns::SnsNotifier>;

impl AwsEscalator {
    pub async fn from_env() -> hark_shared::Result<Self> {
        use hark_shared::config::{env_or, required_env};
        let ladder = Ladder::new(env_or("ESCALATION_REPEAT_MINUTES", 30)?, env_or("ESCALATION_MAX_REPEATS", 4)?)
            .map_err(hark_shared::Error::Config)?;
        let pacing = Pacing::new(
            env_or("ESCALATOR_CONCURRENCY", 16)?,
            env_or("ESCALATOR_PAGE_SIZE", 250)?,
            env_or("ESCALATOR_LOOKAHEAD_SECONDS", 60)?,
        )
        .map_err(hark_shared::Error::Config)?;
        let aws = hark_shared::config::aws().await;
        Ok(Escalator {
            store: hark_shared::adapters::dynamo::DynamoStore::from_config(&aws, required_env("TABLE_NAME")?),
            notifier: hark_shared::adapters::sns::SnsNotifier::from_config(&aws, required_env("TOPIC_ARN")?),
            clock: Box::new(SystemClock),
            ladder,
            due_shards: env_or("DUE_INDEX_SHARDS", 4)?,
            page_size: pacing.page_size,
            concurrency: pacing.concurrency,
            lookahead: pacing.lookahead,
            care: CarePolicies::from_env()?,
        })
    }
}

/// Why a level is raised, in words an agent reads.
fn sla_reasons(clock: &hark_shared::domain::sla::SlaClock, level: u32, now: DateTime<Utc>) -> Vec<String> {
    use hark_shared::domain::sla::{BREACH, WARNING};
    let waited = (now - clock.started_at).num_minutes();
    let past = |t: DateTime<Utc>| (now - t).num_minutes().max(0);
    vec![match level {
        WARNING => format!(
            "unanswered for {waited} min: the ideal first-response time passed {} min ago",
            past(clock.ideal_due_at)
        ),
        BREACH => format!("unanswered for {waited} min: the SLA was breached {} min ago", past(clock.breach_due_at)),
        _ => format!("still unanswered after {waited} min, {} min past the breach", past(clock.breach_due_at)),
    }]
}

impl<S: EscalationStore, N: Notifier> Escalator<S, N> {
    /// One run with no time limit (tests, and tools that call it directly).
    pub async fn run(&self) -> Result<RunSummary, EscalatorError> {
        self.run_for(None).await
    }

    /// One run that starts no work after `time` has passed (the invocation's remaining
    /// time, less what finishing an item takes).
    pub async fn run_for(&self, time: Option<Duration>) -> Result<RunSummary, EscalatorError> {
        let stop_at = time.map(|t| Instant::now() + t);
        let until = self.clock.now() + self.lookahead;
        let shards =
            futures_util::future::join_all((0..self.due_shards).map(|shard| self.run_shard(shard, until, stop_at)))
                .await;
        let mut summary = RunSummary::default();
        let mut first_error = None;
        for (shard, error) in shards {
            summary.add(shard);
            if let Some(error) = error {
                tracing::error!(%error, "shard failed");
                first_error.get_or_insert(error);
            }
        }
        let mut metrics = Metrics::new("escalator");
        metrics.count("Escalations", summary.escalated as u64);
        metrics.count("Notifications", summary.notified as u64);
        metrics.count("EscalationFailures", summary.failed as u64);
        metrics.count("EscalationsDeferred", summary.deferred as u64);
        for (level, n) in &summary.by_level {
            metrics.count_by("Escalations", &[("Level", level)], *n as u64);
        }
        metrics.emit();
        tracing::info!(?summary, "escalator run finished");
        // A shard that could not be read fails the run so the schedule's retry and alarms see it;
        // what the other shards did is already durable.
        match first_error {
            Some(error) => Err(error),
            None => Ok(summary),
        }
    }

    /// Works through one shard's items due by `until`, `concurrency` at a time, reading the
    /// next page only as work frees up. What it did, and why it stopped reading if it failed.
    async fn run_shard(
        &self,
        shard: u32,
        until: DateTime<Utc>,
        stop_at: Option<Instant>,
    ) -> (RunSummary, Option<EscalatorError>) {
        // None: the last page was read; Some(None): the first page is next.
        let pages = stream::try_unfold(Some(None::<DueCursor>), move |cursor| async move {
            let Some(after) = cursor else { return Ok(None) };
            if stop_at.is_some_and(|stop| Instant::now() >= stop) {
                return Ok(None);
            }
            let page = self.store.due_items(shard, until, self.page_size, after).await?;
            let next = page.next.map(Some);
            Ok::<_, EscalatorError>(Some((stream::iter(page.items.into_iter().map(Ok)), next)))
        });
        let (notices, queued) = mpsc::channel::<Notice>(self.concurrency.max(NOTIFY_BATCH));
        let work = async move {
            let outcomes = pages
                .try_flatten()
                .map_ok(|item| self.handle(item, stop_at, &notices))
                .try_buffer_unordered(self.concurrency);
            self.tally(outcomes).await
            // `notices` goes with the work: the publisher ends once it has sent the last.
        };
        let (tallied, ()) = tokio::join!(work, self.publish(queued));
        tallied
    }

    async fn tally(
        &self,
        outcomes: impl futures_util::Stream<Item = Result<Outcome, EscalatorError>>,
    ) -> (RunSummary, Option<EscalatorError>) {
        let mut outcomes = std::pin::pin!(outcomes);
        let mut summary = RunSummary::default();
        while let Some(outcome) = outcomes.next().await {
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(error) => return (summary, Some(error)),
            };
            summary.due += 1;
            match outcome {
                Outcome::Escalated { level_name, late_ms, notified } => {
                    summary.escalated += 1;
                    summary.notified += usize::from(notified);
                    summary.failed += usize::from(!notified);
                    *summary.by_level.entry(level_name).or_default() += 1;
                    summary.slowest_ms = summary.slowest_ms.max(late_ms.unwrap_or(0));
                }
                Outcome::Notified => summary.notified += 1,
                Outcome::LostRace => summary.lost_races += 1,
                Outcome::Failed => summary.failed += 1,
                Outcome::Deferred => summary.deferred += 1,
            }
        }
        (summary, None)
    }

    /// One item of the due index: waited for until its deadline if read ahead of it, then
    /// escalated and notified, or its pending notification taken and sent.
    async fn handle(
        &self,
        item: DueItem,
        stop_at: Option<Instant>,
        notices: &mpsc::Sender<Notice>,
    ) -> Result<Outcome, EscalatorError> {
        let escalation = match item {
            DueItem::Conversation(due) => {
                if !self.wait_until(due.clock.next_due(due.level, &self.ladder), stop_at).await {
                    return Ok(Outcome::Deferred);
                }
                match self.escalate(&due).await {
                    Ok(Some(escalation)) => {
                        let late_ms = escalation.due_at.map(|due| (escalation.escalated_at - due).num_milliseconds());
                        let level_name = escalation.level_name.clone();
                        let notified = Self::notify(notices, escalation).await;
                        return Ok(Outcome::Escalated { level_name, late_ms, notified });
                    }
                    Ok(None) => return Ok(Outcome::LostRace),
                    Err(error) => {
                        tracing::error!(%error, conversation = %due.id, "escalation failed");
                        return Ok(Outcome::Failed);
                    }
                }
            }
            DueItem::PendingNotification { escalation, due_at } => {
                if !self.wait_until(DateTime::from_timestamp(due_at, 0), stop_at).await {
                    return Ok(Outcome::Deferred);
                }
                let retry_at = self.clock.now() + UNCONFIRMED_NOTICE_RETRY;
                match self.store.claim_notification(&escalation, due_at, retry_at).await {
                    Ok(true) => escalation,
                    // Another run took it, or it was confirmed sent.
                    Ok(false) => return Ok(Outcome::LostRace),
                    Err(error) => {
                        tracing::error!(%error, conversation = %escalation.conversation_id, "notification claim failed");
                        return Ok(Outcome::Failed);
                    }
                }
            }
            DueItem::Unreadable { key, reason } => {
                tracing::error!(key, reason, "unreadable item in the due index");
                return Ok(Outcome::Failed);
            }
        };
        Ok(if Self::notify(notices, escalation).await { Outcome::Notified } else { Outcome::Failed })
    }

    /// Waits for an item read ahead of its time; `false` when this run cannot start it
    /// before its time is up (the next run will).
    async fn wait_until(&self, deadline: Option<DateTime<Utc>>, stop_at: Option<Instant>) -> bool {
        let wait = deadline.and_then(|d| (d - self.clock.now()).to_std().ok()).unwrap_or_default();
        if stop_at.is_some_and(|stop| Instant::now() + wait >= stop) {
            return false;
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        true
    }

    /// Hands a notice to the shard's publisher; whether it was sent and recorded as sent.
    async fn notify(notices: &mpsc::Sender<Notice>, escalation: Escalation) -> bool {
        let (sent, outcome) = oneshot::channel();
        notices.send(Notice { escalation, sent }).await.is_ok() && outcome.await.unwrap_or(false)
    }

    /// Publishes the shard's notices as they come, up to ten a request (what has queued up
    /// while the last request was out: no notice waits for a batch to fill), then records
    /// them as sent. One that fails stays in the due index, and a later run tries again.
    async fn publish(&self, mut queued: mpsc::Receiver<Notice>) {
        let mut batch = Vec::with_capacity(NOTIFY_BATCH);
        while queued.recv_many(&mut batch, NOTIFY_BATCH).await > 0 {
            let escalations: Vec<Escalation> = batch.iter().map(|n| n.escalation.clone()).collect();
            let outcomes = self.notifier.notify_all(&escalations).await;
            let published: Vec<Escalation> = escalations
                .into_iter()
                .zip(&outcomes)
                .filter_map(|(escalation, outcome)| match outcome {
                    Ok(()) => Some(escalation),
                    Err(error) => {
                        tracing::error!(%error, conversation = %escalation.conversation_id, "notification failed");
                        None
                    }
                })
                .collect();
            let recorded = published.is_empty() || {
                match self.store.mark_notified(&published, self.clock.now()).await {
                    Ok(()) => true,
                    Err(error) => {
                        // Sent but not recorded: a later run sends them again (at least once).
                        tracing::error!(%error, notices = published.len(), "notifications not recorded as sent");
                        false
                    }
                }
            };
            for (notice, outcome) in batch.drain(..).zip(outcomes) {
                let _ = notice.sent.send(outcome.is_ok() && recorded);
            }
        }
    }

    /// Raises the level due now, if the conversation still needs it. `None` when another
    /// run or a reply got there first.
    async fn escalate(&self, due: &DueConversation) -> hark_shared::Result<Option<Escalation>> {
        let now = self.clock.now();
        let Some(level) = due.clock.due_level(due.level, now, &self.ladder) else {
            // Read before its time (index lag or a policy change): put it back where it
            // belongs, or end the clock when the ladder has no rung left.
            self.store.reschedule(due, due.clock.next_due(due.level, &self.ladder), now).await?;
            return Ok(None);
        };
        let escalation = Escalation {
            conversation_id: due.id.clone(),
            channel: due.channel.clone(),
            account_id: due.account_id.clone(),
            customer_id: due.customer_id.clone(),
            customer_handle: due.customer_handle.clone(),
            level,
            level_name: level_name(level).to_owned(),
            sla_started_at: due.clock.started_at,
            breach_due_at: due.clock.breach_due_at,
            escalated_at: now,
            last_text: due.last_text.clone(),
            route: if self.care.for_account(&due.account_id).hours.is_open(now) { Route::Day } else { Route::OffHours },
            reasons: sla_reasons(&due.clock, level, now),
            needs_person: due.needs_person.clone(),
            due_at: Some(
                due.clock
                    .next_due(due.level, &self.ladder)
                    .or_else(|| DateTime::from_timestamp(due.due_at, 0))
                    .unwrap_or(now),
            ),
        };
        let next_due = due.clock.next_due(level, &self.ladder);
        if self.store.escalate(due, &escalation, next_due).await? {
            tracing::warn!(
                conversation = %due.id,
                level = escalation.level_name,
                route = escalation.route.as_str(),
                waited_minutes = (now - due.clock.started_at).num_minutes(),
                "SLA escalation"
            );
            Ok(Some(escalation))
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_is_refused_at_load_with_the_setting_that_is_wrong() {
        let cases: [(usize, i32, i64, Result<(), &str>); 6] = [
            (16, 250, 60, Ok(())),
            (1, 1, 0, Ok(())),
            (1, 1, 100, Ok(())),
            (0, 250, 60, Err("ESCALATOR_CONCURRENCY")),
            (16, 0, 60, Err("ESCALATOR_PAGE_SIZE")),
            (16, 250, 101, Err("ESCALATOR_LOOKAHEAD_SECONDS")),
        ];
        for (concurrency, page_size, lookahead, expected) in cases {
            let pacing = Pacing::new(concurrency, page_size, lookahead);
            match expected {
                Ok(()) => assert_eq!(pacing.unwrap().lookahead, TimeDelta::seconds(lookahead)),
                Err(setting) => {
                    assert!(pacing.unwrap_err().starts_with(setting), "{concurrency} {page_size} {lookahead}")
                }
            }
        }
        assert!(Pacing::new(16, 250, -1).is_err(), "no negative lookahead");
    }
}
