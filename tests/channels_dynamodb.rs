//! LinkedIn and a signed source through the real webhook inbound side, processor and
//! outbox sweep, over DynamoDB Local, the local LinkedIn API and a local source app that
//! checks Hark's signatures as a receiver following the spec does.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Utc;
use hark_local::demo_channels::{LINKEDIN_CLIENT_SECRET, LINKEDIN_ORG, LINKEDIN_TOKEN, SOURCE, SOURCE_SECRET};
use hark_local::helpdesk_webhooks::LocalHelpDesk;
use hark_local::linkedin_api::{Delivery, LocalLinkedInApi};
use hark_shared::channels::{Inbound, WebhookRequest};
use hark_shared::credentials::Credentials;
use hark_shared::domain::mention::{Channel, Direction, Mention, MentionKind};
use hark_shared::helpdesks::standard_webhooks::{self, EndpointSecret};
use hark_shared::ports::Clock;
use hark_tests::*;
use serde_json::json;

type Item = HashMap<String, AttributeValue>;

struct Fixture {
    aws: aws_config::SdkConfig,
    table: String,
    linkedin: LocalLinkedInApi,
    app: LocalHelpDesk,
    inbound: Inbound,
    clock: TestClock,
    processor: TestProcessor,
}

async fn fixture() -> Fixture {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let x_api = LocalXApi::start(0).await.unwrap();
    let linkedin = LocalLinkedInApi::start(0, LINKEDIN_CLIENT_SECRET).await.unwrap();
    linkedin.register_organization(LINKEDIN_ORG, LINKEDIN_TOKEN);
    let app = LocalHelpDesk::start(0, SOURCE_SECRET).await.unwrap();
    let credentials = Credentials::from_json(
        &json!({
            "linkedin": {"client_secret": LINKEDIN_CLIENT_SECRET, "organizations": {LINKEDIN_ORG: {"access_token": LINKEDIN_TOKEN}}},
            "sources": {SOURCE: {"secret": SOURCE_SECRET, "reply_url": app.url}},
        })
        .to_string(),
    )
    .unwrap();
    let replies = hark_shared::channels::Outbound {
        linkedin: hark_shared::channels::linkedin::LinkedInClient::new(
            &linkedin.base_url,
            hark_shared::channels::linkedin::outbound::DEFAULT_VERSION,
            credentials.linkedin.as_ref(),
            Default::default(),
        )
        .unwrap(),
        sources: hark_shared::channels::generic::GenericClient::new(&credentials.sources).unwrap(),
        ..replies(x_client(&aws, &table, &x_api), None)
    };
    let clock = TestClock::at(Utc::now());
    let processor = processor_with(&aws, &table, replies, clock.clone());
    Fixture { aws, table, linkedin, app, inbound: Inbound::new(&credentials), clock, processor }
}

impl Fixture {
    /// What the webhook makes of a request to `/webhooks/{channel}[/{account}]`, processed
    /// by the real processor, each mention its own SQS record; nothing may fail.
    async fn receive(
        &self,
        channel: &str,
        account: Option<&str>,
        headers: http::HeaderMap,
        body: &[u8],
    ) -> Vec<Mention> {
        let request = WebhookRequest {
            account,
            query: &[],
            headers: &headers,
            body,
            received_at: Utc::now(),
            request_id: &unique("apigw"),
        };
        let normalised = Inbound::receive(self.inbound.channel(channel).unwrap(), &request).unwrap();
        if self.clock.now() < Utc::now() {
            self.clock.set(Utc::now());
        }
        let ids: Vec<String> = normalised.mentions.iter().map(|_| unique("sqs")).collect();
        let records: Vec<(&str, &Mention)> = ids.iter().map(String::as_str).zip(&normalised.mentions).collect();
        let failures = self.processor.handle(sqs_event(&records)).await.batch_item_failures;
        assert!(failures.is_empty(), "{failures:?}");
        normalised.mentions
    }

    async fn linkedin(&self, delivery: &Delivery) -> Vec<Mention> {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-li-signature", delivery.signature.parse().unwrap());
        self.receive("linkedin", None, headers, delivery.body.as_bytes()).await
    }

    async fn source(&self, id: &str, message: serde_json::Value) -> Vec<Mention> {
        let body = json!({"type": "message.created", "data": message}).to_string();
        let ts = Utc::now().timestamp();
        let signature =
            standard_webhooks::sign(&EndpointSecret::parse(SOURCE_SECRET).unwrap(), id, ts, body.as_bytes());
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", id.parse().unwrap());
        headers.insert("webhook-timestamp", ts.to_string().parse().unwrap());
        headers.insert("webhook-signature", signature.parse().unwrap());
        self.receive("generic", Some(SOURCE), headers, body.as_bytes()).await
    }

    async fn items(&self, item_type: &str) -> Vec<Item> {
        items_of_type(&self.aws, &self.table, item_type).await
    }

    async fn message(&self, message_id: &str) -> Item {
        let messages = self.items("message").await;
        messages.into_iter().find(|m| attr_s(m, "message_id") == message_id).expect("the message is stored")
    }
}

