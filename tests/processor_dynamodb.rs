//! The processor over DynamoDB Local and SQS in LocalStack, acknowledging through a local X API.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hark_shared::domain::mention::{Direction, MentionKind};
use hark_tests::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
}

struct Fixture {
    aws: aws_config::SdkConfig,
    table: String,
    queues: Queues,
    x_api: LocalXApi,
    processor: TestProcessor,
}

async fn fixture() -> Fixture {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let queues = create_queues(&aws, 1, 2).await;
    let x_api = LocalXApi::start(0).await.unwrap();
    x_api.date_posts_at(t0());
    let processor = processor(&aws, &table, &x_api, TestClock::at(t0()));
    Fixture { aws, table, queues, x_api, processor }
}

fn failures(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect()
}

#[tokio::test]
async fn duplicate_deliveries_store_once_and_acknowledge_once() {
    let f = fixture().await;
    let complaint = mention("1001", "501", "@acme my flight was cancelled and I'm stuck at the gate", t0());
    let first = f.processor.handle(sqs_event(&[("sqs-1", &complaint)])).await;
    assert!(first.batch_item_failures.is_empty());
    // The same event again, as a second webhook delivery and as an SQS redelivery.
    let again = f.processor.handle(sqs_event(&[("sqs-2", &complaint), ("sqs-3", &complaint)])).await;
    assert!(again.batch_item_failures.is_empty());

    assert_eq!(items_of_type(&f.aws, &f.table, "message").await.len(), 1);
    let conversations = items_of_type(&f.aws, &f.table, "conversation").await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(attr_s(&conversations[0], "status"), "awaiting_reply");
    assert_eq!(attr_s(&conversations[0], "last_sentiment"), "negative");

    let sent = f.x_api.requests();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].path, "/2/tweets");
    assert!(sent[0].authorization.as_deref().unwrap().starts_with("Bearer local-access-"), "{sent:?}");
    assert_eq!(sent[0].body["reply"]["in_reply_to_tweet_id"], "1001");
    let text = sent[0].body["text"].as_str().unwrap();
    assert!(text.contains("Pat") && text.ends_with("^HK"), "{text}");

    let customers = items_of_type(&f.aws, &f.table, "customer").await;
    assert_eq!(customers.len(), 1);
    let count = |name: &str| customers[0][name].as_n().unwrap().clone();
    assert_eq!((count("message_count"), count("conversation_count")), ("1".into(), "1".into()));
    assert_eq!(attr_s(&customers[0], "handle"), "user501");
    assert_eq!(attr_s(&customers[0], "last_sentiment"), "negative");
}

#[tokio::test]
async fn concurrent_messages_of_one_thread_open_one_conversation() {
    let f = fixture().await;
    // A customer's post and another customer's reply to it, processed at the same time in
    // different message groups, in both orders of arrival.
    for (post_id, reply_id) in [("2001", "2002"), ("2101", "2102")] {
        let post = mention(post_id, "601", "@acme is the app down for everyone?", t0());
        let mut reply = mention(reply_id, "602", "@user601 @acme same here, it's broken", t0());
        reply.kind = MentionKind::Reply;
        reply.parent_id = Some(post_id.to_owned());
        reply.parent_author_id = Some("601".into());
        let (a, b) = if post_id == "2001" { (&post, &reply) } else { (&reply, &post) };
        let (r1, r2) =
            tokio::join!(f.processor.handle(sqs_event(&[("a", a)])), f.processor.handle(sqs_event(&[("b", b)])),);
        assert!(r1.batch_item_failures.is_empty() && r2.batch_item_failures.is_empty());
    }
    let conversations = items_of_type(&f.aws, &f.table, "conversation").await;
    let mut ids: Vec<String> = conversations.iter().map(|c| attr_s(c, "conversation_id")).collect();
    ids.sort();
    assert_eq!(ids, vec![format!("x:{BRAND}:2001"), format!("x:{BRAND}:2101")]);
    let messages = items_of_type(&f.aws, &f.table, "message").await;
    assert_eq!(messages.len(), 4);
    // One acknowledgement per conversation, not one per message.
    assert_eq!(f.x_api.requests().len(), 2, "{:?}", f.x_api.requests());
}

