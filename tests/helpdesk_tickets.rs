//! Forwarding to Zendesk and Freshdesk by their ticket APIs, through the real processor and
//! outbox sweep over DynamoDB Local, to a local Zendesk and a local Freshdesk that check
//! the shapes they are sent (OAuth with rotation, users and contacts by external id,
//! idempotency keys, enumerations, custom fields) and keep what they were sent as tickets.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hark_local::freshdesk::LocalFreshdesk;
use hark_local::zendesk::LocalZendesk;
use hark_shared::adapters::dynamo::DynamoStore;
use hark_shared::credentials::Credentials;
use hark_shared::domain::mention::MentionKind;
use hark_shared::ports::{ConversationId, TicketLinks};
use hark_tests::*;
use serde_json::json;

const ZENDESK_CLIENT: &str = "hark-zendesk-client";
const ZENDESK_CLIENT_SECRET: &str = "zendesk-client-secret-for-tests";
const FRESHDESK_KEY: &str = "freshdesk-api-key-for-tests";
const FIELD: &str = "cf_hark_conversation";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

fn seconds(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(n)
}

struct Fixture {
    aws: aws_config::SdkConfig,
    table: String,
    zendesk: LocalZendesk,
    freshdesk: LocalFreshdesk,
    processor: TestProcessor,
    sweeper: TestSweeper,
    clock: TestClock,
}

/// Breaches move unowned tickets to the escalations group in each desk.
const DESK_ACTIONS: &str = r#"{"breach": {"groups": {"zendesk": 360000222, "freshdesk": 43000013}}}"#;

async fn fixture() -> Fixture {
    fixture_keeping(hark_shared::helpdesks::spacing::DeskRates::unlimited()).await
}

