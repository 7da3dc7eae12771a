//! Meta webhooks (Facebook Page feed and @mentions, Messenger, Instagram comments, mentions
//! and DMs): the verify-token handshake, `X-Hub-Signature-256` over the raw bytes, and the
//! normalisation of every entry and every change or messaging event of a batched delivery.
//! Pure: no I/O.
//!
//! What Meta leaves uncertain is decided here, in one place each: whether an Instagram
//! comment's id is `id` or `comment_id` (both read), the spelling of an edit (`edited` and
//! `edit`), and which echoes are Hark's own (our app ids, from the credentials).

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::Sha256;

use crate::channels::json::{RawObject, json_error, raw_list};
use crate::channels::{
    ChallengeAnswer, InboundChannel, InboundError, Normalised, Skipped, Verified, WebhookRequest, shown,
};
use crate::credentials::MetaCredentials;
use crate::domain::mention::{Author, Channel, Direction, Mention, MentionKind, MessageAction, TextSource};
use crate::domain::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<64 lowercase hex HMAC-SHA256(app secret, raw body)>`.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// Messenger caps a message at 2,000 characters, Instagram a comment at 2,200 and Facebook at
/// 8,000; anything longer is not Meta talking.
const MAX_TEXT_CHARS: usize = 10_000;
/// Meta's challenge is a number; nothing else is echoed back.
const MAX_CHALLENGE_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header is missing")]
    Missing,
    #[error("signature header is not of the form sha256=<64 hex digits>")]
    Malformed,
    #[error("signature does not match the body")]
    Mismatch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("hub.mode is not subscribe")]
    Mode,
    #[error("hub.verify_token does not match")]
    Token,
    #[error("hub.challenge is missing or not a number")]
    Challenge,
}

fn mac(secret: &str, data: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(data);
    mac
}

/// The header Meta would send for `data` under `secret`.
pub fn sign(secret: &str, data: &[u8]) -> String {
    let digest = mac(secret, data).finalize().into_bytes();
    format!("sha256={}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The header's MAC bytes, for checking against several app secrets.
pub fn decode_signature(header: Option<&str>) -> Result<Vec<u8>, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    if hex.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    (0..64).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| SignatureError::Malformed)).collect()
}

/// Constant-time check of decoded signature bytes against the raw body, never a re-serialised
/// one: Meta signs its own escaped form (`\u00e9`, `\/`), which serde would not reproduce.
pub fn verify_decoded(secret: &str, raw_body: &[u8], claimed: &[u8]) -> Result<(), SignatureError> {
    mac(secret, raw_body).verify_slice(claimed).map_err(|_| SignatureError::Mismatch)
}

pub fn verify_signature(secret: &str, raw_body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    verify_decoded(secret, raw_body, &decode_signature(header)?)
}

/// Answers the subscription handshake: the bare challenge when the mode is `subscribe` and
/// the token is one of ours. The challenge must be a number, so nothing a caller chooses is
/// reflected back.
pub fn answer_challenge<'a, 's>(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
    verify_tokens: impl IntoIterator<Item = &'s Secret>,
) -> Result<&'a str, ChallengeError> {
    if mode != Some("subscribe") {
        return Err(ChallengeError::Mode);
    }
    let token = token.ok_or(ChallengeError::Token)?;
    // Every configured token is compared, in constant time, whichever matches.
    let matched = verify_tokens.into_iter().fold(false, |found, expected| expected.matches(token) | found);
    if !matched {
        return Err(ChallengeError::Token);
    }
    challenge
        .filter(|c| !c.is_empty() && c.len() <= MAX_CHALLENGE_LEN && c.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(ChallengeError::Challenge)
}

/// Which Meta product a delivery is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Page,
    Instagram,
}

impl Object {
    fn channel(self) -> Channel {
        match self {
            Object::Page => Channel::Facebook,
            Object::Instagram => Channel::Instagram,
        }
    }
}

/// A delivery split into its entries, each still raw.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub object: Object,
    entries: Vec<&'a RawValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("body {0}")]
    Json(String),
    #[error("body repeats the key {0:?}")]
    DuplicateKey(String),
    #[error("object is missing or not page or instagram")]
    Object,
    #[error("entry is not a list")]
    Entries,
}

/// Reads the envelope (`object`, `entry`); each entry is read on its own in `normalise`.
pub fn parse(raw_body: &[u8]) -> Result<Delivery<'_>, ParseError> {
    let object = RawObject::parse(raw_body).map_err(|e| match e {
        crate::channels::json::ObjectError::DuplicateKey(key) => ParseError::DuplicateKey(key),
        crate::channels::json::ObjectError::Json(summary) => ParseError::Json(summary),
    })?;
    let kind = match object.get("object").and_then(|v| serde_json::from_str::<String>(v.get()).ok()).as_deref() {
        Some("page") => Object::Page,
        Some("instagram") => Object::Instagram,
        _ => return Err(ParseError::Object),
    };
    let entries = match object.get("entry") {
        Some(entries) => raw_list(entries).ok_or(ParseError::Entries)?,
        None => Vec::new(),
    };
    Ok(Delivery { object: kind, entries })
}

/// What normalisation needs to know of the deployment.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The pages and Instagram accounts the verifying app serves here.
    pub accounts: &'a [String],
    /// Hark's own Meta app ids: an echo sent by one of them is Hark's acknowledgement.
    pub our_app_ids: &'a [String],
}

/// Meta ids are opaque strings of a few shapes (`123`, `123_456`, `m_AbC-1`,
/// `mid.1457764197618:41d102a3e1ae206a38`); anything else is not an id Hark keys or sends on.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 160
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// Ids Hark puts in a Graph API path: digits and underscores only.
pub fn is_valid_path_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

/// A number or a string, as Meta sends ids and times either way.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Loose {
    Text(String),
    Number(serde_json::Number),
}

impl Loose {
    fn text(&self) -> String {
        match self {
            Loose::Text(t) => t.clone(),
            Loose::Number(n) => n.to_string(),
        }
    }
    fn integer(&self) -> Option<i64> {
        match self {
            Loose::Text(t) => t.parse().ok(),
            Loose::Number(n) => n.as_i64(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Entry<'a> {
    id: Loose,
    #[serde(default, borrow)]
    changes: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    messaging: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    standby: Vec<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
struct Change<'a> {
    field: String,
    #[serde(borrow)]
    value: &'a RawValue,
}

#[derive(Debug, Deserialize)]
struct Person {
    id: Loose,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

/// `feed` and `mention` changes of a Page.
#[derive(Debug, Deserialize)]
struct FeedValue {
    #[serde(default)]
    item: Option<String>,
    #[serde(default)]
    verb: Option<String>,
    #[serde(default)]
    comment_id: Option<Loose>,
    #[serde(default)]
    post_id: Option<Loose>,
    #[serde(default)]
    parent_id: Option<Loose>,
    #[serde(default)]
    from: Option<Person>,
    // Edits have been seen naming the author this way instead of `from`.
    #[serde(default)]
    sender_id: Option<Loose>,
    #[serde(default)]
    sender_name: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    created_time: Option<Loose>,
}

/// Instagram `comments` (and `live_comments`) changes.
#[derive(Debug, Deserialize)]
struct CommentValue {
    #[serde(default)]
    id: Option<Loose>,
    #[serde(default)]
    comment_id: Option<Loose>,
    #[serde(default)]
    parent_id: Option<Loose>,
    #[serde(default)]
    from: Option<Person>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    media: Option<Media>,
    #[serde(default)]
    timestamp: Option<Loose>,
}

#[derive(Debug, Deserialize)]
struct Media {
    id: Loose,
}

/// Instagram `mentions` changes: no text, only where to find it.
#[derive(Debug, Deserialize)]
struct MentionValue {
    media_id: Loose,
    #[serde(default)]
    comment_id: Option<Loose>,
}

#[derive(Debug, Deserialize)]
struct MessagingEvent {
    sender: Person,
    recipient: Person,
    #[serde(default)]
    timestamp: Option<Loose>,
    #[serde(default)]
    message: Option<MessagePart>,
}

#[derive(Debug, Deserialize)]
struct MessagePart {
    mid: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    app_id: Option<Loose>,
    #[serde(default)]
    is_deleted: bool,
    #[serde(default)]
    is_unsupported: bool,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

#[derive(Debug, Deserialize)]
struct Attachment {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

struct Event<'c> {
    channel: Channel,
    account: String,
    context: &'c Context<'c>,
    received_at: DateTime<Utc>,
    raw_ref: String,
}

impl Delivery<'_> {
    /// Every entry, and every change, messaging and standby event of each. `raw_ref` names
    /// the request the payload came in.
    pub fn normalise(self, context: &Context<'_>, received_at: DateTime<Utc>, raw_ref: &str) -> Normalised {
        let mut out = Normalised::default();
        let channel = self.object.channel();
        for (e, raw) in self.entries.into_iter().enumerate() {
            let entry: Entry<'_> = match serde_json::from_str(raw.get()) {
                Ok(entry) => entry,
                Err(error) => {
                    out.skipped.push(Skipped::malformed(format!("entry {e} {}", json_error(&error))));
                    continue;
                }
            };
            let account = entry.id.text();
            if !context.accounts.contains(&account) {
                let events = entry.changes.len() + entry.messaging.len() + entry.standby.len();
                out.skipped.push(Skipped::ignored(format!(
                    "entry {e}: {events} event(s) for {}, which this app does not serve here",
                    shown(&account)
                )));
                continue;
            }
            for (c, raw) in entry.changes.iter().enumerate() {
                let event = Event {
                    channel,
                    account: account.clone(),
                    context,
                    received_at,
                    raw_ref: format!("{raw_ref}#e{e}c{c}"),
                };
                out.push(change(&event, raw));
            }
            for (standby, events) in [(false, &entry.messaging), (true, &entry.standby)] {
                for (m, raw) in events.iter().enumerate() {
                    let kind = if standby { "s" } else { "m" };
                    let event = Event {
                        channel,
                        account: account.clone(),
                        context,
                        received_at,
                        raw_ref: format!("{raw_ref}#e{e}{kind}{m}"),
                    };
                    out.push(messaging(&event, raw, standby));
                }
            }
        }
        out
    }
}

fn checked_text(text: Option<String>, id: &str) -> Result<String, Skipped> {
    let text = text.unwrap_or_default().trim().to_owned();
    if text.is_empty() {
        return Err(Skipped::malformed(format!("message {} has no text", shown(id))));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Skipped::malformed(format!("message {} text exceeds {MAX_TEXT_CHARS} characters", shown(id))));
    }
    Ok(text)
}

fn id_of(value: Option<&Loose>, what: &str) -> Result<String, Skipped> {
    let id = value.map(Loose::text).unwrap_or_default();
    if is_valid_id(&id) {
        Ok(id)
    } else {
        Err(Skipped::malformed(format!("{what} {} is missing or invalid", shown(&id))))
    }
}

fn seconds(value: Option<&Loose>, fallback: DateTime<Utc>) -> DateTime<Utc> {
    value.and_then(Loose::integer).and_then(|s| Utc.timestamp_opt(s, 0).single()).unwrap_or(fallback)
}

fn millis(value: Option<&Loose>, fallback: DateTime<Utc>) -> DateTime<Utc> {
    value.and_then(Loose::integer).and_then(|ms| Utc.timestamp_millis_opt(ms).single()).unwrap_or(fallback)
}

/// What a verb does to a message; `None` for verbs Hark does not act on.
fn action(verb: Option<&str>) -> Option<MessageAction> {
    match verb {
        None | Some("add") => Some(MessageAction::Created),
        Some("edited" | "edit") => Some(MessageAction::Edited),
        Some("remove" | "hide") => Some(MessageAction::Removed),
        _ => None,
    }
}

fn change(event: &Event<'_>, raw: &RawValue) -> Result<Mention, Skipped> {
    let change: Change<'_> =
        serde_json::from_str(raw.get()).map_err(|e| Skipped::malformed(format!("change {}", json_error(&e))))?;
    match (event.channel, change.field.as_str()) {
        (Channel::Facebook, "feed" | "mention") => feed(event, change.value),
        (Channel::Instagram, "comments" | "live_comments") => instagram_comment(event, change.value),
        (Channel::Instagram, "mentions") => instagram_mention(event, change.value),
        (_, field) => Err(Skipped::ignored(format!("field {} is not handled", shown(field)))),
    }
}

/// Page feed changes and Page @mentions share one shape.
fn feed(event: &Event<'_>, raw: &RawValue) -> Result<Mention, Skipped> {
    let value: FeedValue =
        serde_json::from_str(raw.get()).map_err(|e| Skipped::malformed(format!("feed change {}", json_error(&e))))?;
    let item = value.item.as_deref().unwrap_or("post");
    let Some(action) = action(value.verb.as_deref()) else {
        return Err(Skipped::ignored(format!(
            "feed verb {} is not handled",
            shown(value.verb.as_deref().unwrap_or(""))
        )));
    };
    let (kind, id, parent) = match item {
        "comment" => {
            let id = id_of(value.comment_id.as_ref(), "comment_id")?;
            // A comment hangs on its parent comment, or on the post when it is top level.
            let parent = value.parent_id.as_ref().or(value.post_id.as_ref()).map(Loose::text);
            (MentionKind::Reply, id, parent.filter(|p| is_valid_id(p)))
        }
        "post" | "status" | "photo" | "video" | "share" => {
            (MentionKind::Post, id_of(value.post_id.as_ref(), "post_id")?, None)
        }
        other => return Err(Skipped::ignored(format!("feed item {} is not a message", shown(other)))),
    };
    let author_id = value
        .from
        .as_ref()
        .map(|p| p.id.text())
        .or_else(|| value.sender_id.as_ref().map(Loose::text))
        .unwrap_or_default();
    if action == MessageAction::Created && !is_valid_id(&author_id) {
        return Err(Skipped::malformed(format!("{} {id} has no author", item)));
    }
    let author = Author {
        id: author_id.clone(),
        handle: None,
        name: value.from.as_ref().and_then(|p| p.name.clone()).or(value.sender_name),
        followers: None,
        verified: false,
    };
    // Posts of the Page itself are broadcasts; its comments are the brand answering.
    let ours = author_id == event.account;
    if ours && kind == MentionKind::Post {
        return Err(Skipped::ignored(format!("post {id} is the Page's own")));
    }
    // The parent's author is known when the parent is one of the Page's own posts
    // (`{page id}_{post id}`): a customer commenting on a broadcast starts their own thread.
    let parent_author_id = parent
        .as_deref()
        .filter(|p| p.split_once('_').is_some_and(|(page, _)| page == event.account))
        .map(|_| event.account.clone());
    let text = match action {
        MessageAction::Removed => value.message.unwrap_or_default(),
        _ => checked_text(value.message, &id)?,
    };
    let (direction, customer_id) = if ours {
        // The customer of the Page's reply is known only through the thread it answers.
        (Direction::Outbound, parent.clone().unwrap_or_else(|| id.clone()))
    } else {
        (Direction::Inbound, author_id)
    };
    Ok(Mention {
        channel: event.channel,
        account_id: event.account.clone(),
        direction,
        kind,
        message_id: id,
        parent_id: parent,
        parent_author_id,
        quoted_id: None,
        author,
        customer_id,
        text,
        language: None,
        created_at: seconds(value.created_time.as_ref(), event.received_at),
        received_at: event.received_at,
        raw_ref: event.raw_ref.clone(),
        action,
        standby: false,
        automated: None,
        text_source: None,
        listening: false,
    })
}

fn instagram_comment(event: &Event<'_>, raw: &RawValue) -> Result<Mention, Skipped> {
    let value: CommentValue = serde_json::from_str(raw.get())
        .map_err(|e| Skipped::malformed(format!("comment change {}", json_error(&e))))?;
    // The stored examples disagree on the key: read both.
    let id = id_of(value.id.as_ref().or(value.comment_id.as_ref()), "comment id")?;
    let from = value.from.ok_or_else(|| Skipped::malformed(format!("comment {id} has no author")))?;
    let author_id = from.id.text();
    if !is_valid_id(&author_id) {
        return Err(Skipped::malformed(format!("comment {id} has an invalid author")));
    }
    let media = value.media.map(|m| m.id.text()).filter(|m| is_valid_id(m));
    let parent = value.parent_id.map(|p| p.text()).filter(|p| is_valid_id(p)).or(media.clone());
    let ours = author_id == event.account;
    let text = checked_text(value.text, &id)?;
    let (direction, customer_id) = if ours {
        (Direction::Outbound, parent.clone().unwrap_or_else(|| id.clone()))
    } else {
        (Direction::Inbound, author_id.clone())
    };
    Ok(Mention {
        channel: Channel::Instagram,
        account_id: event.account.clone(),
        direction,
        kind: MentionKind::Reply,
        message_id: id,
        // A comment on the account's own media: each commenter starts their own thread.
        parent_author_id: media.as_ref().filter(|m| Some(*m) == parent.as_ref()).map(|_| event.account.clone()),
        parent_id: parent,
        quoted_id: None,
        author: Author { id: author_id, handle: from.username, name: from.name, followers: None, verified: false },
        customer_id,
        text,
        language: None,
        created_at: seconds(value.timestamp.as_ref(), event.received_at),
        received_at: event.received_at,
        raw_ref: event.raw_ref.clone(),
        action: MessageAction::Created,
        standby: false,
        automated: None,
        text_source: None,
        listening: false,
    })
}

fn instagram_mention(event: &Event<'_>, raw: &RawValue) -> Result<Mention, Skipped> {
    let value: MentionValue = serde_json::from_str(raw.get())
        .map_err(|e| Skipped::malformed(format!("mention change {}", json_error(&e))))?;
    let media_id = id_of(Some(&value.media_id), "media_id")?;
    let comment_id = match &value.comment_id {
        Some(id) => Some(id_of(Some(id), "comment_id")?),
        None => None,
    };
    let id = comment_id.clone().unwrap_or_else(|| media_id.clone());
    Ok(Mention {
        channel: Channel::Instagram,
        account_id: event.account.clone(),
        direction: Direction::Inbound,
        kind: if comment_id.is_some() { MentionKind::Reply } else { MentionKind::Post },
        parent_id: comment_id.as_ref().map(|_| media_id.clone()),
        message_id: id.clone(),
        parent_author_id: None,
        quoted_id: None,
        // Who wrote it, and what, comes with the text (the processor fetches both).
        author: Author { id: String::new(), handle: None, name: None, followers: None, verified: false },
        customer_id: format!("mention:{id}"),
        text: String::new(),
        language: None,
        created_at: event.received_at,
        received_at: event.received_at,
        raw_ref: event.raw_ref.clone(),
        action: MessageAction::Created,
        standby: false,
        automated: None,
        text_source: Some(TextSource::InstagramMention { media_id, comment_id }),
        listening: false,
    })
}

fn messaging(event: &Event<'_>, raw: &RawValue, standby: bool) -> Result<Mention, Skipped> {
    let value: MessagingEvent = serde_json::from_str(raw.get())
        .map_err(|e| Skipped::malformed(format!("messaging event {}", json_error(&e))))?;
    let Some(message) = value.message else {
        // Reads, deliveries, reactions and postbacks carry no message to answer.
        return Err(Skipped::ignored("messaging event without a message (read, delivery, reaction, postback)".into()));
    };
    let id = message.mid;
    if !is_valid_id(&id) {
        return Err(Skipped::malformed(format!("message {} has an invalid mid", shown(&id))));
    }
    if message.is_unsupported {
        return Err(Skipped::ignored(format!("message {id} is of a kind Meta does not deliver")));
    }
    let (sender, recipient) = (value.sender.id.text(), value.recipient.id.text());
    if !is_valid_id(&sender) || !is_valid_id(&recipient) {
        return Err(Skipped::malformed(format!("message {id} has an invalid sender or recipient")));
    }
    let (direction, customer_id) = if sender == recipient {
        return Err(Skipped::ignored(format!("message {id} is from an account to itself")));
    } else if sender == event.account {
        (Direction::Outbound, recipient)
    } else if recipient == event.account {
        (Direction::Inbound, sender.clone())
    } else {
        return Err(Skipped::ignored(format!("message {id} does not involve {}", shown(&event.account))));
    };
    // An echo names the app that sent it: ours is Hark's acknowledgement, any other is a
    // person answering (Business Suite, the phone app), which stops the clock.
    let automated = match (message.is_echo, &message.app_id) {
        (true, Some(app)) => Some(event.context.our_app_ids.contains(&app.text())),
        _ => None,
    };
    let action = if message.is_deleted { MessageAction::Removed } else { MessageAction::Created };
    let text = match (action, message.text) {
        (MessageAction::Removed, text) => text.unwrap_or_default(),
        (_, Some(text)) => checked_text(Some(text), &id)?,
        // A photo or a voice note: still a customer waiting for an answer.
        (_, None) => match message.attachments.first().and_then(|a| a.kind.as_deref()) {
            Some(kind) => format!("[{}]", shown(kind).trim_matches('"')),
            None => return Err(Skipped::malformed(format!("message {id} has no text"))),
        },
    };
    Ok(Mention {
        channel: event.channel,
        account_id: event.account.clone(),
        direction,
        kind: MentionKind::DirectMessage,
        message_id: id,
        parent_id: None,
        parent_author_id: None,
        quoted_id: None,
        author: Author {
            id: sender,
            handle: value.sender.username,
            name: value.sender.name,
            followers: None,
            verified: false,
        },
        customer_id,
        text,
        language: None,
        created_at: millis(value.timestamp.as_ref(), event.received_at),
        received_at: event.received_at,
        raw_ref: event.raw_ref.clone(),
        action,
        standby,
        automated,
        text_source: None,
        listening: false,
    })
}

/// Meta's inbound side: the handshake answered for any configured app's verify token, and
/// deliveries verified with the secret of the app that signed them (the URL may name it:
/// `/webhooks/meta/<app id>`), carrying only the Pages and Instagram accounts that app serves.
pub struct MetaInbound {
    /// App id → (app secret, verify token), sorted so every secret is tried in a fixed order.
    apps: Vec<(String, Secret, Secret)>,
    accounts: std::collections::HashMap<String, Vec<String>>,
    app_ids: Vec<String>,
}

impl MetaInbound {
    pub fn new(credentials: &MetaCredentials) -> Self {
        let mut apps: Vec<(String, Secret, Secret)> = credentials
            .apps
            .iter()
            .map(|(id, app)| (id.clone(), app.app_secret.clone(), app.verify_token.clone()))
            .collect();
        apps.sort_by(|a, b| a.0.cmp(&b.0));
        let accounts = apps.iter().map(|(id, _, _)| (id.clone(), credentials.accounts_of(id))).collect();
        let app_ids = apps.iter().map(|(id, _, _)| id.clone()).collect();
        MetaInbound { apps, accounts, app_ids }
    }

    fn apps_for<'a>(&'a self, request: &WebhookRequest<'_>) -> Result<Vec<&'a (String, Secret, Secret)>, InboundError> {
        match request.account {
            Some(app) if !is_valid_path_id(app) => Err(InboundError::InvalidAccount),
            Some(app) => match self.apps.iter().find(|(id, _, _)| id == app) {
                Some(found) => Ok(vec![found]),
                None => Err(InboundError::Unauthenticated(format!("no Meta app {app} is configured"))),
            },
            None if self.apps.is_empty() => Err(InboundError::Unauthenticated("no Meta app is configured".into())),
            None => Ok(self.apps.iter().collect()),
        }
    }
}

impl InboundChannel for MetaInbound {
    fn answer_challenge(&self, request: &WebhookRequest<'_>) -> Result<ChallengeAnswer, InboundError> {
        let apps = self.apps_for(request)?;
        let challenge = answer_challenge(
            request.query("hub.mode"),
            request.query("hub.verify_token"),
            request.query("hub.challenge"),
            apps.iter().map(|(_, _, token)| token),
        )
        .map_err(|e| match e {
            ChallengeError::Token => InboundError::Forbidden(e.to_string()),
            other => InboundError::InvalidChallenge(other.to_string()),
        })?;
        Ok(ChallengeAnswer::Text(challenge.to_owned()))
    }

    fn verify<'a>(&'a self, request: &WebhookRequest<'a>) -> Result<Verified<'a>, InboundError> {
        let claimed = decode_signature(request.header(SIGNATURE_HEADER))
            .map_err(|e| InboundError::Unauthenticated(e.to_string()))?;
        // Each candidate app's secret is tried; each check is constant time.
        let signer = self
            .apps_for(request)?
            .into_iter()
            .find(|(_, secret, _)| verify_decoded(secret.expose(), request.body, &claimed).is_ok())
            .ok_or_else(|| InboundError::Unauthenticated(SignatureError::Mismatch.to_string()))?;
        Ok(Verified::new(request.body, &signer.0))
    }

    fn normalise(&self, verified: Verified<'_>, request: &WebhookRequest<'_>) -> Result<Normalised, InboundError> {
        let delivery = parse(verified.body()).map_err(|e| InboundError::Malformed(e.to_string()))?;
        let accounts = self.accounts.get(verified.signer()).map(Vec::as_slice).unwrap_or_default();
        let context = Context { accounts, our_app_ids: &self.app_ids };
        Ok(delivery.normalise(&context, request.received_at, request.request_id))
    }
}
