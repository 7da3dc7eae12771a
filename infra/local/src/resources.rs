//! Creates, in the local engines, the table, queues, topics and secrets template.yaml declares, with the
//! properties it gives them, and records what `Ref`/`Fn::GetAtt` resolve to so the
//! functions' environment can be read from the same template.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::Error;
use crate::template::{Physical, Template, scalar};

/// A local replacement for one resource property, e.g. a short visibility timeout in tests.
#[derive(Debug, Clone)]
pub struct PropertyOverride {
    pub logical_id: String,
    pub property: String,
    pub value: Value,
}

impl std::str::FromStr for PropertyOverride {
    type Err = Error;
    /// `Resource.Property=value`; the value is JSON when it parses as JSON, a string otherwise.
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || Error::Usage(format!("--set {text:?}: expected Resource.Property=value"));
        let (path, value) = text.split_once('=').ok_or_else(bad)?;
        let (logical_id, property) = path.split_once('.').ok_or_else(bad)?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        Ok(PropertyOverride { logical_id: logical_id.to_owned(), property: property.to_owned(), value })
    }
}

/// Resolved properties of a resource, with local overrides applied.
pub fn properties(
    template: &Template,
    logical_id: &str,
    resource: &Value,
    overrides: &[PropertyOverride],
) -> Result<Value, Error> {
    let mut props = template.resolve(&resource["Properties"])?;
    for o in overrides.iter().filter(|o| o.logical_id == logical_id) {
        props[&o.property] = o.value.clone();
    }
    Ok(props)
}

/// Creates every resource the local engines stand in for. Secrets get `secret_values[logical id]`
/// when given (local credentials), else the template's `SecretString`.
pub async fn deploy(
    aws: &aws_config::SdkConfig,
    template: &mut Template,
    overrides: &[PropertyOverride],
    secret_values: &HashMap<String, String>,
) -> Result<(), Error> {
    let dynamodb = aws_sdk_dynamodb::Client::new(aws);
    for (id, resource) in template.resources_of_type("AWS::DynamoDB::Table")? {
        let props = properties(template, &id, &resource, overrides)?;
        let name = template.physical_name(&id);
        create_table(&dynamodb, &name, &props).await?;
        let described = dynamodb.describe_table().table_name(&name).send().await.map_err(|e| {
            Error::Aws(format!("DescribeTable {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
        })?;
        let table = described.table.ok_or_else(|| Error::Aws(format!("DescribeTable {name}: no table")))?;
        let arn = table.table_arn.ok_or_else(|| Error::Aws(format!("table {name} has no ARN")))?;
        let mut attributes = HashMap::from([("Arn".into(), arn)]);
        if let Some(stream) = table.latest_stream_arn {
            attributes.insert("StreamArn".into(), stream);
        }
        template.created(&id, Physical { reference: name, attributes });
    }

    // A queue whose redrive policy names another queue is created after it.
    let sqs = aws_sdk_sqs::Client::new(aws);
    let mut queues = template.resources_of_type("AWS::SQS::Queue")?;
    queues.sort_by_key(|(_, r)| r["Properties"].get("RedrivePolicy").is_some());
    for (id, resource) in queues {
        let props = properties(template, &id, &resource, overrides)?;
        let fifo = props["FifoQueue"] == true || props["FifoQueue"] == "true";
        let name = format!("{}{}", template.physical_name(&id), if fifo { ".fifo" } else { "" });
        let url = create_queue(&sqs, &name, &props).await?;
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| aws_error("GetQueueAttributes", e))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .ok_or_else(|| Error::Aws(format!("queue {name} has no ARN")))?;
        let attributes =
            HashMap::from([("Arn".into(), arn), ("QueueUrl".into(), url.clone()), ("QueueName".into(), name)]);
        template.created(&id, Physical { reference: url, attributes });
    }

    let sns = aws_sdk_sns::Client::new(aws);
    for (id, resource) in template.resources_of_type("AWS::SNS::Topic")? {
        let props = properties(template, &id, &resource, overrides)?;
        let fifo = props["FifoTopic"] == true;
        let name = format!("{}{}", template.physical_name(&id), if fifo { ".fifo" } else { "" });
        let mut request = sns.create_topic().name(&name);
        if fifo {
            request = request.attributes("FifoTopic", "true");
        }
        let arn = request.send().await.map_err(|e| aws_error("CreateTopic", e))?.topic_arn.unwrap_or_default();
        let attributes = HashMap::from([("TopicArn".into(), arn.clone()), ("TopicName".into(), name)]);
        template.created(&id, Physical { reference: arn, attributes });
    }

    let secrets = aws_sdk_secretsmanager::Client::new(aws);
    for (id, resource) in template.resources_of_type("AWS::SecretsManager::Secret")? {
        let props = properties(template, &id, &resource, overrides)?;
        let value = secret_values.get(&id).cloned().unwrap_or_else(|| scalar(&props["SecretString"]));
        let name = template.physical_name(&id);
        let arn = match secrets.create_secret().name(&name).secret_string(&value).send().await {
            Ok(out) => out.arn.unwrap_or_default(),
            // A reused engine keeps the secret from the last run: refresh its value.
            Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => {
                let out = secrets.put_secret_value().secret_id(&name).secret_string(&value).send().await;
                out.map_err(|e| aws_error("PutSecretValue", e))?.arn.unwrap_or_default()
            }
            Err(e) => return Err(aws_error("CreateSecret", e)),
        };
        template.created(&id, Physical { reference: arn, attributes: HashMap::from([("Id".into(), name)]) });
    }
    Ok(())
}

fn aws_error<E: std::error::Error + Send + Sync + 'static, R: std::fmt::Debug>(
    operation: &str,
    error: aws_sdk_sqs::error::SdkError<E, R>,
) -> Error {
    Error::Aws(format!("{operation}: {}", aws_sdk_sqs::error::DisplayErrorContext(error)))
}

