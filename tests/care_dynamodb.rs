//! Care operations over DynamoDB Local, the local X API and SNS in LocalStack: thanks for
//! praise through the outbox, business hours, off-hours acknowledgements and the off-hours
//! escalation route.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hark_escalator::Escalator;
use hark_shared::adapters::dynamo::DynamoStore;
use hark_shared::adapters::sns::SnsNotifier;
use hark_shared::domain::care::hours::BusinessHours;
use hark_shared::domain::care::templates::CareTemplates;
use hark_shared::domain::care::viral::ViralRule;
use hark_shared::domain::care::{CarePolicies, CarePolicy};
use hark_shared::domain::mention::{Channel, MentionKind};
use hark_tests::*;

/// How long SNS and SQS get to deliver what a test waits for.
const FEW_SECONDS: std::time::Duration = std::time::Duration::from_secs(5);

/// Saturday 5 December 2026, noon in London (GMT).
fn saturday_noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap()
}

/// Friday 4 December 2026, 10:00 in London.
fn friday_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap()
}

/// London office hours, weekdays 09:00 to 17:00.
fn office(business_time: Vec<Channel>) -> CarePolicies {
    CarePolicies::new(
        CarePolicy {
            hours: BusinessHours::parse("Europe/London", "mon-fri 09:00-17:00", &[]).unwrap(),
            business_time,
            templates: CareTemplates::defaults("^HK"),
            thanks: true,
            viral: Default::default(),
            spike: Default::default(),
        },
        HashMap::new(),
    )
}

struct Fixture {
    aws: aws_config::SdkConfig,
    table: String,
    x_api: LocalXApi,
    processor: TestProcessor,
}

async fn fixture(at: DateTime<Utc>, care: CarePolicies) -> Fixture {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let x_api = LocalXApi::start(0).await.unwrap();
    let mut processor = processor(&aws, &table, &x_api, TestClock::at(at));
    processor.care = care;
    Fixture { aws, table, x_api, processor }
}

/// The texts posted on X, in order.
fn posts(x_api: &LocalXApi) -> Vec<(String, String)> {
    x_api
        .requests()
        .iter()
        .filter(|r| r.path == "/2/tweets")
        .map(|r| {
            let answers = r.body["reply"]["in_reply_to_tweet_id"].as_str().unwrap_or_default().to_owned();
            (answers, r.body["text"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

#[tokio::test]
async fn praise_is_thanked_once_a_conversation_and_never_twice_alike() {
    let f = fixture(friday_morning(), CarePolicies::default()).await;
    let praise = mention("9101", "701", "@acme the crew on flight 88 was amazing, thank you!", friday_morning());
    // Delivered twice, as platforms do.
    for id in ["a", "b"] {
        assert!(f.processor.handle(sqs_event(&[(id, &praise)])).await.batch_item_failures.is_empty());
    }
    let sent = posts(&f.x_api);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "9101");
    assert!(sent[0].1.contains("Pat") && !sent[0].1.contains("{name}"), "{sent:?}");
    let conversation = &items_of_type(&f.aws, &f.table, "conversation").await[0];
    assert!(conversation.contains_key("thanked_at"), "{conversation:?}");
    assert!(!conversation.contains_key("sla_started_at"), "praise starts no clock");
    let customer = &items_of_type(&f.aws, &f.table, "customer").await[0];
    assert_eq!(customer.keys().filter(|k| k.starts_with("thanked_")).count(), 1, "{customer:?}");

    // More praise in the same thread: one thank-you a conversation, so no loop of thanks.
    let mut more = mention("9102", "701", "@acme honestly the best airline, love you guys", friday_morning());
    more.kind = MentionKind::Reply;
    more.parent_id = Some("9101".into());
    more.parent_author_id = Some("701".into());
    f.processor.handle(sqs_event(&[("c", &more)])).await;
    assert_eq!(posts(&f.x_api).len(), 1);

    // A new post of praise from the same customer, minutes later: thanked, in other words.
    let again = mention("9103", "701", "@acme and the lounge was wonderful too, thanks!", friday_morning());
    f.processor.handle(sqs_event(&[("d", &again)])).await;
    let sent = posts(&f.x_api);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1].0, "9103");
    assert_ne!(sent[0].1, sent[1].1);
    let outbox = items_of_type(&f.aws, &f.table, "outbox").await;
    let thanks: Vec<_> = outbox.iter().filter(|o| attr_s(o, "purpose") == "thanks").collect();
    assert_eq!(thanks.len(), 2, "{outbox:?}");
    assert!(thanks.iter().all(|o| attr_s(o, "status") == "sent"), "{thanks:?}");

    // Anger dressed as praise is not thanked; it is acknowledged as the complaint it is.
    let sarcasm = mention("9104", "702", "@acme great, another delay. thanks for nothing", friday_morning());
    f.processor.handle(sqs_event(&[("e", &sarcasm)])).await;
    let sent = posts(&f.x_api);
    assert_eq!(sent.len(), 3);
    assert!(sent[2].1.to_lowercase().contains("sorry"), "{:?}", sent[2]);
}

#[tokio::test]
async fn off_hours_complaints_are_told_when_and_business_time_clocks_wait_for_monday() {
    let f = fixture(saturday_noon(), office(vec![Channel::X])).await;
    let complaint = mention("9201", "711", "@acme my order never arrived and nobody answers", saturday_noon());
    assert!(f.processor.handle(sqs_event(&[("a", &complaint)])).await.batch_item_failures.is_empty());
    let sent = posts(&f.x_api);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].1.contains("on Monday at 09:00 GMT"), "{sent:?}");
    let conversation = &items_of_type(&f.aws, &f.table, "conversation").await[0];
    // The clock started when the message came, and falls due in working time.
    let monday = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
    let at = |name: &str| DateTime::parse_from_rfc3339(&attr_s(conversation, name)).unwrap().with_timezone(&Utc);
    assert_eq!(at("sla_started_at"), saturday_noon());
    assert_eq!(at("ideal_due_at"), monday + TimeDelta::minutes(15));
    assert_eq!(at("breach_due_at"), monday + TimeDelta::minutes(30));
}

