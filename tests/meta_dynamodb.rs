//! Facebook, Messenger and Instagram through the real processor and outbox sweep, over
//! DynamoDB Local and the local Graph API: every event is a delivery the local Graph API
//! made, signed, verified and normalised by the webhook's own inbound side.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeDelta, Utc};
use hark_shared::domain::mention::{Channel, Direction, Mention, MentionKind};
use hark_shared::ports::Clock;
use hark_tests::*;
use serde_json::json;

type Item = HashMap<String, AttributeValue>;

struct Fixture {
    aws: aws_config::SdkConfig,
    table: String,
    x_api: LocalXApi,
    graph: LocalGraphApi,
    clock: TestClock,
    processor: TestProcessor,
}

async fn fixture() -> Fixture {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let x_api = LocalXApi::start(0).await.unwrap();
    let graph = graph_api().await;
    // The local Graph API keeps Meta's windows by the wall clock; Hark's clock starts there.
    let clock = TestClock::at(Utc::now());
    let processor = meta_processor(&aws, &table, &x_api, &graph, clock.clone());
    Fixture { aws, table, x_api, graph, clock, processor }
}

impl Fixture {
    /// Each mention as its own SQS record; returns the ids reported as failed.
    async fn process(&self, mentions: &[Mention]) -> Vec<String> {
        self.process_received(mentions, 1).await
    }

    async fn process_received(&self, mentions: &[Mention], receive_count: u32) -> Vec<String> {
        // The processor reads a message after the webhook received it, as in Lambda.
        if self.clock.now() < Utc::now() {
            self.clock.set(Utc::now());
        }
        let ids: Vec<String> = mentions.iter().map(|_| unique("sqs")).collect();
        let records: Vec<(&str, &Mention)> = ids.iter().map(String::as_str).zip(mentions).collect();
        let response = self.processor.handle(sqs_event_received(&records, receive_count)).await;
        response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
    }

    /// Delivers Meta's events and processes what they normalise to; nothing may fail.
    async fn deliver(&self, events: &[graph_api::Event]) -> Vec<Mention> {
        let mentions = meta_mentions(events);
        assert_eq!(self.process(&mentions).await, Vec::<String>::new());
        mentions
    }

    fn sweeper(&self) -> TestSweeper {
        meta_sweeper(&self.aws, &self.table, &self.x_api, &self.graph, self.clock.clone())
    }

    async fn items(&self, item_type: &str) -> Vec<Item> {
        items_of_type(&self.aws, &self.table, item_type).await
    }

    async fn message(&self, message_id: &str) -> Item {
        let messages = self.items("message").await;
        messages.into_iter().find(|m| attr_s(m, "message_id") == message_id).expect("the message is stored")
    }

    async fn only_conversation(&self) -> Item {
        let conversations = self.items("conversation").await;
        assert_eq!(conversations.len(), 1, "{conversations:?}");
        conversations.into_iter().next().unwrap()
    }

    async fn only_outbox(&self) -> Item {
        let outbox = self.items("outbox").await;
        assert_eq!(outbox.len(), 1, "{outbox:?}");
        outbox.into_iter().next().unwrap()
    }
}

fn scripted(status: u16, body: serde_json::Value) -> ScriptedResponse {
    ScriptedResponse { status, headers: Vec::new(), body, delay: Duration::ZERO, only_for: None, create_anyway: false }
}

fn graph_error(code: i64, subcode: Option<i64>, message: &str) -> serde_json::Value {
    let mut error = json!({"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf"});
    if let Some(subcode) = subcode {
        error["error_subcode"] = json!(subcode);
    }
    json!({ "error": error })
}

const PAT: (&str, &str) = ("6100000000001", "Pat Doe");
const SAM: (&str, &str) = ("6100000000002", "Sam Roe");

