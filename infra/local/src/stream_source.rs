//! A DynamoDB Stream as Lambda's event source mapping reads it, from DynamoDB Local's
//! Streams API: the stream's shards, each read in order from its iterator (a child only
//! once its parent is read to its end), polled four times a second, records gathered up to
//! the batch size within the batching window, the mapping's filter applied before anything
//! is invoked, and a shard's batch split into `ParallelizationFactor` batches by partition
//! key (one key's records stay in order). A batch that fails is retried from the lowest
//! record the function reports failed (or whole, or bisected, when the invocation itself
//! fails), at most `MaximumRetryAttempts` times; a record older than
//! `MaximumRecordAgeInSeconds` is discarded unprocessed, as Lambda does without an
//! on-failure destination. The shard then moves on: a stream never holds a record back
//! for good.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, watch};

use crate::event_sources::BatchOutcome;
use crate::runtime::LambdaFunction;
use crate::{Error, StackEvent};

/// How often a shard is read while it has nothing new (Lambda: four times a second).
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How often the stream's shards are listed again.
const SHARD_LISTING_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct StreamSource {
    pub client: aws_sdk_dynamodbstreams::Client,
    pub stream_arn: String,
    /// `TRIM_HORIZON` (the oldest record kept) or `LATEST`, for the shards open at start.
    pub from_oldest: bool,
    pub batch_size: usize,
    pub batching_window: Duration,
    pub parallelization: usize,
    pub report_batch_item_failures: bool,
    pub bisect_on_error: bool,
    /// `None`: retried until the record expires.
    pub max_retries: Option<u32>,
    pub max_record_age: Option<Duration>,
    pub filter: Filter,
    pub function: LambdaFunction,
}

impl StreamSource {
    pub async fn run(self, events: broadcast::Sender<StackEvent>, mut shutdown: watch::Receiver<bool>) {
        // Shards being read, and those read to their end (a child waits for its parent).
        let mut started: HashSet<String> = HashSet::new();
        let (finished_tx, mut finished_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut finished: HashSet<String> = HashSet::new();
        let mut first_listing = true;
        let mut readers = Vec::new();
        while !*shutdown.borrow() {
            while let Ok(shard) = finished_rx.try_recv() {
                finished.insert(shard);
            }
            match self.shards().await {
                Ok(shards) => {
                    let known: HashSet<&str> = shards.iter().map(|(id, _)| id.as_str()).collect();
                    for (shard, parent) in &shards {
                        let parent_done =
                            parent.as_ref().is_none_or(|p| finished.contains(p) || !known.contains(p.as_str()));
                        if started.contains(shard) || !parent_done {
                            continue;
                        }
                        started.insert(shard.clone());
                        // Only the shards open when the mapping starts begin at LATEST; a
                        // shard that appears later is read from its start.
                        let from_oldest = self.from_oldest || !first_listing;
                        let reader =
                            self.clone().read_shard(shard.clone(), from_oldest, events.clone(), shutdown.clone());
                        let done = finished_tx.clone();
                        let shard = shard.clone();
                        readers.push(tokio::spawn(async move {
                            if reader.await {
                                let _ = done.send(shard);
                            }
                        }));
                    }
                    first_listing = false;
                }
                Err(error) => eprintln!("hark-local: reading the stream {}: {error}", self.stream_arn),
            }
            // Shards change every few hours; a child waits for its parent's end anyway.
            tokio::select! {
                _ = tokio::time::sleep(SHARD_LISTING_INTERVAL) => {}
                _ = shutdown.changed() => {}
            }
        }
        for reader in readers {
            let _ = reader.await;
        }
    }

    /// The stream's shards and their parents.
    async fn shards(&self) -> Result<Vec<(String, Option<String>)>, Error> {
        let mut shards = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let out = self
                .client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(after.clone())
                .send()
                .await
                .map_err(|e| Error::Aws(format!("DescribeStream: {}", e.into_service_error())))?;
            let description = out
                .stream_description
                .unwrap_or_else(|| aws_sdk_dynamodbstreams::types::StreamDescription::builder().build());
            for shard in description.shards() {
                if let Some(id) = shard.shard_id() {
                    shards.push((id.to_owned(), shard.parent_shard_id().map(str::to_owned)));
                }
            }
            match description.last_evaluated_shard_id {
                Some(last) => after = Some(last),
                None => return Ok(shards),
            }
        }
    }