#[tokio::test]
async fn escalations_outside_business_hours_take_the_off_hours_route() {
    // X covered around the clock: its clock runs on Saturday, and its escalations then go to
    // whoever covers off hours, never to the day team.
    let f = fixture(saturday_noon(), office(Vec::new())).await;
    let sns = aws_sdk_sns::Client::new(&f.aws);
    let topic = sns.create_topic().name(unique("hark-routes")).send().await.unwrap().topic_arn.unwrap();
    let day = subscribe_filtered(&f.aws, &topic, "day").await;
    let off_hours = subscribe_filtered(&f.aws, &topic, "off_hours").await;
    let escalator = |at: DateTime<Utc>| Escalator {
        store: DynamoStore::from_config(&f.aws, &f.table),
        notifier: SnsNotifier::from_config(&f.aws, &topic),
        clock: Box::new(TestClock::at(at)),
        ladder: hark_shared::domain::sla::Ladder::new(30, 4).unwrap(),
        due_shards: 4,
        page_size: 100,
        concurrency: 8,
        lookahead: chrono::TimeDelta::zero(),
        care: office(Vec::new()),
    };
    let complaint = mention("9301", "721", "@acme the app is down again, nothing works", saturday_noon());
    f.processor.handle(sqs_event(&[("a", &complaint)])).await;
    let warning = escalator(saturday_noon() + TimeDelta::minutes(16)).run().await.unwrap();
    assert_eq!((warning.escalated, warning.notified), (1, 1));
    let routed = drain_until(&f.aws, &off_hours, 1, FEW_SECONDS).await;
    assert_eq!(routed.len(), 1);
    let notice: serde_json::Value = serde_json::from_str(routed[0].body().unwrap()).unwrap();
    assert_eq!((notice["level_name"].as_str(), notice["route"].as_str()), (Some("warning"), Some("off_hours")));
    assert!(drain(&f.aws, &day).await.is_empty(), "the day team is not woken");
    let record = &items_of_type(&f.aws, &f.table, "escalation").await[0];
    assert!(attr_s(record, "notice").contains("\"route\":\"off_hours\""), "{record:?}");

    // On Monday morning the day team hears of everything raised then: the weekend's
    // complaint, still unanswered (its last repeat), and a new one.
    let monday = Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap();
    let complaint = mention("9302", "722", "@acme my refund never arrived", monday);
    f.processor.handle(sqs_event(&[("b", &complaint)])).await;
    escalator(monday + TimeDelta::minutes(16)).run().await.unwrap();
    let routed = drain_until(&f.aws, &day, 2, FEW_SECONDS).await;
    let notices: Vec<serde_json::Value> =
        routed.iter().map(|m| serde_json::from_str(m.body().unwrap()).unwrap()).collect();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(notices.iter().all(|n| n["route"] == "day"), "{notices:?}");
    assert!(notices.iter().any(|n| n["conversation_id"] == format!("x:{BRAND}:9302") && n["level_name"] == "warning"));
    assert!(drain(&f.aws, &off_hours).await.is_empty());
}

