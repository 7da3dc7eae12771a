//! What an escalation notice says, for each kind of subscriber of the escalation topic: the
//! escalation as JSON for machines (SQS, Lambda, `email-json`), plain text for e-mail, and
//! Amazon Q Developer's (AWS Chatbot's) custom-notification format for HTTPS, which is how it
//! subscribes to carry the notice to Slack, Teams or Chime. SNS picks the message by the
//! subscription's protocol (`MessageStructure: json`). Every form carries the reasons and,
//! when Hark left the conversation to a person, why.

use serde_json::{Value, json};

use crate::domain::sla::SPIKE;
use crate::ports::{Escalation, Route};

/// The most of the customer's words a notice quotes.
const QUOTE_CHARS: usize = 280;

/// The SNS message: one body per protocol, `default` for the rest.
pub fn messages(escalation: &Escalation) -> Value {
    let machine = serde_json::to_string_pretty(escalation).expect("an escalation serialises");
    json!({
        "default": machine,
        "email": email(escalation),
        "https": chat(escalation).to_string(),
    })
}

/// E-mail subjects must be ASCII and at most 100 characters.
pub fn subject(escalation: &Escalation) -> String {
    let text = format!("Hark {}", headline(escalation));
    text.chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).take(100).collect()
}

/// What happened, in one line: a customer waiting, or an outage spike (no one customer).
fn headline(escalation: &Escalation) -> String {
    if escalation.level == SPIKE {
        let what = escalation.reasons.first().map_or("negative mentions jumped", String::as_str);
        return format!("spike: {what}");
    }
    format!(
        "{}: {} on {}, waiting {} min",
        escalation.level_name,
        who(escalation),
        escalation.channel,
        waited(escalation)
    )
}

fn who(escalation: &Escalation) -> String {
    escalation.customer_handle.as_deref().map(|h| format!("@{h}")).unwrap_or_else(|| escalation.customer_id.clone())
}

fn waited(escalation: &Escalation) -> i64 {
    (escalation.escalated_at - escalation.sla_started_at).num_minutes()
}

fn quote(escalation: &Escalation) -> Option<String> {
    let text = escalation.last_text.as_deref()?.trim();
    let mut quoted: String = text.chars().take(QUOTE_CHARS).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    Some(quoted)
}

/// The lines both human forms share: why, and what a person must do.
fn facts(escalation: &Escalation) -> Vec<String> {
    let mut lines = Vec::new();
    if !escalation.reasons.is_empty() {
        lines.push(format!("Why: {}.", escalation.reasons.join("; ")));
    }
    if let Some(why) = &escalation.needs_person {
        lines.push(format!("Needs a person: {why}."));
    }
    if escalation.route == Route::OffHours {
        lines.push("Raised outside business hours (route off_hours).".to_owned());
    }
    lines
}

fn email(escalation: &Escalation) -> String {
    let spike = escalation.level == SPIKE;
    let mut lines = vec![if spike {
        format!("An outage spike on {} {}.", escalation.channel, escalation.account_id)
    } else {
        format!(
            "{} on {} ({}) has waited {} min for an answer: {}.",
            who(escalation),
            escalation.channel,
            escalation.account_id,
            waited(escalation),
            escalation.level_name
        )
    }];
    if let Some(quote) = quote(escalation) {
        lines.push(format!("{} wrote: \"{quote}\"", if spike { "One customer" } else { "They" }));
    }
    lines.extend(facts(escalation));
    lines.push(String::new());
    lines.push(next_step(escalation));
    lines.join("\n")
}

/// Where a person acts: the incident's post to approve, or the conversation to answer.
fn next_step(escalation: &Escalation) -> String {
    match crate::ports::incident_of(&escalation.conversation_id) {
        Some(incident) => format!(
            "Read the incident and approve its suggested post: GET /v1/incidents/{incident}, then POST /v1/incidents/{incident}/post"
        ),
        None => format!(
            "Answer in your help desk, or through the API: GET /v1/conversations/{}",
            escalation.conversation_id.0
        ),
    }
}