    /// Reads one shard until it ends (`true`) or the stack stops (`false`).
    async fn read_shard(
        self,
        shard: String,
        mut from_oldest: bool,
        events: broadcast::Sender<StackEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) -> bool {
        // The checkpoint: the last record read. An iterator that expired or fell behind the
        // stream's trim point is replaced by one after it, as Lambda resumes a shard.
        let mut checkpoint: Option<String> = None;
        let mut iterator = None;
        // Records that passed the filter: the batch size counts these, as Lambda's does.
        let mut batch: Vec<Value> = Vec::new();
        let mut window_ends: Option<tokio::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                return false;
            }
            let current = match iterator.take() {
                Some(current) => current,
                None => match self.iterator(&shard, checkpoint.as_deref(), from_oldest).await {
                    Ok(Some(fresh)) => fresh,
                    // A closed shard read to its end.
                    Ok(None) => return true,
                    Err(error) => {
                        eprintln!("hark-local: {error}");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            _ = shutdown.changed() => return false,
                        }
                    }
                },
            };
            match self.client.get_records().shard_iterator(&current).limit(1000).send().await {
                Ok(out) => {
                    let received = out.records.unwrap_or_default();
                    let got_none = received.is_empty();
                    if let Some(last) = received.last().and_then(|r| r.dynamodb()).and_then(|c| c.sequence_number()) {
                        checkpoint = Some(last.to_owned());
                        window_ends.get_or_insert_with(|| tokio::time::Instant::now() + self.batching_window);
                    }
                    batch.extend(
                        received.iter().map(|r| record_json(r, &self.stream_arn)).filter(|e| self.filter.passes(e)),
                    );
                    let ended = out.next_shard_iterator.is_none();
                    let window_over = window_ends.is_some_and(|at| tokio::time::Instant::now() >= at);
                    let full = batch.len() >= self.batch_size * self.parallelization.max(1);
                    if !batch.is_empty() && (full || window_over || got_none || ended) {
                        self.deliver(std::mem::take(&mut batch), &events).await;
                        window_ends = None;
                    }
                    if ended {
                        return true;
                    }
                    iterator = out.next_shard_iterator;
                    if got_none {
                        tokio::select! {
                            _ = tokio::time::sleep(POLL_INTERVAL) => {}
                            _ = shutdown.changed() => return false,
                        }
                    }
                }
                Err(e) => {
                    let error = e.into_service_error();
                    // Expired or trimmed: a new iterator from the checkpoint.
                    let trimmed = error.is_trimmed_data_access_exception();
                    let renew = error.is_expired_iterator_exception() || trimmed;
                    if trimmed && checkpoint.is_none() {
                        // All the shard still holds lies past where this iterator stood
                        // (DynamoDB Local also says this to a LATEST iterator on an empty
                        // shard at its first record): reading LATEST again would skip what
                        // was written since, so the oldest record kept is where it resumes.
                        from_oldest = true;
                    }
                    if renew {
                        let from = checkpoint.as_deref().map_or_else(
                            || if from_oldest { "the oldest record kept".to_owned() } else { "LATEST".to_owned() },
                            |sequence| format!("after {sequence}"),
                        );
                        eprintln!("hark-local: GetRecords {shard}: {error}; reading on from {from}");
                    } else {
                        eprintln!("hark-local: GetRecords {shard}: {error}");
                        iterator = Some(current);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(if renew { POLL_INTERVAL } else { Duration::from_secs(1) }) => {}
                        _ = shutdown.changed() => return false,
                    }
                }
            }
        }
    }

    /// An iterator after the checkpoint, or where the mapping starts reading the shard.
    async fn iterator(
        &self,
        shard: &str,
        checkpoint: Option<&str>,
        from_oldest: bool,
    ) -> Result<Option<String>, Error> {
        let request = self.client.get_shard_iterator().stream_arn(&self.stream_arn).shard_id(shard);
        let request = match checkpoint {
            Some(sequence) => {
                request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(sequence)
            }
            None if from_oldest => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            None => request.shard_iterator_type(ShardIteratorType::Latest),
        };
        match request.send().await {
            Ok(out) => Ok(out.shard_iterator),
            // The checkpoint itself was trimmed: what is left starts at the trim point.
            Err(e)
                if checkpoint.is_some()
                    && e.as_service_error().is_some_and(|e| e.is_trimmed_data_access_exception()) =>
            {
                let out = self
                    .client
                    .get_shard_iterator()
                    .stream_arn(&self.stream_arn)
                    .shard_id(shard)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .map_err(|e| Error::Aws(format!("GetShardIterator {shard}: {}", e.into_service_error())))?;
                Ok(out.shard_iterator)
            }
            Err(e) => Err(Error::Aws(format!("GetShardIterator {shard}: {}", e.into_service_error()))),
        }
    }

    /// Splits what was read by partition key into `ParallelizationFactor` lanes, and
    /// delivers each lane's batches in order, the lanes at once.
    async fn deliver(&self, records: Vec<Value>, events: &broadcast::Sender<StackEvent>) {
        let mut lanes: Vec<Vec<Value>> = vec![Vec::new(); self.parallelization.max(1)];
        for event in records {
            let key = serde_json::to_string(&event["dynamodb"]["Keys"]).unwrap_or_default();
            let lane = hark_shared::stable_hash(&key) as usize % lanes.len();
            lanes[lane].push(event);
        }
        let lanes = lanes.into_iter().filter(|l| !l.is_empty()).map(|lane| async move {
            let mut outcomes = Vec::new();
            for batch in lane.chunks(self.batch_size.max(1)) {
                outcomes.push(self.deliver_part(batch.to_vec()).await);
            }
            outcomes
        });
        for outcome in futures_util::future::join_all(lanes).await.into_iter().flatten() {
            let _ = events.send(StackEvent::Batch { function: self.function.logical_id().to_owned(), outcome });
        }
    }

    /// Invokes until every record is processed, retried out or too old.
    async fn deliver_part(&self, records: Vec<Value>) -> BatchOutcome {
        let size = records.len();
        let (mut processed, mut discarded, mut last_error) = (0, 0, None);
        let mut queue: VecDeque<(Vec<Value>, u32)> = VecDeque::from([(records, 0)]);
        while let Some((batch, retries)) = queue.pop_front() {
            let (batch, too_old) = self.fresh(batch);
            discarded += too_old;
            if batch.is_empty() {
                continue;
            }
            let answer = self.function.invoke(json!({ "Records": batch })).await.map_err(|e| e.to_string());
            let failed_from = match answer {
                Ok(answer) if self.report_batch_item_failures => {
                    lowest_failure(&answer, &batch).map_err(|why| (why, false))
                }
                Ok(_) => Ok(None),
                Err(e) => Err((e, true)),
            };
            let retry_allowed = self.max_retries.is_none_or(|max| retries < max);
            match failed_from {
                Ok(None) => processed += batch.len(),
                Ok(Some(index)) => {
                    processed += index;
                    last_error = Some(format!("the function reported record {index} of {} failed", batch.len()));
                    if retry_allowed {
                        backoff(retries).await;
                        queue.push_front((batch[index..].to_vec(), retries + 1));
                    } else {
                        discarded += batch.len() - index;
                    }
                }
                Err((why, invocation_failed)) => {
                    last_error = Some(why);
                    if !retry_allowed {
                        discarded += batch.len();
                    } else if invocation_failed && self.bisect_on_error && batch.len() > 1 {
                        let (left, right) = batch.split_at(batch.len() / 2);
                        queue.push_front((right.to_vec(), retries + 1));
                        queue.push_front((left.to_vec(), retries + 1));
                    } else {
                        backoff(retries).await;
                        queue.push_front((batch, retries + 1));
                    }
                }
            }
        }
        BatchOutcome { size, deleted: processed, retained: discarded, error: last_error }
    }

    /// The records young enough to process, and how many were not.
    fn fresh(&self, batch: Vec<Value>) -> (Vec<Value>, usize) {
        let Some(max_age) = self.max_record_age else { return (batch, 0) };
        let oldest = chrono::Utc::now().timestamp_millis() as f64 / 1000.0 - max_age.as_secs_f64();
        let size = batch.len();
        let fresh: Vec<Value> = batch
            .into_iter()
            .filter(|r| r["dynamodb"]["ApproximateCreationDateTime"].as_f64().is_none_or(|at| at >= oldest))
            .collect();
        let too_old = size - fresh.len();
        (fresh, too_old)
    }
}

