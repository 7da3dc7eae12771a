//! CloudWatch Embedded Metric Format: one JSON line per invocation, turned into metrics by
//! CloudWatch Logs without any API call on the hot path.

use serde_json::{Map, Value, json};

/// A platform refused Hark's credentials (X's refresh token, a Meta Page token): nothing is
/// sent for that account until an operator puts new ones in the credentials secret.
pub const CREDENTIALS_REFUSED: &str = "CredentialsRefused";

pub struct Metrics {
    function: &'static str,
    counts: Vec<(&'static str, u64)>,
}

impl Metrics {
    pub fn new(function: &'static str) -> Self {
        Metrics { function, counts: Vec::new() }
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

    /// Writes the metrics line to stdout, where Lambda ships it to CloudWatch Logs.
    pub fn emit(&self) {
        if !self.counts.is_empty() {
            println!("{}", self.to_json(chrono::Utc::now().timestamp_millis()));
        }
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
}
