//! The outbox function. Triggered by the table's stream, it delivers each outbox record as
//! soon as it is written ([`stream`]): a forward is a ticket seconds after the message is
//! stored. Run on a schedule, it is the safety net: it sends every outbox record that is due
//! and not sent yet (a retry after a rate limit or an outage, a check after an attempt whose outcome
//! is unknown, a record whose sender died mid-send), agents' replies the HTTP API queued,
//! and every event forwarded to a help desk the stream did not deliver. Help-desk
//! deliveries happen here rather than in the processor: a help desk can be slow or down
//! without holding up a single customer's acknowledgement. The sweep reads only what is due from the
//! outbox shards of the sparse due index, so its cost grows with the backlog, not with the
//! table.
//!
//! Each record is claimed with a lease before anything is sent, so overlapping runs, and
//! the processor sending the same record right after storing it, never send twice.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hark_shared::domain::forward::Subscription;
use hark_shared::domain::outbox::{Delivered, OutboxPolicy, deliver, fan_out, is_broadcast};
use hark_shared::metrics::Metrics;
use hark_shared::ports::{Clock, OutboxRef, OutboxStore, ReplySender, SystemClock};
use serde::Serialize;

pub mod stream;
use stream::{ItemFailure, StreamBatch, StreamResponse};

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Shared(#[from] hark_shared::Error),
    #[error("the event is not a stream batch: {0}")]
    NotAStreamBatch(String),
}

pub struct Sweeper<S, R> {
    pub store: S,
    pub replies: R,
    /// The sender for records the stream names, when it differs: a send to a rate-limited
    /// help desk does not wait for its slot there but is deferred to the sweep, so no
    /// stream shard ever waits behind a desk.
    pub written_replies: Option<R>,
    pub clock: Box<dyn Clock>,
    pub policy: OutboxPolicy,
    pub shards: u32,
    /// Records read per shard per run; the rest wait for the next run.
    pub max_items_per_shard: i32,
    /// Records sent at once.
    pub concurrency: usize,
    /// No new record is started after this much of a run: what is started always finishes
    /// within the function's timeout (budget + one attempt's budget < timeout).
    pub run_budget: Duration,
    /// The help desks that take forwarded events: a broadcast record becomes one per endpoint.
    pub subscriptions: Vec<Subscription>,
}

/// What one run did, returned as the invocation's result and logged.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepSummary {
    pub due: usize,
    pub sent: usize,
    /// Earlier attempts found to have gone out after all.
    pub found_sent: usize,
    pub retrying: usize,
    pub unknown: usize,
    pub failed: usize,
    pub cancelled: usize,
    /// Broadcast events turned into one record per help-desk endpoint.
    pub fanned_out: usize,
    /// The messaging window closed: the conversation was flagged for a person.
    pub left_to_person: usize,
    /// Held back by a help desk's rate limit, without spending an attempt.
    pub throttled: usize,
    /// Waiting for an earlier send to the same desk (a comment for a ticket on its way).
    pub waiting: usize,
    pub abandoned: usize,
    /// Claimed first by someone else, or no longer due.
    pub not_claimed: usize,
    /// Left for the next run: the run's time was up.
    pub deferred: usize,
    pub errors: usize,
}

impl SweepSummary {
    fn count(&mut self, result: &hark_shared::Result<Delivered>) {
        match result {
            Ok(Delivered::Sent) => self.sent += 1,
            Ok(Delivered::FoundSent) => self.found_sent += 1,
            Ok(Delivered::Retrying) => self.retrying += 1,
            Ok(Delivered::Unknown) => self.unknown += 1,
            Ok(Delivered::Failed) => self.failed += 1,
            Ok(Delivered::Cancelled) => self.cancelled += 1,
            Ok(Delivered::LeftToPerson) => self.left_to_person += 1,
            Ok(Delivered::Deferred) => self.throttled += 1,
            Ok(Delivered::Waiting) => self.waiting += 1,
            Ok(Delivered::Abandoned) => self.abandoned += 1,
            Ok(Delivered::FannedOut) => self.fanned_out += 1,
            Ok(Delivered::NotClaimed(_) | Delivered::NoRecord) => self.not_claimed += 1,
            Err(_) => self.errors += 1,
        }
    }
}

pub type AwsSweeper = Sweeper<
    hark_shared::adapters::dynamo::DynamoStore,
    hark_shared::channels::Outbound<hark_shared::channels::x::AwsXApiClient>,
>;

