//! LinkedIn organisation social-action notifications: the `challengeCode` handshake,
//! `X-LI-Signature` over the raw bytes, and the normalisation of each notification of a
//! batch. Pure: no I/O.
//!
//! What LinkedIn leaves uncertain is decided here, one place each: the signature's byte
//! layout (both readings of the documentation are accepted, and which one matched is
//! logged, so the other can be dropped after the first real deliveries), and the two ways
//! a comment's URN is written (`urn.rs`).

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::Sha256;

use super::urn;
use crate::channels::json::{RawObject, json_error, raw_list};
use crate::channels::{
    ChallengeAnswer, InboundChannel, InboundError, Normalised, Skipped, Verified, WebhookRequest, shown,
};
use crate::credentials::LinkedInCredentials;
use crate::domain::mention::{Author, Channel, Direction, Mention, MentionKind, MessageAction, TextSource};
use crate::domain::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

pub const SIGNATURE_HEADER: &str = "x-li-signature";
/// The envelope's type for organisation social actions.
pub const NOTIFICATION_TYPE: &str = "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS";
/// What the documentation says the signed string starts with.
const SIGNED_PREFIX: &[u8] = b"hmacsha256=";
/// A comment holds at most 1,250 characters and a post 3,000.
const MAX_TEXT_CHARS: usize = 10_000;

/// The two readings of LinkedIn's signature documentation. [U]: pin one after the first
/// real delivery (`../shared/contracts/channels.md`, open item 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVariant {
    /// HMAC-SHA256 over `hmacsha256=` followed by the body (the documentation read literally).
    Prefixed,
    /// HMAC-SHA256 over the body alone (what several public receivers check).
    BodyOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("X-LI-Signature is missing")]
    Missing,
    #[error("X-LI-Signature is not 64 hex digits (optionally after hmacsha256=)")]
    Malformed,
    #[error("X-LI-Signature does not match the body")]
    Mismatch,
}

fn mac(secret: &str) -> HmacSha256 {
    HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The header LinkedIn would send for `body` under `secret`, in either reading.
pub fn sign(secret: &str, variant: SignatureVariant, body: &[u8]) -> String {
    let mut mac = mac(secret);
    if variant == SignatureVariant::Prefixed {
        mac.update(SIGNED_PREFIX);
    }
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

/// Which reading the header matches, checked over the raw bytes in constant time; both
/// are always computed, so the time tells nothing about which.
pub fn verify_signature(secret: &str, body: &[u8], header: Option<&str>) -> Result<SignatureVariant, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let digits = match header.get(..SIGNED_PREFIX.len()) {
        Some(prefix) if prefix.as_bytes().eq_ignore_ascii_case(SIGNED_PREFIX) => &header[SIGNED_PREFIX.len()..],
        _ => header,
    };
    if digits.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let claimed: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| SignatureError::Malformed))
        .collect::<Result<_, _>>()?;
    let mut prefixed = mac(secret);
    prefixed.update(SIGNED_PREFIX);
    prefixed.update(body);
    let mut plain = mac(secret);
    plain.update(body);
    let (a, b) = (prefixed.verify_slice(&claimed).is_ok(), plain.verify_slice(&claimed).is_ok());
    match (a, b) {
        (true, _) => Ok(SignatureVariant::Prefixed),
        (_, true) => Ok(SignatureVariant::BodyOnly),
        _ => Err(SignatureError::Mismatch),
    }
}

