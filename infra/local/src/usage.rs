//! What the local stack did that AWS would bill, counted where it happens: each function's
//! invocations and billed milliseconds (the Runtime API emulator), HTTP API requests (the
//! gateway), the SQS requests Lambda's pollers make (the event sources' own client), and,
//! from the functions' logs, what each function asked of AWS (their metrics lines carry it),
//! the messages stored, the bytes logged and the metric series written. `hark-local cost`
//! prices the difference between two readings.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Seek};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use hark_shared::adapters::aws_usage::{AwsUsage, UsageTally};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;
use crate::runtime::FunctionUsage;

/// The counters the stack's parts add to.
#[derive(Clone)]
pub struct Meters {
    pub started: DateTime<Utc>,
    pub gateway_requests: Arc<AtomicU64>,
    /// The client the SQS event sources poll with counts here, as Lambda's pollers' requests
    /// are billed to the account.
    pub event_sources: UsageTally,
}

impl Meters {
    pub fn new() -> Meters {
        Meters { started: Utc::now(), gateway_requests: Arc::default(), event_sources: UsageTally::default() }
    }
}

impl Default for Meters {
    fn default() -> Self {
        Meters::new()
    }
}

/// One reading of the stack's counters (`GET /_local/usage` on the control listener).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StackUsage {
    pub started: Option<DateTime<Utc>>,
    pub at: Option<DateTime<Utc>>,
    pub functions: BTreeMap<String, FunctionUsage>,
    pub gateway_requests: u64,
    pub event_sources: AwsUsage,
    /// The functions' log files (by name, in the stack's log folder), each with its size when
    /// the stack started: the logs outlive a stack, and what came before is not its work.
    pub log_files: LogOffsets,
}

impl StackUsage {
    pub fn read<'a>(
        meters: &Meters,
        functions: impl IntoIterator<Item = &'a crate::runtime::LambdaFunction>,
    ) -> StackUsage {
        let functions: Vec<_> = functions.into_iter().collect();
        StackUsage {
            started: Some(meters.started),
            at: Some(Utc::now()),
            log_files: LogOffsets(
                functions
                    .iter()
                    .filter_map(|f| {
                        let name = f.log_file().file_name().and_then(|n| n.to_str())?;
                        Some((name.to_owned(), f.log_size_at_start()))
                    })
                    .collect(),
            ),
            functions: functions.iter().map(|f| (f.logical_id().to_owned(), f.usage())).collect(),
            gateway_requests: meters.gateway_requests.load(Ordering::Acquire),
            event_sources: meters.event_sources.snapshot(),
        }
    }

    /// Asks the running stack's control listener.
    pub async fn fetch(control_url: &str) -> Result<StackUsage, Error> {
        let url = format!("{control_url}/_local/usage");
        let failed = |e: reqwest::Error| Error::Usage(format!("GET {url}: {e} (is `hark-local run` running?)"));
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().map_err(failed)?;
        http.get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(failed)?
            .json()
            .await
            .map_err(failed)
    }

    /// Seconds from the stack's start to this reading.
    pub fn seconds_since_start(&self) -> f64 {
        match (self.started, self.at) {
            (Some(started), Some(at)) => (at - started).num_milliseconds() as f64 / 1000.0,
            _ => 0.0,
        }
    }

    /// What happened between `earlier` and this reading.
    pub fn since(&self, earlier: &StackUsage) -> StackUsage {
        let functions = self
            .functions
            .iter()
            .map(|(id, now)| {
                let before = earlier.functions.get(id).copied().unwrap_or_default();
                let usage = FunctionUsage {
                    memory_mb: now.memory_mb,
                    invocations: now.invocations.saturating_sub(before.invocations),
                    billed_ms: now.billed_ms.saturating_sub(before.billed_ms),
                    inits: now.inits.saturating_sub(before.inits),
                    init_ms: now.init_ms.saturating_sub(before.init_ms),
                };
                (id.clone(), usage)
            })
            .collect();
        StackUsage {
            started: self.started,
            at: self.at,
            functions,
            gateway_requests: self.gateway_requests.saturating_sub(earlier.gateway_requests),
            event_sources: self.event_sources.since(&earlier.event_sources),
            log_files: self.log_files.clone(),
        }
    }
}