impl AwsSweeper {
    pub async fn from_env() -> hark_shared::Result<Self> {
        use hark_shared::config::{env_or, required_env};
        let aws = hark_shared::config::aws().await;
        let credentials = hark_shared::credentials::Credentials::load(&aws).await?;
        let table = required_env("TABLE_NAME")?;
        let store = hark_shared::adapters::dynamo::DynamoStore::from_config(&aws, &table);
        let rates = hark_shared::helpdesks::spacing::DeskRates::from_env()?;
        let outbound = |rates| outbound(&aws, &store, &credentials, &table, rates);
        Ok(Sweeper {
            replies: outbound(rates)?,
            written_replies: Some(outbound(rates.without_waiting())?),
            store: store.clone(),
            clock: Box::new(SystemClock),
            policy: OutboxPolicy::default(),
            shards: env_or("DUE_INDEX_SHARDS", 4)?,
            max_items_per_shard: env_or("OUTBOX_MAX_ITEMS_PER_SHARD", 200)?,
            concurrency: 8,
            run_budget: Duration::from_secs(15),
            subscriptions: credentials.subscriptions(),
        })
    }
}

/// Every channel and help desk, as the outbox sends to them.
fn outbound(
    aws: &aws_config::SdkConfig,
    store: &hark_shared::adapters::dynamo::DynamoStore,
    credentials: &hark_shared::credentials::Credentials,
    table: &str,
    rates: hark_shared::helpdesks::spacing::DeskRates,
) -> hark_shared::Result<hark_shared::channels::Outbound<hark_shared::channels::x::AwsXApiClient>> {
    use hark_shared::config::env_or;
    hark_shared::channels::Outbound::new(
        hark_shared::channels::x::XApiClient::for_aws(
            aws,
            &env_or("X_API_BASE_URL", "https://api.x.com".to_owned())?,
            table,
            credentials,
        )?,
        hark_shared::channels::meta::MetaClient::for_aws(
            aws,
            &env_or("META_GRAPH_BASE_URL", "https://graph.facebook.com".to_owned())?,
            &env_or("META_GRAPH_VERSION", "v26.0".to_owned())?,
            credentials,
        )?,
        hark_shared::channels::bluesky::client::AwsBlueskyClient::for_aws(aws, table, credentials)?,
        hark_shared::channels::youtube::client::AwsYouTubeClient::from_env(aws, table, credentials)?,
        hark_shared::helpdesks::HelpDesks::for_aws(
            aws,
            store.clone(),
            credentials,
            &hark_shared::helpdesks::escalation::EscalationDeskPolicy::from_env()?,
            rates,
        )?,
        credentials,
    )
}

impl<S: OutboxStore, R: ReplySender> Sweeper<S, R> {
    /// One invocation, by either trigger: the table's stream names the records just
    /// written; the schedule carries nothing the sweep needs (the due index says what to send).
    pub async fn handle(&self, event: serde_json::Value) -> Result<serde_json::Value, SweepError> {
        let answer = if event.get("Records").is_some() {
            let batch: StreamBatch = serde_json::from_value(event)
                .map_err(|e| SweepError::NotAStreamBatch(hark_shared::error::json_error_summary(&e)))?;
            serde_json::to_value(self.deliver_written(&batch).await)
        } else {
            serde_json::to_value(self.run().await?)
        };
        Ok(answer.expect("summaries serialise"))
    }

    pub async fn run(&self) -> Result<SweepSummary, SweepError> {
        let started = Instant::now();
        let now = self.clock.now();
        let mut due: Vec<OutboxRef> = Vec::new();
        let mut first_error = None;
        for shard in 0..self.shards {
            match self.store.due_outbox(shard, now, self.max_items_per_shard).await {
                Ok(refs) => due.extend(refs),
                Err(error) => {
                    tracing::error!(%error, shard, "outbox shard could not be read");
                    first_error.get_or_insert(error);
                }
            }
        }
        let mut summary = SweepSummary { due: due.len(), ..SweepSummary::default() };
        let busy = &Mutex::new(HashSet::new());
        let results: Vec<_> = futures_util::stream::iter(due.iter())
            .map(|record| async move {
                if started.elapsed() > self.run_budget {
                    return None;
                }
                self.deliver_one(&self.replies, record, busy).await
            })
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        let mut metrics = Metrics::new("outbox");
        for result in results {
            match result {
                Some(result) => {
                    if let Ok(delivered) = &result {
                        metrics.count(delivered.metric(), 1);
                    }
                    summary.count(&result);
                }
                None => summary.deferred += 1,
            }
        }
        metrics.count("OutboxDue", summary.due as u64);
        metrics.count("OutboxErrors", summary.errors as u64);
        metrics.emit();
        tracing::info!(?summary, "outbox sweep finished");
        match first_error {
            Some(error) => Err(error.into()),
            None => Ok(summary),
        }
    }