/// The desks, with Hark keeping to `rates`.
async fn fixture_keeping(rates: hark_shared::helpdesks::spacing::DeskRates) -> Fixture {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let x_api = LocalXApi::start(0).await.unwrap();
    let zendesk = LocalZendesk::start(0, ZENDESK_CLIENT, ZENDESK_CLIENT_SECRET).await.unwrap();
    let freshdesk = LocalFreshdesk::start(0, FRESHDESK_KEY, FIELD).await.unwrap();
    let credentials = Credentials::from_json(
        &json!({
            "zendesk": {"url": zendesk.url, "oauth2": {"client_id": ZENDESK_CLIENT,
                "client_secret": ZENDESK_CLIENT_SECRET, "refresh_token": zendesk.consent()}},
            "freshdesk": {"url": freshdesk.url, "api_key": FRESHDESK_KEY},
        })
        .to_string(),
    )
    .unwrap();
    let mut processor = processor(&aws, &table, &x_api, TestClock::at(t0()));
    processor.forwarding = credentials.subscriptions();
    let clock = TestClock::at(t0());
    let store = DynamoStore::from_config(&aws, &table);
    let escalations = hark_shared::helpdesks::escalation::EscalationDeskPolicy::from_json(DESK_ACTIONS).unwrap();
    let help_desks =
        hark_shared::helpdesks::HelpDesks::for_aws(&aws, store, &credentials, &escalations, rates).unwrap();
    let replies = hark_shared::channels::Outbound { help_desks, ..replies(x_client(&aws, &table, &x_api), None) };
    let mut sweeper = sweeper_with(&aws, &table, replies, clock.clone());
    sweeper.subscriptions = credentials.subscriptions();
    Fixture { aws, table, zendesk, freshdesk, processor, sweeper, clock }
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

fn reply_in(
    thread: &str,
    id: &str,
    customer: &str,
    text: &str,
    at: DateTime<Utc>,
) -> hark_shared::domain::mention::Mention {
    let mut m = mention(id, customer, text, at);
    m.kind = MentionKind::Reply;
    m.parent_id = Some(thread.into());
    m.parent_author_id = Some(customer.into());
    m
}

#[tokio::test]
async fn a_conversation_is_one_ticket_in_each_desk_and_later_messages_are_the_customers_comments() {
    let f = fixture().await;
    let complaint = mention("8001", "911", "@acme my card 4111 1111 1111 1111 was charged twice!", t0());
    let later = reply_in("8001", "8002", "911", "@acme still nothing, please answer", seconds(30));
    f.process(std::slice::from_ref(&complaint)).await;
    // X redelivers, and the later message comes with it: nothing is made twice.
    f.process(&[later.clone(), complaint.clone()]).await;
    f.process(&[complaint, later]).await;

    // The sweep sends records side by side: a comment that runs before its ticket exists
    // waits for it (a quarter of its age, at least 15 s), spending no attempt.
    let first = f.sweep(seconds(60)).await;
    let second = f.sweep(seconds(90)).await;
    assert_eq!((first.sent + second.sent, first.failed + second.failed), (4, 0), "{first:?} {second:?}");
    assert_eq!(f.sweep(seconds(120)).await.due, 0);

    let conversation = format!("x:{BRAND}:8001");
    let [ticket] = &f.zendesk.tickets()[..] else { panic!("one Zendesk ticket: {:?}", f.zendesk.tickets()) };
    assert_eq!(ticket.external_id.as_deref(), Some(conversation.as_str()));
    assert!(ticket.subject.starts_with("x @user911: @acme my card"), "{}", ticket.subject);
    assert!(ticket.tags.contains(&"hark".to_owned()) && ticket.tags.contains(&"intent_complaint".to_owned()));
    let [customer] = &f.zendesk.users()[..] else { panic!("one end user") };
    assert_eq!(customer.external_id, format!("hark:x:{BRAND}:911"));
    assert_eq!(ticket.requester_id, customer.id);
    assert_eq!(ticket.comments.len(), 2, "the complaint, then the later message");
    assert!(ticket.comments.iter().all(|c| c.author_id == customer.id && c.public), "both by the customer");
    assert!(ticket.comments[1].body.starts_with("@acme still nothing"));
    assert!(!format!("{ticket:?}").contains("4111"), "personal data stays redacted");

    let [fd] = &f.freshdesk.tickets()[..] else { panic!("one Freshdesk ticket: {:?}", f.freshdesk.tickets()) };
    assert_eq!(fd.custom_fields[FIELD], json!(conversation));
    let [contact] = &f.freshdesk.contacts()[..] else { panic!("one contact") };
    assert_eq!(
        (fd.requester_id, contact.unique_external_id.as_str()),
        (contact.id, format!("hark:x:{BRAND}:911").as_str())
    );
    let [note] = &fd.notes[..] else { panic!("the later message as a note") };
    assert!(!note.private && note.incoming && note.user_id == contact.id, "{note:?}");
    assert!(!fd.description.contains("4111"));

    // Hark's own record of the tickets.
    let conversation = ConversationId(conversation);
    let link = f.store().ticket(&conversation, "zendesk").await.unwrap().expect("linked");
    assert_eq!(link.ticket_id, ticket.id.to_string());
    let link = f.store().ticket(&conversation, "freshdesk").await.unwrap().expect("linked");
    assert_eq!(link.ticket_id, fd.id.to_string());
    // And the API shows them on the conversation, with the forwards as help-desk deliveries.
    let view =
        hark_shared::ports::ConversationReader::conversation_view(&f.store(), &conversation).await.unwrap().unwrap();
    let mut tickets: Vec<(String, String)> =
        view.tickets.iter().map(|t| (t.desk.clone(), t.ticket_id.clone())).collect();
    tickets.sort();
    assert_eq!(tickets, [("freshdesk".to_owned(), fd.id.to_string()), ("zendesk".to_owned(), ticket.id.to_string())]);
    let forwards: Vec<_> = view.outbound.iter().filter(|o| o.purpose == "forward").collect();
    assert_eq!(forwards.len(), 4);
    assert!(forwards.iter().all(|o| o.visibility == "help_desk" && o.status == "sent"), "{forwards:?}");

    // The ticket says who the customer is; their next conversation's ticket, what came before.
    assert!(
        ticket.comments[0].body.contains("Customer: Pat 911 (@user911), 150 followers on x"),
        "{}",
        ticket.comments[0].body
    );
    assert!(ticket.comments[0].body.contains("Earlier: none"));
    f.process(&[mention("8010", "911", "@acme and now my seat was given away", seconds(600))]).await;
    assert_eq!(f.sweep(seconds(601)).await.sent, 2);
    let tickets = f.zendesk.tickets();
    assert_eq!((tickets.len(), f.zendesk.users().len()), (2, 1), "a second ticket, the same end user");
    let body = &tickets[1].comments[0].body;
    assert!(body.contains("Earlier: 1 conversation(s)") && body.contains("(complaint, awaiting_reply)"), "{body}");
    assert!(f.freshdesk.tickets()[1].description.contains("Earlier: 1 conversation(s)"));
    assert_eq!(f.freshdesk.contacts().len(), 1);
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_found_not_made_again_even_after_the_idempotency_window() {
    let f = fixture().await;
    f.zendesk.lose_next_create_answer();
    f.freshdesk.lose_next_create_answer();
    f.process(&[mention("8101", "921", "@acme where is my refund?", t0())]).await;
    let first = f.sweep(seconds(1)).await;
    assert_eq!((first.sent, first.retrying), (0, 2), "{first:?}");
    assert_eq!((f.zendesk.tickets().len(), f.freshdesk.tickets().len()), (1, 1), "made, answers lost");
    // Hours pass: Zendesk has forgotten the idempotency key, and Freshdesk never had one.
    f.zendesk.forget_idempotency_keys();
    let second = f.sweep(seconds(10)).await;
    assert_eq!(second.found_sent, 2, "{second:?}");
    assert_eq!((f.zendesk.tickets().len(), f.freshdesk.tickets().len()), (1, 1), "still one ticket each");
    assert_eq!(f.zendesk.creates(), 1);
    // The later message goes on that ticket.
    f.process(&[reply_in("8101", "8102", "921", "@acme hello??", seconds(20))]).await;
    assert_eq!(f.sweep(seconds(30)).await.sent, 2);
    assert_eq!(f.zendesk.tickets()[0].comments.len(), 2);
    assert_eq!(f.freshdesk.tickets()[0].notes.len(), 1);
}

#[tokio::test]
async fn rate_limits_and_outages_are_waited_out_and_an_expired_token_is_renewed_with_rotation() {
    let f = fixture().await;
    // Zendesk: 429 with Retry-After 120 on the user call; Freshdesk: 503 on the contact read.
    f.zendesk.respond_next(429, Some(120));
    f.freshdesk.respond_next(503, None);
    f.process(&[mention("8201", "931", "@acme the app crashes at checkout", t0())]).await;
    let first = f.sweep(seconds(1)).await;
    assert_eq!((first.retrying, first.throttled), (1, 1), "Freshdesk's 503 a failure, Zendesk's 429 not: {first:?}");
    assert_eq!(f.sweep(seconds(7)).await.sent, 1, "Freshdesk after 5 s");
    assert_eq!(f.sweep(seconds(100)).await.due, 0, "Zendesk not before Retry-After");
    assert_eq!(f.sweep(seconds(122)).await.sent, 1, "Zendesk once its Retry-After has passed");
    assert_eq!((f.zendesk.tickets().len(), f.freshdesk.tickets().len()), (1, 1));
    let refreshes = f.zendesk.refreshes();
    assert_eq!(refreshes, 1, "one refresh for the first access token");

    // Two hours on, the access token has expired: renewed once, with a rotated refresh token.
    f.zendesk.expire_access_tokens();
    f.process(&[reply_in("8201", "8202", "931", "@acme any news?", seconds(400))]).await;
    assert_eq!(f.sweep(seconds(401)).await.sent, 2);
    assert_eq!(f.zendesk.refreshes(), 2);
    assert_eq!(f.zendesk.tickets()[0].comments.len(), 2);

    // A refusal that cannot change is failed at once, with its reason, for ops.
    f.freshdesk.respond_next(400, None);
    f.zendesk.respond_next(422, None);
    f.process(&[reply_in("8201", "8203", "931", "@acme hello?", seconds(500))]).await;
    assert_eq!(f.sweep(seconds(501)).await.failed, 2);
    let failed = f.store().failed_outbox(10).await.unwrap();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|(_, e)| e.last_error.as_deref().is_some_and(|r| r.contains("rejected"))), "{failed:?}");
}

