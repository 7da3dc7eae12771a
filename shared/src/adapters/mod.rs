//! The adapters: the ports implemented against AWS (DynamoDB, SQS, SNS, Secrets Manager),
//! the HTTP client every platform client shares, and the functions' logging.

pub mod dynamo;
pub mod http;
pub mod secrets;
pub mod sns;
pub mod sqs;
pub mod telemetry;