#[tokio::test]
async fn a_facebook_comment_is_answered_once_in_its_thread_and_a_person_s_answer_stops_the_clock() {
    let f = fixture().await;
    let post = f.graph.page_post(PAGE, "Our winter schedule is out");
    let comment = f.graph.comment(PAGE, &post, PAT, "my flight was cancelled and nobody answers, this is terrible");
    let mentions = f.deliver(std::slice::from_ref(&comment)).await;
    assert_eq!(mentions.len(), 1);
    assert_eq!((mentions[0].channel, mentions[0].direction), (Channel::Facebook, Direction::Inbound));
    // Meta delivers again; SQS redelivers.
    f.deliver(std::slice::from_ref(&comment)).await;
    assert_eq!(f.process(&mentions).await, Vec::<String>::new());

    let writes = f.graph.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].path, format!("/{}/comments", comment.id));
    assert_eq!(writes[0].authorization.as_deref(), Some(format!("Bearer {PAGE_TOKEN}").as_str()));
    let replies = f.graph.business_replies_to(&comment.id);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].contains("Pat"), "{replies:?}");
    assert_eq!(f.items("message").await.len(), 1);
    let conversation = f.only_conversation().await;
    assert_eq!(attr_s(&conversation, "status"), "awaiting_reply");
    assert_eq!(attr_s(&conversation, "channel"), "facebook");
    assert_eq!(attr_s(&conversation, "customer_name"), "Pat Doe");
    assert_eq!(attr_s(&f.only_outbox().await, "status"), "sent");

    // Meta's echo of Hark's own comment is known as ours: no new message, the clock runs on.
    let echo = f.graph.echoes().pop().expect("Meta echoes the reply");
    let echoed = f.deliver(&[echo]).await;
    assert_eq!(echoed[0].direction, Direction::Outbound);
    assert_eq!(attr_s(&f.only_conversation().await, "status"), "awaiting_reply");

    // A person at the business answers as the Page: that stops the clock.
    let person = f.graph.person_comments(PAGE, &comment.id, "So sorry Pat, we have rebooked you on the 18:05");
    f.deliver(&[person]).await;
    let conversation = f.only_conversation().await;
    assert_eq!(attr_s(&conversation, "status"), "answered");
    let answer = f.items("message").await.into_iter().find(|m| attr_s(m, "direction") == "outbound").unwrap();
    assert_eq!(answer["automated"].as_bool().ok(), Some(&false), "{answer:?}");
    assert_eq!(f.graph.writes().len(), 1, "nothing more is sent");
}

#[tokio::test]
async fn personal_data_in_a_public_comment_is_answered_privately_and_stored_redacted() {
    let f = fixture().await;
    let post = f.graph.page_post(PAGE, "Holiday sale");
    let comment = f.graph.comment(PAGE, &post, PAT, "my order #4417823 never arrived and I want a refund");
    f.deliver(std::slice::from_ref(&comment)).await;

    let writes = f.graph.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].path, format!("/{PAGE}/messages"));
    assert_eq!(writes[0].body["recipient"]["comment_id"], comment.id.as_str());
    assert!(f.graph.business_replies_to(&comment.id).is_empty(), "nothing is said in public");
    assert_eq!(f.graph.messages_to(PAT.0).len(), 1);

    let stored = f.message(&comment.id).await;
    let text = attr_s(&stored, "text");
    assert!(!text.contains("4417823"), "{text}");
    assert_eq!(stored["redacted"].as_ss().unwrap(), &vec!["reference".to_owned()]);

    // A second comment whose private reply went out but whose answer was lost: the sweep
    // asks Meta whether the comment can still be answered privately, and does not resend.
    let second = f.graph.comment(PAGE, &post, SAM, "order 5520001 charged twice, card ending 4242, help");
    f.graph.respond_next(ScriptedResponse {
        create_anyway: true,
        ..scripted(500, graph_error(2, None, "An unexpected error has occurred"))
    });
    f.deliver(std::slice::from_ref(&second)).await;
    let unknown = f.items("outbox").await;
    let unknown = unknown.iter().find(|o| attr_s(o, "answers_message_id") == second.id).unwrap();
    assert_eq!(attr_s(unknown, "status"), "unknown", "{unknown:?}");

    f.clock.set(Utc::now() + TimeDelta::minutes(2));
    let summary = f.sweeper().run().await.unwrap();
    assert_eq!((summary.found_sent, summary.sent), (1, 0), "{summary:?}");
    assert_eq!(f.graph.messages_to(SAM.0).len(), 1, "one private reply, never two");
    let lookups: Vec<_> = f.graph.requests().into_iter().filter(|r| r.method == "GET").collect();
    assert_eq!(lookups.len(), 1, "{lookups:?}");
    assert_eq!(lookups[0].path, format!("/{}", second.id));
    assert_eq!(lookups[0].query["fields"], "can_reply_privately");
}