/// What Lambda's event source mapping does, for `rounds` polls: receive, invoke, delete
/// what succeeded; failures come back after the queue's visibility timeout.
async fn drive_queue<R: hark_shared::ports::ReplySender + hark_shared::ports::TextFetcher>(
    aws: &aws_config::SdkConfig,
    queue_url: &str,
    processor: &hark_processor::Processor<hark_shared::adapters::dynamo::DynamoStore, R>,
    rounds: usize,
) {
    let sqs = aws_sdk_sqs::Client::new(aws);
    for _ in 0..rounds {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if received.is_empty() {
            tokio::time::sleep(Duration::from_millis(1100)).await;
            continue;
        }
        let records: Vec<serde_json::Value> = received
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, serde_json::Value> = m
                    .attributes()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), serde_json::Value::String(v.clone())))
                    .collect();
                serde_json::json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(),
                    "body": m.body(), "attributes": attributes, "messageAttributes": {}})
            })
            .collect();
        let event = serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
        let failed = failures(&processor.handle(event).await);
        for m in &received {
            if !failed.iter().any(|id| Some(id.as_str()) == m.message_id()) {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
}

#[tokio::test]
async fn messages_dead_lettered_in_a_store_outage_are_redriven_and_stored_once() {
    let f = fixture().await;
    let sqs = aws_sdk_sqs::Client::new(&f.aws);
    let complaint = mention("3101", "711", "@acme my refund is three weeks late", t0());
    sqs.send_message()
        .queue_url(&f.queues.url)
        .message_body(serde_json::to_string(&complaint).unwrap())
        .message_group_id(complaint.queue_group_id())
        .message_deduplication_id(complaint.queue_deduplication_id())
        .send()
        .await
        .unwrap();
    // The table is unreachable: the message fails until SQS dead-letters it.
    let broken = processor(&f.aws, "no-such-table", &f.x_api, TestClock::at(t0()));
    drive_queue(&f.aws, &f.queues.url, &broken, 12).await;
    assert!(items_of_type(&f.aws, &f.table, "message").await.is_empty());

    let moved = hark_shared::adapters::sqs::redrive(&sqs, &f.queues.dlq_url, &f.queues.url, 100).await.unwrap();
    assert_eq!(moved, 1);
    drive_queue(&f.aws, &f.queues.url, &f.processor, 3).await;
    let stored = items_of_type(&f.aws, &f.table, "message").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(attr_s(&stored[0], "message_id"), "3101");
    assert!(drain(&f.aws, &f.queues.dlq_url).await.is_empty());
    assert_eq!(f.x_api.posted_count(), 1, "acknowledged once");
}

#[tokio::test]
async fn poison_message_goes_to_the_dead_letter_queue_and_the_rest_is_processed() {
    let f = fixture().await;
    let sqs = aws_sdk_sqs::Client::new(&f.aws);
    let good_a = mention("3001", "701", "@acme how do I change my seat?", t0());
    let good_b = mention("3002", "702", "@acme lovely crew today, thank you", t0());
    for (body, group, dedup) in [
        (serde_json::to_string(&good_a).unwrap(), good_a.queue_group_id(), "a"),
        ("{\"not\": \"a mention\"}".to_owned(), "x:poison".to_owned(), "p"),
        (serde_json::to_string(&good_b).unwrap(), good_b.queue_group_id(), "b"),
    ] {
        sqs.send_message()
            .queue_url(&f.queues.url)
            .message_body(body)
            .message_group_id(group)
            .message_deduplication_id(dedup)
            .send()
            .await
            .unwrap();
    }
    drive_queue(&f.aws, &f.queues.url, &f.processor, 12).await;
    let dead = drain(&f.aws, &f.queues.dlq_url).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some("{\"not\": \"a mention\"}"));
    assert_eq!(items_of_type(&f.aws, &f.table, "message").await.len(), 2);
}

