//! Outage spikes end to end over DynamoDB Local, SNS in LocalStack, the local X API and the
//! local Graph API: a normal hour raises nothing; an outage on X and Facebook opens one
//! incident, escalated once per account; a person approves the suggested post through the
//! API, and the outbox posts it once per account however often it is approved or swept,
//! even when X's answer is lost.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hark_api::{State, handle};
use hark_local::graph_api::ScriptedResponse;
use hark_shared::adapters::dynamo::DynamoStore;
use hark_shared::domain::api_key::{Scope, new_key};
use hark_shared::domain::mention::Mention;
use hark_shared::domain::reply::{DEFAULT_FOLLOW_UP, FollowUpTemplates};
use hark_shared::ports::{ApiKeyStore, Clock};
use hark_tests::*;
use lambda_http::Body;
use serde_json::Value;

struct Fixture {
    aws: aws_config::SdkConfig,
    table: String,
    x_api: LocalXApi,
    graph: LocalGraphApi,
    clock: TestClock,
    processor: TestProcessor,
    api: State<DynamoStore>,
    read_key: String,
    reply_key: String,
}

async fn fixture() -> Fixture {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let x_api = LocalXApi::start(0).await.unwrap();
    let graph = graph_api().await;
    // The local Graph API keeps Meta's windows by the wall clock; Hark's clock starts there.
    let clock = TestClock::at(Utc::now());
    let processor = meta_processor(&aws, &table, &x_api, &graph, clock.clone());
    let store = DynamoStore::from_config(&aws, &table);
    let mut keys = Vec::new();
    for (seed, scope) in [(11u8, Scope::Read), (12, Scope::Reply)] {
        let random: [u8; 40] = std::array::from_fn(|i| seed.wrapping_mul(29).wrapping_add(i as u8));
        let (key, record) = new_key(&random, "ops", &[scope], Utc::now()).unwrap();
        store.put_api_key(&record).await.unwrap();
        keys.push(key);
    }
    let api = State {
        store,
        clock: Box::new(clock.clone()),
        follow_ups: FollowUpTemplates::new(DEFAULT_FOLLOW_UP, "{}", "^HK").unwrap(),
        desks: Default::default(),
        due_shards: 4,
        follow_up_on_solved: true,
    };
    let reply_key = keys.pop().unwrap();
    let read_key = keys.pop().unwrap();
    Fixture { aws, table, x_api, graph, clock, processor, api, read_key, reply_key }
}

impl Fixture {
    async fn call(&self, method: &str, path: &str, key: &str, body: &str) -> (u16, Value) {
        let bearer = format!("Bearer {key}");
        let headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
        let response = handle(&self.api, apigw_request(method, path, "", &headers, body.as_bytes())).await.unwrap();
        let status = response.status().as_u16();
        let Body::Text(text) = response.body() else { panic!("expected JSON text") };
        (status, serde_json::from_str(text).unwrap())
    }

    async fn incidents(&self) -> Vec<Value> {
        let (status, body) = self.call("GET", "/v1/incidents", &self.read_key, "").await;
        assert_eq!(status, 200, "{body}");
        body["incidents"].as_array().unwrap().clone()
    }

    async fn spike_escalations(
        &self,
    ) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let escalations = items_of_type(&self.aws, &self.table, "escalation").await;
        escalations.into_iter().filter(|e| attr_s(e, "level_name") == "spike").collect()
    }

    fn sweeper(&self) -> TestSweeper {
        meta_sweeper(&self.aws, &self.table, &self.x_api, &self.graph, self.clock.clone())
    }
}

fn complaint(n: u32, at: DateTime<Utc>) -> Mention {
    mention(&format!("77{n:04}"), &format!("88{n:04}"), "@acme the app is down again, I can't check in!!", at)
}

