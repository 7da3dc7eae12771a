//! The adapters: the ports implemented against AWS (DynamoDB, SQS, SNS, Secrets Manager),
//! the HTTP client every platform client shares, the functions' logging, and the count of
//! what they ask of AWS.

pub mod aws_usage;
pub mod dynamo;
pub mod http;
pub mod secrets;
pub mod sns;
pub mod sqs;
pub mod telemetry;