#[tokio::test]
async fn a_failure_stops_its_fifo_group_but_not_the_others() {
    let f = fixture().await;
    let first = mention("4001", "801", "@acme where is my refund?", t0());
    let second = mention("4002", "801", "@acme still waiting!!", t0() + chrono::TimeDelta::minutes(1));
    let other = mention("4003", "802", "@acme any wifi on board?", t0());
    // A message of the customer's group that cannot be processed (here: not a mention).
    let mut event = sqs_event(&[("m1", &first), ("m2", &first), ("m3", &second), ("m4", &other)]);
    event.records[1].body = Some("{\"not\": \"a mention\"}".into());
    let mut failed = failures(&f.processor.handle(event).await);
    failed.sort();
    assert_eq!(failed, vec!["m2".to_owned(), "m3".to_owned()], "m3 waits behind m2; m4 is another group");
    let stored: Vec<String> =
        items_of_type(&f.aws, &f.table, "message").await.iter().map(|m| attr_s(m, "message_id")).collect();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored.contains(&"4001".to_owned()) && stored.contains(&"4003".to_owned()));
}

/// What the sweep does with the table right now.
async fn sweep(f: &Fixture, at: DateTime<Utc>) -> hark_outbox::SweepSummary {
    sweeper(&f.aws, &f.table, &f.x_api, TestClock::at(at)).run().await.unwrap()
}

async fn outbox_statuses(f: &Fixture) -> Vec<String> {
    let mut statuses: Vec<String> =
        items_of_type(&f.aws, &f.table, "outbox").await.iter().map(|o| attr_s(o, "status")).collect();
    statuses.sort();
    statuses
}

fn scripted(status: u16, body: serde_json::Value) -> ScriptedResponse {
    ScriptedResponse { status, body, ..Default::default() }
}

#[tokio::test]
async fn an_x_outage_never_holds_back_or_dead_letters_stored_messages() {
    let f = fixture().await;
    // X is down: every acknowledgement attempt gets a 503 (and nothing is posted).
    for _ in 0..2 {
        f.x_api.respond_next(scripted(503, serde_json::json!({"title": "Service Unavailable"})));
    }
    let first = mention("4101", "811", "@acme where is my refund?", t0());
    let mut second = mention("4102", "811", "@acme still waiting!! nobody answers", t0());
    second.kind = MentionKind::Reply;
    second.parent_id = Some("4101".into());
    second.parent_author_id = Some("811".into());
    let other = mention("4103", "812", "@acme my flight was cancelled, what now?", t0());
    let response = f.processor.handle(sqs_event(&[("m1", &first), ("m2", &second), ("m3", &other)])).await;
    assert!(response.batch_item_failures.is_empty(), "stored messages are never failed for a send");
    assert_eq!(items_of_type(&f.aws, &f.table, "message").await.len(), 3);
    // A 503 may hide a post that was made: both acknowledgements wait to be checked.
    assert_eq!(outbox_statuses(&f).await, vec!["unknown", "unknown"]);

    // X is back. The sweep looks first, finds nothing, then sends each once.
    let summary = sweep(&f, t0() + chrono::TimeDelta::minutes(1)).await;
    assert_eq!((summary.due, summary.sent, summary.errors), (2, 2, 0), "{summary:?}");
    assert_eq!(outbox_statuses(&f).await, vec!["sent", "sent"]);
    assert_eq!(f.x_api.posted_count(), 2);
    assert_eq!(f.x_api.reads().len(), 2, "one check per record before resending");
    let again = sweep(&f, t0() + chrono::TimeDelta::minutes(30)).await;
    assert_eq!(again.due, 0, "{again:?}");
    assert_eq!(f.x_api.requests().len(), 4, "two attempts that failed, two that succeeded");
}

