//! What the functions ask of AWS, counted where the SDK sends it: requests per service and
//! operation, and the DynamoDB capacity each answer says it consumed. An SDK interceptor
//! on every client Hark builds does the counting, so no adapter can forget it; the
//! functions' metrics line carries the figures out with each invocation (plain properties,
//! not metrics, so they cost no CloudWatch series), where `hark-local cost` sums them
//! locally and Logs Insights can sum them in a deployment.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex};

use aws_sdk_dynamodb::config::ConfigBag;
use aws_sdk_dynamodb::operation as ddb;
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use serde::{Deserialize, Serialize};

/// Requests answered, by `Service.Operation`, and DynamoDB's consumed units.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AwsUsage {
    #[serde(rename = "AwsRequests", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, u64>,
    #[serde(rename = "DynamoDbReadUnits", default)]
    pub read_units: f64,
    #[serde(rename = "DynamoDbWriteUnits", default)]
    pub write_units: f64,
    /// Where the write units went, by `Operation:target` (`TransactWriteItems:table`,
    /// `UpdateItem:list-index`): what to narrow is read off this, not guessed.
    #[serde(rename = "DynamoDbWriteUnitsBy", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub write_units_by: BTreeMap<String, f64>,
}

impl AwsUsage {
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.read_units == 0.0 && self.write_units == 0.0
    }

    pub fn add(&mut self, other: &AwsUsage) {
        for (operation, count) in &other.requests {
            *self.requests.entry(operation.clone()).or_default() += count;
        }
        self.read_units += other.read_units;
        self.write_units += other.write_units;
        for (spent_on, units) in &other.write_units_by {
            *self.write_units_by.entry(spent_on.clone()).or_default() += units;
        }
    }

    /// What was counted since `earlier`, a reading of the same tally.
    pub fn since(&self, earlier: &AwsUsage) -> AwsUsage {
        AwsUsage {
            requests: self
                .requests
                .iter()
                .map(|(op, n)| (op.clone(), n.saturating_sub(earlier.requests.get(op).copied().unwrap_or_default())))
                .filter(|(_, n)| *n > 0)
                .collect(),
            read_units: (self.read_units - earlier.read_units).max(0.0),
            write_units: (self.write_units - earlier.write_units).max(0.0),
            write_units_by: self
                .write_units_by
                .iter()
                .map(|(on, units)| (on.clone(), units - earlier.write_units_by.get(on).copied().unwrap_or_default()))
                .filter(|(_, units)| *units > 0.0)
                .collect(),
        }
    }

    /// DynamoDB requests that read (they consume read units; every other call write units).
    pub fn dynamodb_reads(&self) -> u64 {
        DYNAMODB_READS.iter().map(|op| self.requests.get(&format!("DynamoDB.{op}")).copied().unwrap_or_default()).sum()
    }

    /// Write units summed by one side of their `Operation:target` key: `0` the operation,
    /// `1` the table (`table`) or index.
    pub fn write_units_by_part(&self, part: usize) -> BTreeMap<&str, f64> {
        let mut by: BTreeMap<&str, f64> = BTreeMap::new();
        for (key, units) in &self.write_units_by {
            if let Some(name) = key.split(':').nth(part) {
                *by.entry(name).or_default() += units;
            }
        }
        by
    }

    /// Requests to one service (`"DynamoDB"`), every operation.
    pub fn requests_to(&self, service: &str) -> u64 {
        self.requests.iter().filter(|(key, _)| key.split('.').next() == Some(service)).map(|(_, n)| n).sum()
    }
}

/// A running count that interceptors add to and the metrics line drains.
#[derive(Debug, Clone, Default)]
pub struct UsageTally(Arc<Mutex<AwsUsage>>);

