//! The outbox function's second trigger: the table's DynamoDB Stream. A record is delivered
//! as soon as it is written, not at the next sweep: a forward becomes a ticket in seconds.
//!
//! The event source mapping's filter passes only inserts of pending outbox records;
//! [`due_record`] checks the same again (a filter is configuration, and a stream record
//! may be replayed long after it was written), and says why it leaves the rest. Changes
//! to a record are the sweep's: a retry or a send held back by a desk's rate is due later,
//! on the sweep's schedule, and taking it up from the stream would loop a record held
//! back by a busy desk straight back into it. The record
//! named by the stream is then claimed like any other: whoever claims first (this
//! invocation, the sweep, the processor's first attempt) sends, the others see it taken.
//!
//! Only the shapes read here are parsed; Lambda's event carries more.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hark_shared::ports::{OutboxRef, OutboxStatus};
use serde::{Deserialize, Serialize};

/// A batch of stream records, as Lambda's DynamoDB event source sends it.
#[derive(Debug, Deserialize)]
pub struct StreamBatch {
    #[serde(rename = "Records")]
    pub records: Vec<StreamRecord>,
}

#[derive(Debug, Deserialize)]
pub struct StreamRecord {
    /// `INSERT`, `MODIFY` or `REMOVE`.
    #[serde(rename = "eventName")]
    pub event_name: String,
    pub dynamodb: Change,
}

#[derive(Debug, Deserialize)]
pub struct Change {
    #[serde(rename = "Keys", default)]
    pub keys: HashMap<String, Attribute>,
    #[serde(rename = "NewImage", default)]
    pub new_image: Option<HashMap<String, Attribute>>,
    /// What a partial batch failure names; Lambda resumes the shard from the lowest one.
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: String,
}

/// A DynamoDB attribute value; only strings and numbers are read, others parse as neither.
#[derive(Debug, Default, Deserialize)]
pub struct Attribute {
    #[serde(rename = "S")]
    pub s: Option<String>,
    #[serde(rename = "N")]
    pub n: Option<String>,
}

/// Why a stream record is not delivered by this invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passed {
    /// A change or a removal, not a new record: the sweep's.
    NotNew,
    /// Not an outbox record (its keys name something else, or no new image came with it).
    NotOutbox,
    /// Being sent, sent, failed, cancelled or waiting for a check: the claim or the sweep
    /// owns it.
    NotPending(String),
    /// A retry that is due later (the epoch second it is due): the sweep takes it then.
    NotDue(i64),
}

/// The record to deliver now, or why none.
pub fn due_record(record: &StreamRecord, now: DateTime<Utc>) -> Result<OutboxRef, Passed> {
    if record.event_name != "INSERT" {
        return Err(Passed::NotNew);
    }
    let key = |name: &str| record.dynamodb.keys.get(name).and_then(|a| a.s.as_deref());
    let outbox = key("pk").zip(key("sk")).and_then(|(pk, sk)| hark_shared::adapters::dynamo::outbox_ref(pk, sk));
    let (Some(outbox), Some(image)) = (outbox, record.dynamodb.new_image.as_ref()) else {
        return Err(Passed::NotOutbox);
    };
    let status = image.get("status").and_then(|a| a.s.as_deref()).unwrap_or_default();
    if OutboxStatus::parse(status) != Some(OutboxStatus::Pending) {
        return Err(Passed::NotPending(status.to_owned()));
    }
    // A record without a due time is not in the due index: nothing would ever send it,
    // so the claim decides (it refuses what is not due).
    let due_at = image.get("due_at").and_then(|a| a.n.as_deref()).and_then(|n| n.parse::<i64>().ok());
    match due_at {
        Some(at) if at > now.timestamp() => Err(Passed::NotDue(at)),
        _ => Ok(outbox),
    }
}