#[tokio::test]
async fn rate_limit_is_honoured_and_a_rejection_is_kept_without_resending() {
    let f = fixture().await;
    let reset = (Utc::now() + chrono::TimeDelta::seconds(120)).timestamp().to_string();
    f.x_api.respond_next(ScriptedResponse {
        status: 429,
        headers: vec![("x-rate-limit-reset".into(), reset)],
        body: serde_json::json!({"title": "Too Many Requests"}),
        ..Default::default()
    });
    let question = mention("5001", "901", "@acme can I bring my dog?", t0());
    let response = f.processor.handle(sqs_event(&[("q", &question)])).await;
    assert!(response.batch_item_failures.is_empty());
    let outbox = items_of_type(&f.aws, &f.table, "outbox").await;
    assert_eq!(attr_s(&outbox[0], "status"), "pending");
    assert!(attr_s(&outbox[0], "last_error").contains("rate limit"));

    // Before the reset nothing is tried; a redelivery of the message does not jump the wait.
    assert_eq!(sweep(&f, t0() + chrono::TimeDelta::seconds(60)).await.due, 0);
    assert!(f.processor.handle(sqs_event(&[("q", &question)])).await.batch_item_failures.is_empty());
    assert_eq!(f.x_api.requests().len(), 1);

    // After it, X refuses for good: kept as failed where ops find it, never retried.
    f.x_api.respond_next(scripted(400, serde_json::json!({"detail": "Invalid Request"})));
    let summary = sweep(&f, t0() + chrono::TimeDelta::minutes(3)).await;
    assert_eq!(summary.failed, 1, "{summary:?}");
    assert_eq!(sweep(&f, t0() + chrono::TimeDelta::hours(2)).await.due, 0);
    let outbox = items_of_type(&f.aws, &f.table, "outbox").await;
    assert_eq!(attr_s(&outbox[0], "status"), "failed");
    assert_eq!(attr_s(&outbox[0], "due_shard"), hark_shared::adapters::dynamo::OUTBOX_FAILED_SHARD);
    assert_eq!(f.x_api.requests().len(), 2);
}

#[tokio::test]
async fn an_answer_lost_after_posting_is_found_and_never_posted_twice() {
    let f = fixture().await;
    let lost = |status: u16, detail: &str| ScriptedResponse {
        status,
        body: serde_json::json!({"detail": detail}),
        create_anyway: true,
        ..Default::default()
    };
    // The reply is posted but X answers 503; the DM is sent but the answer says duplicate.
    f.x_api.respond_next(ScriptedResponse { only_for: Some("4201".into()), ..lost(503, "Service Unavailable") });
    f.x_api.respond_next(ScriptedResponse {
        only_for: Some("821".into()),
        ..lost(403, "You are not allowed to create a Tweet with duplicate content.")
    });
    let public = mention("4201", "822", "@acme my bag & my coat are lost <again>", t0());
    let mut private = mention("4202", "821", "my booking vanished from the app, what happened?", t0());
    private.kind = MentionKind::DirectMessage;
    let response = f.processor.handle(sqs_event(&[("p", &public), ("d", &private)])).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(outbox_statuses(&f).await, vec!["unknown", "unknown"]);

    let summary = sweep(&f, t0() + chrono::TimeDelta::minutes(1)).await;
    assert_eq!((summary.found_sent, summary.sent), (2, 0), "{summary:?}");
    assert_eq!(outbox_statuses(&f).await, vec!["sent", "sent"]);
    assert_eq!(f.x_api.posted_count(), 2, "each acknowledgement exists once");
    assert_eq!(f.x_api.requests().len(), 2, "nothing was sent again");
    // The found ids are recorded, so a reply to them threads into the conversation.
    let outbox = items_of_type(&f.aws, &f.table, "outbox").await;
    assert!(outbox.iter().all(|o| attr_s(o, "sent_message_id").starts_with("19")), "{outbox:?}");
}