#[tokio::test]
async fn zendesk_is_sent_no_more_than_its_rate_and_what_waits_its_turn_spends_no_attempt() {
    use hark_shared::domain::rate::RateLimit;
    // Zendesk allows six requests a minute and Hark keeps to six: a ticket is two requests
    // (the user, the ticket), so one opens now and the next slot is 20 s off, further than
    // a send waits (1 s): the other conversations wait their turn rather than meet a 429.
    let rates = hark_shared::helpdesks::spacing::DeskRates {
        zendesk: RateLimit::per_minute(6),
        freshdesk: None,
        max_wait: TimeDelta::seconds(1),
    };
    let f = fixture_keeping(rates).await;
    f.zendesk.limit_rate(Some(6));
    let complaints: Vec<_> =
        (0..4).map(|n| mention(&format!("840{n}"), &format!("94{n}"), "@acme my order never came", t0())).collect();
    f.process(&complaints).await;
    let summary = f.sweep(seconds(1)).await;
    // The first send held back marks Zendesk busy for the rest of the run: the others are
    // not even claimed.
    assert_eq!((summary.sent, summary.throttled + summary.deferred, summary.failed), (4 + 1, 3, 0), "{summary:?}");
    assert!(summary.throttled >= 1, "{summary:?}");
    assert_eq!((f.zendesk.tickets().len(), f.freshdesk.tickets().len()), (1, 4));
    let stats = f.zendesk.rate_stats();
    assert_eq!((stats.requests, stats.rate_limited), (2, 0), "no request past the limit");

    // The held-back records are pending with no attempt spent (the schedule is whole for
    // real failures); those held back after a claim are due when the bucket frees up (20 s,
    // spread over a quarter more).
    let held: Vec<_> = items_of_type(&f.aws, &f.table, "outbox")
        .await
        .into_iter()
        .filter(|r| attr_s(r, "sk").starts_with("OUTBOX#fwd#zendesk") && attr_s(r, "status") == "pending")
        .collect();
    assert_eq!(held.len(), 3);
    for record in &held {
        let number = |name: &str| record.get(name).and_then(|v| v.as_n().ok()).unwrap().parse::<i64>().unwrap();
        assert_eq!(number("attempts"), 0, "{record:?}");
        if !attr_s(record, "last_error").is_empty() {
            assert!(attr_s(record, "last_error").contains("next slot"), "{record:?}");
            let due = number("due_at") - seconds(1).timestamp();
            assert!((15..=26).contains(&due), "due {due} s on");
        }
    }
    let again = f.sweep(seconds(2)).await;
    assert_eq!((again.sent, f.zendesk.rate_stats().rate_limited), (0, 0), "not before their turn: {again:?}");
}

