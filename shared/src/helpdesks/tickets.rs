//! What a native help desk (Zendesk, Freshdesk) is asked to do for one forwarded event,
//! read from the event's body as `domain::forward` wrote it into the outbox record. Pure:
//! the clients turn a [`TicketAction`] into their API's requests.
//!
//! Every text Hark adds to a ticket ends with a marker naming the event
//! (`hark-event: msg_…`): updates have no idempotency key at either desk, so a retry whose
//! first attempt's outcome is unknown looks for the marker before adding it again, and the
//! answers-back loop guard can tell Hark's own comments from an agent's.

use serde_json::Value;

use super::escalation::EscalationDeskPolicy;
use crate::domain::forward::{EventType, event_id_of};
use crate::domain::mention::Channel;
use crate::error::{Error, Result};
use crate::ports::{ConversationId, CustomerProfile, OutboxMessage, Route};

/// The longest subject either desk is sent.
const SUBJECT_CHARS: usize = 150;

/// A ticket's priority, as both desks have the same four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TicketPriority {
    Low,
    Normal,
    High,
    Urgent,
}

impl TicketPriority {
    /// From Hark's 0–100 priority score.
    pub fn from_score(score: i64) -> Self {
        match score {
            ..30 => TicketPriority::Low,
            30..60 => TicketPriority::Normal,
            60..85 => TicketPriority::High,
            _ => TicketPriority::Urgent,
        }
    }

    pub fn zendesk(self) -> &'static str {
        match self {
            TicketPriority::Low => "low",
            TicketPriority::Normal => "normal",
            TicketPriority::High => "high",
            TicketPriority::Urgent => "urgent",
        }
    }

    pub fn from_zendesk(text: &str) -> Option<Self> {
        [TicketPriority::Low, TicketPriority::Normal, TicketPriority::High, TicketPriority::Urgent]
            .into_iter()
            .find(|p| p.zendesk() == text)
    }

    pub fn from_freshdesk(number: u64) -> Option<Self> {
        [TicketPriority::Low, TicketPriority::Normal, TicketPriority::High, TicketPriority::Urgent]
            .into_iter()
            .find(|p| u64::from(p.freshdesk()) == number)
    }

    pub fn freshdesk(self) -> u8 {
        match self {
            TicketPriority::Low => 1,
            TicketPriority::Normal => 2,
            TicketPriority::High => 3,
            TicketPriority::Urgent => 4,
        }
    }
}

/// The customer as the help desk knows them: social customers have no e-mail, so they are
/// found again by an external id that names channel, account and platform user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskCustomer {
    pub external_id: String,
    pub name: String,
    /// Where Hark knows them: the channel, the brand's account, their id there.
    pub channel: Channel,
    pub account: String,
    pub id: String,
    pub handle: Option<String>,
    pub followers: Option<u64>,
    pub verified: bool,
    /// "tier vip, lifetime value 12400.5, CRM 0031x…", as the CRM says.
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub subject: String,
    /// The first comment: the customer's words, where they were written, Hark's reading.
    pub body: String,
    pub customer: DeskCustomer,
    pub priority: TicketPriority,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketAction {
    /// `conversation.created`: one ticket for the conversation.
    Open(NewTicket),
    /// `message.received`: the customer's later message, a public comment by them.
    CustomerComment { body: String, customer: DeskCustomer },
    /// `conversation.escalated`: an internal note, and what the level's policy asks of the
    /// ticket (a priority raise, another group).
    Escalate { note: String, actions: super::escalation::DeskActions },
    /// `conversation.resolved`: the ticket solved.
    Solve { note: String },
}

impl TicketAction {
    /// The requests a send of this action makes at `desk` when the conversation's ticket
    /// link is in the table, as it is after the first send: what Hark reserves of the
    /// desk's rate before it starts. (A link the table lacks costs one lookup more.)
    pub fn requests(&self, desk: &str) -> u32 {
        let freshdesk = desk == crate::credentials::FRESHDESK;
        match self {
            // Zendesk: the user made or updated, the ticket. Freshdesk: the contact looked
            // up and made if new, the ticket.
            TicketAction::Open(_) if freshdesk => 3,
            TicketAction::Open(_) => 2,
            TicketAction::CustomerComment { .. } => 1,
            // The ticket read, then changed: in one update at Zendesk, a change and a note
            // at Freshdesk.
            TicketAction::Escalate { .. } if freshdesk => 3,
            TicketAction::Escalate { .. } => 2,
            TicketAction::Solve { .. } if freshdesk => 2,
            TicketAction::Solve { .. } => 1,
        }
    }
}

