//! What a help desk tells Hark about a conversation, once its webhook is verified: an
//! agent's public comment, to be posted on the customer's channel, or the ticket solved.
//! Everything else (internal notes, the customer's own comments that Hark itself added,
//! tickets Hark did not make) is read and ignored, and answered 2xx so the help desk does
//! not retry it. Pure.
//!
//! Zendesk: its event webhooks (`zen:event-type:ticket.comment_added`,
//! `…ticket.status_changed`), whose shape is [U] in the contract; the fields read are in
//! `ZendeskEvent` alone. The ticket's `external_id` is the Hark conversation id (the bridge
//! that made the ticket sets it from `data.conversation.id`).
//!
//! Freshdesk: an automation rule's "Trigger webhook" with the JSON body the README gives
//! (Freshdesk has no fixed payload; the placeholders are the operator's).

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::ports::ConversationId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskEvent {
    /// An agent's public answer for the customer.
    Answer { event_id: String, conversation: ConversationId, text: String },
    /// The ticket was solved: the conversation is resolved.
    Solved { event_id: String, conversation: ConversationId },
    /// Verified and read, and nothing for Hark to do.
    Ignored(String),
}

/// Not a payload of the shape expected: answered 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(String);

/// The longest answer taken from a help desk (the longest any channel posts is far less;
/// the channel's own limit is applied when it is queued).
const MAX_TEXT: usize = 10_000;

#[derive(Debug, Deserialize)]
struct ZendeskEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    detail: ZendeskTicket,
    #[serde(default)]
    event: ZendeskChange,
}

