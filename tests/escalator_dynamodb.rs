//! The escalator over the due index in DynamoDB Local, notifying through an SNS topic in LocalStack.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hark_escalator::Escalator;
use hark_shared::adapters::dynamo::DynamoStore;
use hark_shared::adapters::sns::SnsNotifier;
use hark_shared::domain::mention::{Direction, MentionKind};
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
    let (topic, inbox) = create_topic_with_inbox(&aws).await;
    let x_api = LocalXApi::start(0).await.unwrap();
    let processor = processor(&aws, &table, &x_api, TestClock::at(t0()));
    Fixture { aws, table, inbox, x_api, processor, topic }
}

impl Fixture {
    fn escalator(&self, at: DateTime<Utc>) -> Escalator<DynamoStore, SnsNotifier> {
        Escalator {
            store: DynamoStore::from_config(&self.aws, &self.table),
            notifier: SnsNotifier::from_config(&self.aws, &self.topic),
            clock: Box::new(TestClock::at(at)),
            ladder: hark_shared::domain::sla::Ladder::new(30, 4).unwrap(),
            due_shards: 4,
            page_size: 100,
            concurrency: 8,
            lookahead: chrono::TimeDelta::zero(),
            care: Default::default(),
        }
    }

    /// What the topic delivered to the inbox: SNS delivers asynchronously, so this waits for
    /// `expected` notifications (up to a few seconds), then for a moment more in case there
    /// are more than expected.
    async fn notifications(&self, expected: usize) -> Vec<serde_json::Value> {
        let got = drain_until(&self.aws, &self.inbox, expected, std::time::Duration::from_secs(10)).await;
        let mut notes: Vec<serde_json::Value> =
            got.iter().map(|m| serde_json::from_str::<serde_json::Value>(m.body().unwrap()).unwrap()).collect();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let late = drain(&self.aws, &self.inbox).await;
        notes.extend(late.iter().map(|m| serde_json::from_str::<serde_json::Value>(m.body().unwrap()).unwrap()));
        notes
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
    let notes = f.notifications(3).await;
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
    let notes = f.notifications(3).await;
    assert!(notes.len() == 3 && notes.iter().all(|n| n["level_name"] == "breach"), "{notes:?}");
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
    assert!(f.notifications(0).await.is_empty());
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

    // The notice stays the failed run's for three minutes, so no overlapping run sends it twice.
    let summary = f.escalator(minutes(17)).run().await.unwrap();
    assert_eq!((summary.escalated, summary.notified), (0, 0), "{summary:?}");
    let summary = f.escalator(minutes(19)).run().await.unwrap();
    assert_eq!((summary.escalated, summary.notified), (0, 1), "{summary:?}");
    let notes = f.notifications(1).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["level_name"], "warning");
}

/// A brand reply, as the webhook normalises its echo.
fn brand_reply(id: &str, customer: &str, parent: &str, at: DateTime<Utc>) -> hark_shared::domain::mention::Mention {
    let mut reply = mention(id, customer, &format!("@user{customer} Sorted it for you, see DM ^KT"), at);
    reply.direction = Direction::Outbound;
    reply.kind = MentionKind::Reply;
    reply.author.id = BRAND.into();
    reply.parent_id = Some(parent.into());
    reply.parent_author_id = Some(customer.into());
    reply
}

fn follow_up(
    id: &str,
    customer: &str,
    parent: &str,
    text: &str,
    at: DateTime<Utc>,
) -> hark_shared::domain::mention::Mention {
    let mut m = mention(id, customer, text, at);
    m.kind = MentionKind::Reply;
    m.parent_id = Some(parent.into());
    m.parent_author_id = Some(BRAND.into());
    m
}

