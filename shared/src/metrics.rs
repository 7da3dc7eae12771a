//! CloudWatch Embedded Metric Format: one JSON line per invocation, turned into metrics by
//! CloudWatch Logs without any API call on the hot path.

use serde_json::{Map, Value, json};

/// A platform refused Hark's credentials (X's refresh token, a Meta Page token): nothing is
/// sent for that account until an operator puts new ones in the credentials secret.
pub const CREDENTIALS_REFUSED: &str = "CredentialsRefused";

/// Named counts.
type Counts = Vec<(&'static str, u64)>;
/// Dimension names and values: `Channel=x, Sentiment=negative`.
type Dimensions = Vec<(&'static str, String)>;

pub struct Metrics {
    function: &'static str,
    counts: Counts,
    /// Counts by dimension values, one EMF line each.
    dimensioned: Vec<(Dimensions, Counts)>,
}

/// Dimension values are names Hark chose (channels, levels, sentiments), never input: a
/// value longer than this is cut rather than let one line multiply CloudWatch's series.
const MAX_DIMENSION_CHARS: usize = 32;

impl Metrics {
    pub fn new(function: &'static str) -> Self {
        Metrics { function, counts: Vec::new(), dimensioned: Vec::new() }
    }

    /// A count by dimensions (`[("Channel", "x"), ("Sentiment", "negative")]`): CloudWatch
    /// keeps it per the full set and per the first dimension alone.
    pub fn count_by(&mut self, name: &'static str, dimensions: &[(&'static str, &str)], value: u64) {
        let key: Dimensions =
            dimensions.iter().map(|(d, v)| (*d, v.chars().take(MAX_DIMENSION_CHARS).collect())).collect();
        let counts = match self.dimensioned.iter_mut().find(|(k, _)| *k == key) {
            Some((_, counts)) => counts,
            None => {
                self.dimensioned.push((key, Vec::new()));
                &mut self.dimensioned.last_mut().expect("just pushed").1
            }
        };
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += value,
            None => counts.push((name, value)),
        }
    }

    /// The dimensioned lines, one per set of dimension values.
    pub fn dimensioned_json(&self, timestamp_millis: i64) -> Vec<Value> {
        self.dimensioned
            .iter()
            .map(|(dimensions, counts)| {
                let names: Vec<&str> = dimensions.iter().map(|(d, _)| *d).collect();
                let mut sets = vec![json!(names)];
                if names.len() > 1 {
                    sets.push(json!([names[0]]));
                }
                let definitions: Vec<Value> =
                    counts.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect();
                let mut line = Map::new();
                line.insert(
                    "_aws".into(),
                    json!({"Timestamp": timestamp_millis,
                        "CloudWatchMetrics": [{"Namespace": "Hark", "Dimensions": sets, "Metrics": definitions}]}),
                );
                line.insert("Function".into(), json!(self.function));
                for (dimension, value) in dimensions {
                    line.insert((*dimension).into(), json!(value));
                }
                for (name, value) in counts {
                    line.insert((*name).into(), json!(value));
                }
                Value::Object(line)
            })
            .collect()
    }

    pub fn count(&mut self, name: &'static str, value: u64) {
        match self.counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += value,
            None => self.counts.push((name, value)),
        }
    }

    pub fn to_json(&self, timestamp_millis: i64) -> Value {
        let definitions: Vec<Value> =
            self.counts.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect();
        let mut line = Map::new();
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_millis,
                // Per function, and account-wide (the empty set) for the template's alarms.
                "CloudWatchMetrics": [{"Namespace": "Hark", "Dimensions": [["Function"], []], "Metrics": definitions}],
            }),
        );
        line.insert("Function".into(), json!(self.function));
        for (name, value) in &self.counts {
            line.insert((*name).into(), json!(value));
        }
        Value::Object(line)
    }

    /// Writes the metrics lines to stdout, where Lambda ships them to CloudWatch Logs.
    /// With what the invocation asked of AWS, if anything, drained from the process's tally.
    pub fn emit(&self) {
        let now = chrono::Utc::now().timestamp_millis();
        let line = (!self.counts.is_empty()).then(|| self.to_json(now));
        #[cfg(feature = "aws")]
        let line = self.with_usage(line, crate::adapters::aws_usage::UsageTally::process().take());
        if let Some(line) = line {
            println!("{line}");
        }
        for line in self.dimensioned_json(now) {
            println!("{line}");
        }
    }

    /// The usage rides on the metrics line as plain properties (Logs Insights sums them, and
    /// they add no metric series); without counts, on a line of its own.
    #[cfg(feature = "aws")]
    fn with_usage(&self, line: Option<Value>, usage: crate::adapters::aws_usage::AwsUsage) -> Option<Value> {
        if usage.is_empty() {
            return line;
        }
        let mut line = line.unwrap_or_else(|| json!({"Function": self.function}));
        if let (Some(line), Ok(Value::Object(usage))) = (line.as_object_mut(), serde_json::to_value(usage)) {
            line.extend(usage);
        }
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_declares_every_metric_it_carries() {
        let mut metrics = Metrics::new("processor");
        metrics.count("MessagesStored", 2);
        metrics.count("MessagesStored", 1);
        metrics.count("Duplicates", 1);
        let line = metrics.to_json(1_700_000_000_000);
        assert_eq!(line["MessagesStored"], 3);
        assert_eq!(line["Function"], "processor");
        let declared = &line["_aws"]["CloudWatchMetrics"][0]["Metrics"];
        assert_eq!(declared.as_array().unwrap().len(), 2);
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Function"], []]));
    }

    #[test]
    fn dimensioned_counts_are_one_line_per_set_of_values() {
        let mut metrics = Metrics::new("processor");
        metrics.count_by("Messages", &[("Channel", "x"), ("Sentiment", "negative")], 1);
        metrics.count_by("Messages", &[("Channel", "x"), ("Sentiment", "negative")], 2);
        metrics.count_by("Messages", &[("Channel", "facebook"), ("Sentiment", "positive")], 1);
        metrics.count_by("Conversations", &[("Channel", "x")], 1);
        let lines = metrics.dimensioned_json(1_700_000_000_000);
        assert_eq!(lines.len(), 3);
        let x = &lines[0];
        assert_eq!(
            (x["Channel"].as_str(), x["Sentiment"].as_str(), x["Messages"].as_u64()),
            (Some("x"), Some("negative"), Some(3))
        );
        let sets = &x["_aws"]["CloudWatchMetrics"][0]["Dimensions"];
        assert_eq!(*sets, serde_json::json!([["Channel", "Sentiment"], ["Channel"]]), "per pair and per channel");
        assert_eq!(lines[2]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Channel"]]));
        metrics.count_by("Escalations", &[("Level", &"z".repeat(500))], 1);
        assert_eq!(metrics.dimensioned_json(0)[3]["Level"].as_str().unwrap().len(), 32);
    }

    #[cfg(feature = "aws")]
    #[test]
    fn what_an_invocation_asked_of_aws_rides_on_its_metrics_line_or_on_its_own() {
        use crate::adapters::aws_usage::AwsUsage;
        let usage = AwsUsage {
            requests: [("DynamoDB.PutItem".to_owned(), 2)].into_iter().collect(),
            read_units: 0.5,
            write_units: 2.0,
            write_units_by: [("PutItem:table".to_owned(), 2.0)].into(),
        };
        let mut metrics = Metrics::new("outbox");
        assert_eq!(metrics.with_usage(None, AwsUsage::default()), None, "nothing asked, nothing written");
        let alone = metrics.with_usage(None, usage.clone()).unwrap();
        assert_eq!(
            alone,
            serde_json::json!({"Function": "outbox", "AwsRequests": {"DynamoDB.PutItem": 2},
            "DynamoDbReadUnits": 0.5, "DynamoDbWriteUnits": 2.0, "DynamoDbWriteUnitsBy": {"PutItem:table": 2.0}})
        );
        metrics.count("Sent", 1);
        let line = metrics.with_usage(Some(metrics.to_json(0)), usage).unwrap();
        assert_eq!((line["Sent"].as_u64(), line["DynamoDbWriteUnits"].as_f64()), (Some(1), Some(2.0)));
        let declared = &line["_aws"]["CloudWatchMetrics"][0]["Metrics"];
        assert_eq!(declared.as_array().unwrap().len(), 1, "the usage is not a metric: {declared}");
    }
}
