//! A source's deliveries: Standard Webhooks over the raw bytes (any of the listed
//! signatures may match, so the source can rotate its key; the timestamp within five
//! minutes), then one message per delivery, in the shape the README documents:
//!
//! ```json
//! {"type": "message.created",
//!  "data": {"customer": {"id": "c-81", "name": "Ana", "handle": "ana", "followers": 120, "verified": false},
//!           "text": "My order never came", "visibility": "public",
//!           "in_reply_to": "msg_earlier", "created_at": "2026-12-04T10:00:00Z", "language": "en"}}
//! ```
//!
//! `webhook-id` is the message's id: a source that delivers again sends the same id, and
//! Hark stores the message once. Pure: no I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use crate::channels::json::json_error;
use crate::channels::{
    ChallengeAnswer, InboundChannel, InboundError, Normalised, Skipped, Verified, WebhookRequest, shown,
};
use crate::credentials::SourceCredentials;
use crate::domain::mention::{Author, Channel, Direction, Mention, MentionKind, MessageAction};
use crate::helpdesks::standard_webhooks::{self, EndpointSecret};

/// The event type a message arrives as; other types are read and ignored, so a source
/// sending newer events than this Hark knows loses nothing it relies on.
pub const MESSAGE_CREATED: &str = "message.created";
const MAX_TEXT_CHARS: usize = 10_000;
const MAX_ID_LEN: usize = 128;
/// A message written later than this after it arrived is a clock no one should trust.
const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(5);

/// A source's name, as the URL and the credentials give it.
pub fn is_valid_source(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}

/// A message id (`webhook-id`) Hark keys on: it appears in conversation ids and API paths.
pub fn is_valid_message_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

fn is_valid_customer_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'@' | b'+'))
}

pub struct GenericInbound {
    sources: BTreeMap<String, EndpointSecret>,
}

impl GenericInbound {
    /// The credentials were checked when read; a secret that still does not parse leaves
    /// its source refusing every delivery.
    pub fn new(sources: &BTreeMap<String, SourceCredentials>) -> Self {
        let sources = sources
            .iter()
            .filter_map(|(name, source)| Some((name.clone(), EndpointSecret::parse(source.secret.expose()).ok()?)))
            .collect();
        GenericInbound { sources }
    }
}

impl InboundChannel for GenericInbound {
    fn answer_challenge(&self, _request: &WebhookRequest<'_>) -> Result<ChallengeAnswer, InboundError> {
        Err(InboundError::InvalidChallenge("a source has no handshake: POST its messages".into()))
    }

    fn verify<'a>(&'a self, request: &WebhookRequest<'a>) -> Result<Verified<'a>, InboundError> {
        let unauthenticated = |why: String| InboundError::Unauthenticated(why);
        let source = request.account.ok_or_else(|| unauthenticated("the URL names no source".into()))?;
        let (name, secret) = self
            .sources
            .get_key_value(source)
            .ok_or_else(|| unauthenticated(format!("no secret for source {}", shown(source))))?;
        standard_webhooks::verify(
            secret,
            request.header(standard_webhooks::ID_HEADER),
            request.header(standard_webhooks::TIMESTAMP_HEADER),
            request.header(standard_webhooks::SIGNATURE_HEADER),
            request.body,
            request.received_at,
        )
        .map_err(|refused| unauthenticated(format!("source {}: {refused}", shown(source))))?;
        Ok(Verified::new(request.body, name))
    }