#[tokio::test]
async fn a_linkedin_comment_is_answered_once_under_it_as_the_organisation() {
    let f = fixture().await;
    let post = f.linkedin.organization_post(LINKEDIN_ORG, "We now fly to Porto three times a day");
    let delivery = f.linkedin.member_comments(
        LINKEDIN_ORG,
        &post,
        "AbC123",
        "Is the Porto route open to bikes? My booking shows nothing",
        true,
    );
    let mentions = f.linkedin(&delivery).await;
    assert_eq!(mentions.len(), 1);
    let comment = mentions[0].message_id.clone();
    assert_eq!(
        (mentions[0].channel, mentions[0].direction, mentions[0].kind),
        (Channel::LinkedIn, Direction::Inbound, MentionKind::Reply)
    );
    // LinkedIn delivers again (it says it may); stored once, answered once.
    f.linkedin(&delivery).await;

    let replies = f.linkedin.organization_replies_to(LINKEDIN_ORG, &comment);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(f.items("message").await.len(), 1);
    let conversations = f.items("conversation").await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(attr_s(&conversations[0], "channel"), "linkedin");
    assert_eq!(attr_s(&conversations[0], "status"), "awaiting_reply");
    let outbox = f.items("outbox").await;
    assert_eq!((outbox.len(), attr_s(&outbox[0], "status")), (1, "sent".to_owned()));
    let write = f.linkedin.requests().into_iter().find(|r| r.method == "POST").unwrap();
    assert_eq!(write.body["parentComment"], hark_shared::channels::linkedin::urn::urn_of(&comment).unwrap().as_str());

    // LinkedIn's notification of the organisation's own comment is known as Hark's: the
    // clock runs on, nothing more is sent.
    let echo = f.linkedin.echoes().pop().expect("LinkedIn notifies the organisation's comment");
    let echoed = f.linkedin(&echo).await;
    assert_eq!(echoed[0].direction, Direction::Outbound);
    assert_eq!(attr_s(&f.items("conversation").await[0], "status"), "awaiting_reply");
    assert_eq!(f.items("message").await.len(), 1, "our own comment is not stored as a new message");
    assert_eq!(f.linkedin.requests().iter().filter(|r| r.method == "POST").count(), 1, "nothing more is sent");

    // Another member under the same post is another customer: a conversation of their own.
    let other = f.linkedin.member_comments(LINKEDIN_ORG, &post, "QrS456", "When do Porto flights start?", true);
    let other = f.linkedin(&other).await;
    assert_eq!(f.items("conversation").await.len(), 2);
    assert_eq!(f.linkedin.organization_replies_to(LINKEDIN_ORG, &other[0].message_id).len(), 1);
}

#[tokio::test]
async fn a_comment_without_its_text_is_fetched_and_a_mention_is_answered_on_the_post() {
    let f = fixture().await;
    let post = f.linkedin.organization_post(LINKEDIN_ORG, "Winter timetable");
    let text = "My refund for the cancelled Porto flight never arrived";
    let bare = f.linkedin.member_comments(LINKEDIN_ORG, &post, "XyZ789", text, false);
    let mentions = f.linkedin(&bare).await;
    assert!(mentions[0].text.is_empty(), "the notification carries no text");
    assert_eq!(attr_s(&f.message(&mentions[0].message_id).await, "text"), text, "fetched from the Comments API");
    assert!(f.linkedin.requests().iter().any(|r| r.method == "GET" && r.path.contains("/comments/")));

    let mention = f.linkedin.member_mentions(
        LINKEDIN_ORG,
        "Mnop42",
        "Three weeks waiting for @Acme Air to refund a cancelled flight",
    );
    let mentions = f.linkedin(&mention).await;
    assert_eq!(mentions[0].kind, MentionKind::Post);
    let replies = f.linkedin.organization_replies_to(LINKEDIN_ORG, &mentions[0].message_id);
    assert_eq!(replies.len(), 1, "a comment on the post that mentions the brand");
}

#[tokio::test]
async fn a_source_s_messages_are_answered_back_to_the_source_signed_once() {
    let f = fixture().await;
    let private = json!({"customer": {"id": "shopper-4411", "name": "Rosa Diaz"}, "text": "I paid for seat 12A but got 31F. Please fix it"});
    let mentions = f.source("msg_chat_1", private.clone()).await;
    assert_eq!((mentions[0].channel, mentions[0].kind), (Channel::Generic, MentionKind::DirectMessage));
    // The source retries (same webhook-id): stored once, answered once.
    f.source("msg_chat_1", private).await;
    let public = json!({"customer": {"id": "shopper-5120", "name": "Omar"}, "visibility": "public",
                        "text": "Checked bag fee was charged twice and still no refund"});
    f.source("msg_review_1", public).await;

    assert_eq!(f.items("message").await.len(), 2);
    let events = f.app.events();
    assert_eq!(events.len(), 2, "{events:?}");
    let to = |message: &str| events.iter().find(|e| e.body["data"]["in_reply_to"] == message).expect("answered");
    let chat = to("msg_chat_1");
    assert_eq!(chat.body["type"], "reply.created");
    assert_eq!(
        (chat.body["data"]["visibility"].as_str(), chat.body["data"]["customer_id"].as_str()),
        (Some("private"), Some("shopper-4411"))
    );
    assert!(chat.id.starts_with("rep_"));
    let review = to("msg_review_1");
    assert_eq!(review.body["data"]["visibility"], "public");
    assert!(f.app.attempts().iter().all(|(_, status)| *status == 200), "every signature checked out");
}
