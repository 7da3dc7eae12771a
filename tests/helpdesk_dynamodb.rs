//! Forwarding to a help desk by Standard Webhooks, through the real processor and outbox
//! sweep over DynamoDB Local, to a local help desk that verifies every signature and
//! deduplicates on `webhook-id` as the spec asks receivers to.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hark_local::helpdesk_webhooks::LocalHelpDesk;
use hark_shared::adapters::dynamo::DynamoStore;
use hark_shared::credentials::{WebhookCredentials, WebhookEndpoint};
use hark_shared::domain::secret::Secret;
use hark_shared::helpdesks::webhook_sender::WebhookSender;
use hark_shared::ports::{EndpointSwitch, OutboxPurpose, OutboxStatus, due_shard};
use hark_tests::*;

/// 32 bytes, base64: the endpoint's signing key.
const SECRET: &str = "whsec_C2FtcGxlLWtleS1mb3ItdGhlLWxvY2FsLWhlbHAtZGVzayE=";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

struct Fixture {
    aws: aws_config::SdkConfig,
    table: String,
    desk: LocalHelpDesk,
    processor: TestProcessor,
    sweeper: TestSweeper,
    clock: TestClock,
}

async fn fixture() -> Fixture {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let x_api = LocalXApi::start(0).await.unwrap();
    let desk = LocalHelpDesk::start(0, SECRET).await.unwrap();
    let endpoint = WebhookEndpoint { url: desk.url.clone(), secret: Secret::new(SECRET.to_owned()), events: None };
    let credentials = WebhookCredentials { endpoints: [("desk".to_owned(), endpoint)].into() };
    let mut processor = processor(&aws, &table, &x_api, TestClock::at(t0()));
    processor.forwarding = credentials.subscriptions();
    let clock = TestClock::at(t0());
    // Ops enable an endpoint and redrive at once here: the sender reads the switch every time.
    let webhooks = WebhookSender::new(&credentials, DynamoStore::from_config(&aws, &table))
        .unwrap()
        .with_switch_ttl(std::time::Duration::ZERO);
    let replies = hark_shared::channels::Outbound {
        help_desks: hark_shared::helpdesks::HelpDesks::webhooks_only(webhooks),
        ..replies(x_client(&aws, &table, &x_api), None)
    };
    let mut sweeper = sweeper_with(&aws, &table, replies, clock.clone());
    sweeper.subscriptions = credentials.subscriptions();
    Fixture { aws, table, desk, processor, sweeper, clock }
}

impl Fixture {
    async fn process(&self, mentions: &[hark_shared::domain::mention::Mention]) {
        process_batch(&self.processor, mentions).await
    }

    async fn sweep(&self, at: DateTime<Utc>) -> hark_outbox::SweepSummary {
        sweep_at(&self.sweeper, &self.clock, at).await
    }

    fn store(&self) -> DynamoStore {
        DynamoStore::from_config(&self.aws, &self.table)
    }
}

fn seconds(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(n)
}

#[tokio::test]
async fn every_message_reaches_the_help_desk_once_signed_and_as_stored() {
    let f = fixture().await;
    let complaint = mention("5001", "901", "@acme my card 4111 1111 1111 1111 was charged twice!", t0());
    let mut follow_up = mention("5002", "901", "@acme still nothing, please answer", seconds(30));
    follow_up.kind = hark_shared::domain::mention::MentionKind::Reply;
    follow_up.parent_id = Some("5001".into());
    follow_up.parent_author_id = Some("901".into());
    f.process(std::slice::from_ref(&complaint)).await;
    f.process(&[follow_up, complaint.clone()]).await;
    f.process(&[complaint]).await;

    let summary = f.sweep(seconds(60)).await;
    assert_eq!((summary.sent, summary.failed), (2, 0), "{summary:?}");
    assert_eq!(f.sweep(seconds(120)).await.due, 0, "nothing left to send");
    let events = f.desk.events();
    assert_eq!(events.len(), 2);
    assert_eq!(f.desk.attempts().len(), 2, "one delivery each: redeliveries of a message make no new event");
    let created = events.iter().find(|e| e.body["type"] == "conversation.created").expect("a new ticket");
    let received = events.iter().find(|e| e.body["type"] == "message.received").expect("a comment on it");
    let conversation = format!("x:{BRAND}:5001");
    assert_eq!(created.body["data"]["conversation"]["id"], conversation.as_str());
    assert_eq!(received.body["data"]["conversation"]["id"], conversation.as_str());
    assert_eq!(created.body["data"]["customer"]["handle"], "user901");
    assert_eq!(created.body["data"]["classification"]["intent"], "complaint");
    let subject = created.body["data"]["conversation"]["subject"].as_str().unwrap();
    assert!(subject.starts_with("x @user901: @acme my card"), "{subject}");
    assert!(!created.body.to_string().contains("4111"), "personal data stays redacted: {}", created.body);
    assert_eq!(created.body["data"]["message"]["redacted"], serde_json::json!(["card_number"]));
    assert!(created.id.starts_with("msg_") && created.id != received.id);

    // The forwards show on the conversation as what Hark sent.
    let view = hark_shared::ports::ConversationReader::conversation_view(
        &f.store(),
        &hark_shared::ports::ConversationId(conversation),
    )
    .await
    .unwrap()
    .unwrap();
    let forwards: Vec<_> = view.outbound.iter().filter(|o| o.purpose == "forward").collect();
    assert_eq!(forwards.len(), 2);
    assert!(forwards.iter().all(|o| o.status == "sent"), "{forwards:?}");
}