#[tokio::test]
async fn a_lost_answer_is_found_among_a_busy_accounts_posts_by_reading_only_its_minutes() {
    use hark_shared::ports::{OutboxMessage, OutboxPurpose, ReplySender, ReplyTarget};
    let f = fixture().await;
    f.x_api.respond_next(ScriptedResponse {
        status: 503,
        body: serde_json::json!({"detail": "Service Unavailable"}),
        create_anyway: true,
        ..Default::default()
    });
    let complaint = mention("4251", "825", "@acme my refund never arrived", t0());
    assert!(f.processor.handle(sqs_event(&[("c", &complaint)])).await.batch_item_failures.is_empty());
    assert_eq!(outbox_statuses(&f).await, vec!["unknown"]);

    // The brand keeps answering others: 600 replies in the same minute as the lost one
    // (newer, so read first) and 600 after the attempt's lease, which the search skips.
    let x = x_client(&f.aws, &f.table, &f.x_api);
    for (dated, count) in [(t0() + TimeDelta::seconds(30), 600), (t0() + TimeDelta::minutes(10), 600)] {
        f.x_api.date_posts_at(dated);
        for n in 0..count {
            let other = OutboxMessage {
                purpose: OutboxPurpose::AgentReply,
                record_id: format!("other{n}"),
                channel: hark_shared::domain::mention::Channel::X,
                account_id: BRAND.into(),
                answers_message_id: format!("9{n}"),
                target: ReplyTarget::Post { in_reply_to: format!("9{n}") },
                text: format!("Happy to help, customer {n}"),
                customer_wrote_at: None,
            };
            x.send(&other).await.unwrap();
        }
    }
    let reads_before = f.x_api.reads().len();
    let summary = sweep(&f, t0() + TimeDelta::minutes(11)).await;
    assert_eq!((summary.found_sent, summary.sent), (1, 0), "{summary:?}");
    assert_eq!(f.x_api.posted_count(), 1201, "the acknowledgement exists once");
    let timeline_reads = f.x_api.reads()[reads_before..].iter().filter(|path| path.ends_with("/tweets")).count();
    assert_eq!(timeline_reads, 7, "601 posts in the attempt's minutes, 100 a page; none of the later 600");
}

#[tokio::test]
async fn a_sender_that_died_mid_send_is_taken_over_after_its_lease_and_checked() {
    use hark_shared::ports::{Claim, ConversationId, OutboxKey, OutboxStore};
    let f = fixture().await;
    let store = hark_shared::adapters::dynamo::DynamoStore::from_config(&f.aws, &f.table);
    for (post, customer, posted_before_dying) in [("4301", "831", false), ("4302", "832", true)] {
        // A pending acknowledgement (X said 429 with a one-minute reset).
        let reset = (Utc::now() + chrono::TimeDelta::seconds(60)).timestamp().to_string();
        f.x_api.respond_next(ScriptedResponse {
            status: 429,
            headers: vec![("x-rate-limit-reset".into(), reset)],
            ..Default::default()
        });
        let complaint = mention(post, customer, "@acme the app keeps crashing at checkout", t0());
        assert!(f.processor.handle(sqs_event(&[("c", &complaint)])).await.batch_item_failures.is_empty());

        // A sender claims it at t0+2min and dies, after posting or before.
        let conversation = ConversationId::public(hark_shared::domain::mention::Channel::X, BRAND, post);
        let claimed_at = t0() + chrono::TimeDelta::minutes(2);
        let lease_until = claimed_at + chrono::TimeDelta::seconds(60);
        let Claim::Claimed { previous, .. } = store
            .claim_outbox(&conversation, &OutboxKey::acknowledgement(post), claimed_at, lease_until)
            .await
            .unwrap()
        else {
            panic!("the record is due");
        };
        if posted_before_dying {
            use hark_shared::ports::ReplySender;
            f.x_api.date_posts_at(claimed_at);
            x_client(&f.aws, &f.table, &f.x_api).send(&previous.message).await.unwrap();
        }
    }
    assert_eq!(outbox_statuses(&f).await, vec!["sending", "sending"]);
    // While the lease runs the claim is respected.
    assert_eq!(sweep(&f, t0() + chrono::TimeDelta::seconds(150)).await.due, 0);
    // After it, each is checked: the one that went out is found, the other is sent.
    let summary = sweep(&f, t0() + chrono::TimeDelta::minutes(4)).await;
    assert_eq!((summary.due, summary.found_sent, summary.sent), (2, 1, 1), "{summary:?}");
    assert_eq!(outbox_statuses(&f).await, vec!["sent", "sent"]);
    assert_eq!(f.x_api.posted_count(), 2, "one acknowledgement per complaint, whatever the sender did");
}