    /// Delivers the records a batch of the table's stream names, as soon as they were
    /// written. What cannot be recorded (the table did not answer) is reported for Lambda
    /// to retry; a send that failed is already recorded on its record as a retry, which the
    /// sweep takes when it is due.
    pub async fn deliver_written(&self, batch: &StreamBatch) -> StreamResponse {
        let now = self.clock.now();
        let mut summary = SweepSummary::default();
        let mut passed = 0usize;
        let mut wanted = Vec::new();
        for record in &batch.records {
            match stream::due_record(record, now) {
                Ok(outbox) => wanted.push((record.dynamodb.sequence_number.as_str(), outbox)),
                Err(why) => {
                    passed += 1;
                    tracing::debug!(?why, sequence = %record.dynamodb.sequence_number, "stream record left alone");
                }
            }
        }
        summary.due = wanted.len();
        let busy = Mutex::new(HashSet::new());
        let results: Vec<_> = futures_util::stream::iter(wanted.iter())
            .map(|(sequence, record)| async { (*sequence, self.deliver_one(self.written(), record, &busy).await) })
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        let mut response = StreamResponse::default();
        let results: Vec<_> = results
            .into_iter()
            .filter_map(|(sequence, result)| {
                if result.is_none() {
                    summary.deferred += 1;
                }
                Some((sequence, result?))
            })
            .collect();
        let mut metrics = Metrics::new("outbox");
        for (sequence, result) in results {
            match &result {
                Ok(delivered) => metrics.count(delivered.metric(), 1),
                Err(_) => response.batch_item_failures.push(ItemFailure { item_identifier: sequence.to_owned() }),
            }
            summary.count(&result);
        }
        metrics.count("OutboxDue", summary.due as u64);
        metrics.count("OutboxErrors", summary.errors as u64);
        metrics.count("OutboxStreamPassed", passed as u64);
        metrics.emit();
        tracing::info!(?summary, passed, "outbox stream batch finished");
        response
    }

    /// The sender for records the stream names.
    fn written(&self) -> &R {
        self.written_replies.as_ref().unwrap_or(&self.replies)
    }

    /// Delivers one record; `None` when it is a send to a desk already found busy in this
    /// invocation (left pending and due, untouched: claiming it only to hold it back again
    /// would cost two writes).
    async fn deliver_one(
        &self,
        replies: &R,
        record: &OutboxRef,
        busy: &Mutex<HashSet<&'static str>>,
    ) -> Option<hark_shared::Result<Delivered>> {
        let desk = rate_limited_desk(&record.key);
        if desk.is_some_and(|desk| busy.lock().expect("not poisoned").contains(desk)) {
            return None;
        }
        let (clock, policy) = (self.clock.as_ref(), &self.policy);
        let result = if is_broadcast(&record.key) {
            fan_out(&self.store, clock, policy, &record.conversation, &record.key, &self.subscriptions).await
        } else {
            deliver(&self.store, replies, clock, policy, &record.conversation, &record.key).await
        };
        if let Err(error) = &result {
            tracing::error!(%error, conversation = %record.conversation, "outbox delivery failed");
        }
        if let (Some(desk), Ok(Delivered::Deferred)) = (desk, &result) {
            busy.lock().expect("not poisoned").insert(desk);
        }
        Some(result)
    }
}

/// The desk a forward to Zendesk or Freshdesk goes to (`{endpoint}.{event id}`): its sends
/// keep to the desk's rate.
fn rate_limited_desk(key: &hark_shared::ports::OutboxKey) -> Option<&'static str> {
    use hark_shared::credentials::{FRESHDESK, ZENDESK};
    if key.purpose != hark_shared::ports::OutboxPurpose::Forward {
        return None;
    }
    [ZENDESK, FRESHDESK].into_iter().find(|desk| key.id.strip_prefix(desk).is_some_and(|rest| rest.starts_with('.')))
}

#[cfg(test)]
mod tests {
    use hark_shared::ports::{OutboxKey, OutboxPurpose};

    #[test]
    fn only_forwards_to_zendesk_and_freshdesk_keep_to_a_rate() {
        let key = |purpose, id: &str| OutboxKey { purpose, id: id.to_owned() };
        let cases = [
            (key(OutboxPurpose::Forward, "zendesk.msg_1"), Some("zendesk")),
            (key(OutboxPurpose::Forward, "freshdesk.msg_1"), Some("freshdesk")),
            (key(OutboxPurpose::Forward, "local-desk.msg_1"), None),
            (key(OutboxPurpose::Forward, "zendesk-eu.msg_1"), None),
            (key(OutboxPurpose::Forward, "all.msg_1"), None),
            (key(OutboxPurpose::Acknowledgement, "zendesk.msg_1"), None),
        ];
        for (key, desk) in cases {
            assert_eq!(super::rate_limited_desk(&key), desk, "{key:?}");
        }
    }
}
