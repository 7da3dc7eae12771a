//! The two event sources Hark's template wires up, behaving as Lambda's do.
//!
//! SQS: as many pollers as the mapping's maximum concurrency (and the function's cap) allow,
//! each long-polling the queue, gathering up to the batch size within the batching window,
//! invoking synchronously, and deleting what succeeded. With `ReportBatchItemFailures`
//! only the listed messages stay; a malformed failure list or a failed invocation keeps the
//! whole batch. What stays becomes visible again after the queue's visibility timeout and
//! SQS itself moves it to the dead-letter queue after `maxReceiveCount` receives. FIFO
//! order holds because SQS hands out a group's next message only once the previous is
//! deleted, however many pollers ask.
//!
//! Schedule: invokes the function every `rate(...)` period, divided by a speed-up factor.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, watch};

use crate::runtime::LambdaFunction;
use crate::{Error, StackEvent};

#[derive(Clone)]
pub struct SqsSource {
    /// Batches in flight at once.
    pub pollers: usize,
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: usize,
    pub batching_window: Duration,
    pub report_batch_item_failures: bool,
    pub function: LambdaFunction,
}

/// What happened to one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub size: usize,
    pub deleted: usize,
    /// Left on the queue for redelivery: failed items, or the whole batch.
    pub retained: usize,
    pub error: Option<String>,
}

impl SqsSource {
    pub async fn run(self, events: broadcast::Sender<StackEvent>, shutdown: watch::Receiver<bool>) {
        let pollers: Vec<_> =
            (0..self.pollers).map(|_| tokio::spawn(self.clone().poll(events.clone(), shutdown.clone()))).collect();
        for poller in pollers {
            let _ = poller.await;
        }
    }

    async fn poll(self, events: broadcast::Sender<StackEvent>, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            let batch = tokio::select! {
                batch = self.receive_batch() => batch,
                _ = shutdown.changed() => return,
            };
            match batch {
                Ok(messages) if messages.is_empty() => {}
                Ok(messages) => {
                    let outcome = self.deliver(messages).await;
                    let _ = events.send(StackEvent::Batch { function: self.function.logical_id().to_owned(), outcome });
                }
                Err(error) => {
                    eprintln!("hark-local: polling {}: {error}", self.queue_url);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn receive_batch(&self) -> Result<Vec<Message>, Error> {
        let mut messages: Vec<Message> = Vec::new();
        let window_ends = tokio::time::Instant::now() + self.batching_window;
        loop {
            let wanted = (self.batch_size - messages.len()).min(10) as i32;
            // Long poll while empty; within the window, only as long as the window lasts.
            let wait = if messages.is_empty() {
                2
            } else {
                window_ends.saturating_duration_since(tokio::time::Instant::now()).as_secs().min(20) as i32
            };
            let out = self
                .client
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(wanted)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| Error::Aws(format!("ReceiveMessage: {}", aws_sdk_sqs::error::DisplayErrorContext(e))))?;
            let received = out.messages.unwrap_or_default();
            let got_none = received.is_empty();
            messages.extend(received);
            let window_over = tokio::time::Instant::now() >= window_ends;
            if messages.is_empty() || messages.len() >= self.batch_size || got_none || window_over {
                return Ok(messages);
            }
        }
    }

    async fn deliver(&self, messages: Vec<Message>) -> BatchOutcome {
        let records: Vec<Value> = messages.iter().map(|m| record(m, &self.queue_arn)).collect();
        let size = messages.len();
        let result = self.function.invoke(json!({ "Records": records })).await;
        let (keep, error): (HashSet<String>, Option<String>) = match result {
            Ok(answer) if self.report_batch_item_failures => match failed_ids(&answer, &messages) {
                Ok(failed) => (failed, None),
                Err(why) => (all_ids(&messages), Some(why)),
            },
            Ok(_) => (HashSet::new(), None),
            Err(e) => (all_ids(&messages), Some(e.to_string())),
        };
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !keep.contains(m.message_id().unwrap_or_default()))
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        let mut deleted = 0;
        if !entries.is_empty() {
            match self.client.delete_message_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send().await
            {
                Ok(out) => deleted = out.successful().len(),
                Err(e) => eprintln!("hark-local: DeleteMessageBatch: {}", aws_sdk_sqs::error::DisplayErrorContext(e)),
            }
        }
        BatchOutcome { size, deleted, retained: size - deleted, error }
    }
}

fn all_ids(messages: &[Message]) -> HashSet<String> {
    messages.iter().filter_map(|m| m.message_id().map(str::to_owned)).collect()
}

/// Lambda's rules: `batchItemFailures` absent or empty means all succeeded; an entry that is
/// not an id from the batch fails the whole batch.
fn failed_ids(answer: &Value, messages: &[Message]) -> Result<HashSet<String>, String> {
    let Some(failures) = answer.get("batchItemFailures").filter(|f| !f.is_null()) else {
        return Ok(HashSet::new());
    };
    let failures = failures.as_array().ok_or("batchItemFailures is not a list")?;
    let ids = all_ids(messages);
    failures
        .iter()
        .map(|f| match f["itemIdentifier"].as_str() {
            Some(id) if ids.contains(id) => Ok(id.to_owned()),
            other => Err(format!("batchItemFailures names {other:?}, which is not in the batch")),
        })
        .collect()
}

/// An `aws:sqs` record as Lambda builds it.
fn record(message: &Message, queue_arn: &str) -> Value {
    let attributes: Map<String, Value> = message
        .attributes()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
        .collect();
    let message_attributes: Map<String, Value> = message
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let attribute = json!({
                "dataType": v.data_type(),
                "stringValue": v.string_value(),
                "stringListValues": [],
                "binaryListValues": [],
            });
            (k.clone(), attribute)
        })
        .collect();
    json!({
        "messageId": message.message_id(),
        "receiptHandle": message.receipt_handle(),
        "body": message.body().unwrap_or_default(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": crate::template::REGION,
    })
}

