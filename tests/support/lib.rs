//! Test support: a moto server (real AWS SDK clients over HTTP), resources created as
//! template.yaml declares them, and a local X API that records what Hark sends.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{DateTime, Utc};
use hark_shared::ports::Clock;
use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository").to_path_buf()
}

struct MotoServer {
    endpoint: String,
    // Holding stdin open keeps the server alive; it exits when this test process does.
    _guard: Child,
}

/// One moto server per test binary. `HARK_MOTO_ENDPOINT` reuses a running one.
pub fn moto_endpoint() -> &'static str {
    static SERVER: OnceLock<MotoServer> = OnceLock::new();
    &SERVER
        .get_or_init(|| {
            if let Ok(endpoint) = std::env::var("HARK_MOTO_ENDPOINT") {
                let guard = Command::new("true").spawn().expect("spawn");
                return MotoServer { endpoint, _guard: guard };
            }
            let python = repo_root().join(".venv/bin/python");
            let script = repo_root().join("infra/moto_server.py");
            assert!(python.exists(), "{} is missing: run infra/venv.sh (infra/test.sh does)", python.display());
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            // The shell stops moto when our end of its stdin closes, i.e. when this process exits.
            let guard = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "'{}' '{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid",
                    python.display(),
                    script.display()
                ))
                .stdin(Stdio::piped())
                .spawn()
                .expect("start moto_server");
            let deadline = Instant::now() + Duration::from_secs(30);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "moto_server did not start on port {port}");
                std::thread::sleep(Duration::from_millis(100));
            }
            MotoServer { endpoint: format!("http://127.0.0.1:{port}"), _guard: guard }
        })
        .endpoint
}

pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// template.yaml, parsed; CloudFormation's short-form tags (!Ref, !Sub, …) come through as tagged values.
pub fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).expect("read template.yaml");
    let yaml: serde_norway::Value = serde_norway::from_str(&text).expect("template.yaml parses");
    serde_json::to_value(yaml).expect("template converts to JSON")
}

pub fn resource_properties(logical_id: &str) -> Value {
    template()["Resources"][logical_id]["Properties"].clone()
}

fn key_schema(value: &Value) -> Vec<KeySchemaElement> {
    value
        .as_array()
        .expect("KeySchema")
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str().unwrap())
                .key_type(KeyType::from(k["KeyType"].as_str().unwrap()))
                .build()
                .unwrap()
        })
        .collect()
}

/// Creates a table with the keys, attribute types and indexes template.yaml gives `Table`.
pub async fn create_table(aws: &aws_config::SdkConfig) -> String {
    let props = resource_properties("Table");
    let name = unique("hark-table");
    let client = aws_sdk_dynamodb::Client::new(aws);
    let mut request = client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&props["KeySchema"])));
    for attr in props["AttributeDefinitions"].as_array().unwrap() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr["AttributeName"].as_str().unwrap())
                .attribute_type(ScalarAttributeType::from(attr["AttributeType"].as_str().unwrap()))
                .build()
                .unwrap(),
        );
    }
    for index in props["GlobalSecondaryIndexes"].as_array().unwrap() {
        let projection = &index["Projection"];
        let non_key = projection["NonKeyAttributes"]
            .as_array()
            .map(|attrs| attrs.iter().map(|a| a.as_str().unwrap().to_owned()).collect());
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index["IndexName"].as_str().unwrap())
                .set_key_schema(Some(key_schema(&index["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(projection["ProjectionType"].as_str().unwrap()))
                        .set_non_key_attributes(non_key)
                        .build(),
                )
                .build()
                .unwrap(),
        );
    }
    request.send().await.expect("create table");
    name
}

pub struct Queues {
    pub url: String,
    pub dlq_url: String,
}

