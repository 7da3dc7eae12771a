//! What Hark forwards to help desks: each event a conversation goes through, as the JSON
//! body of a Standard Webhooks delivery, with a stable id the receiver deduplicates on.
//! Events are outbox records written in the same transaction as the message they report
//! (`forwards`), so none is lost and none is made twice. Pure.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::classify::Classification;
use crate::domain::mention::{Channel, Mention};
use crate::ports::{ConversationId, OutboxMessage, OutboxPurpose, ReplyTarget};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A customer's first message opened a conversation: the help desk makes a ticket.
    ConversationCreated,
    /// A later message of the customer's: a comment on that ticket.
    MessageReceived,
    /// The conversation ran past an SLA level (warning, breach, a repeat).
    ConversationEscalated,
    /// A person resolved the conversation.
    ConversationResolved,
}

impl EventType {
    pub const ALL: [EventType; 4] = [
        EventType::ConversationCreated,
        EventType::MessageReceived,
        EventType::ConversationEscalated,
        EventType::ConversationResolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ConversationCreated => "conversation.created",
            EventType::MessageReceived => "message.received",
            EventType::ConversationEscalated => "conversation.escalated",
            EventType::ConversationResolved => "conversation.resolved",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// The endpoint of a broadcast record: one written where the endpoints are not known (the
/// escalator, the HTTP API hold no help-desk configuration), which the outbox sweep turns
/// into one record per endpoint that takes its event.
pub const EVERY_ENDPOINT: &str = "*";

/// A broadcast record for `event`: `all.{event id}`, to [`EVERY_ENDPOINT`].
pub fn broadcast(
    conversation: &ConversationId,
    event: EventType,
    key: &str,
    at: DateTime<Utc>,
    data: Value,
) -> OutboxMessage {
    let id = event_id(conversation, event, key);
    let body =
        json!({ "type": event.as_str(), "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true), "data": data });
    let mut parts = conversation.0.splitn(3, ':');
    let channel = parts.next().and_then(Channel::parse).unwrap_or(Channel::X);
    OutboxMessage {
        purpose: OutboxPurpose::Forward,
        record_id: format!("all.{id}"),
        channel,
        account_id: parts.next().unwrap_or_default().to_owned(),
        answers_message_id: key.to_owned(),
        target: ReplyTarget::Webhook { endpoint: EVERY_ENDPOINT.to_owned() },
        text: body.to_string(),
        customer_wrote_at: None,
    }
}

/// The per-endpoint records a broadcast becomes: the same event, for each subscription
/// that takes it. None for a record that is not a broadcast.
pub fn fan_out(broadcast: &OutboxMessage, subscriptions: &[Subscription]) -> Vec<OutboxMessage> {
    let ReplyTarget::Webhook { endpoint } = &broadcast.target else { return Vec::new() };
    if endpoint != EVERY_ENDPOINT {
        return Vec::new();
    }
    let event = serde_json::from_str::<Value>(&broadcast.text)
        .ok()
        .and_then(|body| body["type"].as_str().and_then(EventType::parse));
    let Some(event) = event else { return Vec::new() };
    let id = event_id_of(&broadcast.record_id);
    subscriptions
        .iter()
        .filter(|s| s.wants(event))
        .map(|s| OutboxMessage {
            record_id: format!("{}.{id}", s.endpoint),
            target: ReplyTarget::Webhook { endpoint: s.endpoint.clone() },
            ..broadcast.clone()
        })
        .collect()
}

/// `conversation.escalated`: which level, since when the customer has waited.
pub fn escalated(e: &crate::ports::Escalation) -> OutboxMessage {
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let clock = at(e.sla_started_at);
    let data = json!({
        "conversation": {
            "id": e.conversation_id.0,
            "channel": e.channel,
            "account_id": e.account_id,
            "api": format!("/v1/conversations/{}", e.conversation_id.0),
        },
        "customer": {"id": e.customer_id, "handle": e.customer_handle},
        "escalation": {
            "level": e.level,
            "level_name": e.level_name,
            "sla_started_at": clock,
            "breach_due_at": at(e.breach_due_at),
            "escalated_at": at(e.escalated_at),
            "route": e.route.as_str(),
            "reasons": e.reasons,
            "needs_person": e.needs_person,
        },
    });
    broadcast(
        &e.conversation_id,
        EventType::ConversationEscalated,
        &format!("{clock}#{}", e.level),
        e.escalated_at,
        data,
    )
}

/// `conversation.resolved`.
pub fn resolved(conversation: &ConversationId, at: DateTime<Utc>) -> OutboxMessage {
    let data = json!({
        "conversation": {"id": conversation.0, "api": format!("/v1/conversations/{}", conversation.0)},
        "resolved_at": at.to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    let key = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    broadcast(conversation, EventType::ConversationResolved, &key, at, data)
}

/// A help desk that takes Hark's events, and which ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub endpoint: String,
    /// `None`: every event.
    pub events: Option<Vec<String>>,
}

impl Subscription {
    pub fn wants(&self, event: EventType) -> bool {
        self.events.as_ref().is_none_or(|events| events.iter().any(|e| e == event.as_str()))
    }
}

/// An endpoint as the credentials give it: an id that goes into record keys and logs, an
/// HTTPS URL (plain HTTP only to this machine, for a local stack), known event names.
pub fn check_endpoint(id: &str, url: &str, events: Option<&[String]>) -> Result<(), String> {
    let id_ok = (1..=40).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
    if !id_ok {
        return Err("an endpoint id is 1 to 40 of a-z 0-9 - _".into());
    }
    let loopback =
        ["http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/", "http://[::1]:"];
    let scheme_ok = url.starts_with("https://") || loopback.iter().any(|prefix| url.starts_with(prefix));
    if !scheme_ok || url.len() > 2000 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the url must be https:// (http:// only to 127.0.0.1 or localhost)".into());
    }
    if let Some(unknown) = events.into_iter().flatten().find(|e| !EventType::ALL.iter().any(|t| t.as_str() == *e)) {
        let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        return Err(format!(
            "event {:?} is not one of {}",
            unknown.chars().take(40).collect::<String>(),
            known.join(", ")
        ));
    }
    Ok(())
}

/// Stable across retries and redeliveries: the same event of the same message is always
/// the same id, which is what receivers deduplicate on. No `.` (the spec forbids it).
pub fn event_id(conversation: &ConversationId, event: EventType, message_id: &str) -> String {
    let digest = Sha256::digest(format!("{conversation}|{}|{message_id}", event.as_str()).as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

/// A customer's message as it was stored.
#[derive(Debug, Clone, Copy)]
pub struct StoredMessage<'a> {
    pub conversation: &'a ConversationId,
    /// It opened the conversation.
    pub opened: bool,
    pub mention: &'a Mention,
    /// The text as stored: personal data posted in public is redacted.
    pub text: &'a str,
    pub redacted: &'a [String],
    pub classification: &'a Classification,
    /// What the customer is worth, as the CRM says.
    pub value: Option<&'a crate::domain::customer_value::CustomerValue>,
}

/// Where the message can be seen on the platform, where its id says so.
fn link(mention: &Mention) -> Option<String> {
    let id = &mention.message_id;
    match mention.channel {
        Channel::X if !mention.kind.is_private() => Some(format!("https://x.com/i/web/status/{id}")),
        Channel::Facebook if !mention.kind.is_private() => {
            Some(format!("https://www.facebook.com/{}", mention.parent_id.as_deref().unwrap_or(id)))
        }
        // A post's fullname (`t3_…`) is its permalink's id.
        Channel::Reddit => id.strip_prefix("t3_").map(|post| format!("https://www.reddit.com/comments/{post}")),
        // A comment is shown on the post it was made on.
        Channel::LinkedIn => {
            Some(format!("https://www.linkedin.com/feed/update/{}", mention.parent_id.as_deref().unwrap_or(id)))
        }
        _ => None,
    }
}

/// A ticket's subject: who, where, and the start of what they wrote.
fn subject(message: &StoredMessage<'_>) -> String {
    let m = message.mention;
    let who =
        m.author.handle.as_deref().map(|h| format!("@{h}")).or(m.author.name.clone()).unwrap_or(m.customer_id.clone());
    let mut text: String = message.text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() > 80 {
        text = text.chars().take(79).collect::<String>() + "…";
    }
    format!("{} {who}: {text}", m.channel.as_str())
}

/// Tags a help desk can route on.
fn tags(message: &StoredMessage<'_>) -> Vec<String> {
    let c = message.classification;
    let mut tags = vec![
        "hark".to_owned(),
        format!("hark_{}", message.mention.channel.as_str()),
        format!("sentiment_{}", c.sentiment.as_str()),
        format!("intent_{}", c.intent.as_str()),
    ];
    tags.extend(c.urgency.iter().map(|u| format!("urgent_{}", json!(u.kind).as_str().unwrap_or("other"))));
    if !message.redacted.is_empty() {
        tags.push("personal_data_redacted".to_owned());
    }
    // Found by a search, not addressed to the brand: never answered automatically.
    if message.mention.listening {
        tags.push("listening".to_owned());
    }
    // Routing by what the customer is worth ("tier_vip" → the VIP queue).
    if let Some(tier) = message.value.and_then(|v| v.tier.as_deref()) {
        tags.push(format!("tier_{tier}"));
    }
    tags
}

/// The event that reports `message`, and its body.
pub fn message_event(message: &StoredMessage<'_>) -> (EventType, String, Value) {
    let m = message.mention;
    let c = message.classification;
    let event = if message.opened { EventType::ConversationCreated } else { EventType::MessageReceived };
    let id = event_id(message.conversation, event, &m.message_id);
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
    let conversation = message.conversation.0.as_str();
    let mut data = json!({
        "conversation": {
            "id": conversation,
            "channel": m.channel.as_str(),
            "account_id": m.account_id,
            "kind": if m.kind.is_private() { "direct" } else { "public" },
            "api": format!("/v1/conversations/{conversation}"),
        },
        "customer": {
            "id": m.customer_id,
            "handle": m.author.handle,
            "name": m.author.name,
            "followers": m.author.followers,
            "verified": m.author.verified,
            "value": message.value,
            "api": format!("/v1/customers/{}/{}/{}", m.channel.as_str(), m.account_id, m.customer_id),
        },
        "message": {
            "id": m.message_id,
            "kind": json!(m.kind),
            "text": message.text,
            "redacted": message.redacted,
            "created_at": at(m.created_at),
            "link": link(m),
        },
        "classification": {
            "sentiment": c.sentiment.as_str(),
            "score": c.score,
            "confidence": c.confidence,
            "thank": c.thank.thank,
            "intent": c.intent.as_str(),
            "urgency": c.urgency.iter().map(|u| json!(u.kind)).collect::<Vec<_>>(),
            "priority": c.priority,
            "language": c.language.code,
        },
        "tags": tags(message),
    });
    if message.opened {
        data["conversation"]["subject"] = Value::String(subject(message));
    }
    let body = json!({ "type": event.as_str(), "timestamp": at(m.received_at), "data": data });
    (event, id, body)
}

/// The outbox records that forward `message` to each subscribed help desk.
pub fn forwards(message: &StoredMessage<'_>, subscriptions: &[Subscription]) -> Vec<OutboxMessage> {
    let (event, id, body) = message_event(message);
    let text = body.to_string();
    subscriptions
        .iter()
        .filter(|s| s.wants(event))
        .map(|s| OutboxMessage {
            purpose: OutboxPurpose::Forward,
            record_id: format!("{}.{id}", s.endpoint),
            channel: message.mention.channel,
            account_id: message.mention.account_id.clone(),
            answers_message_id: message.mention.message_id.clone(),
            target: ReplyTarget::Webhook { endpoint: s.endpoint.clone() },
            text: text.clone(),
            customer_wrote_at: None,
        })
        .collect()
}

/// The event id inside a forward record's id (`{endpoint}.{event id}`).
pub fn event_id_of(record_id: &str) -> &str {
    record_id.split_once('.').map_or(record_id, |(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::classify::{Intent, Language, Sentiment, ThankDecision};
    use crate::domain::mention::{Author, Direction, MentionKind, MessageAction};

    fn mention(kind: MentionKind) -> Mention {
        Mention {
            channel: Channel::X,
            account_id: "100".into(),
            direction: Direction::Inbound,
            kind,
            message_id: "1870000000000000001".into(),
            parent_id: None,
            parent_author_id: None,
            quoted_id: None,
            author: Author {
                id: "42".into(),
                handle: Some("ana_b".into()),
                name: Some("Ana".into()),
                followers: Some(120),
                verified: false,
            },
            customer_id: "42".into(),
            text: "my card 4111 1111 1111 1111 was charged twice".into(),
            language: None,
            created_at: Utc::now(),
            received_at: Utc::now(),
            raw_ref: "r".into(),
            action: MessageAction::Created,
            standby: false,
            automated: None,
            text_source: None,
            listening: false,
        }
    }

    fn classification() -> Classification {
        Classification {
            sentiment: Sentiment::Negative,
            score: -0.7,
            confidence: 0.9,
            intent: Intent::Complaint,
            urgency: vec![],
            privacy: vec![],
            priority: 80,
            language: Language { code: "en", confidence: 0.9 },
            reasons: vec![],
            thank: ThankDecision { thank: false, reasons: vec![] },
        }
    }

    #[test]
    fn a_first_message_is_a_new_ticket_and_later_ones_comments_each_with_a_stable_id() {
        let m = mention(MentionKind::Post);
        let c = classification();
        let conversation = ConversationId::public(Channel::X, "100", &m.message_id);
        let redacted = vec!["card_number".to_owned()];
        let stored = StoredMessage {
            conversation: &conversation,
            opened: true,
            mention: &m,
            text: "my card [card number] was charged twice",
            redacted: &redacted,
            classification: &c,
            value: None,
        };
        let (event, id, body) = message_event(&stored);
        assert_eq!(event, EventType::ConversationCreated);
        assert_eq!(body["type"], "conversation.created");
        assert_eq!(body["data"]["conversation"]["subject"], "x @ana_b: my card [card number] was charged twice");
        assert!(!body.to_string().contains("4111"), "what is forwarded is what was stored: redacted");
        assert_eq!(body["data"]["message"]["link"], "https://x.com/i/web/status/1870000000000000001");
        assert!(body["data"]["tags"].as_array().unwrap().contains(&json!("personal_data_redacted")));
        assert_eq!(message_event(&stored).1, id, "the same event, the same id");
        assert!(id.starts_with("msg_") && !id.contains('.'));

        let later = StoredMessage { opened: false, ..stored };
        let (event, later_id, body) = message_event(&later);
        assert_eq!((event, body["data"]["conversation"].get("subject")), (EventType::MessageReceived, None));
        assert_ne!(later_id, id);

        let everything = Subscription { endpoint: "desk".into(), events: None };
        let tickets_only = Subscription { endpoint: "crm".into(), events: Some(vec!["conversation.created".into()]) };
        let records = forwards(&stored, &[everything.clone(), tickets_only.clone()]);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].target, ReplyTarget::Webhook { endpoint: "desk".into() });
        assert_eq!(event_id_of(&records[1].record_id), id);
        assert_eq!(forwards(&later, &[everything, tickets_only]).len(), 1, "crm takes new tickets only");
    }

    #[test]
    fn endpoints_are_checked_before_anything_is_sent_to_them() {
        assert!(check_endpoint("zendesk-eu", "https://desk.example.com/hark", None).is_ok());
        assert!(check_endpoint("local", "http://127.0.0.1:8125/hooks", Some(&["message.received".into()])).is_ok());
        for (id, url) in [
            ("Desk", "https://a.example"),
            ("desk", "http://desk.example.com/"),
            ("desk", "http://127.0.0.1.evil.example/"),
            ("desk", "ftp://x"),
            ("desk", "https://a b"),
            ("", "https://a.example"),
        ] {
            assert!(check_endpoint(id, url, None).is_err(), "{id} {url}");
        }
        assert!(check_endpoint("desk", "https://a.example", Some(&["ticket.made".into()])).is_err());
    }

    #[test]
    fn a_broadcast_becomes_one_record_per_endpoint_that_takes_its_event() {
        let conversation = ConversationId::public(Channel::Facebook, "1234567890321", "1_2");
        let at = Utc::now();
        let resolved = resolved(&conversation, at);
        assert_eq!(resolved.target, ReplyTarget::Webhook { endpoint: EVERY_ENDPOINT.into() });
        assert_eq!((resolved.channel, resolved.account_id.as_str()), (Channel::Facebook, "1234567890321"));
        let everything = Subscription { endpoint: "desk".into(), events: None };
        let tickets_only = Subscription { endpoint: "crm".into(), events: Some(vec!["conversation.created".into()]) };
        let children = fan_out(&resolved, &[everything.clone(), tickets_only]);
        assert_eq!(children.len(), 1);
        assert_eq!(children[0].target, ReplyTarget::Webhook { endpoint: "desk".into() });
        assert_eq!(event_id_of(&children[0].record_id), event_id_of(&resolved.record_id), "one event id for all");
        assert_eq!(children[0].text, resolved.text);
        assert!(fan_out(&children[0], &[everything]).is_empty(), "only a broadcast fans out");
        let body: Value = serde_json::from_str(&resolved.text).unwrap();
        assert_eq!(body["type"], "conversation.resolved");
    }
}