async fn backoff(retries: u32) {
    tokio::time::sleep(Duration::from_millis(200 << retries.min(5))).await;
}

/// Lambda's rules for a stream: no failures listed means all succeeded; the shard resumes
/// from the lowest sequence number listed; an entry naming no record of the batch fails it.
fn lowest_failure(answer: &Value, batch: &[Value]) -> Result<Option<usize>, String> {
    let Some(failures) = answer.get("batchItemFailures").filter(|f| !f.is_null()) else { return Ok(None) };
    let failures = failures.as_array().ok_or("batchItemFailures is not a list")?;
    let position: HashMap<&str, usize> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r["dynamodb"]["SequenceNumber"].as_str().map(|s| (s, i)))
        .collect();
    let mut lowest: Option<usize> = None;
    for failure in failures {
        match failure["itemIdentifier"].as_str().and_then(|id| position.get(id)) {
            Some(&i) => lowest = Some(lowest.map_or(i, |l| l.min(i))),
            None => {
                return Err(format!(
                    "batchItemFailures names {}, which is not in the batch",
                    failure["itemIdentifier"]
                ));
            }
        }
    }
    Ok(lowest)
}

/// An event source mapping's `FilterCriteria`: records matching any pattern are invoked.
/// The patterns the local stack runs are Lambda's equality matching (a key's value listed
/// among the allowed values, objects nested as in the record); others are refused when the
/// stack starts, not silently passed.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    patterns: Vec<Value>,
}