#[tokio::test]
async fn an_acknowledgement_no_longer_wanted_is_cancelled() {
    let f = fixture().await;
    f.x_api.respond_next(scripted(503, serde_json::json!({})));
    let complaint = mention("4401", "841", "@acme charged twice for one ticket", t0());
    f.processor.handle(sqs_event(&[("c", &complaint)])).await;
    // A person answers before the outage ends.
    let mut human = mention("4402", "841", "@user841 Refunded the second charge, sorry! ^KT", t0());
    human.direction = Direction::Outbound;
    human.kind = MentionKind::Reply;
    human.author.id = BRAND.into();
    human.parent_id = Some("4401".into());
    human.parent_author_id = Some("841".into());
    f.processor.handle(sqs_event(&[("h", &human)])).await;

    let summary = sweep(&f, t0() + chrono::TimeDelta::minutes(1)).await;
    assert_eq!(summary.cancelled, 1, "{summary:?}");
    assert_eq!(outbox_statuses(&f).await, vec!["cancelled"]);
    assert_eq!(f.x_api.posted_count(), 0, "the automatic acknowledgement never follows a person's answer");
}

#[tokio::test]
async fn a_brand_reply_that_outruns_the_post_it_answers_leaves_the_post_answered() {
    let f = fixture().await;
    let mut answer =
        mention("6101", "112", "@user112 Rebooked you on the 9:40, no charge. ^KT", t0() + TimeDelta::minutes(3));
    answer.direction = Direction::Outbound;
    answer.kind = MentionKind::Reply;
    answer.author.id = BRAND.into();
    answer.author.handle = Some("acme".into());
    answer.parent_id = Some("6100".into());
    answer.parent_author_id = Some("112".into());
    // X delivered the brand's answer first, in the post's own queue group: it is taken at
    // once (waiting would hold the post up behind it) and opens the post's conversation.
    assert!(f.processor.handle(sqs_event(&[("a", &answer)])).await.batch_item_failures.is_empty());
    let complaint = mention("6100", "112", "@acme my flight was cancelled, what now?", t0());
    assert!(f.processor.handle(sqs_event(&[("c", &complaint)])).await.batch_item_failures.is_empty());
    let conversations = items_of_type(&f.aws, &f.table, "conversation").await;
    let [conversation] = &conversations[..] else { panic!("one conversation: {conversations:?}") };
    assert_eq!(attr_s(conversation, "conversation_id"), format!("x:{BRAND}:6100"));
    assert_eq!(attr_s(conversation, "status"), "answered", "the post arrived answered");
    assert!(!conversation.contains_key("due_at"), "no clock runs for an answered post");
    assert_eq!(attr_s(conversation, "customer_handle"), "user112", "the customer, not the brand");
    assert!(f.x_api.requests().is_empty(), "nothing acknowledges an answered post");
    let stored: Vec<String> =
        items_of_type(&f.aws, &f.table, "message").await.iter().map(|m| attr_s(m, "message_id")).collect();
    assert_eq!(stored.len(), 2, "{stored:?}");

    // A reply in the brand's own thread answers no one: no conversation.
    let mut own_thread = answer.clone();
    own_thread.message_id = "6103".into();
    own_thread.parent_id = Some("6102".into());
    own_thread.parent_author_id = Some(BRAND.into());
    assert!(f.processor.handle(sqs_event(&[("o", &own_thread)])).await.batch_item_failures.is_empty());
    assert_eq!(items_of_type(&f.aws, &f.table, "conversation").await.len(), 1);
}

