//! The escalator function, run on a schedule: reads only what is due from the sparse due
//! index (its cost grows with due items, not with stored conversations), raises each SLA
//! level exactly once with a conditional write, and notifies through SNS.
//!
//! Notifications are at least once: an escalation record stays in the due index until its
//! notification is confirmed, so a crash between recording and publishing is retried on
//! the next run.

use futures_util::future::join_all;
use hark_shared::domain::care::CarePolicies;
use hark_shared::domain::sla::{Ladder, level_name};
use hark_shared::metrics::Metrics;
use hark_shared::ports::{Clock, DueConversation, DueItem, Escalation, EscalationStore, Notifier, Route, SystemClock};
use serde::Serialize;

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
    /// Items read per shard per run; the rest wait for the next run.
    pub max_items_per_shard: i32,
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
    /// Escalations raised, by level name.
    pub by_level: std::collections::BTreeMap<String, usize>,
}

pub type AwsEscalator = Escalator<hark_shared::adapters::dynamo::DynamoStore, hark_shared::adapters::sns::SnsNotifier>;

impl AwsEscalator {
    pub async fn from_env() -> hark_shared::Result<Self> {
        use hark_shared::config::{env_or, required_env};
        let ladder = Ladder::new(env_or("ESCALATION_REPEAT_MINUTES", 30)?, env_or("ESCALATION_MAX_REPEATS", 4)?)
            .map_err(hark_shared::Error::Config)?;
        let aws = hark_shared::config::aws().await;
        Ok(Escalator {
            store: hark_shared::adapters::dynamo::DynamoStore::from_config(&aws, required_env("TABLE_NAME")?),
            notifier: hark_shared::adapters::sns::SnsNotifier::from_config(&aws, required_env("TOPIC_ARN")?),
            clock: Box::new(SystemClock),
            ladder,
            due_shards: env_or("DUE_INDEX_SHARDS", 4)?,
            max_items_per_shard: env_or("ESCALATOR_MAX_ITEMS_PER_SHARD", 250)?,
            care: CarePolicies::from_env()?,
        })
    }
}

/// Why a level is raised, in words an agent reads.
fn sla_reasons(
    clock: &hark_shared::domain::sla::SlaClock,
    level: u32,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    use hark_shared::domain::sla::{BREACH, WARNING};
    let waited = (now - clock.started_at).num_minutes();
    let past = |t: chrono::DateTime<chrono::Utc>| (now - t).num_minutes().max(0);
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
    pub async fn run(&self) -> Result<RunSummary, EscalatorError> {
        let shards = join_all((0..self.due_shards).map(|shard| self.run_shard(shard))).await;
        let mut summary = RunSummary::default();
        let mut first_error = None;
        for result in shards {
            match result {
                Ok(shard) => {
                    summary.due += shard.due;
                    summary.escalated += shard.escalated;
                    summary.lost_races += shard.lost_races;
                    summary.notified += shard.notified;
                    summary.failed += shard.failed;
                    for (level, n) in shard.by_level {
                        *summary.by_level.entry(level).or_default() += n;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "shard failed");
                    first_error.get_or_insert(error);
                }
            }
        }
        let mut metrics = Metrics::new("escalator");
        metrics.count("Escalations", summary.escalated as u64);
        metrics.count("Notifications", summary.notified as u64);
        metrics.count("EscalationFailures", summary.failed as u64);
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

    async fn run_shard(&self, shard: u32) -> Result<RunSummary, EscalatorError> {
        let now = self.clock.now();
        let items = self.store.due_items(shard, now, self.max_items_per_shard).await?;
        let mut summary = RunSummary { due: items.len(), ..RunSummary::default() };
        for item in items {
            let escalation = match item {
                DueItem::Conversation(due) => match self.escalate(&due).await {
                    Ok(Some(escalation)) => {
                        summary.escalated += 1;
                        *summary.by_level.entry(escalation.level_name.clone()).or_default() += 1;
                        escalation
                    }
                    Ok(None) => {
                        summary.lost_races += 1;
                        continue;
                    }
                    Err(error) => {
                        tracing::error!(%error, conversation = %due.id, "escalation failed");
                        summary.failed += 1;
                        continue;
                    }
                },
                DueItem::PendingNotification(escalation) => escalation,
                DueItem::Unreadable { key, reason } => {
                    tracing::error!(key, reason, "unreadable item in the due index");
                    summary.failed += 1;
                    continue;
                }
            };
            match self.notify(&escalation).await {
                Ok(()) => summary.notified += 1,
                Err(error) => {
                    // Stays in the due index: the next run tries again.
                    tracing::error!(%error, conversation = %escalation.conversation_id, "notification failed");
                    summary.failed += 1;
                }
            }
        }
        Ok(summary)
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

    async fn notify(&self, escalation: &Escalation) -> hark_shared::Result<()> {
        self.notifier.notify(escalation).await?;
        self.store.mark_notified(escalation, self.clock.now()).await
    }
}