impl Filter {
    pub fn parse(criteria: &Value) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for filter in criteria["Filters"].as_array().into_iter().flatten() {
            let text = filter["Pattern"].as_str().ok_or("a filter has no Pattern string")?;
            let pattern: Value = serde_json::from_str(text).map_err(|e| format!("filter pattern {text}: {e}"))?;
            check_pattern(&pattern)?;
            patterns.push(pattern);
        }
        Ok(Filter { patterns })
    }

    pub fn passes(&self, record: &Value) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| matches(p, record))
    }
}

fn check_pattern(pattern: &Value) -> Result<(), String> {
    let fields = pattern.as_object().ok_or_else(|| format!("filter pattern {pattern} is not an object"))?;
    for (name, allowed) in fields {
        match allowed {
            Value::Object(_) => check_pattern(allowed)?,
            Value::Array(values) if values.iter().all(|v| !v.is_object() && !v.is_array()) => {}
            other => return Err(format!("filter {name}: {other} (the local stack runs equality matching only)")),
        }
    }
    Ok(())
}

fn matches(pattern: &Value, record: &Value) -> bool {
    pattern.as_object().into_iter().flatten().all(|(name, allowed)| match (allowed, record.get(name)) {
        (Value::Object(_), Some(value)) => matches(allowed, value),
        (Value::Array(values), Some(value)) => values.contains(value),
        _ => false,
    })
}