/// The partial batch response: the records whose delivery could not be recorded (the
/// table did not answer). Lambda retries the shard from the lowest of them.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct StreamResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn record(event: &str, sk: &str, image: Option<serde_json::Value>) -> StreamRecord {
        let mut change = json!({
            "Keys": {"pk": {"S": "CONV#x#acct#c1"}, "sk": {"S": sk}},
            "SequenceNumber": "100",
            "SizeBytes": 10,
            "StreamViewType": "NEW_IMAGE",
        });
        if let Some(image) = image {
            change["NewImage"] = image;
        }
        serde_json::from_value(json!({"eventName": event, "eventSource": "aws:dynamodb", "dynamodb": change})).unwrap()
    }

    fn image(status: &str, due_at: Option<i64>) -> serde_json::Value {
        let mut image = json!({
            "item_type": {"S": "outbox"},
            "status": {"S": status},
            "attempts": {"N": "0"},
            "customer_wrote_at": {"NULL": true},
            "labels": {"M": {"a": {"S": "b"}}},
        });
        if let Some(at) = due_at {
            image["due_at"] = json!({"N": at.to_string()});
        }
        image
    }

    #[test]
    fn only_pending_outbox_records_that_are_due_are_delivered() {
        let at = now().timestamp();
        let ack = "OUTBOX#ack#m1";
        let cases: Vec<(&str, StreamRecord, Result<&str, Passed>)> = vec![
            ("a new record, due at once", record("INSERT", ack, Some(image("pending", Some(at)))), Ok("m1")),
            ("written a moment ago", record("INSERT", ack, Some(image("pending", Some(at - 5)))), Ok("m1")),
            ("a retry, due: the sweep's", record("MODIFY", ack, Some(image("pending", Some(at)))), Err(Passed::NotNew)),
            ("no due time: the claim decides", record("INSERT", ack, Some(image("pending", None))), Ok("m1")),
            (
                "written due later",
                record("INSERT", ack, Some(image("pending", Some(at + 30)))),
                Err(Passed::NotDue(at + 30)),
            ),
            ("claimed", record("MODIFY", ack, Some(image("sending", Some(at + 61)))), Err(Passed::NotNew)),
            ("sent", record("MODIFY", ack, Some(image("sent", None))), Err(Passed::NotNew)),
            ("removed by its expiry", record("REMOVE", ack, None), Err(Passed::NotNew)),
            (
                "written already taken (a replay)",
                record("INSERT", ack, Some(image("sending", Some(at + 61)))),
                Err(Passed::NotPending("sending".into())),
            ),
            ("a conversation", record("INSERT", "CONV", Some(image("pending", Some(at)))), Err(Passed::NotOutbox)),
            (
                "an unknown purpose",
                record("INSERT", "OUTBOX#zz#m1", Some(image("pending", None))),
                Err(Passed::NotOutbox),
            ),
            ("keys only (the wrong view type)", record("INSERT", ack, None), Err(Passed::NotOutbox)),
        ];
        for (name, record, expected) in cases {
            let got = due_record(&record, now()).map(|r| r.key.id);
            assert_eq!(got, expected.map(str::to_owned), "{name}");
        }
    }

    #[test]
    fn a_batch_parses_from_lambdas_shape_and_the_answer_is_lambdas() {
        let batch: StreamBatch = serde_json::from_value(json!({"Records": [{
            "eventID": "1", "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_800_000_000.0,
                "Keys": {"pk": {"S": "CONV#x#acct#c1"}, "sk": {"S": "OUTBOX#fwd#all.m1"}},
                "NewImage": {"status": {"S": "pending"}, "due_at": {"N": "1800000000"}},
                "SequenceNumber": "4421584500000000017450439091", "SizeBytes": 26, "StreamViewType": "NEW_IMAGE"
            },
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/hark/stream/2026-12-04T00:00:00.000"
        }]}))
        .unwrap();
        let record = due_record(&batch.records[0], now()).unwrap();
        assert_eq!(record.key.id, "all.m1");
        assert_eq!(record.conversation.0, "x#acct#c1");
        let answer = StreamResponse { batch_item_failures: vec![ItemFailure { item_identifier: "44".into() }] };
        assert_eq!(serde_json::to_value(answer).unwrap(), json!({"batchItemFailures": [{"itemIdentifier": "44"}]}));
    }
}