#[tokio::test]
async fn human_reply_stops_the_clock_but_our_acknowledgement_does_not() {
    let f = fixture().await;
    let due_index = |aws: aws_config::SdkConfig, table: String| async move {
        let mut count = 0;
        for shard in 0..4 {
            count += aws_sdk_dynamodb::Client::new(&aws)
                .query()
                .table_name(&table)
                .index_name("due-index")
                .key_condition_expression("due_shard = :s")
                .expression_attribute_values(":s", aws_sdk_dynamodb::types::AttributeValue::S(shard.to_string()))
                .send()
                .await
                .unwrap()
                .count;
        }
        count
    };
    let complaint = mention("6001", "111", "@acme terrible service, lost my bag", t0());
    f.processor.handle(sqs_event(&[("c", &complaint)])).await;
    assert_eq!(due_index(f.aws.clone(), f.table.clone()).await, 1);
    let ack = &f.x_api.requests()[0];

    // The echo of our own acknowledgement (v1.1 text: @mention prefix, escaped).
    let mut echo = mention("6002", "111", &format!("@user111 {}", ack.body["text"].as_str().unwrap()), t0());
    echo.direction = Direction::Outbound;
    echo.kind = MentionKind::Reply;
    echo.author.id = BRAND.into();
    echo.parent_id = Some("6001".into());
    echo.parent_author_id = Some("111".into());
    f.processor.handle(sqs_event(&[("e", &echo)])).await;
    assert_eq!(due_index(f.aws.clone(), f.table.clone()).await, 1, "the acknowledgement does not stop the clock");

    let mut human = echo.clone();
    human.message_id = "6003".into();
    human.text = "@user111 Found it: your bag is on the next flight, arriving 6pm. ^KT".into();
    let response = f.processor.handle(sqs_event(&[("h", &human)])).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(due_index(f.aws.clone(), f.table.clone()).await, 0, "a human reply stops the clock");
    let conversation = &items_of_type(&f.aws, &f.table, "conversation").await[0];
    assert_eq!(attr_s(conversation, "status"), "answered");
    assert!(conversation.contains_key("first_response_at"));

    // The customer writes again: a new clock, a new acknowledgement.
    let mut follow_up = mention("6004", "111", "@acme it did not arrive, this is terrible", t0());
    follow_up.kind = MentionKind::Reply;
    follow_up.parent_id = Some("6003".into());
    follow_up.parent_author_id = Some(BRAND.into());
    f.processor.handle(sqs_event(&[("f", &follow_up)])).await;
    assert_eq!(due_index(f.aws.clone(), f.table.clone()).await, 1);
    assert_eq!(items_of_type(&f.aws, &f.table, "conversation").await.len(), 1, "the follow-up joins the thread");
    assert_eq!(f.x_api.requests().len(), 2);
}

#[tokio::test]
async fn direct_messages_share_the_open_conversation_and_are_acknowledged_privately() {
    let f = fixture().await;
    let mut first = mention("7001", "222", "my booking disappeared from the app, what happened?", t0());
    first.kind = MentionKind::DirectMessage;
    let mut second = first.clone();
    second.message_id = "7002".into();
    second.text = "hello? anyone there? this is urgent".into();
    let response = f.processor.handle(sqs_event(&[("d1", &first), ("d2", &second)])).await;
    assert!(response.batch_item_failures.is_empty());
    let conversations = items_of_type(&f.aws, &f.table, "conversation").await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(attr_s(&conversations[0], "kind"), "direct");
    let sent = f.x_api.requests();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].path, "/2/dm_conversations/with/222/messages");
    assert!(sent[0].body.get("reply").is_none());
}