/// What the functions' logs say, summed over the lines read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogTotals {
    /// What the functions asked of AWS, from their metrics lines.
    pub aws: AwsUsage,
    /// Customer messages stored: the processor's `Messages` metric.
    pub messages_stored: u64,
    /// CloudWatch Logs bills each event's bytes plus 26 bytes of metadata.
    pub log_events: u64,
    pub log_bytes: u64,
    /// Distinct CloudWatch metric series the EMF lines define (metric, dimension names and
    /// values): each is a custom metric for the month it is written in.
    pub metric_series: BTreeSet<String>,
}

impl LogTotals {
    /// Adds one line a function wrote.
    pub fn add_line(&mut self, line: &str) {
        self.log_events += 1;
        self.log_bytes += line.len() as u64;
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(line) else { return };
        if fields.contains_key("AwsRequests") || fields.contains_key("DynamoDbWriteUnits") {
            let usage: AwsUsage = serde_json::from_value(Value::Object(fields.clone())).unwrap_or_default();
            self.aws.add(&usage);
        }
        let Some(emf) = fields.get("_aws").and_then(|aws| aws["CloudWatchMetrics"].as_array()) else { return };
        for directive in emf {
            let metrics = directive["Metrics"].as_array().into_iter().flatten().filter_map(|m| m["Name"].as_str());
            let sets: Vec<Vec<&str>> = directive["Dimensions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|set| set.as_array().into_iter().flatten().filter_map(Value::as_str).collect())
                .collect();
            for metric in metrics {
                if metric == "Messages" && fields.get("Function").and_then(Value::as_str) == Some("processor") {
                    self.messages_stored += fields.get(metric).and_then(Value::as_u64).unwrap_or_default();
                }
                for set in &sets {
                    let values: Vec<String> =
                        set.iter().map(|d| format!("{d}={}", fields.get(*d).unwrap_or(&Value::Null))).collect();
                    self.metric_series.insert(format!("{metric}[{}]", values.join(",")));
                }
            }
        }
    }

    /// Every line written to the functions' logs in `dir` (those `from` names) after its
    /// offsets; returns the offsets read to, for the next reading.
    pub fn read_logs(dir: &Path, from: &LogOffsets) -> Result<(LogTotals, LogOffsets), Error> {
        let mut totals = LogTotals::default();
        let mut offsets = LogOffsets::default();
        for (name, &start) in &from.0 {
            let mut file = match std::fs::File::open(dir.join(name)) {
                Ok(file) => file,
                // A function that has written nothing yet.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("open a function's log")(e)),
            };
            file.seek(std::io::SeekFrom::Start(start)).map_err(Error::io("seek a function's log"))?;
            let mut reader = std::io::BufReader::new(file);
            let mut read = start;
            let mut line = String::new();
            loop {
                line.clear();
                let n = reader.read_line(&mut line).map_err(Error::io("read a function's log"))?;
                // A line still being written is read next time.
                if n == 0 || !line.ends_with('\n') {
                    break;
                }
                read += n as u64;
                totals.add_line(line.trim_end_matches('\n'));
            }
            offsets.0.insert(name.clone(), read);
        }
        Ok((totals, offsets))
    }
}

/// How far each function's log has been read, by file name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogOffsets(pub BTreeMap<String, u64>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_less_an_earlier_one_is_what_happened_between() {
        let usage = |invocations, billed_ms, requests: u64, units| StackUsage {
            started: None,
            at: None,
            log_files: LogOffsets::default(),
            functions: [(
                "ProcessorFunction".to_owned(),
                FunctionUsage { memory_mb: 256, invocations, billed_ms, inits: 1, init_ms: 40 },
            )]
            .into(),
            gateway_requests: requests,
            event_sources: AwsUsage {
                requests: [("SQS.ReceiveMessage".to_owned(), requests)].into(),
                read_units: units,
                ..Default::default()
            },
        };
        let between = usage(30, 900, 50, 2.5).since(&usage(10, 300, 20, 0.5));
        let processor = between.functions["ProcessorFunction"];
        assert_eq!(
            (processor.invocations, processor.billed_ms, processor.inits, processor.memory_mb),
            (20, 600, 0, 256)
        );
        assert_eq!((between.gateway_requests, between.event_sources.requests["SQS.ReceiveMessage"]), (30, 30));
        assert_eq!(between.event_sources.read_units, 2.0);
        let unchanged = usage(10, 300, 20, 0.5).since(&usage(10, 300, 20, 0.5));
        assert!(unchanged.event_sources.requests.is_empty(), "{unchanged:?}");
    }

    #[test]
    fn the_logs_give_the_requests_the_messages_stored_the_bytes_and_the_metric_series() {
        let lines = [
            r#"{"level":"INFO","message":"stored"}"#,
            r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"Hark","Dimensions":[["Function"],[]],"Metrics":[{"Name":"Stored","Unit":"Count"}]}]},"Function":"processor","Stored":2,"AwsRequests":{"DynamoDB.PutItem":2,"SQS.SendMessage":1},"DynamoDbReadUnits":0.5,"DynamoDbWriteUnits":3.0}"#,
            r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"Hark","Dimensions":[["Channel","Sentiment"],["Channel"]],"Metrics":[{"Name":"Messages","Unit":"Count"}]}]},"Function":"processor","Channel":"x","Sentiment":"negative","Messages":2}"#,
            r#"{"_aws":{"Timestamp":2,"CloudWatchMetrics":[{"Namespace":"Hark","Dimensions":[["Channel","Sentiment"],["Channel"]],"Metrics":[{"Name":"Messages","Unit":"Count"}]}]},"Function":"processor","Channel":"x","Sentiment":"positive","Messages":1}"#,
            r#"{"Function":"outbox","AwsRequests":{"DynamoDB.Query":4},"DynamoDbReadUnits":2.0,"DynamoDbWriteUnits":0.0}"#,
            "not json at all",
        ];
        let mut totals = LogTotals::default();
        for line in lines {
            totals.add_line(line);
        }
        assert_eq!(totals.aws.requests_to("DynamoDB"), 6);
        assert_eq!((totals.aws.read_units, totals.aws.write_units), (2.5, 3.0));
        assert_eq!(totals.messages_stored, 3);
        assert_eq!(totals.log_events, 6);
        assert_eq!(totals.log_bytes, lines.iter().map(|l| l.len() as u64).sum::<u64>());
        // Stored by function and account-wide; Messages per channel and sentiment (two) and per channel (one).
        assert_eq!(totals.metric_series.len(), 5, "{:?}", totals.metric_series);
    }

    #[test]
    fn the_logs_are_read_from_where_the_last_reading_ended_and_a_half_written_line_waits() {
        let dir = std::env::temp_dir().join(format!("hark-usage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("processor.log");
        std::fs::write(&log, "{\"Function\":\"processor\",\"AwsRequests\":{\"SQS.SendMessage\":1}}\n{\"Function\"")
            .unwrap();
        std::fs::write(dir.join("DynamoDB-Local.log"), "{\"AwsRequests\":{\"SQS.SendMessage\":7}}\n").unwrap();
        let files = LogOffsets([("processor.log".to_owned(), 0), ("outbox.log".to_owned(), 0)].into());
        let (first, offsets) = LogTotals::read_logs(&dir, &files).unwrap();
        assert_eq!((first.aws.requests_to("SQS"), first.log_events), (1, 1));
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::io::Write::write_all(&mut file, b":\"processor\",\"AwsRequests\":{\"SQS.SendMessage\":2}}\n").unwrap();
        let (second, _) = LogTotals::read_logs(&dir, &offsets).unwrap();
        assert_eq!((second.aws.requests_to("SQS"), second.log_events), (2, 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