#[tokio::test]
async fn a_messenger_complaint_is_acknowledged_in_the_window_and_a_business_suite_echo_stops_the_clock() {
    let f = fixture().await;
    let first = f.graph.message(PAGE, PAT.0, "My bag never arrived in Lisbon, this is awful");
    let second = f.graph.message(PAGE, PAT.0, "Tag number LIS 20481");
    let mentions = f.deliver(&[first.clone(), second.clone()]).await;
    assert!(mentions.iter().all(|m| m.kind == MentionKind::DirectMessage && m.channel == Channel::Facebook));

    // One conversation for the customer's DMs, and one acknowledgement, for the first.
    let conversation = f.only_conversation().await;
    assert_eq!(attr_s(&conversation, "status"), "awaiting_reply");
    let writes = f.graph.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].path, format!("/{PAGE}/messages"));
    assert_eq!(writes[0].body["messaging_type"], "RESPONSE");
    assert_eq!(writes[0].body["recipient"]["id"], PAT.0);
    assert_eq!(f.graph.messages_to(PAT.0).len(), 1);

    // Meta echoes Hark's message with Hark's app id: ours, automated, the clock runs on.
    let echo = f.graph.echoes().pop().unwrap();
    let echoed = f.deliver(&[echo]).await;
    assert_eq!(echoed[0].automated, Some(true));
    assert_eq!(attr_s(&f.only_conversation().await, "status"), "awaiting_reply");

    // An agent answers from Business Suite: another app's echo is a person's answer.
    let person = f.graph.person_messages(PAGE, PAT.0, "Found it: your bag is on tonight's flight");
    let answered = f.deliver(&[person]).await;
    assert_eq!(answered[0].automated, Some(false));
    assert_eq!(attr_s(&f.only_conversation().await, "status"), "answered");
    assert_eq!(f.graph.writes().len(), 1);
}