fn key_schema(value: &Value) -> Result<Vec<KeySchemaElement>, Error> {
    value
        .as_array()
        .ok_or_else(|| Error::Template("KeySchema must be a list".into()))?
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(scalar(&k["AttributeName"]))
                .key_type(KeyType::from(scalar(&k["KeyType"]).as_str()))
                .build()
                .map_err(|e| Error::Template(format!("KeySchema: {e}")))
        })
        .collect()
}

/// A table with the keys, attribute types, indexes and TTL of an `AWS::DynamoDB::Table`.
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, props: &Value) -> Result<(), Error> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&props["KeySchema"])?));
    for attr in props["AttributeDefinitions"].as_array().into_iter().flatten() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(scalar(&attr["AttributeName"]))
                .attribute_type(ScalarAttributeType::from(scalar(&attr["AttributeType"]).as_str()))
                .build()
                .map_err(|e| Error::Template(format!("AttributeDefinitions: {e}")))?,
        );
    }
    for index in props["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
        let projection = &index["Projection"];
        let non_key = projection["NonKeyAttributes"].as_array().map(|attrs| attrs.iter().map(scalar).collect());
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(scalar(&index["IndexName"]))
                .set_key_schema(Some(key_schema(&index["KeySchema"])?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(scalar(&projection["ProjectionType"]).as_str()))
                        .set_non_key_attributes(non_key)
                        .build(),
                )
                .build()
                .map_err(|e| Error::Template(format!("GlobalSecondaryIndexes: {e}")))?,
        );
    }
    let stream = match props["StreamSpecification"]["StreamViewType"].as_str() {
        Some(view) => Some(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view))
                .build()
                .map_err(|e| Error::Template(format!("StreamSpecification: {e}")))?,
        ),
        None => None,
    };
    match request.set_stream_specification(stream.clone()).send().await {
        Ok(_) => {}
        // Reusing an engine from an earlier run: keep its data, and give it the stream a
        // table from before streams may lack.
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => {
            let described = client.describe_table().table_name(name).send().await.map_err(|e| {
                Error::Aws(format!("DescribeTable {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
            })?;
            let has_stream = described.table.and_then(|t| t.stream_specification).is_some_and(|s| s.stream_enabled);
            if let (Some(stream), false) = (stream, has_stream) {
                client.update_table().table_name(name).stream_specification(stream).send().await.map_err(|e| {
                    Error::Aws(format!("UpdateTable {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
                })?;
            }
            return Ok(());
        }
        Err(e) => {
            return Err(Error::Aws(format!("CreateTable {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e))));
        }
    }
    let ttl = &props["TimeToLiveSpecification"];
    if ttl["Enabled"] == true {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(scalar(&ttl["AttributeName"]))
                    .enabled(true)
                    .build()
                    .map_err(|e| Error::Template(format!("TimeToLiveSpecification: {e}")))?,
            )
            .send()
            .await
            .map_err(|e| {
                Error::Aws(format!("UpdateTimeToLive {name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
            })?;
    }
    Ok(())
}

/// A queue with the attributes of an `AWS::SQS::Queue`; returns its URL.
pub async fn create_queue(client: &aws_sdk_sqs::Client, name: &str, props: &Value) -> Result<String, Error> {
    let mut request = client.create_queue().queue_name(name);
    for (property, attribute) in [
        ("FifoQueue", QueueAttributeName::FifoQueue),
        ("ContentBasedDeduplication", QueueAttributeName::ContentBasedDeduplication),
        ("DeduplicationScope", QueueAttributeName::DeduplicationScope),
        ("FifoThroughputLimit", QueueAttributeName::FifoThroughputLimit),
        ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
        ("MessageRetentionPeriod", QueueAttributeName::MessageRetentionPeriod),
        ("DelaySeconds", QueueAttributeName::DelaySeconds),
        ("MaximumMessageSize", QueueAttributeName::MaximumMessageSize),
        ("ReceiveMessageWaitTimeSeconds", QueueAttributeName::ReceiveMessageWaitTimeSeconds),
        ("SqsManagedSseEnabled", QueueAttributeName::SqsManagedSseEnabled),
    ] {
        if let Some(value) = props.get(property).filter(|v| !v.is_null()) {
            request = request.attributes(attribute, scalar(value));
        }
    }
    if let Some(redrive) = props.get("RedrivePolicy").filter(|v| !v.is_null()) {
        let redrive = serde_json::json!({
            "deadLetterTargetArn": scalar(&redrive["deadLetterTargetArn"]),
            "maxReceiveCount": scalar(&redrive["maxReceiveCount"]).parse::<u32>()
                .map_err(|_| Error::Template(format!("{name}: RedrivePolicy.maxReceiveCount is not a number")))?,
        });
        request = request.attributes(QueueAttributeName::RedrivePolicy, redrive.to_string());
    }
    let out = request
        .send()
        .await
        .map_err(|e| Error::Aws(format!("CreateQueue {name}: {}", aws_sdk_sqs::error::DisplayErrorContext(e))))?;
    out.queue_url.ok_or_else(|| Error::Aws(format!("CreateQueue {name}: no URL in the answer")))
}