#[derive(Debug, Default, Deserialize)]
struct ZendeskTicket {
    #[serde(default)]
    external_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ZendeskChange {
    #[serde(default)]
    comment: Option<ZendeskComment>,
    /// The status after a status change.
    #[serde(default)]
    current: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ZendeskComment {
    body: String,
    #[serde(default)]
    is_public: bool,
    author: ZendeskAuthor,
}

#[derive(Debug, Deserialize)]
struct ZendeskAuthor {
    id: serde_json::Value,
    #[serde(default)]
    is_staff: bool,
}

/// A Zendesk event. `hark_user` is the Zendesk user Hark's own integration writes as:
/// its comments never come back as answers (the loop guard, with `is_staff`).
pub fn zendesk(body: &[u8], hark_user: Option<&str>) -> Result<DeskEvent, Unreadable> {
    let event: ZendeskEvent = serde_json::from_slice(body)
        .map_err(|e| Unreadable(format!("not a Zendesk event: {}", crate::error::json_error_summary(&e))))?;
    let event_id = checked_event_id(&event.id)?;
    let Some(conversation) = event.detail.external_id.as_deref().and_then(ConversationId::parse) else {
        return Ok(DeskEvent::Ignored("the ticket's external_id is not a Hark conversation".into()));
    };
    match event.kind.as_str() {
        "zen:event-type:ticket.comment_added" => {
            let Some(comment) = event.event.comment else {
                return Err(Unreadable("a comment_added event without its comment".into()));
            };
            let author = match &comment.author.id {
                serde_json::Value::String(id) => id.clone(),
                other => other.to_string(),
            };
            if !comment.is_public {
                Ok(DeskEvent::Ignored("an internal note".into()))
            } else if !comment.author.is_staff {
                Ok(DeskEvent::Ignored("the customer's own comment".into()))
            } else if hark_user == Some(author.as_str()) {
                Ok(DeskEvent::Ignored("a comment Hark itself wrote".into()))
            } else {
                answer(event_id, conversation, &comment.body)
            }
        }
        "zen:event-type:ticket.status_changed" => match event.event.current.as_deref() {
            Some(status) if status.eq_ignore_ascii_case("solved") => Ok(DeskEvent::Solved { event_id, conversation }),
            _ => Ok(DeskEvent::Ignored("a status change other than solved".into())),
        },
        other => Ok(DeskEvent::Ignored(format!(
            "event type {:?} is not handled",
            other.chars().take(60).collect::<String>()
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FreshdeskEvent {
    event: String,
    ticket_id: serde_json::Value,
    #[serde(default)]
    conversation_id: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

/// A Freshdesk rule's webhook: `{"event": "reply" | "resolved", "ticket_id", "conversation_id", "text"}`.
/// Freshdesk sends no event id: a delivery is named by what it says, so a repeat of the
/// same reply to the same ticket is the same event.
pub fn freshdesk(body: &[u8]) -> Result<DeskEvent, Unreadable> {
    let event: FreshdeskEvent = serde_json::from_slice(body)
        .map_err(|e| Unreadable(format!("not a Hark Freshdesk webhook: {}", crate::error::json_error_summary(&e))))?;
    let Some(conversation) = event.conversation_id.as_deref().and_then(ConversationId::parse) else {
        return Ok(DeskEvent::Ignored("the ticket has no Hark conversation".into()));
    };
    let text = event.text.unwrap_or_default();
    let digest = Sha256::digest(format!("{}|{}|{}", event.ticket_id, event.event, text).as_bytes());
    let event_id: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    match event.event.as_str() {
        "reply" => answer(event_id, conversation, &text),
        "resolved" => Ok(DeskEvent::Solved { event_id, conversation }),
        other => Err(Unreadable(format!("event {:?}: reply or resolved", other.chars().take(40).collect::<String>()))),
    }
}

fn answer(event_id: String, conversation: ConversationId, text: &str) -> Result<DeskEvent, Unreadable> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(DeskEvent::Ignored("an empty comment".into()));
    }
    // What Hark forwarded carries its marker, whoever the desk says wrote it.
    if super::tickets::is_harks(text) {
        return Ok(DeskEvent::Ignored("a comment Hark itself wrote (its marker)".into()));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(Unreadable(format!("a comment over {MAX_TEXT} characters")));
    }
    Ok(DeskEvent::Answer { event_id, conversation, text: text.to_owned() })
}

/// Event ids become part of a record key: letters, digits and `-` only.
fn checked_event_id(id: &str) -> Result<String, Unreadable> {
    let valid = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if valid { Ok(id.to_owned()) } else { Err(Unreadable("the event id is missing or malformed".into())) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CONVERSATION: &str = "x:2244994945:1860795468925898001";

    fn comment(public: bool, staff: bool, author: &str) -> Vec<u8> {
        json!({
            "id": "cbe4028c-7239-495d-b020-f22348516046",
            "type": "zen:event-type:ticket.comment_added",
            "time": "2026-12-01T10:00:00Z",
            "detail": {"id": "5158", "external_id": CONVERSATION, "status": "OPEN"},
            "event": {"comment": {"id": "9001", "body": " Rebooked you on the 9:40, Ana. ", "is_public": public,
                                  "author": {"id": author, "is_staff": staff, "name": "Kim"}}}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_public_agent_comment_is_an_answer_and_everything_else_is_ignored() {
        let conversation = ConversationId(CONVERSATION.into());
        assert_eq!(
            zendesk(&comment(true, true, "77"), Some("99")),
            Ok(DeskEvent::Answer {
                event_id: "cbe4028c-7239-495d-b020-f22348516046".into(),
                conversation: conversation.clone(),
                text: "Rebooked you on the 9:40, Ana.".into()
            })
        );
        for (body, why) in [
            (comment(false, true, "77"), "internal note"),
            (comment(true, false, "77"), "customer's own"),
            (comment(true, true, "99"), "Hark itself"),
        ] {
            assert!(
                matches!(zendesk(&body, Some("99")), Ok(DeskEvent::Ignored(reason)) if reason.contains(why)),
                "{why}"
            );
        }
        let solved = json!({"id": "e-1", "type": "zen:event-type:ticket.status_changed",
                            "detail": {"external_id": CONVERSATION}, "event": {"current": "SOLVED", "previous": "OPEN"}});
        assert_eq!(
            zendesk(solved.to_string().as_bytes(), None),
            Ok(DeskEvent::Solved { event_id: "e-1".into(), conversation })
        );
        let mut forwarded: serde_json::Value = serde_json::from_slice(&comment(true, true, "77")).unwrap();
        forwarded["event"]["comment"]["body"] = json!("my bag is lost\nhark-event: msg_0123");
        assert!(matches!(
            zendesk(forwarded.to_string().as_bytes(), None),
            Ok(DeskEvent::Ignored(reason)) if reason.contains("marker")
        ));
        let not_ours =
            json!({"id": "e-2", "type": "zen:event-type:ticket.comment_added", "detail": {"external_id": "CRM-1"}});
        assert!(matches!(zendesk(not_ours.to_string().as_bytes(), None), Ok(DeskEvent::Ignored(_))));
        for bad in [&b"not json"[..], br#"{"id": "a/b", "type": "x", "detail": {}}"#, br#"{"type": "x"}"#] {
            assert!(zendesk(bad, None).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn freshdesk_events_are_named_by_what_they_say() {
        let reply = |text: &str| {
            json!({"event": "reply", "ticket_id": 42, "conversation_id": CONVERSATION, "text": text})
                .to_string()
                .into_bytes()
        };
        let first = freshdesk(&reply("On its way")).unwrap();
        assert_eq!(first, freshdesk(&reply("On its way")).unwrap(), "a repeat is the same event");
        assert_ne!(first, freshdesk(&reply("Another answer")).unwrap());
        assert!(matches!(first, DeskEvent::Answer { ref text, .. } if text == "On its way"));
        let resolved = json!({"event": "resolved", "ticket_id": 42, "conversation_id": CONVERSATION});
        assert!(matches!(freshdesk(resolved.to_string().as_bytes()), Ok(DeskEvent::Solved { .. })));
        assert!(freshdesk(br#"{"event": "deleted", "ticket_id": 1, "conversation_id": "x:1:2"}"#).is_err());
        assert!(freshdesk(br#"{"event": "reply", "ticket_id": 1, "extra": 1}"#).is_err());
    }
}