/// Amazon Q Developer's custom notification: version 1.0, source custom, Markdown text; the
/// conversation is the thread, so a conversation's levels stack up in one place.
fn chat(escalation: &Escalation) -> Value {
    let title = format!("Hark {}", headline(escalation));
    let mut description = Vec::new();
    if let Some(quote) = quote(escalation) {
        description.push(format!("> {}", quote.replace('\n', "\n> ")));
    }
    description.extend(facts(escalation));
    json!({
        "version": "1.0",
        "source": "custom",
        "id": format!("{}#{}", escalation.conversation_id.0, escalation.level),
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": description.join("\n"),
            "nextSteps": [next_step(escalation)],
            "keywords": [escalation.level_name.as_str(), escalation.channel.as_str(), escalation.route.as_str()],
        },
        "metadata": {
            "threadId": escalation.conversation_id.0,
            "summary": title,
            "eventType": "escalation",
            "additionalContext": {
                "conversation_id": escalation.conversation_id.0,
                "level": escalation.level_name,
                "route": escalation.route.as_str(),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ConversationId;
    use chrono::{TimeDelta, TimeZone, Utc};

    fn escalation() -> Escalation {
        let started = Utc.with_ymd_and_hms(2026, 12, 4, 22, 0, 0).unwrap();
        Escalation {
            conversation_id: ConversationId("x:2244994945:1860".into()),
            channel: "x".into(),
            account_id: "2244994945".into(),
            customer_id: "1001".into(),
            customer_handle: Some("maria_travels".into()),
            level: 2,
            level_name: "breach".into(),
            sla_started_at: started,
            breach_due_at: started + TimeDelta::minutes(30),
            escalated_at: started + TimeDelta::minutes(31),
            last_text: Some(format!("my flight was cancelled {}", "and nobody helps ".repeat(30))),
            route: Route::OffHours,
            reasons: vec!["unanswered for 31 min: the SLA was breached 1 min ago".into()],
            needs_person: Some("the reply window closed".into()),
            due_at: Some(started + TimeDelta::minutes(30)),
        }
    }

    #[test]
    fn every_subscriber_reads_why_and_what_a_person_must_do() {
        let messages = messages(&escalation());
        let machine: Escalation = serde_json::from_str(messages["default"].as_str().unwrap()).unwrap();
        assert_eq!(machine, escalation(), "machines get the escalation itself");
        let email = messages["email"].as_str().unwrap();
        let chat: Value = serde_json::from_str(messages["https"].as_str().unwrap()).unwrap();
        let description = chat["content"]["description"].as_str().unwrap();
        for text in [email, description] {
            assert!(text.contains("Why: unanswered for 31 min"), "{text}");
            assert!(text.contains("Needs a person: the reply window closed."), "{text}");
            assert!(text.contains("outside business hours"), "{text}");
            assert!(text.contains("my flight was cancelled") && text.contains('…'), "quoted, and cut: {text}");
        }
        assert!(email.starts_with("@maria_travels on x (2244994945) has waited 31 min for an answer: breach."));
        assert_eq!((chat["version"].as_str(), chat["source"].as_str()), (Some("1.0"), Some("custom")));
        assert_eq!(chat["content"]["textType"], "client-markdown");
        assert_eq!(chat["metadata"]["threadId"], "x:2244994945:1860", "a conversation's levels share a thread");
        assert_eq!(subject(&escalation()), "Hark breach: @maria_travels on x, waiting 31 min");
    }

    #[test]
    fn a_spike_notice_says_what_jumped_and_where_to_approve_the_post() {
        let mut e = escalation();
        e.conversation_id = ConversationId("incident:inc-20261204-1805:x:2244994945".into());
        e.level = SPIKE;
        e.level_name = "spike".into();
        e.customer_handle = None;
        e.reasons = vec!["41 negative or outage mentions in 5 min on x 2244994945, against a usual 1.5".into()];
        assert_eq!(
            subject(&e),
            "Hark spike: 41 negative or outage mentions in 5 min on x 2244994945, against a usual 1.5"
        );
        let messages = messages(&e);
        let email = messages["email"].as_str().unwrap();
        assert!(email.starts_with("An outage spike on x 2244994945.\nOne customer wrote:"), "{email}");
        assert!(email.contains("POST /v1/incidents/inc-20261204-1805/post"), "{email}");
        let chat: Value = serde_json::from_str(messages["https"].as_str().unwrap()).unwrap();
        assert!(chat["content"]["nextSteps"][0].as_str().unwrap().contains("/v1/incidents/inc-20261204-1805"));
    }

    #[test]
    fn a_subject_is_ascii_and_short_whatever_the_handle() {
        let mut e = escalation();
        e.customer_handle = Some(format!("żółw{}", "x".repeat(200)));
        let subject = subject(&e);
        assert!(subject.is_ascii() && subject.chars().count() <= 100, "{subject}");
    }
}