/// A FIFO queue with its dead-letter queue, as template.yaml declares `MentionsQueue`;
/// visibility and receive count are the test's, to keep tests fast.
pub async fn create_queues(aws: &aws_config::SdkConfig, visibility_secs: u32, max_receive: u32) -> Queues {
    let props = resource_properties("MentionsQueue");
    assert_eq!(props["FifoQueue"], Value::Bool(true), "the template's queue is FIFO");
    let client = aws_sdk_sqs::Client::new(aws);
    let name = unique("hark-mentions");
    let dlq = client
        .create_queue()
        .queue_name(format!("{name}-dlq.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .expect("create DLQ");
    let dlq_url = dlq.queue_url().unwrap().to_owned();
    let dlq_arn = queue_arn(aws, &dlq_url).await;
    let queue = client
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(
            QueueAttributeName::ContentBasedDeduplication,
            props["ContentBasedDeduplication"].as_bool().unwrap().to_string(),
        )
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_secs.to_string())
        .attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive}).to_string(),
        )
        .send()
        .await
        .expect("create queue");
    Queues { url: queue.queue_url().unwrap().to_owned(), dlq_url }
}

pub async fn queue_arn(aws: &aws_config::SdkConfig, url: &str) -> String {
    aws_sdk_sqs::Client::new(aws)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone()
}

/// Everything currently receivable on a queue (bounded, so a test can never hang here).
pub async fn drain(aws: &aws_config::SdkConfig, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let client = aws_sdk_sqs::Client::new(aws);
    let mut all = Vec::new();
    for _ in 0..20 {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in &messages {
            client.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
        all.extend(messages);
    }
    all
}

/// An SNS topic with an SQS queue subscribed, so tests can read what was published.
pub async fn create_topic_with_inbox(aws: &aws_config::SdkConfig) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(aws);
    let topic = sns.create_topic().name(unique("hark-escalations")).send().await.unwrap();
    let topic_arn = topic.topic_arn().unwrap().to_owned();
    let inbox = aws_sdk_sqs::Client::new(aws).create_queue().queue_name(unique("hark-inbox")).send().await.unwrap();
    let inbox_url = inbox.queue_url().unwrap().to_owned();
    let inbox_arn = queue_arn(aws, &inbox_url).await;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(inbox_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    (topic_arn, inbox_url)
}

/// A clock tests move by hand.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        TestClock(Arc::new(Mutex::new(t)))
    }
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = t;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

/// One request the local X API received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

/// A scripted answer; when the script is empty the API answers 201 like X does.
#[derive(Debug, Clone)]
pub struct ScriptedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

#[derive(Default)]
struct XApiState {
    requests: Vec<RecordedRequest>,
    script: std::collections::VecDeque<ScriptedResponse>,
    next_id: u64,
}

/// A local server speaking the X API v2 shapes Hark uses: `POST /2/tweets` and
/// `POST /2/dm_conversations/with/:participant_id/messages`.
#[derive(Clone)]
pub struct LocalXApi {
    pub base_url: String,
    state: Arc<Mutex<XApiState>>,
}