/// `rate(5 minutes)`; cron expressions need EventBridge's calendar and are not run locally.
pub fn parse_rate(expression: &str) -> Result<Duration, Error> {
    let bad = || {
        Error::Usage(format!(
            "schedule {expression:?}: the local stack runs rate(N minute|minutes|hour|hours|day|days) schedules; \
             pass --param EscalatorSchedule='rate(1 minute)' to run it locally"
        ))
    };
    let inner = expression.trim().strip_prefix("rate(").and_then(|s| s.strip_suffix(')')).ok_or_else(bad)?;
    let (count, unit) = inner.trim().split_once(' ').ok_or_else(bad)?;
    let count: u64 = count.parse().map_err(|_| bad())?;
    let seconds = match (unit.trim(), count) {
        ("minute", 1) | ("minutes", 2..) => 60,
        ("hour", 1) | ("hours", 2..) => 3600,
        ("day", 1) | ("days", 2..) => 86400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(count * seconds))
}

pub struct Schedule {
    pub period: Duration,
    pub function: LambdaFunction,
    pub schedule_arn: String,
}

impl Schedule {
    pub async fn run(self, events: broadcast::Sender<StackEvent>, mut shutdown: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + self.period, self.period);
        // A run longer than the period is not stacked up behind itself.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.changed() => return,
            }
            let now = chrono::Utc::now();
            let event = json!({
                "version": "0",
                "id": format!("local-{}", now.timestamp_millis()),
                "detail-type": "Scheduled Event",
                "source": "aws.scheduler",
                "account": crate::template::ACCOUNT_ID,
                "time": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "region": crate::template::REGION,
                "resources": [self.schedule_arn],
                "detail": {},
            });
            let result = self.function.invoke(event).await.map_err(|e| e.to_string());
            let _ = events.send(StackEvent::Scheduled { function: self.function.logical_id().to_owned(), result });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_as_eventbridge_writes_them() {
        assert_eq!(parse_rate("rate(1 minute)").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_rate("rate(5 minutes)").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_rate("rate(2 hours)").unwrap(), Duration::from_secs(7200));
        for bad in ["rate(1 minutes)", "rate(2 minute)", "cron(0 * * * ? *)", "rate(x minutes)", "rate(0 minutes)"] {
            assert!(parse_rate(bad).unwrap_err().to_string().contains("EscalatorSchedule"), "{bad}");
        }
    }

    fn message(id: &str) -> Message {
        Message::builder().message_id(id).receipt_handle(format!("r-{id}")).body("{}").build()
    }

    #[test]
    fn partial_batch_responses_follow_lambdas_rules() {
        let batch = [message("a"), message("b")];
        assert!(failed_ids(&json!({}), &batch).unwrap().is_empty());
        assert!(failed_ids(&json!({"batchItemFailures": []}), &batch).unwrap().is_empty());
        let failed = failed_ids(&json!({"batchItemFailures": [{"itemIdentifier": "b"}]}), &batch).unwrap();
        assert_eq!(failed, HashSet::from(["b".to_owned()]));
        assert!(failed_ids(&json!({"batchItemFailures": [{"itemIdentifier": "zz"}]}), &batch).is_err());
        assert!(failed_ids(&json!({"batchItemFailures": [{"itemIdentifier": null}]}), &batch).is_err());
    }
}