#[tokio::test]
async fn a_complaint_going_viral_is_fast_tracked_once_with_its_reasons() {
    let now = friday_morning();
    let rule = ViralRule { engagement: 3, ..ViralRule::default() };
    let care = CarePolicies::new(CarePolicy { viral: rule, ..CarePolicy::default() }, HashMap::new());
    let f = fixture(now, care.clone()).await;
    let (topic, inbox) = create_topic_with_inbox(&f.aws).await;
    let escalator = |at: DateTime<Utc>| Escalator {
        store: DynamoStore::from_config(&f.aws, &f.table),
        notifier: SnsNotifier::from_config(&f.aws, &topic),
        clock: Box::new(TestClock::at(at)),
        ladder: hark_shared::domain::sla::Ladder::new(30, 4).unwrap(),
        due_shards: 4,
        page_size: 100,
        concurrency: 8,
        lookahead: chrono::TimeDelta::zero(),
        care: care.clone(),
    };

    // A large account about an outage: fast-tracked as it is stored.
    let mut outage = mention("9401", "731", "@acme the app is down again, nothing works", now);
    outage.author.followers = Some(250_000);
    f.processor.handle(sqs_event(&[("a", &outage)])).await;
    let conversations = items_of_type(&f.aws, &f.table, "conversation").await;
    let conversation = &conversations[0];
    assert!(conversation.contains_key("viral_at"), "{conversation:?}");
    let due = |name: &str| DateTime::parse_from_rfc3339(&attr_s(conversation, name)).unwrap().with_timezone(&Utc);
    assert_eq!(due("ideal_due_at"), now + TimeDelta::minutes(5), "the fast track's clock");
    assert_eq!(due("breach_due_at"), now + TimeDelta::minutes(15));
    // Escalated at once: the escalator's next run notifies, with the reasons.
    let run = escalator(now + TimeDelta::seconds(30)).run().await.unwrap();
    assert_eq!(run.notified, 1, "{run:?}");
    let notices = drain_until(&f.aws, &inbox, 1, FEW_SECONDS).await;
    let notice: serde_json::Value = serde_json::from_str(notices[0].body().unwrap()).unwrap();
    assert_eq!(notice["level_name"], "viral");
    assert_eq!(notice["reasons"], serde_json::json!(["reach: 250000 followers", "about an outage"]));
    // Then its shortened ladder: the warning five minutes in.
    let run = escalator(now + TimeDelta::minutes(6)).run().await.unwrap();
    assert_eq!(run.escalated, 1);

    // A small account's complaint: not viral until enough other people pile in, and then
    // escalated once however many more come.
    let complaint = mention("9501", "741", "@acme the app is down, can't log in", now);
    f.processor.handle(sqs_event(&[("b", &complaint)])).await;
    for (i, author) in ["742", "743", "744", "745"].iter().enumerate() {
        let mut reply = mention(&format!("951{i}"), author, "@user741 @acme same here, down for me too", now);
        reply.kind = MentionKind::Reply;
        reply.parent_id = Some("9501".into());
        reply.parent_author_id = Some("741".into());
        f.processor.handle(sqs_event(&[("r", &reply)])).await;
    }
    let conversation = items_of_type(&f.aws, &f.table, "conversation")
        .await
        .into_iter()
        .find(|c| attr_s(c, "conversation_id") == format!("x:{BRAND}:9501"))
        .unwrap();
    assert_eq!(conversation["engagement"].as_n().unwrap(), "4");
    assert!(conversation.contains_key("viral_at"));
    let viral: Vec<_> = items_of_type(&f.aws, &f.table, "escalation")
        .await
        .into_iter()
        .filter(|e| attr_s(e, "level_name") == "viral")
        .collect();
    assert_eq!(viral.len(), 2, "one for each conversation: {viral:?}");
    assert!(
        attr_s(&viral[1], "notice").contains("spreading: 3 engagements")
            || attr_s(&viral[0], "notice").contains("spreading: 3 engagements")
    );
}

/// A queue subscribed to `topic` for one route only, as an operator's filter policy does it.
async fn subscribe_filtered(aws: &aws_config::SdkConfig, topic: &str, route: &str) -> String {
    let sqs = aws_sdk_sqs::Client::new(aws);
    let url = sqs.create_queue().queue_name(unique("hark-route")).send().await.unwrap().queue_url.unwrap();
    let arn = queue_arn(aws, &url).await;
    aws_sdk_sns::Client::new(aws)
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", "true")
        .attributes("FilterPolicy", serde_json::json!({ "route": [route] }).to_string())
        .send()
        .await
        .unwrap();
    url
}
