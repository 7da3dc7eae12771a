//! Test support: the local engines (real AWS SDK clients over HTTP to DynamoDB Local and
//! LocalStack), resources created as template.yaml declares them, and the local X API and
//! Graph API that check and record what Hark sends.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{DateTime, Utc};
pub use hark_local::graph_api::{self, GraphRequest, LocalGraphApi};
pub use hark_local::resources::{self, PropertyOverride};
pub use hark_local::template::Template;
pub use hark_local::x_api::{LocalXApi, RecordedRequest, ScriptedResponse};
use hark_shared::ports::Clock;
use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the repository").to_path_buf()
}

/// The local engines for this test binary: DynamoDB Local and LocalStack, started once (on
/// free ports) and stopped when the process exits. `HARK_DYNAMODB_ENDPOINT` and
/// `HARK_AWS_ENDPOINT` reuse running ones instead.
pub fn engines() -> &'static hark_local::engines::Endpoints {
    static ENGINES: OnceLock<hark_local::engines::Engines> = OnceLock::new();
    &ENGINES
        .get_or_init(|| {
            let options = hark_local::engines::EngineOptions {
                dynamodb_endpoint: std::env::var("HARK_DYNAMODB_ENDPOINT").ok(),
                aws_endpoint: std::env::var("HARK_AWS_ENDPOINT").ok(),
                dynamodb_port: 0,
                aws_port: 0,
                log_dir: repo_root().join("target/test-engines").join(std::process::id().to_string()),
            };
            hark_local::engines::Engines::start_or_reuse(&repo_root(), &options)
                .unwrap_or_else(|e| panic!("the local engines: {e} (infra/engines.sh installs them)"))
        })
        .endpoints
}

/// Real AWS SDK clients against the local engines.
pub async fn aws_config() -> aws_config::SdkConfig {
    hark_local::aws_config(engines()).await
}

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// template.yaml as the local stack reads it, for a stack of its own.
pub fn template(stack_name: &str, parameters: &[(&str, &str)]) -> Template {
    let parameters: Vec<_> = parameters.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Template::load(&repo_root().join("template.yaml"), stack_name, &parameters).expect("template.yaml loads")
}

/// A table created as template.yaml declares `Table` (keys, indexes, TTL).
pub async fn create_table(aws: &aws_config::SdkConfig) -> String {
    let template = template(&unique("hark"), &[]);
    let name = template.physical_name("Table");
    let (_, table) = template.resources_of_type("AWS::DynamoDB::Table").unwrap().remove(0);
    let mut props = resources::properties(&template, "Table", &table, &[]).unwrap();
    // No function reads these tables' stream here (the end-to-end tests' stacks have
    // theirs): DynamoDB Local keeping one for every test's table only slows the rest.
    props.as_object_mut().expect("properties").remove("StreamSpecification");
    resources::create_table(&aws_sdk_dynamodb::Client::new(aws), &name, &props).await.expect("create table");
    name
}

pub struct Queues {
    pub url: String,
    pub dlq_url: String,
}

