//! Mastodon's notifications and statuses read into mentions. Pure: no I/O.
//!
//! A brand account's mentions (and private mentions) come from its notifications; listening
//! comes from searches and hashtag timelines, whose statuses are hits unless they mention
//! the account or reply to it. Ids are opaque strings on one instance, never numbers.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::channels::feed::{FeedPage, html_text};
use crate::channels::json::json_error;
use crate::channels::{Normalised, Skipped, shown};
use crate::domain::mention::{Author, Channel, Direction, Mention, MentionKind, MessageAction};

/// Longer than any instance allows (mastodon.social: 500; some allow 5,000 or more).
const MAX_TEXT_CHARS: usize = 20_000;

/// An id Hark keys on: Mastodon's are digits; other servers' are short and plain.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whose feed it is.
#[derive(Debug, Clone, Copy)]
pub struct FeedContext<'a> {
    /// The brand's account id on its instance.
    pub account: &'a str,
    /// Names the feed in each mention's `raw_ref`.
    pub reference: &'a str,
}

#[derive(Deserialize)]
struct Notification {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    status: Option<serde_json::Value>,
}

#[derive(Deserialize)]
pub(crate) struct Status {
    pub(crate) id: String,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    in_reply_to_id: Option<String>,
    #[serde(default)]
    in_reply_to_account_id: Option<String>,
    #[serde(default)]
    pub(crate) visibility: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    content: String,
    pub(crate) account: Account,
    #[serde(default)]
    mentions: Vec<Mentioned>,
    #[serde(default)]
    reblog: Option<serde_json::Value>,
}

#[derive(Deserialize)]
pub(crate) struct Account {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) acct: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    followers_count: Option<u64>,
}

#[derive(Deserialize)]
struct Mentioned {
    id: String,
}

/// A page of `GET /api/v1/notifications`: mentions and edits of statuses that mention the
/// account; the cursor moves by notification id.
pub fn notifications_page(
    body: &[u8],
    context: FeedContext<'_>,
    received_at: DateTime<Utc>,
) -> Result<FeedPage, String> {
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| format!("the notifications {}", json_error(&e)))?;
    let mut normalised = Normalised::default();
    let mut ids = Vec::new();
    for raw in list {
        let notification: Notification = match serde_json::from_value(raw) {
            Ok(n) => n,
            Err(e) => {
                normalised.skipped.push(Skipped::malformed(format!("a notification {}", json_error(&e))));
                continue;
            }
        };
        if !is_valid_id(&notification.id) {
            normalised.skipped.push(Skipped::malformed(format!("notification id {}", shown(&notification.id))));
            continue;
        }
        ids.push(notification.id.clone());
        let action = match notification.kind.as_str() {
            "mention" => MessageAction::Created,
            "update" => MessageAction::Edited,
            other => {
                normalised
                    .skipped
                    .push(Skipped::ignored(format!("a {} notification asks for no answer", shown(other))));
                continue;
            }
        };
        let Some(status) = notification.status else {
            normalised.skipped.push(Skipped::malformed(format!("notification {} has no status", notification.id)));
            continue;
        };
        normalised.push(status_mention(status, context, received_at, action, false));
    }
    Ok(FeedPage { mentions: normalised.mentions, skipped: normalised.skipped, ids, next: None, pause_until: None })
}

/// A page of statuses (`GET /api/v2/search`'s `statuses`, or a hashtag timeline): listening
/// hits unless they are addressed to the account; the cursor moves by status id.
pub fn statuses_page(body: &[u8], context: FeedContext<'_>, received_at: DateTime<Utc>) -> Result<FeedPage, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("the statuses {}", json_error(&e)))?;
    // Search answers {"statuses": [...]}; a timeline answers the list itself.
    let list = match value {
        serde_json::Value::Array(list) => list,
        serde_json::Value::Object(mut object) => match object.remove("statuses") {
            Some(serde_json::Value::Array(list)) => list,
            _ => return Err("the search answer has no statuses".into()),
        },
        _ => return Err("the statuses are not a list".into()),
    };
    let mut normalised = Normalised::default();
    let mut ids = Vec::new();
    for raw in list {
        if let Some(id) = raw.get("id").and_then(|v| v.as_str()).filter(|id| is_valid_id(id)) {
            ids.push(id.to_owned());
        }
        normalised.push(status_mention(raw, context, received_at, MessageAction::Created, true));
    }
    Ok(FeedPage { mentions: normalised.mentions, skipped: normalised.skipped, ids, next: None, pause_until: None })
}

fn status_mention(
    raw: serde_json::Value,
    context: FeedContext<'_>,
    received_at: DateTime<Utc>,
    action: MessageAction,
    searched: bool,
) -> Result<Mention, Skipped> {
    let status: Status =
        serde_json::from_value(raw).map_err(|e| Skipped::malformed(format!("a status {}", json_error(&e))))?;
    if !is_valid_id(&status.id) || !is_valid_id(&status.account.id) {
        return Err(Skipped::malformed(format!("status {} has an id Hark cannot key on", shown(&status.id))));
    }
    if status.account.id == context.account {
        return Err(Skipped::ignored(format!("status {} is the account's own", status.id)));
    }
    if status.reblog.as_ref().is_some_and(|r| !r.is_null()) {
        return Err(Skipped::ignored(format!("status {} is a boost", status.id)));
    }
    let text = html_text(&status.content);
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Skipped::malformed(format!("status {} is longer than {MAX_TEXT_CHARS} characters", status.id)));
    }
    let addressed = status.mentions.iter().any(|m| m.id == context.account)
        || status.in_reply_to_account_id.as_deref() == Some(context.account);
    let parent = status.in_reply_to_id.filter(|p| is_valid_id(p));
    let kind = match (status.visibility.as_deref(), &parent) {
        (Some("direct"), _) => MentionKind::DirectMessage,
        (_, Some(_)) => MentionKind::Reply,
        (_, None) => MentionKind::Post,
    };
    let bounded = |v: Option<String>| v.map(|v| v.chars().take(200).collect::<String>());
    Ok(Mention {
        channel: Channel::Mastodon,
        account_id: context.account.to_owned(),
        direction: Direction::Inbound,
        kind,
        message_id: status.id.clone(),
        parent_id: parent,
        parent_author_id: status.in_reply_to_account_id.filter(|a| is_valid_id(a)),
        quoted_id: None,
        author: Author {
            id: status.account.id.clone(),
            handle: bounded(status.account.acct),
            name: bounded(status.account.display_name).filter(|n| !n.is_empty()),
            followers: status.account.followers_count,
            verified: false,
        },
        customer_id: status.account.id,
        text,
        language: status.language.filter(|l| l.len() <= 8),
        created_at: status.created_at.unwrap_or(received_at),
        received_at,
        raw_ref: format!("{}#{}", context.reference, status.id),
        action,
        standby: false,
        automated: None,
        text_source: None,
        // What a search found is a hit unless it speaks to the account.
        listening: searched && !addressed,
    })
}