/// One forwarded event, for a native desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketEvent {
    pub conversation: ConversationId,
    /// The event's id (`msg_…`): Zendesk's `Idempotency-Key` for a create, and the marker.
    pub event_id: String,
    pub action: TicketAction,
}

/// The line every text Hark adds ends with.
pub fn marker(event_id: &str) -> String {
    format!("hark-event: {event_id}")
}

/// Whether a ticket comment was written by Hark (the loop guard reads this too).
pub fn is_harks(text: &str) -> bool {
    text.contains("hark-event: msg_")
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn customer(data: &Value) -> Result<DeskCustomer> {
    let conversation = &data["conversation"];
    let (channel, account) = (text(conversation, "/channel"), text(conversation, "/account_id"));
    let customer_id = text(data, "/customer/id");
    let (Some(channel), Some(account), Some(customer_id)) = (channel.and_then(Channel::parse), account, customer_id)
    else {
        return Err(Error::Invalid("a forwarded message names no customer".into()));
    };
    let name = text(data, "/customer/name")
        .map(str::to_owned)
        .or_else(|| text(data, "/customer/handle").map(|h| format!("@{h}")))
        .unwrap_or_else(|| format!("{channel} user {customer_id}"));
    Ok(DeskCustomer {
        external_id: format!("hark:{}:{account}:{customer_id}", channel.as_str()),
        name,
        channel,
        account: account.to_owned(),
        id: customer_id.to_owned(),
        handle: text(data, "/customer/handle").map(str::to_owned),
        followers: data["customer"]["followers"].as_u64(),
        verified: data["customer"]["verified"].as_bool().unwrap_or(false),
        value: value_words(&data["customer"]["value"]),
    })
}

/// The customer's value in words, from the forwarded event.
fn value_words(value: &Value) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(tier) = value["tier"].as_str() {
        parts.push(format!("tier {tier}"));
    }
    if let Some(lifetime) = value["lifetime_value"].as_f64() {
        parts.push(format!("lifetime value {lifetime}"));
    }
    if let Some(crm) = value["crm_id"].as_str() {
        parts.push(format!("CRM {crm}"));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Who the customer is and what Hark has seen of them before, for a new ticket: the
/// agent sees their reach and their earlier conversations without leaving the desk.
pub fn customer_lines(customer: &DeskCustomer, profile: Option<&CustomerProfile>, conversation: &str) -> String {
    let mut about = vec![match &customer.handle {
        Some(handle) if customer.name != format!("@{handle}") => format!("{} (@{handle})", customer.name),
        _ => customer.name.clone(),
    }];
    if let Some(followers) = customer.followers {
        about.push(format!("{followers} followers"));
    }
    if customer.verified {
        about.push("verified".to_owned());
    }
    let mut lines = vec![format!("Customer: {} on {}", about.join(", "), customer.channel.as_str())];
    if let Some(value) = &customer.value {
        lines.push(format!("Value: {value}"));
    }
    let earlier: Vec<_> =
        profile.map(|p| p.conversations.iter().filter(|c| c.id != conversation).collect()).unwrap_or_default();
    match (profile, earlier.first()) {
        (Some(p), Some(latest)) => lines.push(format!(
            "Earlier: {} conversation(s) since {}; the latest {} ({}, {}), last sentiment {}.",
            earlier.len(),
            p.first_seen_at.map_or_else(|| "?".to_owned(), |t| t.format("%Y-%m-%d").to_string()),
            latest.created_at.format("%Y-%m-%d"),
            latest.last_intent.as_deref().unwrap_or("?"),
            latest.status,
            p.last_sentiment.as_deref().unwrap_or("?"),
        )),
        _ => lines.push("Earlier: none; this is their first conversation with Hark.".to_owned()),
    }
    lines.join("\n")
}

impl NewTicket {
    /// The first comment with the customer's lines before the marker, which stays last.
    pub fn body_with(&self, customer_lines: &str) -> String {
        match self.body.rsplit_once('\n') {
            Some((before, marker)) => format!("{before}\n{customer_lines}\n{marker}"),
            None => format!("{customer_lines}\n{}", self.body),
        }
    }
}

/// The escalation's internal note: the level, why, and whether Hark left it to a person.
fn escalation_note(escalation: &Value, level: &str, event_id: &str) -> String {
    let since = text(escalation, "/sla_started_at").unwrap_or("?");
    let due = text(escalation, "/breach_due_at").unwrap_or("?");
    let mut lines = vec![format!("Hark: {level}. The customer has waited since {since}; an answer was due by {due}.")];
    let reasons: Vec<&str> = escalation["reasons"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if !reasons.is_empty() {
        lines.push(format!("Why: {}.", reasons.join("; ")));
    }
    if let Some(why) = text(escalation, "/needs_person") {
        lines.push(format!("Needs a person: {why}."));
    }
    if text(escalation, "/route") == Some("off_hours") {
        lines.push("Raised outside business hours.".to_owned());
    }
    lines.push(marker(event_id));
    lines.join("\n")
}

/// The customer's words and what Hark read in them, as a comment's plain text.
fn message_body(data: &Value, event_id: &str) -> String {
    let mut lines = vec![text(data, "/message/text").unwrap_or("(no text)").to_owned(), String::new()];
    if let Some(link) = text(data, "/message/link") {
        lines.push(format!("On {}: {link}", text(data, "/conversation/channel").unwrap_or("the channel")));
    }
    let c = &data["classification"];
    if let (Some(sentiment), Some(intent)) = (text(c, "/sentiment"), text(c, "/intent")) {
        lines.push(format!("Hark: {sentiment}, {intent}, priority {}", c["priority"].as_i64().unwrap_or(0)));
    }
    if data["message"]["redacted"].as_array().is_some_and(|r| !r.is_empty()) {
        lines.push("Personal data in this public message was redacted.".to_owned());
    }
    lines.push(marker(event_id));
    lines.join("\n")
}

/// Reads a forward record's event. A record that is not a forward, or whose body is not an
/// event Hark wrote, is refused: sending it again would not help.
pub fn ticket_event(message: &OutboxMessage, escalations: &EscalationDeskPolicy) -> Result<TicketEvent> {
    let body: Value = serde_json::from_str(&message.text)
        .map_err(|e| Error::Invalid(format!("forward record {}", crate::error::json_error_summary(&e))))?;
    let event = text(&body, "/type")
        .and_then(EventType::parse)
        .ok_or_else(|| Error::Invalid("a forward record without a known event type".into()))?;
    let data = &body["data"];
    let conversation = text(data, "/conversation/id")
        .map(|id| ConversationId(id.to_owned()))
        .ok_or_else(|| Error::Invalid("a forward record without its conversation".into()))?;
    let event_id = event_id_of(&message.record_id).to_owned();
    let action = match event {
        EventType::ConversationCreated => {
            let subject = text(data, "/conversation/subject").unwrap_or("Social conversation");
            let tags = data["tags"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned);
            TicketAction::Open(NewTicket {
                subject: subject.chars().take(SUBJECT_CHARS).collect(),
                body: message_body(data, &event_id),
                customer: customer(data)?,
                priority: TicketPriority::from_score(data["classification"]["priority"].as_i64().unwrap_or(50)),
                tags: tags.collect(),
            })
        }
        EventType::MessageReceived => {
            TicketAction::CustomerComment { body: message_body(data, &event_id), customer: customer(data)? }
        }
        EventType::ConversationEscalated => {
            let escalation = &data["escalation"];
            let level = text(escalation, "/level_name").unwrap_or("escalation");
            let route = if text(escalation, "/route") == Some("off_hours") { Route::OffHours } else { Route::Day };
            TicketAction::Escalate {
                note: escalation_note(escalation, level, &event_id),
                actions: escalations.actions(&message.account_id, level, route),
            }
        }
        EventType::ConversationResolved => TicketAction::Solve {
            note: format!(
                "Hark: the conversation was resolved at {}.\n{}",
                text(data, "/resolved_at").unwrap_or("?"),
                marker(&event_id)
            ),
        },
    };
    Ok(TicketEvent { conversation, event_id, action })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{OutboxPurpose, ReplyTarget};
    use serde_json::json;

    fn record(body: Value) -> OutboxMessage {
        OutboxMessage {
            purpose: OutboxPurpose::Forward,
            record_id: "zendesk.msg_0123456789abcdef0123456789abcdef".into(),
            channel: Channel::X,
            account_id: "100".into(),
            answers_message_id: "5001".into(),
            target: ReplyTarget::Webhook { endpoint: "zendesk".into() },
            text: body.to_string(),
            customer_wrote_at: None,
        }
    }

    fn read_event(body: Value) -> Result<TicketEvent> {
        ticket_event(&record(body), &EscalationDeskPolicy::default())
    }

    fn created() -> Value {
        json!({"type": "conversation.created", "timestamp": "2026-12-01T09:00:00.000Z", "data": {
            "conversation": {"id": "x:100:5001", "channel": "x", "account_id": "100", "subject": "x @ana_b: my card [card number] was charged twice"},
            "customer": {"id": "901", "handle": "ana_b", "name": null, "followers": 120, "verified": false},
            "message": {"id": "5001", "text": "my card [card number] was charged twice", "redacted": ["card_number"],
                        "link": "https://x.com/i/web/status/5001"},
            "classification": {"sentiment": "negative", "intent": "complaint", "priority": 88},
            "tags": ["hark", "hark_x", "sentiment_negative"]}})
    }

    #[test]
    fn a_new_conversation_opens_a_ticket_for_the_customer_by_external_id_with_a_marker() {
        let event = read_event(created()).unwrap();
        assert_eq!(event.conversation.0, "x:100:5001");
        assert_eq!(event.event_id, "msg_0123456789abcdef0123456789abcdef");
        let TicketAction::Open(ticket) = event.action else { panic!("{event:?}") };
        assert_eq!((ticket.customer.external_id.as_str(), ticket.customer.name.as_str()), ("hark:x:100:901", "@ana_b"));
        assert_eq!((ticket.customer.channel, ticket.customer.id.as_str()), (Channel::X, "901"));
        assert_eq!(ticket.priority, TicketPriority::Urgent);
        assert!(ticket.body.starts_with("my card [card number] was charged twice\n"));
        assert!(ticket.body.contains("https://x.com/i/web/status/5001"));
        assert!(ticket.body.contains("redacted"));
        assert!(ticket.body.ends_with(&marker("msg_0123456789abcdef0123456789abcdef")));
        assert!(is_harks(&ticket.body));
        assert_eq!(ticket.tags, ["hark", "hark_x", "sentiment_negative"]);
    }

    #[test]
    fn a_new_ticket_says_who_the_customer_is_and_what_came_before() {
        let TicketAction::Open(ticket) = read_event(created()).unwrap().action else { panic!() };
        let first = customer_lines(&ticket.customer, None, "x:100:5001");
        assert_eq!(
            first,
            "Customer: @ana_b, 120 followers on x\nEarlier: none; this is their first conversation with Hark."
        );
        let at = |d: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, d, 9, 0, 0).unwrap();
        let conversation = |id: &str, day: u32, intent: &str| crate::ports::CustomerConversation {
            id: id.into(),
            status: "resolved".into(),
            created_at: at(day),
            last_message_at: None,
            last_sentiment: Some("negative".into()),
            last_intent: Some(intent.into()),
            message_count: 2,
        };
        let profile = CustomerProfile {
            channel: "x".into(),
            account_id: "100".into(),
            id: "901".into(),
            handle: Some("ana_b".into()),
            name: None,
            followers: Some(120),
            verified: false,
            first_seen_at: Some(at(2)),
            last_seen_at: None,
            last_sentiment: Some("negative".into()),
            message_count: 5,
            conversation_count: 3,
            value: None,
            // Newest first, the current one among them.
            conversations: vec![
                conversation("x:100:5001", 30, "complaint"),
                conversation("x:100:4001", 20, "question"),
                conversation("x:100:3001", 2, "complaint"),
            ],
        };
        let lines = customer_lines(&ticket.customer, Some(&profile), "x:100:5001");
        assert!(lines.ends_with("Earlier: 2 conversation(s) since 2026-11-02; the latest 2026-11-20 (question, resolved), last sentiment negative."), "{lines}");
        let body = ticket.body_with(&lines);
        assert!(body.ends_with(&format!("{lines}\n{}", marker("msg_0123456789abcdef0123456789abcdef"))), "{body}");
    }

    #[test]
    fn a_valued_customer_ticket_says_what_the_crm_says_and_is_tagged_for_routing() {
        let mut event = created();
        event["data"]["customer"]["value"] =
            json!({"tier": "vip", "lifetime_value": 12400.5, "crm_id": "0031x00000abc"});
        event["data"]["tags"] = json!(["hark", "hark_x", "sentiment_negative", "tier_vip"]);
        let TicketAction::Open(ticket) = read_event(event).unwrap().action else { panic!() };
        let lines = customer_lines(&ticket.customer, None, "x:100:5001");
        assert!(lines.contains("\nValue: tier vip, lifetime value 12400.5, CRM 0031x00000abc\n"), "{lines}");
        assert!(ticket.tags.contains(&"tier_vip".to_owned()));
        // A customer the CRM does not know: no Value line at all.
        let TicketAction::Open(plain) = read_event(created()).unwrap().action else { panic!() };
        assert!(!customer_lines(&plain.customer, None, "x:100:5001").contains("Value:"));
    }

    #[test]
    fn later_events_become_comments_notes_and_a_solve() {
        let mut later = created();
        later["type"] = json!("message.received");
        assert!(matches!(read_event(later).unwrap().action, TicketAction::CustomerComment { .. }));
        let escalated = json!({"type": "conversation.escalated", "data": {"conversation": {"id": "x:100:5001"},
            "escalation": {"level": 2, "level_name": "breach", "sla_started_at": "a", "breach_due_at": "b",
                           "route": "off_hours", "reasons": ["unanswered for 64 min"],
                           "needs_person": "the reply window closed"}}});
        let TicketAction::Escalate { note, actions } = read_event(escalated.clone()).unwrap().action else { panic!() };
        assert_eq!(actions.priority, Some(TicketPriority::Urgent));
        assert!(note.starts_with("Hark: breach.") && is_harks(&note), "{note}");
        for line in
            ["Why: unanswered for 64 min.", "Needs a person: the reply window closed.", "outside business hours"]
        {
            assert!(note.contains(line), "{line} missing from {note}");
        }
        // The level's groups come from the policy, the off-hours ones outside business hours.
        let policy = EscalationDeskPolicy::from_json(
            r#"{"breach": {"groups": {"zendesk": 5}, "off_hours_groups": {"zendesk": 9}}}"#,
        )
        .unwrap();
        let TicketAction::Escalate { actions, .. } = ticket_event(&record(escalated), &policy).unwrap().action else {
            panic!()
        };
        assert_eq!(actions.zendesk_group, Some(9));
        let resolved = json!({"type": "conversation.resolved", "data": {"conversation": {"id": "x:100:5001"}}});
        assert!(matches!(read_event(resolved).unwrap().action, TicketAction::Solve { .. }));
    }

    #[test]
    fn a_record_that_is_not_an_event_of_ours_is_refused_without_quoting_it() {
        for body in [json!("secret words"), json!({"type": "ticket.made"}), json!({"type": "conversation.resolved"})] {
            let error = read_event(body).unwrap_err();
            assert!(matches!(error, Error::Invalid(_)) && !error.to_string().contains("secret"), "{error}");
        }
        let mut nameless = created();
        nameless["data"]["customer"] = json!({});
        assert!(read_event(nameless).is_err());
    }

    #[test]
    fn scores_map_to_the_desks_priorities() {
        assert_eq!(
            [0, 29, 30, 59, 60, 84, 85, 100].map(TicketPriority::from_score),
            [
                TicketPriority::Low,
                TicketPriority::Low,
                TicketPriority::Normal,
                TicketPriority::Normal,
                TicketPriority::High,
                TicketPriority::High,
                TicketPriority::Urgent,
                TicketPriority::Urgent
            ]
        );
        assert_eq!((TicketPriority::Urgent.zendesk(), TicketPriority::Urgent.freshdesk()), ("urgent", 4));
    }
}