/// The FIFO queue and its dead-letter queue as template.yaml declares them; the visibility
/// timeout and receive count are the test's, to keep tests fast.
pub async fn create_queues(aws: &aws_config::SdkConfig, visibility_secs: u32, max_receive: u32) -> Queues {
    let mut template = template(&unique("hark"), &[("MaxReceiveCount", &max_receive.to_string())]);
    let visibility = PropertyOverride {
        logical_id: "MentionsQueue".into(),
        property: "VisibilityTimeout".into(),
        value: visibility_secs.into(),
    };
    resources::deploy(aws, &mut template, &[visibility], &Default::default()).await.expect("create queues");
    let url = |id: &str| template.physical(id).expect("queue created").reference.clone();
    Queues { url: url("MentionsQueue"), dlq_url: url("MentionsDeadLetterQueue") }
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

/// What reached `url` until `expected` messages arrived or `limit` passed, whichever is
/// first. Each receive deletes what it read, so what arrived is kept across the attempts:
/// a wait that started over would lose the messages of its earlier tries.
pub async fn drain_until(
    aws: &aws_config::SdkConfig,
    url: &str,
    expected: usize,
    limit: std::time::Duration,
) -> Vec<aws_sdk_sqs::types::Message> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut got = Vec::new();
    loop {
        got.extend(drain(aws, url).await);
        if got.len() >= expected || tokio::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// An SNS topic with an SQS queue subscribed, so tests can read what was published.
pub async fn create_topic_with_inbox(aws: &aws_config::SdkConfig) -> (String, String) {
    let topic = aws_sdk_sns::Client::new(aws).create_topic().name(unique("hark-escalations")).send().await.unwrap();
    let topic_arn = topic.topic_arn().unwrap().to_owned();
    let inbox_url = subscribe_inbox(aws, &topic_arn).await;
    (topic_arn, inbox_url)
}

/// Subscribes a new SQS queue to a topic (raw delivery); returns the queue's URL.
pub async fn subscribe_inbox(aws: &aws_config::SdkConfig, topic_arn: &str) -> String {
    let inbox = aws_sdk_sqs::Client::new(aws).create_queue().queue_name(unique("hark-inbox")).send().await.unwrap();
    let inbox_url = inbox.queue_url().unwrap().to_owned();
    let inbox_arn = queue_arn(aws, &inbox_url).await;
    aws_sdk_sns::Client::new(aws)
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(inbox_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    inbox_url
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
pub fn sqs_event(
    records: &[(&str, &hark_shared::domain::mention::Mention)],
) -> aws_lambda_events::event::sqs::SqsEvent {
    sqs_event_received(records, 1)
}

/// The same, each record received for the `receive_count`th time.
pub fn sqs_event_received(
    records: &[(&str, &hark_shared::domain::mention::Mention)],
    receive_count: u32,
) -> aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, mention)| {
            serde_json::json!({
                "messageId": id,
                "receiptHandle": format!("receipt-{id}"),
                "body": serde_json::to_string(mention).unwrap(),
                "attributes": {
                    "MessageGroupId": mention.queue_group_id(),
                    "ApproximateReceiveCount": receive_count.to_string(),
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

/// A customer message as the webhook would normalise it.
pub fn mention(id: &str, customer: &str, text: &str, at: DateTime<Utc>) -> hark_shared::domain::mention::Mention {
    use hark_shared::domain::mention::{Author, Channel, Direction, Mention, MentionKind};
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
        action: Default::default(),
        standby: false,
        automated: None,
        text_source: None,
        listening: false,
    }
}

pub const BRAND: &str = "2244994945";

pub type TestXClient = hark_shared::channels::x::XApiClient<
    hark_shared::domain::oauth::TokenManager<
        hark_shared::adapters::dynamo::DynamoStore,
        hark_shared::adapters::http::HttpTokenEndpoint,
        hark_shared::domain::oauth::FixedSeeds,
    >,
>;
/// Every channel's reply client, as the functions hold them.
pub type TestReplies = hark_shared::channels::Outbound<TestXClient>;
pub type TestProcessor = hark_processor::Processor<hark_shared::adapters::dynamo::DynamoStore, TestReplies>;
pub type TestSweeper = hark_outbox::Sweeper<hark_shared::adapters::dynamo::DynamoStore, TestReplies>;

/// The brand on Meta in tests: one app, a Page, a second Page, and the Instagram account
/// linked to the first.
pub const META_APP: &str = "555000111222";
pub const META_APP_SECRET: &str = "meta-app-secret-for-tests";
pub const META_VERIFY_TOKEN: &str = "meta-verify-token-for-tests";
pub const PAGE: &str = "1234567890321";
pub const OTHER_PAGE: &str = "1234567890999";
pub const INSTAGRAM: &str = "17841400000000001";
pub const PAGE_TOKEN: &str = "page-token-acme-for-tests";
pub const OTHER_PAGE_TOKEN: &str = "page-token-cargo-for-tests";

/// The Meta section of the credentials secret for the test brand.
pub fn meta_credentials_json() -> Value {
    serde_json::json!({
        "apps": {META_APP: {"app_secret": META_APP_SECRET, "verify_token": META_VERIFY_TOKEN}},
        "accounts": {
            PAGE: {"app_id": META_APP, "access_token": PAGE_TOKEN},
            OTHER_PAGE: {"app_id": META_APP, "access_token": OTHER_PAGE_TOKEN},
            INSTAGRAM: {"app_id": META_APP, "access_token": PAGE_TOKEN, "page_id": PAGE},
        },
    })
}

pub fn meta_credentials() -> hark_shared::credentials::MetaCredentials {
    let json = serde_json::json!({ "meta": meta_credentials_json() }).to_string();
    hark_shared::credentials::Credentials::from_json(&json).expect("test credentials").meta
}

/// A local Graph API that knows the test brand's Pages, tokens and Instagram account.
pub async fn graph_api() -> LocalGraphApi {
    let graph = LocalGraphApi::start(0).await.unwrap();
    graph.register_page(PAGE, PAGE_TOKEN, META_APP);
    graph.register_page(OTHER_PAGE, OTHER_PAGE_TOKEN, META_APP);
    graph.register_instagram(INSTAGRAM, PAGE);
    graph
}

/// The brand's Graph API client against the local Graph API.
pub fn meta_client(graph: &LocalGraphApi) -> hark_shared::channels::meta::MetaClient {
    hark_shared::channels::meta::MetaClient::new(
        &graph.base_url,
        hark_local::graph_api::GRAPH_VERSION,
        &meta_credentials(),
        hark_shared::adapters::http::ExchangeLog::keeping(),
    )
    .unwrap()
}

/// A Graph API client for a deployment with no Meta accounts: any Meta message fails with a
/// configuration error before anything is sent.
pub fn no_meta() -> hark_shared::channels::meta::MetaClient {
    hark_shared::channels::meta::MetaClient::new(
        "http://127.0.0.1:9",
        hark_local::graph_api::GRAPH_VERSION,
        &Default::default(),
        Default::default(),
    )
    .unwrap()
}

/// Meta's delivery of `events` as the webhook reads it: one body, signed with the test
/// app's secret, verified and normalised by the real inbound side.
pub fn meta_mentions(events: &[graph_api::Event]) -> Vec<hark_shared::domain::mention::Mention> {
    use hark_shared::channels::{Inbound, WebhookRequest};
    let body = graph_api::delivery_body(events).unwrap();
    let mut headers = lambda_http::http::HeaderMap::new();
    let signature = hark_shared::channels::meta::inbound::sign(META_APP_SECRET, body.as_bytes());
    headers.insert("x-hub-signature-256", signature.parse().unwrap());
    let json = serde_json::json!({ "meta": meta_credentials_json() }).to_string();
    let inbound = Inbound::new(&hark_shared::credentials::Credentials::from_json(&json).unwrap());
    let request_id = unique("delivery");
    let request = WebhookRequest {
        account: None,
        query: &[],
        headers: &headers,
        body: body.as_bytes(),
        received_at: Utc::now(),
        request_id: &request_id,
    };
    let normalised = Inbound::receive(inbound.channel("meta").unwrap(), &request).unwrap();
    assert!(normalised.skipped.iter().all(|s| !s.malformed), "{:?}", normalised.skipped);
    normalised.mentions
}

/// The brand's OAuth client at the local X API, as the credentials secret names it.
pub const BRAND_CLIENT: &str = "brand-oauth-client";
pub const BRAND_CLIENT_SECRET: &str = "brand-oauth-client-secret";

/// An operator's seed: a refresh token the local X API has just issued to the brand's client.
pub fn brand_seed(x_api: &LocalXApi) -> hark_shared::domain::oauth::Seed {
    use hark_shared::domain::oauth::{OAuthClient, Seed};
    use hark_shared::domain::secret::Secret;
    let refresh_token = unique("consent-refresh");
    x_api.register_client(BRAND_CLIENT, Some(BRAND_CLIENT_SECRET), BRAND, &refresh_token);
    let client = OAuthClient {
        token_url: format!("{}{}", x_api.base_url, hark_shared::channels::x::TOKEN_PATH),
        client_id: BRAND_CLIENT.to_owned(),
        client_secret: Some(Secret::new(BRAND_CLIENT_SECRET)),
        secret_in_body: false,
    };
    Seed { client, refresh_token: Secret::new(refresh_token), issued_at: None }
}

/// The brand's X client over the table's token store and the local X API, seeded with
/// `seed` as a function instance is at cold start.
pub fn x_client_with(
    aws: &aws_config::SdkConfig,
    table: &str,
    x_api: &LocalXApi,
    seed: hark_shared::domain::oauth::Seed,
) -> TestXClient {
    hark_shared::channels::x::XApiClient::new(&x_api.base_url, token_manager(aws, table, seed)).unwrap()
}

/// One function instance's token manager for the brand, seeded with `seed`.
pub fn token_manager(
    aws: &aws_config::SdkConfig,
    table: &str,
    seed: hark_shared::domain::oauth::Seed,
) -> hark_shared::domain::oauth::TokenManager<
    hark_shared::adapters::dynamo::DynamoStore,
    hark_shared::adapters::http::HttpTokenEndpoint,
    hark_shared::domain::oauth::FixedSeeds,
> {
    let seeds = std::collections::HashMap::from([(BRAND.to_owned(), seed)]);
    hark_shared::domain::oauth::TokenManager::new(
        "X API",
        "x",
        hark_shared::adapters::dynamo::DynamoStore::from_config(aws, table),
        hark_shared::adapters::http::HttpTokenEndpoint::new().unwrap(),
        hark_shared::domain::oauth::FixedSeeds(seeds.clone()),
        seeds,
    )
}

/// The brand's X client with a fresh consent (see [`x_client_with`]).
pub fn x_client(aws: &aws_config::SdkConfig, table: &str, x_api: &LocalXApi) -> TestXClient {
    x_client_with(aws, table, x_api, brand_seed(x_api))
}

/// The real outbox sweep over the table and the local X API.
pub fn sweeper(aws: &aws_config::SdkConfig, table: &str, x_api: &LocalXApi, clock: TestClock) -> TestSweeper {
    sweeper_with(aws, table, replies(x_client(aws, table, x_api), None), clock)
}

/// The real outbox sweep over the table, the local X API and the local Graph API.
pub fn meta_sweeper(
    aws: &aws_config::SdkConfig,
    table: &str,
    x_api: &LocalXApi,
    graph: &LocalGraphApi,
    clock: TestClock,
) -> TestSweeper {
    sweeper_with(aws, table, replies(x_client(aws, table, x_api), Some(graph)), clock)
}

/// Every channel's client: X's, and Meta's against `graph` (or unconfigured).
pub fn replies(x: TestXClient, graph: Option<&LocalGraphApi>) -> TestReplies {
    hark_shared::channels::Outbound {
        x,
        meta: graph.map(meta_client).unwrap_or_else(no_meta),
        linkedin: no_linkedin(),
        mastodon: no_mastodon(),
        bluesky: no_bluesky(),
        youtube: no_youtube(),
        sources: no_sources(),
        help_desks: no_help_desks(),
    }
}

/// A Bluesky client with no accounts: its token store is never reached.
pub fn no_bluesky() -> hark_shared::channels::bluesky::client::AwsBlueskyClient {
    let aws = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
    hark_shared::channels::bluesky::client::AwsBlueskyClient::for_aws(&aws, "unused", &Default::default()).unwrap()
}

/// A YouTube client with no channels: its token store is never reached.
pub fn no_youtube() -> hark_shared::channels::youtube::client::AwsYouTubeClient {
    let aws = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
    hark_shared::channels::youtube::client::AwsYouTubeClient::for_aws(
        &aws,
        "http://127.0.0.1:9",
        "http://127.0.0.1:9/token",
        "unused",
        &Default::default(),
    )
    .unwrap()
}

/// A Mastodon client with no accounts.
pub fn no_mastodon() -> hark_shared::channels::mastodon::MastodonClient {
    hark_shared::channels::mastodon::MastodonClient::new(None, Default::default()).unwrap()
}

/// A LinkedIn client for a deployment with no LinkedIn organisations: any LinkedIn message
/// fails with a configuration error before anything is sent.
pub fn no_linkedin() -> hark_shared::channels::linkedin::LinkedInClient {
    hark_shared::channels::linkedin::LinkedInClient::new(
        "http://127.0.0.1:9",
        hark_shared::channels::linkedin::outbound::DEFAULT_VERSION,
        None,
        Default::default(),
    )
    .unwrap()
}

/// A client for a deployment with no sources.
pub fn no_sources() -> hark_shared::channels::generic::GenericClient {
    hark_shared::channels::generic::GenericClient::new(&Default::default()).unwrap()
}

/// One SQS batch of `mentions` through the processor's handler, each its own record;
/// every one must be taken.
pub async fn process_batch(processor: &TestProcessor, mentions: &[hark_shared::domain::mention::Mention]) {
    let ids: Vec<String> = mentions.iter().map(|_| unique("sqs")).collect();
    let records: Vec<(&str, &hark_shared::domain::mention::Mention)> =
        ids.iter().map(String::as_str).zip(mentions).collect();
    assert!(processor.handle(sqs_event(&records)).await.batch_item_failures.is_empty());
}

/// One outbox sweep, its clock set to `at`.
pub async fn sweep_at(sweeper: &TestSweeper, clock: &TestClock, at: DateTime<Utc>) -> hark_outbox::SweepSummary {
    clock.set(at);
    sweeper.run().await.unwrap()
}

/// Help-desk senders with no endpoint: they never read the table they are given.
pub fn no_help_desks() -> hark_shared::helpdesks::HelpDesks {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .build();
    let store = hark_shared::adapters::dynamo::DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config), "unused");
    hark_shared::helpdesks::HelpDesks::webhooks_only(
        hark_shared::helpdesks::webhook_sender::WebhookSender::new(&Default::default(), store).unwrap(),
    )
}

/// The real outbox sweep with the given reply client.
pub fn sweeper_with<R>(
    aws: &aws_config::SdkConfig,
    table: &str,
    replies: R,
    clock: TestClock,
) -> hark_outbox::Sweeper<hark_shared::adapters::dynamo::DynamoStore, R> {
    hark_outbox::Sweeper {
        store: hark_shared::adapters::dynamo::DynamoStore::from_config(aws, table),
        replies,
        written_replies: None,
        clock: Box::new(clock),
        policy: hark_shared::domain::outbox::OutboxPolicy::default(),
        shards: 4,
        max_items_per_shard: 100,
        concurrency: 4,
        run_budget: Duration::from_secs(30),
        subscriptions: Vec::new(),
    }
}

/// The real processor over the table and the local X API.
pub fn processor(aws: &aws_config::SdkConfig, table: &str, x_api: &LocalXApi, clock: TestClock) -> TestProcessor {
    processor_with(aws, table, replies(x_client(aws, table, x_api), None), clock)
}

/// The real processor over the table, the local X API and the local Graph API.
pub fn meta_processor(
    aws: &aws_config::SdkConfig,
    table: &str,
    x_api: &LocalXApi,
    graph: &LocalGraphApi,
    clock: TestClock,
) -> TestProcessor {
    processor_with(aws, table, replies(x_client(aws, table, x_api), Some(graph)), clock)
}

/// The real processor with the given reply client.
pub fn processor_with<R>(
    aws: &aws_config::SdkConfig,
    table: &str,
    replies: R,
    clock: TestClock,
) -> hark_processor::Processor<hark_shared::adapters::dynamo::DynamoStore, R> {
    hark_processor::Processor {
        store: hark_shared::adapters::dynamo::DynamoStore::from_config(aws, table),
        replies,
        outbox: hark_shared::domain::outbox::OutboxPolicy::default(),
        classifier: Box::new(hark_shared::domain::classify::CareClassifier::default()),
        care: hark_shared::domain::care::CarePolicies::new(
            hark_shared::domain::care::CarePolicy {
                templates: hark_shared::domain::care::templates::CareTemplates::defaults("^HK"),
                ..Default::default()
            },
            Default::default(),
        ),
        sla: hark_shared::domain::sla::SlaPolicies::DEFAULT,
        due_shards: 4,
        wait_receives: hark_processor::wait_receives(5),
        forwarding: Vec::new(),
        clock: Box::new(clock),
        values: Default::default(),
        spikes: Default::default(),
    }
}

/// Every log line the current thread writes while the guard lives, as the functions format
/// them in Lambda (JSON). For checking that no secret ever reaches a log.
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: lambda_http::tracing::dispatcher::DefaultGuard,
}

struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogCapture {
    /// Captures through the functions' own filter at its most verbose (TRACE), so even what
    /// an operator could turn on is checked.
    pub fn start() -> Self {
        use lambda_http::tracing::subscriber;
        let buffer: Arc<Mutex<Vec<u8>>> = Arc::default();
        let writer = buffer.clone();
        let collector = subscriber::fmt()
            .json()
            .with_env_filter(hark_shared::adapters::telemetry::filter("TRACE"))
            .with_writer(move || CaptureWriter(writer.clone()))
            .finish();
        LogCapture { buffer, _guard: lambda_http::tracing::subscriber::util::SubscriberInitExt::set_default(collector) }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }
}

/// An API Gateway v2 request as the HTTP API builds it: binary bodies arrive base64-encoded.
pub fn apigw_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> lambda_http::Request {
    use base64::Engine as _;
    let mut header_map = serde_json::Map::new();
    header_map.insert("host".into(), "abc123.execute-api.us-east-1.amazonaws.com".into());
    for (name, value) in headers {
        header_map.insert(name.to_ascii_lowercase(), Value::String((*value).to_owned()));
    }
    let mut query_map = serde_json::Map::new();
    for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default() {
        query_map.entry(k).or_insert(Value::String(v));
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let event = serde_json::json!({
        "version": "2.0", "routeKey": format!("{method} {path}"), "rawPath": path, "rawQueryString": query,
        "headers": header_map, "queryStringParameters": query_map,
        "requestContext": {"accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123", "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": unique("req"), "routeKey": format!("{method} {path}"), "stage": "$default",
            "time": "22/Nov/2026:12:00:00 +0000", "timeEpoch": 1795348800000u64},
        "body": body, "isBase64Encoded": encoded,
    });
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway v2 event")
}

/// `hark` as an operator runs it, against the engines and `table`.
pub fn hark(args: &[&str], table: &str) -> std::process::Output {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(|deps| deps.parent()).unwrap().join("hark");
    assert!(bin.is_file(), "hark is not built in {}: run cargo build --bins", bin.display());
    std::process::Command::new(bin)
        .args(args)
        .args(["--table", table])
        .env_clear()
        .envs(engines().environment())
        .envs([("AWS_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")])
        .output()
        .unwrap()
}

/// Where the test binary's sibling function binaries are (`target/debug`).
pub fn bin_dir() -> PathBuf {
    // target/debug/deps/<test>-… → target/debug
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent().and_then(|deps| deps.parent()).expect("target/debug/deps").to_path_buf()
}

/// A whole local stack of its own on the test engines, with the debug function binaries
/// (`cargo build --bins`), template parameters and property overrides, schedules `speedup`
/// times faster.
pub async fn local_stack(parameters: &[(&str, &str)], overrides: &[&str], speedup: u32) -> hark_local::LocalStack {
    let stack_name = unique("e2e");
    let bin_dir = bin_dir();
    for binary in ["webhook", "processor", "escalator", "outbox", "listener", "api"] {
        assert!(
            bin_dir.join(binary).is_file(),
            "{binary} is not built in {}: run cargo build --bins",
            bin_dir.display()
        );
    }
    let options = hark_local::Options {
        repo_root: repo_root(),
        log_dir: bin_dir.join("hark-local-tests").join(&stack_name),
        bin_dir,
        stack_name,
        http_port: 0,
        engines: hark_local::engines::EngineOptions {
            dynamodb_endpoint: Some(engines().dynamodb.clone()),
            aws_endpoint: Some(engines().aws.clone()),
            dynamodb_port: 0,
            aws_port: 0,
            log_dir: repo_root().join("target/test-engines"),
        },
        x_api_port: 0,
        graph_api_port: 0,
        parameters: parameters.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        property_overrides: overrides.iter().map(|o| o.parse().expect("a property override")).collect(),
        secret_values: std::collections::HashMap::from([(
            "CredentialsSecret".to_owned(),
            hark_local::demo::credentials_json(),
        )]),
        max_environments: 4,
        help_desks: Vec::new(),
        schedule_speedup: speedup,
        event_sources: true,
    };
    hark_local::LocalStack::start(options).await.expect("local stack starts")
}