    fn normalise(&self, verified: Verified<'_>, request: &WebhookRequest<'_>) -> Result<Normalised, InboundError> {
        // Verified, so the header is there.
        let id = request.header(standard_webhooks::ID_HEADER).unwrap_or_default();
        if !is_valid_message_id(id) {
            return Err(InboundError::Malformed(format!(
                "webhook-id {} is not 1 to {MAX_ID_LEN} of A-Z a-z 0-9 _ -",
                shown(id)
            )));
        }
        let delivery: Delivery = serde_json::from_slice(verified.body())
            .map_err(|e| InboundError::Malformed(format!("the body {}", json_error(&e))))?;
        let mut normalised = Normalised::default();
        normalised.push(mention(verified.signer(), id, delivery, request));
        // One message a delivery: one the source got wrong is refused (400) with the reason,
        // rather than acknowledged and dropped.
        if let Some(refused) = normalised.skipped.iter().find(|s| s.malformed) {
            return Err(InboundError::Malformed(refused.reason.clone()));
        }
        Ok(normalised)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Delivery {
    #[serde(rename = "type")]
    event_type: String,
    /// The Standard Webhooks payload's own timestamp; the header's is the one checked.
    #[serde(default, rename = "timestamp")]
    _timestamp: Option<serde::de::IgnoredAny>,
    /// Read once the type says what it holds.
    data: Option<Box<serde_json::value::RawValue>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message {
    customer: Customer,
    text: String,
    #[serde(default)]
    visibility: Visibility,
    #[serde(default)]
    in_reply_to: Option<String>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    language: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Customer {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    handle: Option<String>,
    #[serde(default)]
    followers: Option<u64>,
    #[serde(default)]
    verified: bool,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Visibility {
    /// Seen by others (a review, a community post): answered where it was written.
    Public,
    /// Between the customer and the company (a web form, an in-app chat).
    #[default]
    Private,
}

fn mention(source: &str, id: &str, delivery: Delivery, request: &WebhookRequest<'_>) -> Result<Mention, Skipped> {
    if delivery.event_type != MESSAGE_CREATED {
        return Err(Skipped::ignored(format!("event type {} is not {MESSAGE_CREATED}", shown(&delivery.event_type))));
    }
    let malformed = |why: String| Skipped::malformed(format!("message {}: {why}", shown(id)));
    let data = delivery.data.ok_or_else(|| malformed("no data".into()))?;
    let m: Message = serde_json::from_str(data.get()).map_err(|e| malformed(format!("data {}", json_error(&e))))?;
    if !is_valid_customer_id(&m.customer.id) {
        return Err(malformed(format!("customer.id is not 1 to {MAX_ID_LEN} of A-Z a-z 0-9 _ - . : @ +")));
    }
    let text = m.text.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_TEXT_CHARS {
        return Err(malformed(format!("text is {chars} characters, not 1 to {MAX_TEXT_CHARS}")));
    }
    if let Some(parent) = m.in_reply_to.as_deref().filter(|p| !is_valid_message_id(p)) {
        return Err(malformed(format!("in_reply_to {} is not a message id", shown(parent))));
    }
    let created_at = m.created_at.unwrap_or(request.received_at);
    if created_at > request.received_at + CLOCK_SKEW {
        return Err(malformed("created_at is in the future".into()));
    }
    let bounded = |value: Option<String>| value.map(|v| v.chars().take(200).collect::<String>());
    let language =
        m.language.filter(|l| (2..=8).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-'));
    let kind = match (m.visibility, &m.in_reply_to) {
        (Visibility::Private, _) => MentionKind::DirectMessage,
        (Visibility::Public, Some(_)) => MentionKind::Reply,
        (Visibility::Public, None) => MentionKind::Post,
    };
    Ok(Mention {
        channel: Channel::Generic,
        account_id: source.to_owned(),
        direction: Direction::Inbound,
        kind,
        message_id: id.to_owned(),
        parent_id: m.in_reply_to,
        parent_author_id: None,
        quoted_id: None,
        author: Author {
            id: m.customer.id.clone(),
            handle: bounded(m.customer.handle),
            name: bounded(m.customer.name),
            followers: m.customer.followers,
            verified: m.customer.verified,
        },
        customer_id: m.customer.id,
        text: text.to_owned(),
        language,
        created_at,
        received_at: request.received_at,
        raw_ref: format!("{}#{id}", request.request_id),
        action: MessageAction::Created,
        standby: false,
        automated: None,
        text_source: None,
        listening: false,
    })
}