/// Every property the OpenAPI document calls required is in `value`, and nothing it does not name.
fn matches_schema(document: &Value, schema: &str, value: &Value) {
    let schema = &document["components"]["schemas"][schema];
    let object = value.as_object().unwrap_or_else(|| panic!("{value} is not an object"));
    for required in schema["required"].as_array().unwrap() {
        assert!(object.contains_key(required.as_str().unwrap()), "{required} missing from {value}");
    }
    for key in object.keys() {
        assert!(schema["properties"].get(key).is_some(), "{key} is not in the document");
    }
}

#[tokio::test]
async fn an_outage_opens_one_incident_and_its_approved_post_goes_out_once_per_account() {
    let f = fixture().await;
    let now = f.clock.now();
    // A normal hour on X: one complaint every five minutes. Nothing to see.
    let normal: Vec<Mention> = (1..=11).map(|i| complaint(i, now - TimeDelta::minutes(5 * i64::from(i)))).collect();
    process_batch(&f.processor, &normal).await;
    assert!(f.incidents().await.is_empty(), "a normal hour opens no incident");

    // The outage: twelve complaints on X in a minute...
    let outage: Vec<Mention> = (100..112).map(|i| complaint(i, now)).collect();
    process_batch(&f.processor, &outage).await;
    // ...and ten on the Facebook Page, read through the real Meta inbound side.
    let post = f.graph.page_post(PAGE, "Our winter schedule is out!");
    let events: Vec<_> = (0..10)
        .map(|i| {
            let from = (format!("61000000001{i:02}"), format!("Customer {i}"));
            f.graph.comment(PAGE, &post, (&from.0, &from.1), "your website is down, can't log in. useless")
        })
        .collect();
    let mut facebook = meta_mentions(&events);
    for m in &mut facebook {
        // In the same five minutes as X's, whatever the wall clock did meanwhile.
        m.received_at = now;
    }
    process_batch(&f.processor, &facebook).await;
    // Redelivered, as SQS may: stored once, counted once.
    process_batch(&f.processor, &outage[..4]).await;

    let incidents = f.incidents().await;
    for c in items_of_type(&f.aws, &f.table, "spike_count").await {
        eprintln!("COUNT {} {} {:?}", attr_s(&c, "pk"), attr_s(&c, "sk"), c.get("mentions"));
    }
    assert_eq!(incidents.len(), 1, "one outage, one incident: {incidents:?}");
    let incident = &incidents[0];
    let (_, document) = f.call("GET", "/v1/openapi.json", &f.read_key, "").await;
    matches_schema(&document, "Incident", incident);
    let id = incident["id"].as_str().unwrap().to_owned();
    assert_eq!(id, hark_shared::domain::care::spike::incident_id(hark_shared::domain::care::spike::bucket_of(now)));
    let mut channels: Vec<&str> = incident["channels"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    channels.sort();
    assert_eq!(channels, ["facebook", "x"], "Facebook joined X's incident");
    assert_eq!(incident["status"], "open");
    assert!(incident["suggested_post"].as_str().unwrap().ends_with("^HK"));
    let x = incident["accounts"].as_array().unwrap().iter().find(|a| a["channel"] == "x").unwrap();
    assert!(x["mentions"].as_u64().unwrap() >= 10 && x["mentions"].as_u64().unwrap() <= 12, "{x}");
    assert!(!x["samples"].as_array().unwrap().is_empty());
    assert!(x["samples"][0]["text"].as_str().unwrap().contains("app is down"));

    // Escalated once per account, and announced by the escalator like any escalation.
    let escalations = f.spike_escalations().await;
    assert_eq!(escalations.len(), 2, "{escalations:?}");
    let (topic, inbox) = create_topic_with_inbox(&f.aws).await;
    let escalator = hark_escalator::Escalator {
        store: DynamoStore::from_config(&f.aws, &f.table),
        notifier: hark_shared::adapters::sns::SnsNotifier::from_config(&f.aws, &topic),
        clock: Box::new(TestClock::at(now + TimeDelta::seconds(30))),
        ladder: hark_shared::domain::sla::Ladder::new(30, 4).unwrap(),
        due_shards: 4,
        page_size: 100,
        concurrency: 8,
        lookahead: chrono::TimeDelta::zero(),
        care: Default::default(),
    };
    escalator.run().await.unwrap();
    let notices = drain_until(&f.aws, &inbox, 2, Duration::from_secs(5)).await;
    let spikes: Vec<Value> = notices
        .iter()
        .map(|n| serde_json::from_str::<Value>(n.body().unwrap()).unwrap())
        .filter(|n| n["level_name"] == "spike")
        .collect();
    assert_eq!(spikes.len(), 2, "{spikes:?}");
    assert!(spikes.iter().all(|n| n["conversation_id"].as_str().unwrap().starts_with(&format!("incident:{id}:"))));
    assert!(spikes.iter().any(|n| n["reasons"][0].as_str().unwrap().contains("on facebook 1234567890321")));

    // Approval needs the reply scope; Hark has posted nothing on its own.
    let path = format!("/v1/incidents/{id}/post");
    assert_eq!(f.call("POST", &path, &f.read_key, "").await.0, 403);
    let announcements = |x_api: &LocalXApi| {
        x_api.requests().into_iter().filter(|r| r.path == "/2/tweets" && r.body.get("reply").is_none()).count()
    };
    assert_eq!(announcements(&f.x_api), 0);
    assert_eq!(f.call("POST", "/v1/incidents/inc-20200101-0000/post", &f.reply_key, "").await.0, 404);
    let (status, body) =
        f.call("POST", &path, &f.reply_key, r#"{"accounts": [{"channel": "instagram", "account_id": "1"}]}"#).await;
    assert_eq!(status, 400, "{body}");

    let (status, approved) = f.call("POST", &path, &f.reply_key, "").await;
    assert_eq!(status, 202, "{approved}");
    matches_schema(&document, "IncidentPosts", &approved);
    let posts = approved["posts"].as_array().unwrap();
    assert_eq!(posts.len(), 2);
    assert!(posts.iter().all(|p| p["queued_now"] == true && p["status"] == "pending"), "{posts:?}");
    // Asked again, with other words: each account keeps the one post it has.
    let (status, again) = f.call("POST", &path, &f.reply_key, r#"{"text": "Something else entirely"}"#).await;
    assert_eq!(status, 202);
    let again = again["posts"].as_array().unwrap();
    assert!(again.iter().all(|p| p["queued_now"] == false && p["text"] == posts[0]["text"]), "{again:?}");

    // X's answer is lost on the way back: the sweep looks on the timeline before posting again.
    f.x_api.respond_next(ScriptedResponse {
        status: 503,
        only_for: Some(String::new()),
        create_anyway: true,
        ..Default::default()
    });
    let sweeper = f.sweeper();
    for second in [1, 2] {
        let at = now + TimeDelta::seconds(second);
        f.clock.set(at);
        let (one, two) = tokio::join!(sweeper.run(), sweeper.run());
        one.unwrap();
        two.unwrap();
        f.clock.set(at + TimeDelta::minutes(2));
        sweeper.run().await.unwrap();
    }
    assert_eq!(announcements(&f.x_api), 1, "posted on X once, its lost answer found on the timeline");
    let feed_posts = f.graph.writes().into_iter().filter(|w| w.path == format!("/{PAGE}/feed")).count();
    assert_eq!(feed_posts, 1, "posted on the Page once");
    let (_, shown) = f.call("GET", &format!("/v1/incidents/{id}"), &f.read_key, "").await;
    assert_eq!(shown["status"], "posted");
    assert!(shown["posts"].as_array().unwrap().iter().all(|p| p["status"] == "sent"), "{shown}");
    assert!(shown["approved_by"].as_str().is_some());
}