impl UsageTally {
    /// The count the process's clients share: a Lambda environment runs one invocation at a
    /// time, so what is drained at the end of an invocation is that invocation's.
    pub fn process() -> &'static UsageTally {
        static PROCESS: LazyLock<UsageTally> = LazyLock::new(UsageTally::default);
        &PROCESS
    }

    /// Everything counted since the last take.
    pub fn take(&self) -> AwsUsage {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Everything counted since the last take, left in place.
    pub fn snapshot(&self) -> AwsUsage {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn with(&self, change: impl FnOnce(&mut AwsUsage)) {
        change(&mut self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    }
}

/// Counts each attempt AWS answered (AWS bills answered requests, errors included) and asks
/// DynamoDB for the capacity each call consumed.
#[derive(Debug, Clone)]
pub struct UsageInterceptor {
    tally: UsageTally,
}

impl UsageInterceptor {
    pub fn new(tally: UsageTally) -> Self {
        UsageInterceptor { tally }
    }
}

/// The DynamoDB operations whose units are reads, by name, as `dynamodb_operations!` marks
/// them `Read` (a test keeps the two in step).
const DYNAMODB_READS: [&str; 5] = ["GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"];

/// Every DynamoDB operation Hark calls, with whether its units are reads or writes.
macro_rules! dynamodb_operations {
    ($callback:ident) => {
        $callback! {
            (ddb::get_item::GetItemInput, ddb::get_item::GetItemOutput, Read),
            (ddb::query::QueryInput, ddb::query::QueryOutput, Read),
            (ddb::scan::ScanInput, ddb::scan::ScanOutput, Read),
            (ddb::batch_get_item::BatchGetItemInput, ddb::batch_get_item::BatchGetItemOutput, Read),
            (ddb::transact_get_items::TransactGetItemsInput, ddb::transact_get_items::TransactGetItemsOutput, Read),
            (ddb::put_item::PutItemInput, ddb::put_item::PutItemOutput, Write),
            (ddb::update_item::UpdateItemInput, ddb::update_item::UpdateItemOutput, Write),
            (ddb::delete_item::DeleteItemInput, ddb::delete_item::DeleteItemOutput, Write),
            (ddb::batch_write_item::BatchWriteItemInput, ddb::batch_write_item::BatchWriteItemOutput, Write),
            (ddb::transact_write_items::TransactWriteItemsInput, ddb::transact_write_items::TransactWriteItemsOutput, Write)
        }
    };
}

enum Units {
    Read,
    Write,
}

/// `INDEXES` on every DynamoDB input that takes it: the total, and what the table and each
/// index took of it.
macro_rules! ask_for_capacity {
    ($(($input:path, $output:path, $units:ident)),*) => {
        fn ask_for_capacity(input: &mut aws_smithy_runtime_api::client::interceptors::context::Input) {
            $(if let Some(input) = input.downcast_mut::<$input>() {
                input.return_consumed_capacity.get_or_insert(ReturnConsumedCapacity::Indexes);
                return;
            })*
        }
    };
}
dynamodb_operations!(ask_for_capacity);

/// The capacity a DynamoDB answer reports, as reads or writes.
macro_rules! consumed_capacity {
    ($(($input:path, $output:path, $units:ident)),*) => {
        fn consumed_capacity(output: &aws_smithy_runtime_api::client::interceptors::context::Output) -> Option<(Units, Spent)> {
            $(if let Some(output) = output.downcast_ref::<$output>() {
                return Some((Units::$units, output.consumed_capacity.spent()));
            })*
            None
        }
    };
}
dynamodb_operations!(consumed_capacity);

/// What one answer consumed: the total, and by table (`table`) and index.
#[derive(Debug, Default, PartialEq)]
struct Spent {
    total: f64,
    by_target: Vec<(String, f64)>,
}

impl Spent {
    fn add(&mut self, capacity: &ConsumedCapacity) {
        self.total += capacity.capacity_units.unwrap_or_default();
        let units = |c: &aws_sdk_dynamodb::types::Capacity| c.capacity_units.unwrap_or_default();
        if let Some(table) = &capacity.table {
            self.by_target.push(("table".to_owned(), units(table)));
        }
        let indexes = capacity.global_secondary_indexes.iter().chain(&capacity.local_secondary_indexes);
        for (index, capacity) in indexes.flatten() {
            self.by_target.push((index.clone(), units(capacity)));
        }
    }
}

/// A single answer reports one `ConsumedCapacity`; batches and transactions one per table.
trait Capacity {
    fn spent(&self) -> Spent;
}
impl Capacity for Option<ConsumedCapacity> {
    fn spent(&self) -> Spent {
        let mut spent = Spent::default();
        self.iter().for_each(|c| spent.add(c));
        spent
    }
}
impl Capacity for Option<Vec<ConsumedCapacity>> {
    fn spent(&self) -> Spent {
        let mut spent = Spent::default();
        self.iter().flatten().for_each(|c| spent.add(c));
        spent
    }
}

impl Intercept for UsageInterceptor {
    fn name(&self) -> &'static str {
        "HarkUsage"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        ask_for_capacity(context.input_mut());
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(output) = context.output_or_error()
            && let Some((units, spent)) = consumed_capacity(output)
        {
            let operation = cfg.load::<Metadata>().map(|m| m.name().to_owned()).unwrap_or_default();
            self.tally.with(|usage| match units {
                Units::Read => usage.read_units += spent.total,
                Units::Write => {
                    usage.write_units += spent.total;
                    for (target, units) in spent.by_target {
                        *usage.write_units_by.entry(format!("{operation}:{target}")).or_default() += units;
                    }
                }
            });
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.response().is_some()
            && let Some(metadata) = cfg.load::<Metadata>()
        {
            let key = format!("{}.{}", metadata.service(), metadata.name());
            self.tally.with(|usage| *usage.requests.entry(key).or_default() += 1);
        }
        Ok(())
    }
}

/// The clients Hark's functions use, each counting into the process's tally.
pub mod clients {
    use super::{UsageInterceptor, UsageTally};

    fn interceptor() -> UsageInterceptor {
        UsageInterceptor::new(UsageTally::process().clone())
    }

    pub fn dynamodb(aws: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(aws).interceptor(interceptor()).build(),
        )
    }

    pub fn sqs(aws: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(aws).interceptor(interceptor()).build())
    }

    pub fn sns(aws: &aws_config::SdkConfig) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::from_conf(aws_sdk_sns::config::Builder::from(aws).interceptor(interceptor()).build())
    }

    pub fn secrets_manager(aws: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(aws).interceptor(interceptor()).build(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_reads_are_the_operations_marked_read() {
        macro_rules! marked_read {
            ($(($input:path, $output:path, $units:ident)),*) => {
                [$((stringify!($input), stringify!($units))),*]
                    .into_iter()
                    .filter(|(_, units)| *units == "Read")
                    .map(|(input, _)| input.rsplit("::").next().unwrap().trim().trim_end_matches("Input").to_owned())
                    .collect::<Vec<String>>()
            };
        }
        let marked = dynamodb_operations!(marked_read);
        assert_eq!(marked, DYNAMODB_READS.map(String::from).to_vec());
    }
}