#[tokio::test]
async fn personal_data_in_public_is_stored_redacted_and_answered_by_a_move_to_dm() {
    let f = fixture().await;
    let text = "@acme charged twice on card 4111 1111 1111 1111, booking ref ACM4KZ. Fix it!";
    let complaint = mention("6001", "950", text, t0());
    assert!(f.processor.handle(sqs_event(&[("p", &complaint)])).await.batch_item_failures.is_empty());

    let message = &items_of_type(&f.aws, &f.table, "message").await[0];
    let stored = attr_s(message, "text");
    assert!(!stored.contains("4111") && !stored.contains("ACM4KZ"), "{stored}");
    assert!(stored.contains("[card number]") && stored.contains("[reference]"), "{stored}");
    let mut redacted = message["redacted"].as_ss().unwrap().clone();
    redacted.sort();
    assert_eq!(redacted, vec!["card_number".to_owned(), "reference".to_owned()]);
    let conversation = &items_of_type(&f.aws, &f.table, "conversation").await[0];
    assert!(!attr_s(conversation, "last_text").contains("4111"));

    let sent = f.x_api.requests();
    assert_eq!(sent.len(), 1);
    let reply = sent[0].body["text"].as_str().unwrap();
    assert!(reply.contains("DM") && !reply.contains("4111"), "{reply}");
}

#[tokio::test]
async fn spam_is_stored_but_starts_no_sla_clock() {
    let f = fixture().await;
    let spam = mention("6101", "960", "Get 10k followers FREE!!! click http://spam.example #giveaway", t0());
    assert!(f.processor.handle(sqs_event(&[("s", &spam)])).await.batch_item_failures.is_empty());
    let message = &items_of_type(&f.aws, &f.table, "message").await[0];
    assert_eq!(attr_s(message, "intent"), "spam");
    assert_eq!(message["priority"].as_n().unwrap(), "0");
    let conversation = &items_of_type(&f.aws, &f.table, "conversation").await[0];
    assert_eq!(attr_s(conversation, "status"), "open");
    assert!(!conversation.contains_key("due_at") && !conversation.contains_key("sla_started_at"), "{conversation:?}");
    assert!(f.x_api.requests().is_empty(), "no acknowledgement for spam");
}

#[tokio::test]
async fn thanks_after_an_answer_starts_no_clock_and_pages_nobody() {
    let f = fixture().await;
    let question = mention("6201", "970", "@acme can I change my seat online?", t0());
    f.processor.handle(sqs_event(&[("q", &question)])).await;
    let mut answer = mention("6202", "970", "@user970 Yes: Manage Booking > Seats ^KT", t0());
    answer.direction = Direction::Outbound;
    answer.kind = MentionKind::Reply;
    answer.author.id = BRAND.into();
    answer.parent_id = Some("6201".into());
    answer.parent_author_id = Some("970".into());
    f.processor.handle(sqs_event(&[("a", &answer)])).await;

    for (id, text) in [("6203", "@acme thanks, sorted!"), ("6204", "@acme ok")] {
        let mut thanks = mention(id, "970", text, t0());
        thanks.kind = MentionKind::Reply;
        thanks.parent_id = Some("6202".into());
        thanks.parent_author_id = Some(BRAND.into());
        assert!(f.processor.handle(sqs_event(&[("t", &thanks)])).await.batch_item_failures.is_empty());
    }
    let conversation = &items_of_type(&f.aws, &f.table, "conversation").await[0];
    assert_eq!(attr_s(conversation, "status"), "answered", "{conversation:?}");
    assert!(!conversation.contains_key("due_at") && !conversation.contains_key("sla_started_at"));
    assert_eq!(items_of_type(&f.aws, &f.table, "message").await.len(), 4, "every message is still stored");
    assert_eq!(f.x_api.requests().len(), 1, "only the question was acknowledged");
}