#[tokio::test]
async fn each_level_acts_on_the_tickets_once_under_overlapping_runs_and_a_resolution_solves_them() {
    let f = fixture().await;
    f.process(&[
        mention("8301", "941", "@acme you charged me twice and nobody answers", t0()),
        mention("8302", "942", "@acme my refund still has not arrived, this is a joke", t0()),
    ])
    .await;
    assert_eq!(f.sweep(seconds(1)).await.sent, 4);
    let ticket_of =
        |external: &str| f.zendesk.tickets().into_iter().find(|t| t.external_id.as_deref() == Some(external));
    let fresh_of = |conversation: &str| {
        f.freshdesk.tickets().into_iter().find(|t| t.custom_fields[FIELD] == conversation).expect("a Freshdesk ticket")
    };
    let (a, b) = (format!("x:{BRAND}:8301"), format!("x:{BRAND}:8302"));
    // An agent has taken B in both desks: it keeps its group, whatever the level.
    f.zendesk.assign(ticket_of(&b).unwrap().id);
    f.freshdesk.assign(fresh_of(&b).id);

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
    // Two runs at once, as when a slow run overlaps the next; then the sweeps, twice over.
    let raise = async |at: DateTime<Utc>| {
        let (first, second) = (escalator(at), escalator(at + TimeDelta::seconds(1)));
        let (one, two) = tokio::join!(first.run(), second.run());
        let escalated = one.unwrap().escalated + two.unwrap().escalated;
        for n in 1..=3 {
            f.clock.set(at + TimeDelta::seconds(n));
            let (one, two) = tokio::join!(f.sweeper.run(), f.sweeper.run());
            assert_eq!(one.unwrap().failed + two.unwrap().failed, 0);
        }
        escalated
    };
    let notes = |level: &str| {
        let marker = format!("Hark: {level}.");
        let zendesk: Vec<usize> = [&a, &b]
            .iter()
            .map(|c| ticket_of(c).unwrap().comments.iter().filter(|n| !n.public && n.body.starts_with(&marker)).count())
            .collect();
        let freshdesk: Vec<usize> = [&a, &b]
            .iter()
            .map(|c| fresh_of(c).notes.iter().filter(|n| n.private && n.body.contains(&marker)).count())
            .collect();
        (zendesk, freshdesk)
    };

    assert_eq!(raise(t0() + TimeDelta::minutes(16)).await, 2, "one warning each");
    assert_eq!(notes("warning"), (vec![1, 1], vec![1, 1]), "one note per level, per ticket, per desk");
    let (za, zb) = (ticket_of(&a).unwrap(), ticket_of(&b).unwrap());
    assert_eq!((za.priority.as_str(), za.group_id), ("high", None), "a warning raises to high, moves nothing");
    assert_eq!(zb.group_id, Some(360_000_111));
    assert_eq!(fresh_of(&a).priority, 3);

    assert_eq!(raise(t0() + TimeDelta::minutes(31)).await, 2, "one breach each");
    assert_eq!(notes("breach"), (vec![1, 1], vec![1, 1]));
    assert_eq!(notes("warning"), (vec![1, 1], vec![1, 1]), "nothing earlier is sent again");
    let (za, zb) = (ticket_of(&a).unwrap(), ticket_of(&b).unwrap());
    assert_eq!((za.priority.as_str(), za.group_id), ("urgent", Some(360_000_222)), "moved to the escalations group");
    assert_eq!((zb.priority.as_str(), zb.group_id), ("urgent", Some(360_000_111)), "taken: raised, not moved");
    assert_eq!((fresh_of(&a).priority, fresh_of(&a).group_id), (4, Some(43_000_013)));
    assert_eq!((fresh_of(&b).priority, fresh_of(&b).group_id), (4, Some(43_000_012)));
    let note = ticket_of(&a)
        .unwrap()
        .comments
        .iter()
        .rev()
        .find(|n| n.body.starts_with("Hark: breach."))
        .unwrap()
        .body
        .clone();
    assert!(note.contains("Why: unanswered for 31 min: the SLA was breached 1 min ago."), "{note}");

    let conversation = ConversationId(a.clone());
    let resolved_at = t0() + TimeDelta::minutes(40);
    hark_shared::ports::ConversationResolver::resolve_conversation(&f.store(), &conversation, resolved_at)
        .await
        .unwrap();
    f.sweep(resolved_at + TimeDelta::seconds(1)).await;
    f.sweep(resolved_at + TimeDelta::seconds(2)).await;
    assert_eq!(ticket_of(&a).unwrap().status, "solved");
    assert_eq!(fresh_of(&a).status, 4);
    assert_eq!(f.zendesk.tickets().len(), 2);
}

