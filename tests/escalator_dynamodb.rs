//! The escalator over the due index in moto, notifying through a moto SNS topic.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hark_escalator::Escalator;
use hark_shared::dynamo::DynamoStore;
use hark_shared::mention::{Direction, MentionKind};
use hark_shared::sns::SnsNotifier;
use hark_tests::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
}
fn minutes(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(n)
}

struct Fixture {
    aws: aws_config::SdkConfig,
    table: String,
    inbox: String,
    x_api: LocalXApi,
    processor: TestProcessor,
    topic: String,
}

async fn fixture() -> Fixture {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let queues = create_queues(&aws, 30, 3).await;
    let (topic, inbox) = create_topic_with_inbox(&aws).await;
    let x_api = LocalXApi::start(0).await.unwrap();
    let processor = processor(&aws, &table, &queues.url, &x_api, TestClock::at(t0()));
    Fixture { aws, table, inbox, x_api, processor, topic }
}

impl Fixture {
    fn escalator(&self, at: DateTime<Utc>) -> Escalator<DynamoStore, SnsNotifier> {
        Escalator {
            store: DynamoStore::from_config(&self.aws, &self.table),
            notifier: SnsNotifier::from_config(&self.aws, &self.topic),
            clock: Box::new(TestClock::at(at)),
            repeat: TimeDelta::minutes(30),
            due_shards: 4,
            max_items_per_shard: 100,
        }
    }

    async fn notifications(&self) -> Vec<serde_json::Value> {
        drain(&self.aws, &self.inbox).await.iter().map(|m| serde_json::from_str(m.body().unwrap()).unwrap()).collect()
    }
}

#[tokio::test]
async fn each_level_is_escalated_once_at_its_time() {
    let f = fixture().await;
    let complaint = mention("8001", "333", "@acme my card was charged twice, unacceptable", t0());
    f.processor.handle(sqs_event(&[("c", &complaint)])).await;
    let levels = |summaries: &[hark_escalator::RunSummary]| summaries.iter().map(|s| s.escalated).collect::<Vec<_>>();

    let mut summaries = Vec::new();
    for at in [minutes(14), minutes(15), minutes(16), minutes(29), minutes(30), minutes(45), minutes(60), minutes(61)] {
        summaries.push(f.escalator(at).run().await.unwrap());
    }
    // Warning at 15, breach at 30, repeat at 60; nothing in between.
    assert_eq!(levels(&summaries), vec![0, 1, 0, 0, 1, 0, 1, 0]);
    let notes = f.notifications().await;
    let names: Vec<_> = notes.iter().map(|n| n["level_name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names.len(), 3, "{notes:?}");
    for expected in ["warning", "breach", "breach_repeat"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    let breach = notes.iter().find(|n| n["level_name"] == "breach").unwrap();
    assert_eq!(breach["conversation_id"], format!("x:{BRAND}:8001"));
    assert_eq!(breach["customer_handle"], "user333");
    assert!(breach["last_text"].as_str().unwrap().contains("charged twice"));

    let records = items_of_type(&f.aws, &f.table, "escalation").await;
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r.contains_key("notified_at") && !r.contains_key("due_at")));
    let conversation = &items_of_type(&f.aws, &f.table, "conversation").await[0];
    assert_eq!(conversation["escalation_level"].as_n().unwrap(), "3");
}

#[tokio::test]
async fn overlapping_runs_escalate_once() {
    let f = fixture().await;
    for (id, customer) in [("8101", "401"), ("8102", "402"), ("8103", "403")] {
        let m = mention(id, customer, "@acme where is my order? nobody answers", t0());
        f.processor.handle(sqs_event(&[("m", &m)])).await;
    }
    let (a, b, c) = (f.escalator(minutes(31)), f.escalator(minutes(31)), f.escalator(minutes(31)));
    let (ra, rb, rc) = tokio::join!(a.run(), b.run(), c.run());
    let total: usize = [ra.unwrap(), rb.unwrap(), rc.unwrap()].iter().map(|s| s.escalated).sum();
    assert_eq!(total, 3, "three conversations, each escalated once");
    assert_eq!(items_of_type(&f.aws, &f.table, "escalation").await.len(), 3);
    // Past both warning and breach: only the breach is raised.
    let notes = f.notifications().await;
    assert!(notes.len() >= 3 && notes.iter().all(|n| n["level_name"] == "breach"), "{notes:?}");
}

#[tokio::test]
async fn answered_conversations_are_not_escalated_and_are_not_read() {
    let f = fixture().await;
    let complaint = mention("8201", "555", "@acme the app is broken again", t0());
    f.processor.handle(sqs_event(&[("c", &complaint)])).await;
    let mut reply = mention("8202", "555", "@user555 Fixed now - sorry about that! ^KT", minutes(5));
    reply.direction = Direction::Outbound;
    reply.kind = MentionKind::Reply;
    reply.author.id = BRAND.into();
    reply.parent_id = Some("8201".into());
    reply.parent_author_id = Some("555".into());
    f.processor.handle(sqs_event(&[("r", &reply)])).await;

    let summary = f.escalator(minutes(120)).run().await.unwrap();
    assert_eq!((summary.due, summary.escalated), (0, 0), "{summary:?}");
    assert!(f.notifications().await.is_empty());
    assert_eq!(f.x_api.requests().len(), 1, "acknowledged once");
}

#[tokio::test]
async fn a_failed_notification_is_retried_by_the_next_run() {
    let f = fixture().await;
    let complaint = mention("8301", "666", "@acme awful, my flight is delayed again", t0());
    f.processor.handle(sqs_event(&[("c", &complaint)])).await;
    let mut broken = f.escalator(minutes(16));
    broken.notifier = SnsNotifier::from_config(&f.aws, "arn:aws:sns:us-east-1:123456789012:no-such-topic");
    let summary = broken.run().await.unwrap();
    assert_eq!((summary.escalated, summary.notified, summary.failed), (1, 0, 1));

    let summary = f.escalator(minutes(17)).run().await.unwrap();
    assert_eq!((summary.escalated, summary.notified), (0, 1), "{summary:?}");
    let notes = f.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["level_name"], "warning");
}
