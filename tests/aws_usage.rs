//! The count of what Hark asks of AWS (the SDK interceptor on every client the functions
//! build) against DynamoDB Local and LocalStack: each answered request by operation, and the
//! capacity DynamoDB says each call consumed (in all, and by table and index), which it
//! reports because the interceptor asks.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use hark_shared::adapters::aws_usage::{UsageInterceptor, UsageTally};
use hark_tests::*;

fn item(pk: &str, text: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
        ("sk".to_owned(), AttributeValue::S("usage".to_owned())),
        ("text".to_owned(), AttributeValue::S(text.to_owned())),
    ])
}

#[tokio::test]
async fn every_answered_dynamodb_call_is_counted_with_the_units_it_consumed() {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let tally = UsageTally::default();
    let config =
        aws_sdk_dynamodb::config::Builder::from(&aws).interceptor(UsageInterceptor::new(tally.clone())).build();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(config);

    // A 2.5 KB item: three write units to put, one (eventually consistent) read to get.
    let text = "x".repeat(2_500);
    dynamodb.put_item().table_name(&table).set_item(Some(item("usage#1", &text))).send().await.unwrap();
    dynamodb
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("usage#1".into()))
        .key("sk", AttributeValue::S("usage".into()))
        .send()
        .await
        .unwrap();
    let put = |pk: &str| {
        TransactWriteItem::builder()
            .put(Put::builder().table_name(&table).set_item(Some(item(pk, "small"))).build().unwrap())
            .build()
    };
    dynamodb.transact_write_items().transact_items(put("usage#2")).transact_items(put("usage#3")).send().await.unwrap();
    // Refused: answered (and billed by AWS), but DynamoDB reports no capacity for it.
    let refused = dynamodb
        .put_item()
        .table_name(&table)
        .set_item(Some(item("usage#1", "again")))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    assert!(refused.is_err());

    // An item in the listing index: what the index took is told apart from the table's.
    let mut listed = item("usage#4", "listed");
    listed.insert("list_pk".to_owned(), AttributeValue::S("LIST#2026-12".into()));
    listed.insert("list_sk".to_owned(), AttributeValue::S("2026-12-05T00:00:00Z#usage#4".into()));
    dynamodb.put_item().table_name(&table).set_item(Some(listed)).send().await.unwrap();

    let usage = tally.take();
    assert_eq!(usage.requests["DynamoDB.PutItem"], 3, "{usage:?}");
    let by = |key: &str| usage.write_units_by.get(key).copied().unwrap_or_default();
    assert!(by("PutItem:table") >= 3.0 + 1.0 && by("PutItem:list-index") >= 1.0, "{usage:?}");
    assert!(by("TransactWriteItems:table") >= 2.0 && by("TransactWriteItems:list-index") == 0.0, "{usage:?}");
    let summed: f64 = usage.write_units_by.values().sum();
    assert!((summed - usage.write_units).abs() < 1e-9, "the parts add up to the total: {usage:?}");
    assert_eq!((usage.requests["DynamoDB.GetItem"], usage.requests["DynamoDB.TransactWriteItems"]), (1, 1));
    assert!(usage.write_units >= 3.0 + 2.0, "3 for the large item, at least 1 per transactional put: {usage:?}");
    assert!(usage.read_units >= 0.5, "{usage:?}");
    assert_eq!(tally.take(), Default::default(), "taken means counted once");
}

#[tokio::test]
async fn sqs_and_secrets_manager_calls_are_counted_and_a_call_nobody_answered_is_not() {
    let aws = aws_config().await;
    let tally = UsageTally::default();
    let counted = |builder: aws_sdk_sqs::config::Builder| {
        aws_sdk_sqs::Client::from_conf(builder.interceptor(UsageInterceptor::new(tally.clone())).build())
    };
    let sqs = counted(aws_sdk_sqs::config::Builder::from(&aws));
    let queues = create_queues(&aws, 30, 3).await;
    sqs.send_message()
        .queue_url(&queues.url)
        .message_body("{}")
        .message_group_id("g")
        .message_deduplication_id("d")
        .send()
        .await
        .unwrap();
    sqs.receive_message().queue_url(&queues.url).send().await.unwrap();
    let secrets = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(&aws).interceptor(UsageInterceptor::new(tally.clone())).build(),
    );
    let missing = secrets.get_secret_value().secret_id(unique("no-such-secret")).send().await;
    assert!(missing.is_err(), "an error answer is still an answered, billed request");

    // Nothing listens on this port: no answer, nothing billed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let unreachable = counted(
        aws_sdk_sqs::config::Builder::from(&aws)
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled()),
    );
    assert!(unreachable.send_message().queue_url(&queues.url).message_body("{}").send().await.is_err());

    let usage = tally.take();
    assert_eq!(usage.requests.get("SQS.SendMessage"), Some(&1), "{usage:?}");
    assert_eq!(usage.requests.get("SQS.ReceiveMessage"), Some(&1), "{usage:?}");
    assert_eq!(usage.requests.get("Secrets Manager.GetSecretValue"), Some(&1), "{usage:?}");
    assert_eq!((usage.read_units, usage.write_units), (0.0, 0.0));
}