/// An `aws:dynamodb` record as Lambda builds it from the Streams API's record.
fn record_json(record: &Record, stream_arn: &str) -> Value {
    let change = record.dynamodb();
    let mut dynamodb = Map::new();
    if let Some(change) = change {
        if let Some(at) = change.approximate_creation_date_time() {
            dynamodb.insert("ApproximateCreationDateTime".into(), json!(at.as_secs_f64()));
        }
        for (name, image) in
            [("Keys", change.keys()), ("NewImage", change.new_image()), ("OldImage", change.old_image())]
        {
            if let Some(image) = image {
                dynamodb.insert(name.into(), item_json(image));
            }
        }
        dynamodb.insert("SequenceNumber".into(), json!(change.sequence_number()));
        dynamodb.insert("SizeBytes".into(), json!(change.size_bytes()));
        dynamodb.insert("StreamViewType".into(), json!(change.stream_view_type().map(|v| v.as_str())));
    }
    json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|n| n.as_str()),
        "eventVersion": record.event_version(),
        "eventSource": "aws:dynamodb",
        "awsRegion": crate::template::REGION,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    })
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect())
}

/// DynamoDB's JSON for one attribute value (binary as base64, as the wire has it).
fn attribute_json(value: &AttributeValue) -> Value {
    let b64 =
        |b: &aws_sdk_dynamodbstreams::primitives::Blob| base64::engine::general_purpose::STANDARD.encode(b.as_ref());
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => json!({ "BS": v.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(v) => json!({ "L": v.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": item_json(m) }),
        _ => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sequence: &str, status: &str) -> Value {
        json!({
            "eventName": "INSERT",
            "dynamodb": {
                "SequenceNumber": sequence,
                "NewImage": {"item_type": {"S": "outbox"}, "status": {"S": status}},
            },
        })
    }

    #[test]
    fn filters_match_as_lambdas_equality_patterns_do() {
        let pattern = r#"{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"item_type": {"S": ["outbox"]}, "status": {"S": ["pending"]}}}}"#;
        let filter = Filter::parse(&json!({"Filters": [{"Pattern": pattern}]})).unwrap();
        assert!(filter.passes(&record("1", "pending")));
        assert!(!filter.passes(&record("1", "sent")));
        let mut changed = record("1", "pending");
        changed["eventName"] = json!("MODIFY");
        assert!(!filter.passes(&changed));
        let mut keys_only = record("1", "pending");
        keys_only["dynamodb"].as_object_mut().unwrap().remove("NewImage");
        assert!(!filter.passes(&keys_only));
        // No criteria: everything invokes.
        assert!(Filter::parse(&Value::Null).unwrap().passes(&keys_only));
        // What the local stack does not run is refused, not ignored.
        for unsupported in [r#"{"eventName": [{"prefix": "INS"}]}"#, r#"{"eventName": "INSERT"}"#, "[1]", "{"] {
            assert!(Filter::parse(&json!({"Filters": [{"Pattern": unsupported}]})).is_err(), "{unsupported}");
        }
    }

    #[test]
    fn a_shard_resumes_from_the_lowest_failure_reported() {
        let batch = [record("10", "pending"), record("11", "pending"), record("12", "pending")];
        assert_eq!(lowest_failure(&json!({}), &batch), Ok(None));
        assert_eq!(lowest_failure(&json!({"batchItemFailures": []}), &batch), Ok(None));
        let failures = json!({"batchItemFailures": [{"itemIdentifier": "12"}, {"itemIdentifier": "11"}]});
        assert_eq!(lowest_failure(&failures, &batch), Ok(Some(1)));
        assert!(lowest_failure(&json!({"batchItemFailures": [{"itemIdentifier": "99"}]}), &batch).is_err());
        assert!(lowest_failure(&json!({"batchItemFailures": "all"}), &batch).is_err());
    }

    #[test]
    fn attributes_are_dynamodb_json() {
        let item = HashMap::from([
            ("s".to_owned(), AttributeValue::S("x".into())),
            ("n".to_owned(), AttributeValue::N("1".into())),
            ("m".to_owned(), AttributeValue::M(HashMap::from([("b".to_owned(), AttributeValue::Bool(true))]))),
            ("l".to_owned(), AttributeValue::L(vec![AttributeValue::Null(true)])),
        ]);
        assert_eq!(
            item_json(&item),
            json!({"s": {"S": "x"}, "n": {"N": "1"}, "m": {"M": {"b": {"BOOL": true}}}, "l": {"L": [{"NULL": true}]}})
        );
    }
}