#[tokio::test]
async fn past_the_messaging_window_nothing_is_sent_and_a_person_is_asked_to_answer() {
    let f = fixture().await;
    // Meta throttles the first attempt, saying how long to wait.
    f.graph.respond_next(ScriptedResponse {
        headers: vec![(
            "x-business-use-case-usage".into(),
            json!({PAGE: [{"type": "messenger", "call_count": 100, "estimated_time_to_regain_access": 30}]})
                .to_string(),
        )],
        ..scripted(400, graph_error(32, None, "Page request limit reached"))
    });
    let message = f.graph.message(PAGE, PAT.0, "I was charged twice for my ticket, please fix it");
    f.deliver(&[message]).await;
    let outbox = f.only_outbox().await;
    assert_eq!(attr_s(&outbox, "status"), "pending", "{outbox:?}");
    let due_at: i64 = outbox["due_at"].as_n().unwrap().parse().unwrap();
    let now = Utc::now().timestamp();
    assert!((now + 29 * 60..=now + 31 * 60).contains(&due_at), "waits the 30 minutes Meta named: {outbox:?}");

    // Meta stays unavailable for most of a day; when the sweep comes back the window has
    // all but closed (Hark keeps an hour back), so nothing is sent.
    f.clock.set(Utc::now() + TimeDelta::hours(23) + TimeDelta::minutes(5));
    let summary = f.sweeper().run().await.unwrap();
    assert_eq!((summary.left_to_person, summary.sent), (1, 0), "{summary:?}");
    assert_eq!(f.graph.writes().len(), 1, "only the throttled attempt");
    let outbox = f.only_outbox().await;
    assert_eq!(attr_s(&outbox, "status"), "cancelled");
    assert!(attr_s(&outbox, "last_error").contains("window"), "{outbox:?}");
    let conversation = f.only_conversation().await;
    assert!(attr_s(&conversation, "needs_person").contains("window"), "{conversation:?}");

    // Meta's own word on a closed window (its clock, not ours) ends the same way.
    let g = fixture().await;
    g.graph.respond_next(scripted(
        400,
        graph_error(10, Some(2018278), "(#10) This message is sent outside of allowed window."),
    ));
    g.deliver(&[g.graph.message(OTHER_PAGE, SAM.0, "where is my refund? still nothing")]).await;
    let outbox = g.only_outbox().await;
    assert_eq!(attr_s(&outbox, "status"), "cancelled", "{outbox:?}");
    assert!(!attr_s(&g.only_conversation().await, "needs_person").is_empty());
    assert_eq!(g.sweeper().run().await.unwrap().due, 0, "never retried");
}

#[tokio::test]
async fn edits_and_removals_amend_what_is_stored_and_nothing_is_deleted() {
    let f = fixture().await;
    let post = f.graph.page_post(PAGE, "New routes to Porto");
    let comment = f.graph.comment(PAGE, &post, PAT, "my refund is late");
    f.deliver(std::slice::from_ref(&comment)).await;
    let edit = f.graph.edit_comment(&comment.id, "my refund is three weeks late, order #4417823").unwrap();
    f.deliver(&[edit]).await;
    let stored = f.message(&comment.id).await;
    assert!(attr_s(&stored, "text").starts_with("my refund is three weeks late"), "{stored:?}");
    assert!(!attr_s(&stored, "text").contains("4417823"), "an edit is redacted too: {stored:?}");
    assert!(stored.contains_key("edited_at"));
    assert_eq!(f.graph.writes().len(), 1, "an edit is not answered again");

    // The author removes a comment before Hark could answer it: the answer is cancelled,
    // the conversation closed, the message kept and marked.
    let other = f.graph.comment(PAGE, &post, SAM, "terrible service, never again");
    f.graph.respond_next(scripted(503, graph_error(2, None, "Service temporarily unavailable")));
    f.deliver(std::slice::from_ref(&other)).await;
    let removal = f.graph.remove_comment(&other.id).unwrap();
    f.deliver(&[removal]).await;
    let removed = f.message(&other.id).await;
    assert!(removed.contains_key("removed_at"), "{removed:?}");
    let outbox = f.items("outbox").await;
    let cancelled = outbox.iter().find(|o| attr_s(o, "answers_message_id") == other.id).unwrap();
    assert_eq!(attr_s(cancelled, "status"), "cancelled", "{cancelled:?}");
    let conversations = f.items("conversation").await;
    assert_eq!(conversations.iter().filter(|c| attr_s(c, "status") == "removed").count(), 1, "{conversations:?}");

    // Removed before Hark's answer reached Meta: Meta no longer finds it, the answer
    // fails, and the removal that follows takes the failure off ops' list.
    let gone = f.graph.comment(PAGE, &post, ("6100000000004", "Jo Koe"), "worst airline ever");
    let gone_mentions = meta_mentions(std::slice::from_ref(&gone));
    let gone_removal = f.graph.remove_comment(&gone.id).unwrap();
    assert_eq!(f.process(&gone_mentions).await, Vec::<String>::new());
    let status_of = |outbox: Vec<Item>, id: &str| {
        outbox.iter().find(|o| attr_s(o, "answers_message_id") == id).map(|o| attr_s(o, "status")).unwrap()
    };
    assert_eq!(status_of(f.items("outbox").await, &gone.id), "failed");
    f.deliver(&[gone_removal]).await;
    assert_eq!(status_of(f.items("outbox").await, &gone.id), "cancelled");

    // A removal that overtakes the comment leaves a tombstone: the late comment is not stored.
    let late = f.graph.comment(PAGE, &post, SAM, "also my seat was broken");
    let late_mentions = meta_mentions(std::slice::from_ref(&late));
    let late_removal = f.graph.remove_comment(&late.id).unwrap();
    f.deliver(&[late_removal]).await;
    assert_eq!(f.process(&late_mentions).await, Vec::<String>::new());
    assert!(f.items("message").await.iter().all(|m| attr_s(m, "message_id") != late.id));

    // An edit of a comment Hark never saw is the comment itself.
    let unseen = f.graph.comment(PAGE, &post, ("6100000000003", "Alex Poe"), "is the lounge open?");
    let unseen_edit = f.graph.edit_comment(&unseen.id, "is the lounge in Porto open at 6am?").unwrap();
    f.deliver(&[unseen_edit]).await;
    assert_eq!(attr_s(&f.message(&unseen.id).await, "text"), "is the lounge in Porto open at 6am?");
}