#[tokio::test]
async fn a_storm_of_429s_and_5xxs_is_ridden_out_with_one_ticket_per_conversation() {
    let f = fixture().await;
    for _ in 0..6 {
        f.zendesk.respond_next(429, Some(30));
        f.freshdesk.respond_next(500, None);
        f.freshdesk.respond_next(502, None);
    }
    let customers = ["951", "952", "953", "954", "955"];
    let mentions: Vec<_> = customers
        .iter()
        .enumerate()
        .map(|(i, c)| mention(&format!("86{i:02}"), c, "@acme my flight was cancelled and nobody answers", t0()))
        .collect();
    f.process(&mentions).await;
    let mut failed = 0;
    // The schedule for the 5xxs: 5 s, then 5 min; the 429s come back after their 30 s.
    for at in [1, 7, 32, 40, 310, 320, 700, 2200] {
        failed += f.sweep(seconds(at)).await.failed;
    }
    assert_eq!(failed, 0);
    assert_eq!(f.sweep(seconds(9000)).await.due, 0, "everything delivered");
    let mut zendesk: Vec<_> = f.zendesk.tickets().into_iter().filter_map(|t| t.external_id).collect();
    zendesk.sort();
    zendesk.dedup();
    assert_eq!((zendesk.len(), f.zendesk.tickets().len()), (5, 5), "one ticket per conversation");
    let freshdesk = f.freshdesk.tickets();
    let mut conversations: Vec<_> = freshdesk.iter().map(|t| t.custom_fields[FIELD].to_string()).collect();
    conversations.sort();
    conversations.dedup();
    assert_eq!((conversations.len(), freshdesk.len()), (5, 5));
    assert_eq!(f.freshdesk.contacts().len(), 5);
}