#[tokio::test]
async fn a_failing_help_desk_is_retried_on_schedule_and_one_that_is_gone_is_disabled_until_ops_redrive() {
    let f = fixture().await;
    f.desk.respond_next(503, None);
    f.desk.respond_next(429, Some(120));
    f.process(&[mention("6001", "902", "@acme where is my order? it's been a month", t0())]).await;

    // 503: again 5 s later, an attempt spent; 429 with Retry-After 120: the desk's pace,
    // not a failure: back when it says, the attempt given back.
    assert_eq!(f.sweep(seconds(1)).await.retrying, 1);
    assert_eq!(f.sweep(seconds(3)).await.due, 0, "not before its time");
    assert_eq!(f.sweep(seconds(7)).await.throttled, 1);
    assert_eq!(f.sweep(seconds(7 + 100)).await.due, 0, "not before its Retry-After");
    assert_eq!(f.sweep(seconds(7 + 121)).await.sent, 1, "when its Retry-After says, not the schedule's 5 min");
    let statuses: Vec<u16> = f.desk.attempts().iter().map(|(_, status)| *status).collect();
    assert_eq!(statuses, vec![503, 429, 200]);
    let ids: Vec<String> = f.desk.attempts().iter().map(|(id, _)| id.clone()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one webhook-id across retries: {ids:?}");
    assert_eq!(f.desk.events().len(), 1);

    // 410 Gone: that delivery fails, the endpoint is switched off, and the next event is
    // not even tried.
    f.desk.respond_next(410, None);
    f.process(&[mention("6002", "903", "@acme my refund never came", seconds(400))]).await;
    assert_eq!(f.sweep(seconds(401)).await.failed, 1);
    let store = f.store();
    let (_, reason) = store.disabled("desk").await.unwrap().expect("disabled");
    assert!(reason.contains("410"), "{reason}");
    f.process(&[mention("6003", "904", "@acme the app logs me out every time", seconds(410))]).await;
    assert_eq!(f.sweep(seconds(411)).await.failed, 1);
    assert_eq!(f.desk.attempts().len(), 4, "nothing was sent to the disabled endpoint");

    // Ops see both, switch the endpoint on and send them again.
    let failed = store.failed_outbox(100).await.unwrap();
    assert_eq!(failed.len(), 2);
    assert!(
        failed.iter().all(|(_, e)| e.message.purpose == OutboxPurpose::Forward && e.status == OutboxStatus::Failed)
    );
    assert!(failed.iter().all(|(_, e)| e.last_error.as_deref().is_some_and(|r| r.contains("disabled"))));
    let listed = hark(&["outbox", "failed"], &f.table);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(listed.lines().filter(|l| l.starts_with("forward") && l.contains("disabled")).count(), 2, "{listed}");
    let enabled = hark(&["webhooks", "enable", "desk"], &f.table);
    assert!(String::from_utf8_lossy(&enabled.stdout).contains("desk enabled"), "{enabled:?}");
    assert!(!store.enable_endpoint("desk").await.unwrap(), "already on");
    let (conversation, entry) = &failed[0];
    let now = seconds(500);
    assert!(store.redrive_outbox(conversation, &entry.message.key(), due_shard(conversation, 4), now).await.unwrap());
    assert!(!store.redrive_outbox(conversation, &entry.message.key(), due_shard(conversation, 4), now).await.unwrap());
    let redriven = hark(&["outbox", "redrive", "--purpose", "forward"], &f.table);
    assert!(String::from_utf8_lossy(&redriven.stdout).starts_with("1 record(s)"), "the other one: {redriven:?}");
    assert!(!hark(&["outbox", "redrive", "--purpose", "tickets"], &f.table).status.success());
    // The command redrives as of the wall clock: the sweep runs then.
    assert_eq!(f.sweep(Utc::now() + TimeDelta::seconds(1)).await.sent, 2);
    assert_eq!(f.desk.events().len(), 3);
    assert!(store.failed_outbox(100).await.unwrap().is_empty());
}

#[tokio::test]
async fn escalations_and_resolutions_reach_the_help_desk_once_each() {
    let f = fixture().await;
    f.process(&[mention("7001", "905", "@acme your app charged me twice, I want my money back", t0())]).await;
    let (topic, _inbox) = create_topic_with_inbox(&f.aws).await;
    let escalator = |at: DateTime<Utc>| hark_escalator::Escalator {
        store: f.store(),
        notifier: hark_shared::adapters::sns::SnsNotifier::from_config(&f.aws, &topic),
        clock: Box::new(TestClock::at(at)),
        ladder: hark_shared::domain::sla::Ladder::new(30, 4).unwrap(),
        due_shards: 4,
        page_size: 100,
        concurrency: 8,
        lookahead: chrono::TimeDelta::zero(),
        care: Default::default(),
    };
    // X's warning comes at 15 minutes; an escalator run that overlaps escalates nothing twice.
    let warned = t0() + TimeDelta::minutes(16);
    assert_eq!(escalator(warned).run().await.unwrap().escalated, 1);
    assert_eq!(escalator(warned).run().await.unwrap().escalated, 0);
    let conversation = hark_shared::ports::ConversationId(format!("x:{BRAND}:7001"));
    let resolved_at = t0() + TimeDelta::minutes(20);
    let resolver = f.store();
    hark_shared::ports::ConversationResolver::resolve_conversation(&resolver, &conversation, resolved_at)
        .await
        .unwrap();
    hark_shared::ports::ConversationResolver::resolve_conversation(&resolver, &conversation, resolved_at)
        .await
        .unwrap();

    // One sweep turns each broadcast into the endpoint's own record; the next delivers.
    let first = f.sweep(t0() + TimeDelta::minutes(21)).await;
    assert_eq!(first.fanned_out, 2, "{first:?}");
    f.sweep(t0() + TimeDelta::minutes(22)).await;
    assert_eq!(f.sweep(t0() + TimeDelta::minutes(23)).await.due, 0);
    let mut types: Vec<String> = f.desk.events().iter().map(|e| e.body["type"].as_str().unwrap().to_owned()).collect();
    types.sort();
    assert_eq!(types, vec!["conversation.created", "conversation.escalated", "conversation.resolved"]);
    let escalated = f.desk.events().into_iter().find(|e| e.body["type"] == "conversation.escalated").unwrap();
    assert_eq!(escalated.body["data"]["escalation"]["level_name"], "warning");
    assert_eq!(escalated.body["data"]["conversation"]["id"], conversation.0.as_str());
}

#[tokio::test]
async fn a_forged_or_stale_delivery_is_refused_by_the_local_help_desk() {
    // The receiver the tests rely on must itself refuse what is not signed by the secret.
    let desk = LocalHelpDesk::start(0, SECRET).await.unwrap();
    let body = r#"{"type":"message.received"}"#;
    let http = reqwest::Client::new();
    let post = |id: &str, ts: i64, signature: String| {
        http.post(&desk.url)
            .header("webhook-id", id.to_owned())
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
    };
    let secret = hark_shared::helpdesks::standard_webhooks::EndpointSecret::parse(SECRET).unwrap();
    let now = Utc::now().timestamp();
    let sign = |id: &str, ts: i64| hark_shared::helpdesks::standard_webhooks::sign(&secret, id, ts, body.as_bytes());
    assert_eq!(post("msg_1", now, sign("msg_1", now)).await.unwrap().status(), 200);
    assert_eq!(post("msg_1", now, sign("msg_1", now)).await.unwrap().status(), 200, "a repeat is fine");
    assert_eq!(post("msg_2", now, sign("msg_1", now)).await.unwrap().status(), 401, "another id's signature");
    assert_eq!(post("msg_3", now - 600, sign("msg_3", now - 600)).await.unwrap().status(), 401, "stale");
    assert_eq!(desk.events().len(), 1);
}