#[tokio::test]
async fn standby_messages_are_stored_and_never_answered() {
    let f = fixture().await;
    let standby = f.graph.message_in_standby(PAGE, PAT.0, "is anyone there? my flight is tomorrow");
    let mentions = f.deliver(&[standby]).await;
    assert!(mentions[0].standby);
    assert_eq!(f.items("message").await.len(), 1);
    assert!(f.items("outbox").await.is_empty());
    assert!(f.graph.writes().is_empty());
}

#[tokio::test]
async fn instagram_comments_mentions_and_messages_are_answered_where_instagram_allows() {
    let f = fixture().await;
    let media = f.graph.instagram_media(INSTAGRAM, "Summer in Porto");
    let top = f.graph.instagram_comment(
        INSTAGRAM,
        &media,
        ("17841400000000777", "pat.travels"),
        "my flight got cancelled, help",
    );
    let mentions = f.deliver(std::slice::from_ref(&top)).await;
    assert_eq!(mentions[0].channel, Channel::Instagram);
    assert_eq!(f.graph.writes().last().unwrap().path, format!("/{}/replies", top.id));

    // A reply to a reply, in a thread Hark has not seen (Instagram nests one level, and
    // `/replies` takes only top-level comments): answered under the thread's top comment.
    let other_top = f.graph.instagram_comment(INSTAGRAM, &media, ("17841400000000555", "kim.loe"), "anyone else?");
    let first_reply = f.graph.instagram_comment(INSTAGRAM, &other_top.id, ("17841400000000666", "lee.moe"), "yes");
    let reply =
        f.graph.instagram_comment(INSTAGRAM, &first_reply.id, ("17841400000000888", "sam.roe"), "same here, awful");
    let replied = f.deliver(std::slice::from_ref(&reply)).await;
    assert_eq!(replied[0].parent_id.as_deref(), Some(other_top.id.as_str()));
    assert_eq!(f.graph.writes().last().unwrap().path, format!("/{}/replies", other_top.id));
    assert_eq!(f.graph.business_replies_to(&other_top.id).len(), 1);

    // A mention carries no text: Hark fetches it, then answers on the mentions edge.
    let mention =
        f.graph.instagram_mention(INSTAGRAM, ("17841400000000999", "alex.poe"), "@acmeair lost my bag again, awful");
    let mentioned = f.deliver(std::slice::from_ref(&mention)).await;
    assert!(mentioned[0].text.is_empty());
    assert_eq!(attr_s(&f.message(&mention.id).await, "text"), "@acmeair lost my bag again, awful");
    let fetch = f.graph.requests().into_iter().find(|r| r.method == "GET" && r.path == format!("/{INSTAGRAM}"));
    assert!(fetch.is_some_and(|r| r.query["fields"].contains("mentioned_comment")), "fetched through the account");
    let answer = f.graph.writes().pop().unwrap();
    assert_eq!(answer.path, format!("/{INSTAGRAM}/mentions"));
    assert_eq!(answer.body["comment_id"], mention.id.as_str());

    // Instagram Direct.
    let dm = f.graph.message(INSTAGRAM, "17841400000000777", "still waiting on my refund, it's been weeks");
    let dms = f.deliver(&[dm]).await;
    assert_eq!((dms[0].channel, dms[0].kind), (Channel::Instagram, MentionKind::DirectMessage));
    let answer = f.graph.writes().pop().unwrap();
    // Instagram messaging through Facebook Login goes through the linked Page.
    assert_eq!(answer.path, format!("/{PAGE}/messages"));
    assert_eq!(f.graph.messages_to("17841400000000777").len(), 1);
    assert_eq!(f.graph.writes().len(), 4, "one answer each: {:?}", f.graph.writes());
}