/// The levels notified, in the order they were escalated (SNS to SQS keeps no order).
async fn escalated_levels(f: &Fixture, expected: usize) -> Vec<String> {
    let mut notes = f.notifications(expected).await;
    notes.sort_by(|a, b| a["escalated_at"].as_str().cmp(&b["escalated_at"].as_str()));
    notes.iter().map(|n| n["level_name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_returning_customer_gets_a_new_clock_that_climbs_every_level_again() {
    let f = fixture().await;
    let complaint = mention("8401", "777", "@acme my refund never arrived", t0());
    f.processor.handle(sqs_event(&[("c", &complaint)])).await;
    for at in [minutes(15), minutes(30)] {
        f.escalator(at).run().await.unwrap();
    }
    assert_eq!(escalated_levels(&f, 2).await, vec!["warning", "breach"]);
    // Answered at 40; the customer comes back at 60 in the same thread.
    f.processor.handle(sqs_event(&[("r", &brand_reply("8402", "777", "8401", minutes(40)))])).await;
    let processor = processor(&f.aws, &f.table, &f.x_api, TestClock::at(minutes(60)));
    let again = follow_up("8403", "777", "8402", "@acme it still has not arrived, this is a joke", minutes(60));
    assert!(processor.handle(sqs_event(&[("a", &again)])).await.batch_item_failures.is_empty());

    // The new clock runs from 60: warning at 75, breach at 90, each exactly once.
    let mut escalated = Vec::new();
    for at in [minutes(74), minutes(75), minutes(76), minutes(90), minutes(91)] {
        let summary = f.escalator(at).run().await.unwrap();
        assert_eq!(summary.failed, 0, "{summary:?}");
        escalated.push(summary.escalated);
    }
    assert_eq!(escalated, vec![0, 1, 0, 1, 0]);
    assert_eq!(escalated_levels(&f, 2).await, vec!["warning", "breach"]);
    assert_eq!(items_of_type(&f.aws, &f.table, "escalation").await.len(), 4, "two clocks, two levels each");
}

#[tokio::test]
async fn breach_repeats_stop_at_the_cap_and_the_next_message_starts_a_new_clock() {
    let f = fixture().await;
    let complaint = mention("8501", "888", "@acme I have been on hold for 3 hours", t0());
    f.processor.handle(sqs_event(&[("c", &complaint)])).await;
    let capped = |at| {
        let mut escalator = f.escalator(at);
        escalator.ladder = hark_shared::domain::sla::Ladder::new(30, 1).unwrap();
        escalator
    };
    let mut escalated = Vec::new();
    for at in [minutes(15), minutes(30), minutes(60), minutes(90), minutes(120), minutes(600)] {
        escalated.push(capped(at).run().await.unwrap().escalated);
    }
    assert_eq!(escalated, vec![1, 1, 1, 0, 0, 0], "warning, breach, one repeat, then silence");
    let conversation = &items_of_type(&f.aws, &f.table, "conversation").await[0];
    assert_eq!(attr_s(conversation, "status"), "awaiting_reply", "still unanswered");
    assert!(conversation.contains_key("sla_exhausted_at") && !conversation.contains_key("due_at"), "{conversation:?}");

    // Still unanswered, the customer writes again: a new clock, a new ladder.
    let processor = processor(&f.aws, &f.table, &f.x_api, TestClock::at(minutes(700)));
    let again = mention("8502", "888", "@acme hello?? still waiting for someone to help", minutes(700));
    processor.handle(sqs_event(&[("a", &again)])).await;
    assert_eq!(capped(minutes(715)).run().await.unwrap().escalated, 1);
}

#[tokio::test]
async fn a_run_reads_every_page_and_overlapping_runs_still_escalate_each_once() {
    let f = fixture().await;
    let conversations = 40;
    for i in 0..conversations {
        let m = mention(&format!("86{i:02}"), &format!("9{i:02}"), "@acme my card was charged twice", t0());
        f.processor.handle(sqs_event(&[("m", &m)])).await;
    }
    // Pages of three, eight at a time per shard: one run has to read well past its first page.
    let run = || Escalator { page_size: 3, concurrency: 8, ..f.escalator(minutes(16)) };
    let (a, b, c) = (run(), run(), run());
    let (ra, rb, rc) = tokio::join!(a.run(), b.run(), c.run());
    let runs = [ra.unwrap(), rb.unwrap(), rc.unwrap()];
    let escalated: usize = runs.iter().map(|s| s.escalated).sum();
    assert_eq!(escalated, conversations, "each conversation escalated once across the runs: {runs:?}");
    assert!(runs.iter().all(|s| s.failed == 0 && s.deferred == 0), "{runs:?}");
    // Forty identical complaints at once are an outage spike too: its escalation is the processor's.
    let records = items_of_type(&f.aws, &f.table, "escalation").await;
    let warnings = records.iter().filter(|r| r["sk"].as_s().unwrap().ends_with("#0001")).count();
    assert_eq!((records.len(), warnings), (conversations + 1, conversations));
    let notes = f.notifications(conversations + 1).await;
    let mut notified: Vec<&str> =
        notes.iter().filter(|n| n["level_name"] == "warning").map(|n| n["conversation_id"].as_str().unwrap()).collect();
    notified.sort();
    let all = notified.len();
    notified.dedup();
    assert_eq!((all, notified.len()), (conversations, conversations), "every conversation notified once");
    // Nothing left: a later run at the same time finds nothing due.
    let again = f.escalator(minutes(16)).run().await.unwrap();
    assert_eq!((again.due, again.escalated), (0, 0), "{again:?}");
}

#[tokio::test]
async fn a_run_raises_what_falls_due_before_the_next_run_at_its_own_deadline() {
    let f = fixture().await;
    // A clock whose warning falls due two seconds from now (X's ideal time is 15 minutes).
    let start = Utc::now() - TimeDelta::minutes(15) + TimeDelta::seconds(2);
    let m = mention("8701", "871", "@acme my order is lost, nobody answers", start);
    f.processor.handle(sqs_event(&[("m", &m)])).await;
    let ahead = || Escalator {
        clock: Box::new(hark_shared::ports::SystemClock),
        lookahead: TimeDelta::seconds(60),
        ..f.escalator(t0())
    };
    // With too little time left to wait for it, the run leaves it to the next.
    let short = ahead().run_for(Some(std::time::Duration::from_millis(200))).await.unwrap();
    assert_eq!((short.due, short.deferred, short.escalated), (1, 1, 0), "{short:?}");

    let summary = ahead().run_for(Some(std::time::Duration::from_secs(30))).await.unwrap();
    assert_eq!((summary.escalated, summary.notified), (1, 1), "{summary:?}");
    let notes = f.notifications(1).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let at = |field: &str| notes[0][field].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let deadline = start + TimeDelta::minutes(15);
    assert_eq!(at("due_at").timestamp_millis(), deadline.timestamp_millis(), "the warning's deadline");
    assert!(at("escalated_at") >= at("due_at"), "raised at its deadline, not before: {notes:?}");
    assert_eq!(notes[0]["level_name"], "warning");
}