impl LocalXApi {
    pub async fn start() -> Self {
        use axum::extract::{Path as UrlPath, State};
        use axum::http::{HeaderMap, StatusCode};
        use axum::response::IntoResponse;
        use axum::routing::post;

        type Shared = Arc<Mutex<XApiState>>;
        fn answer(
            state: &Shared,
            path: String,
            headers: &HeaderMap,
            body: Value,
            dm: bool,
        ) -> axum::response::Response {
            let mut s = state.lock().unwrap();
            s.requests.push(RecordedRequest {
                path,
                authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
                body,
            });
            if let Some(scripted) = s.script.pop_front() {
                let mut response =
                    (StatusCode::from_u16(scripted.status).unwrap(), axum::Json(scripted.body)).into_response();
                for (name, value) in scripted.headers {
                    response
                        .headers_mut()
                        .insert(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
                }
                return response;
            }
            s.next_id += 1;
            let id = format!("{}", 1_900_000_000_000_000_000u64 + s.next_id);
            let data = if dm {
                serde_json::json!({"data": {"dm_conversation_id": "1-2", "dm_event_id": id}})
            } else {
                serde_json::json!({"data": {"id": id, "text": "ok"}})
            };
            (StatusCode::CREATED, axum::Json(data)).into_response()
        }

        let state: Shared = Arc::default();
        let app = axum::Router::new()
            .route(
                "/2/tweets",
                post(|State(s): State<Shared>, headers: HeaderMap, axum::Json(body): axum::Json<Value>| async move {
                    answer(&s, "/2/tweets".into(), &headers, body, false)
                }),
            )
            .route(
                "/2/dm_conversations/with/{participant}/messages",
                post(
                    |State(s): State<Shared>,
                     UrlPath(participant): UrlPath<String>,
                     headers: HeaderMap,
                     axum::Json(body): axum::Json<Value>| async move {
                        answer(&s, format!("/2/dm_conversations/with/{participant}/messages"), &headers, body, true)
                    },
                ),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        LocalXApi { base_url, state }
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn respond_next(&self, response: ScriptedResponse) {
        self.state.lock().unwrap().script.push_back(response);
    }
}

/// Every item of one `item_type` (a test-only scan; Hark itself never scans).
pub async fn items_of_type(
    aws: &aws_config::SdkConfig,
    table: &str,
    item_type: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let out = aws_sdk_dynamodb::Client::new(aws)
        .scan()
        .table_name(table)
        .filter_expression("item_type = :t")
        .expression_attribute_values(":t", aws_sdk_dynamodb::types::AttributeValue::S(item_type.to_owned()))
        .send()
        .await
        .unwrap();
    out.items.unwrap_or_default()
}

pub fn attr_s(item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>, name: &str) -> String {
    item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

/// An SQS event as Lambda delivers it, one record per (message id, mention).
pub fn sqs_event(records: &[(&str, &hark_shared::mention::Mention)]) -> aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, mention)| {
            serde_json::json!({
                "messageId": id,
                "receiptHandle": format!("receipt-{id}"),
                "body": serde_json::to_string(mention).unwrap(),
                "attributes": {"MessageGroupId": mention.queue_group_id(), "ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

/// A customer message as the webhook would normalise it.
pub fn mention(id: &str, customer: &str, text: &str, at: DateTime<Utc>) -> hark_shared::mention::Mention {
    use hark_shared::mention::{Author, Channel, Direction, Mention, MentionKind};
    Mention {
        channel: Channel::X,
        account_id: BRAND.to_owned(),
        direction: Direction::Inbound,
        kind: MentionKind::Post,
        message_id: id.to_owned(),
        parent_id: None,
        parent_author_id: None,
        quoted_id: None,
        author: Author {
            id: customer.to_owned(),
            handle: Some(format!("user{customer}")),
            name: Some(format!("Pat {customer}")),
            followers: Some(150),
            verified: false,
        },
        customer_id: customer.to_owned(),
        text: text.to_owned(),
        language: Some("en".into()),
        created_at: at,
        received_at: at,
        raw_ref: format!("test#{id}"),
    }
}

pub const BRAND: &str = "2244994945";
pub const BRAND_TOKEN: &str = "brand-user-token";

pub type TestProcessor = hark_processor::Processor<
    hark_shared::dynamo::DynamoStore,
    hark_shared::x_api::XApiClient,
    hark_shared::sqs::SqsQueue,
>;

/// The real processor over moto and the local X API.
pub fn processor(
    aws: &aws_config::SdkConfig,
    table: &str,
    queue_url: &str,
    x_api: &LocalXApi,
    clock: TestClock,
) -> TestProcessor {
    use hark_shared::secrets::Secret;
    hark_processor::Processor {
        store: hark_shared::dynamo::DynamoStore::from_config(aws, table),
        replies: hark_shared::x_api::XApiClient::new(
            &x_api.base_url,
            std::collections::HashMap::from([(BRAND.to_owned(), Secret::new(BRAND_TOKEN))]),
        )
        .unwrap(),
        redelivery: hark_shared::sqs::SqsQueue::from_config(aws, queue_url),
        classifier: Box::new(hark_shared::classify::KeywordClassifier),
        templates: hark_shared::reply::AckTemplates::from_json(hark_shared::reply::DEFAULT_TEMPLATES_JSON, "^HK")
            .unwrap(),
        sla: hark_shared::sla::SlaPolicies { x: hark_shared::sla::SlaPolicy::X_DEFAULT },
        due_shards: 4,
        clock: Box::new(clock),
    }
}