#[tokio::test]
async fn a_reply_that_outruns_the_comment_it_answers_waits_for_it() {
    let f = fixture().await;
    let post = f.graph.page_post(PAGE, "Delays today");
    let comment = f.graph.comment(PAGE, &post, PAT, "3 hours on the tarmac, this is a disgrace");
    let person = f.graph.person_comments(PAGE, &comment.id, "We are so sorry, Pat; a voucher is on its way");
    // The Page's answer names the customer only by the comment it answers: it sits in
    // another FIFO group and may be read first.
    let answer = meta_mentions(&[person]);
    assert_eq!(answer[0].customer_id, comment.id);
    let failed = f.process(&answer).await;
    assert_eq!(failed.len(), 1, "retried rather than dropped");

    f.deliver(std::slice::from_ref(&comment)).await;
    assert_eq!(f.process_received(&answer, 2).await, Vec::<String>::new());
    assert_eq!(attr_s(&f.only_conversation().await, "status"), "answered");

    // A parent that never comes is given up on after the configured receives, not forever.
    let lonely = f.graph.person_comments(PAGE, "999_111", "Thanks for flying with us");
    let lonely = meta_mentions(&[lonely]);
    assert_eq!(f.process_received(&lonely, 99).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_mention_whose_text_meta_cannot_give_waits_a_little_then_is_stored_without_it() {
    let f = fixture().await;
    let unavailable = || ScriptedResponse {
        only_for: Some(format!("GET /{INSTAGRAM}")),
        ..scripted(503, graph_error(2, None, "Service temporarily unavailable"))
    };
    // Meta is down for one read: the mention waits for the next receive and is then whole.
    f.graph.respond_next(unavailable());
    let event = f.graph.instagram_mention(INSTAGRAM, ("17841400000000999", "alex.poe"), "@acmeair where is my refund?");
    let mention = meta_mentions(std::slice::from_ref(&event));
    assert_eq!(f.process_received(&mention, 1).await.len(), 1, "retried, not stored without its text");
    assert_eq!(f.process_received(&mention, 2).await, Vec::<String>::new());
    assert_eq!(attr_s(&f.message(&event.id).await, "text"), "@acmeair where is my refund?");

    // Down for longer: after the wait the mention is stored saying so, never dead-lettered.
    let event = f.graph.instagram_mention(INSTAGRAM, ("17841400000000998", "kim.loe"), "@acmeair my bag?");
    let mention = meta_mentions(std::slice::from_ref(&event));
    for receive in 1..=3 {
        f.graph.respond_next(unavailable());
        let failed = f.process_received(&mention, receive).await;
        assert_eq!(failed.len(), usize::from(receive <= 2), "receive {receive}");
    }
    let text = attr_s(&f.message(&event.id).await, "text");
    assert!(text.starts_with("[instagram gave no text for this message"), "{text}");
}