/// A challenge code is a UUID and nothing else: the answer is an HMAC under the secret
/// that signs deliveries, so answering any other string would sign bodies for whoever asks.
pub fn is_challenge_code(code: &str) -> bool {
    let groups: Vec<&str> = code.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `{"challengeCode", "challengeResponse": hex(HMAC-SHA256(client secret, code))}`.
pub fn challenge_response(secret: &str, code: &str) -> serde_json::Value {
    let mut mac = mac(secret);
    mac.update(code.as_bytes());
    serde_json::json!({ "challengeCode": code, "challengeResponse": hex(&mac.finalize().into_bytes()) })
}

pub struct LinkedInInbound {
    secret: Option<Secret>,
    /// The organisations served, by number.
    organizations: Vec<String>,
}

impl LinkedInInbound {
    pub fn new(credentials: Option<&LinkedInCredentials>) -> Self {
        let mut organizations: Vec<String> =
            credentials.map(|c| c.organizations.keys().cloned().collect()).unwrap_or_default();
        organizations.sort();
        LinkedInInbound { secret: credentials.map(|c| c.client_secret.clone()), organizations }
    }

    fn secret(&self) -> Result<&Secret, InboundError> {
        // No secret, no trust: a deployment without LinkedIn refuses everything that claims to be it.
        self.secret.as_ref().ok_or_else(|| InboundError::Unauthenticated("no LinkedIn client secret configured".into()))
    }
}

impl InboundChannel for LinkedInInbound {
    fn answer_challenge(&self, request: &WebhookRequest<'_>) -> Result<ChallengeAnswer, InboundError> {
        let secret = self.secret()?;
        let code = request
            .query("challengeCode")
            .filter(|c| is_challenge_code(c))
            .ok_or_else(|| InboundError::InvalidChallenge("challengeCode is missing or not a UUID".into()))?;
        Ok(ChallengeAnswer::Json(challenge_response(secret.expose(), code)))
    }

    fn verify<'a>(&'a self, request: &WebhookRequest<'a>) -> Result<Verified<'a>, InboundError> {
        let secret = self.secret()?;
        let variant = verify_signature(secret.expose(), request.body, request.header(SIGNATURE_HEADER))
            .map_err(|e| InboundError::Unauthenticated(e.to_string()))?;
        // Which reading LinkedIn uses is the one thing its documentation leaves open.
        tracing::info!(variant = ?variant, "LinkedIn signature verified");
        Ok(Verified::new(request.body, "linkedin"))
    }

    fn normalise(&self, verified: Verified<'_>, request: &WebhookRequest<'_>) -> Result<Normalised, InboundError> {
        let envelope = RawObject::parse(verified.body())
            .map_err(|e| InboundError::Malformed(format!("the body is not a notification envelope: {e:?}")))?;
        let kind: Option<String> = envelope.get("type").and_then(|v| serde_json::from_str(v.get()).ok());
        if kind.as_deref() != Some(NOTIFICATION_TYPE) {
            return Err(InboundError::Malformed(format!("type is not {NOTIFICATION_TYPE}")));
        }
        let notifications = envelope
            .get("notifications")
            .and_then(raw_list)
            .ok_or_else(|| InboundError::Malformed("notifications is not a list".into()))?;
        let mut normalised = Normalised::default();
        for (index, raw) in notifications.iter().enumerate() {
            let reference = format!("{}#n{index}", request.request_id);
            normalised.push(self.notification(raw, &reference, request.received_at));
        }
        Ok(normalised)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    notification_id: serde_json::Value,
    action: String,
    organizational_entity: String,
    #[serde(default)]
    source_post: Option<String>,
    #[serde(default)]
    generated_activity: Option<String>,
    #[serde(default)]
    decorated_generated_activity: Option<Decorated>,
    #[serde(default)]
    last_modified_at: Option<i64>,
}

#[derive(Deserialize, Default)]
struct Decorated {
    #[serde(default)]
    comment: Option<Entity>,
    #[serde(default)]
    share: Option<Entity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entity {
    entity: String,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    parent_comment: Option<String>,
}

impl LinkedInInbound {
    fn notification(&self, raw: &RawValue, reference: &str, received_at: DateTime<Utc>) -> Result<Mention, Skipped> {
        let n: Notification = serde_json::from_str(raw.get())
            .map_err(|e| Skipped::malformed(format!("a notification {}", json_error(&e))))?;
        let notification_id = match &n.notification_id {
            serde_json::Value::Number(id) => id.to_string(),
            serde_json::Value::String(id) if id.bytes().all(|b| b.is_ascii_digit()) => id.clone(),
            _ => return Err(Skipped::malformed("a notification without a numeric notificationId".into())),
        };
        let reference = format!("{reference}:{notification_id}");
        let malformed = |why: String| Skipped::malformed(format!("notification {notification_id}: {why}"));
        let org = urn::organization_of(&n.organizational_entity).ok_or_else(|| {
            malformed(format!("organizationalEntity {} is not an organisation", shown(&n.organizational_entity)))
        })?;
        if self.organizations.binary_search_by(|o| o.as_str().cmp(org)).is_err() {
            return Err(Skipped::ignored(format!("organisation {org} is not one Hark serves")));
        }
        let created_at = n.last_modified_at.and_then(|ms| Utc.timestamp_millis_opt(ms).single()).unwrap_or(received_at);
        let decorated = n.decorated_generated_activity.unwrap_or_default();
        let event = Event { org, reference: &reference, created_at, received_at };
        match n.action.as_str() {
            "COMMENT" | "ADMIN_COMMENT" | "COMMENT_EDIT" | "COMMENT_DELETE" => {
                let comment_urn =
                    decorated.comment.as_ref().map(|c| c.entity.as_str()).or(n.generated_activity.as_deref());
                let comment_id = comment_urn
                    .and_then(urn::id_of)
                    .filter(|id| id.starts_with("comment:"))
                    .ok_or_else(|| malformed("no comment URN".into()))?;
                let post = n
                    .source_post
                    .as_deref()
                    .and_then(urn::id_of)
                    .or_else(|| urn::comment_parts(&comment_id).and_then(|(post, _)| urn::id_of(&post)))
                    .ok_or_else(|| malformed("no post the comment is on".into()))?;
                event.comment(&n.action, comment_id, post, decorated.comment)
            }
            "SHARE_MENTION" => {
                let share = decorated.share;
                let share_urn = share.as_ref().map(|s| s.entity.as_str()).or(n.generated_activity.as_deref());
                let share_id = share_urn
                    .and_then(urn::id_of)
                    .filter(|id| urn::is_post_id(id))
                    .ok_or_else(|| malformed("no post URN".into()))?;
                event.mention(share_id, share)
            }
            other => Err(Skipped::ignored(format!("a {} asks for no answer", shown(other)))),
        }
    }
}

/// What every mention of one notification shares.
struct Event<'a> {
    org: &'a str,
    reference: &'a str,
    created_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
}

impl Event<'_> {
    fn comment(&self, action: &str, id: String, post: String, entity: Option<Entity>) -> Result<Mention, Skipped> {
        let entity = entity.as_ref();
        let owner = entity.and_then(|e| e.owner.as_deref()).and_then(urn::id_of);
        let ours = format!("organization:{}", self.org);
        let echo = action == "ADMIN_COMMENT" || owner.as_deref() == Some(ours.as_str());
        let parent_comment = entity.and_then(|e| e.parent_comment.as_deref()).and_then(urn::id_of);
        // LinkedIn notifies comments on the organisation's own posts: a comment at the top
        // of one answers the organisation's broadcast, and starts a conversation of its own.
        let parent_author = parent_comment.is_none().then(|| self.org.to_owned());
        let parent = parent_comment.unwrap_or(post);
        let number = id.rsplit(':').next().unwrap_or_default().to_owned();
        // A comment whose author the notification leaves out is its own customer until the
        // text is fetched: the thread, not the customer, is what keys a public conversation.
        let author = owner.clone().unwrap_or_else(|| format!("commenter:{number}"));
        let customer = if echo { parent.clone() } else { author.clone() };
        let action = match action {
            "COMMENT_EDIT" => MessageAction::Edited,
            "COMMENT_DELETE" => MessageAction::Removed,
            _ => MessageAction::Created,
        };
        let text = self.text(entity)?;
        let fetch = text.is_empty() && action != MessageAction::Removed;
        Ok(Mention {
            direction: if echo { Direction::Outbound } else { Direction::Inbound },
            kind: MentionKind::Reply,
            parent_id: Some(parent),
            parent_author_id: parent_author,
            customer_id: customer,
            action,
            text_source: fetch.then_some(TextSource::LinkedIn),
            listening: false,
            ..self.mention_of(id, author, text)
        })
    }

    fn mention(&self, id: String, entity: Option<Entity>) -> Result<Mention, Skipped> {
        let owner = entity.as_ref().and_then(|e| e.owner.as_deref()).and_then(urn::id_of);
        if owner.as_deref() == Some(format!("organization:{}", self.org).as_str()) {
            return Err(Skipped::ignored(format!("post {} is the organisation's own", shown(&id))));
        }
        let number = id.rsplit(':').next().unwrap_or_default().to_owned();
        let author = owner.unwrap_or_else(|| format!("author:{number}"));
        let text = self.text(entity.as_ref())?;
        let fetch = text.is_empty();
        Ok(Mention { text_source: fetch.then_some(TextSource::LinkedIn), ..self.mention_of(id, author, text) })
    }

    fn text(&self, entity: Option<&Entity>) -> Result<String, Skipped> {
        let text = entity.and_then(|e| e.text.as_deref()).unwrap_or_default().trim();
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(Skipped::malformed(format!("a text longer than {MAX_TEXT_CHARS} characters")));
        }
        Ok(text.to_owned())
    }

    fn mention_of(&self, id: String, author: String, text: String) -> Mention {
        Mention {
            channel: Channel::LinkedIn,
            account_id: self.org.to_owned(),
            direction: Direction::Inbound,
            kind: MentionKind::Post,
            message_id: id,
            parent_id: None,
            parent_author_id: None,
            quoted_id: None,
            author: Author { id: author.clone(), handle: None, name: None, followers: None, verified: false },
            customer_id: author,
            text,
            language: None,
            created_at: self.created_at,
            received_at: self.received_at,
            raw_ref: self.reference.to_owned(),
            action: MessageAction::Created,
            standby: false,
            automated: None,
            text_source: None,
            listening: false,
        }
    }
}
