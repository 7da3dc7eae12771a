//! One narrow trait per capability. Each function depends only on the ports it uses, and
//! each port maps to a small set of IAM actions in template.yaml.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::api_key::ApiKeyRecord;
use crate::domain::classify::Classification;
use crate::domain::mention::{Channel, Mention};
use crate::domain::oauth::{Grant, OAuthClient, RefreshError, Seed, StoredTokens};
use crate::domain::secret::Secret;
use crate::domain::sla::SlaClock;
use crate::error::Result;

mod escalations;
mod incidents;
mod listening;
mod rates;
pub use escalations::*;
pub use incidents::*;
pub use listening::*;
pub use rates::*;

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Webhook → processor hand-off (SQS `SendMessage`).
pub trait MentionQueue: Send + Sync {
    /// Enqueues every mention or fails: a partial success is reported as an error so the
    /// platform redelivers, and the FIFO deduplication id absorbs the repeats.
    fn enqueue(&self, mentions: &[Mention]) -> impl Future<Output = Result<()>> + Send;
}

/// Stable conversation identity: derived from what anchors the thread, so two writers that
/// race to open the same thread compute the same id and one conditional create wins.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConversationId(pub String);

impl ConversationId {
    /// A public thread anchored on a post.
    pub fn public(channel: Channel, account: &str, anchor_message_id: &str) -> Self {
        ConversationId(format!("{channel}:{account}:{anchor_message_id}"))
    }
    /// A direct-message conversation, opened by its first message.
    pub fn direct(channel: Channel, account: &str, first_message_id: &str) -> Self {
        ConversationId(format!("{channel}:{account}:dm:{first_message_id}"))
    }

    /// An id a caller gave (the HTTP API's path): of a known channel, and only of the
    /// characters platform ids use.
    pub fn parse(text: &str) -> Option<Self> {
        let (channel, rest) = text.split_once(':')?;
        Channel::parse(channel)?;
        let (account, anchor) = rest.split_once(':')?;
        let well_formed = text.len() <= 320
            && !account.is_empty()
            && !anchor.is_empty()
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.'));
        well_formed.then(|| ConversationId(text.to_owned()))
    }
}

impl ConversationId {
    /// What the id is derived from: a public thread's anchor message, or `dm:{first message}`.
    pub fn anchor(&self) -> &str {
        self.0.splitn(3, ':').nth(2).unwrap_or_default()
    }
}

impl std::fmt::Display for ConversationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub struct NewConversation<'a> {
    pub id: ConversationId,
    /// The message that opens it; carries channel, account, customer and kind.
    pub opened_by: &'a Mention,
}

/// A conversation as the processor needs to see it when a message joins it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationState {
    pub id: ConversationId,
    pub created: bool,
    /// An acknowledgement was already queued since the SLA clock started.
    pub acknowledged: bool,
    /// Hark thanked the customer in this conversation already (once per conversation: a
    /// "you're welcome" must not start a loop of thanks).
    pub thanked: bool,
    /// What the viral fast track reads: reach, engagement, risks, the running clock.
    pub facts: crate::domain::care::ConversationFacts,
    /// When a person last answered the customer, if ever.
    pub answered_at: Option<DateTime<Utc>>,
}

/// An inbound customer message with everything decided about it.
#[derive(Debug, Clone)]
pub struct InboundRecord<'a> {
    pub mention: &'a Mention,
    pub conversation: &'a ConversationId,
    pub classification: &'a Classification,
    /// The clock to start if the conversation is not already waiting for a reply.
    pub sla: SlaClock,
    /// False for messages that need no answer (spam): the clock and due index stay as they are.
    pub starts_clock: bool,
    pub due_shard: u32,
    pub acknowledgement: Option<OutboxMessage>,
    /// A thank-you for praise or feedback, and the template it used (remembered for the
    /// customer, so the next one differs). Written only if the conversation has none yet.
    pub thanks: Option<(OutboxMessage, String)>,
    /// The conversation's customer's CRM tier, when it counts as valued (their own message).
    pub customer_tier: Option<String>,
    /// Someone else joined the thread (1), or not (0).
    pub engagement_added: u64,
    /// Urgency flags new to the conversation.
    pub risks_added: Vec<String>,
    /// The conversation fast-tracked by this message: its shortened clock, when the
    /// escalator should next look, and the escalation to notify at once. Written only if
    /// the conversation was never fast-tracked.
    pub fast_track: Option<FastTrackRecord>,
    /// The message's events for help desks, written with it so none is lost.
    pub forwards: Vec<OutboxMessage>,
}

/// A fast track, as stored.
#[derive(Debug, Clone)]
pub struct FastTrackRecord {
    pub clock: SlaClock,
    /// The running clock's next checkpoint after the shortening (the due index); `None`
    /// when no clock runs.
    pub next_due: Option<DateTime<Utc>>,
    pub escalation: Escalation,
}

/// The brand's own reply, seen as an echo.
#[derive(Debug, Clone)]
pub struct OutboundRecord<'a> {
    pub mention: &'a Mention,
    pub conversation: &'a ConversationId,
    /// A human (or help-desk) reply stops the SLA clock; an echo of our own acknowledgement does not.
    pub automated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Stored; `acknowledgement_queued` is false when another message of the conversation
    /// queued one first (at most one acknowledgement per conversation per SLA clock).
    Stored { acknowledgement_queued: bool },
    /// Already stored by an earlier delivery: nothing was written.
    Duplicate,
}

/// Where an outbound message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReplyTarget {
    /// A public reply to a post or comment.
    Post { in_reply_to: String },
    /// A direct message to a participant.
    Direct { participant_id: String },
    /// Meta's private reply: a message to whoever wrote a public comment, once per comment,
    /// within 7 days.
    PrivateReply { comment_id: String },
    /// The same for a visitor post on a Facebook Page.
    PrivateReplyToPost { post_id: String },
    /// A reply where an Instagram account was @mentioned on someone else's media.
    InstagramMention { media_id: String, comment_id: Option<String> },
    /// A post of the account's own, answering no one: an incident's approved announcement.
    Announcement,
    /// A help desk, by the id the credentials give it: a Standard Webhooks endpoint, or
    /// `zendesk` / `freshdesk` for the native ones. The message's text is the event's JSON.
    Webhook { endpoint: String },
}

impl ReplyTarget {
    /// Who sees what goes there: `public` (in the thread), `private` (to the customer
    /// alone), or `help_desk`.
    pub fn visibility(&self) -> &'static str {
        match self {
            ReplyTarget::Post { .. } | ReplyTarget::InstagramMention { .. } | ReplyTarget::Announcement => "public",
            ReplyTarget::Direct { .. } | ReplyTarget::PrivateReply { .. } | ReplyTarget::PrivateReplyToPost { .. } => {
                "private"
            }
            ReplyTarget::Webhook { .. } => "help_desk",
        }
    }

    /// The help desk a forward goes to.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            ReplyTarget::Webhook { endpoint } => Some(endpoint),
            _ => None,
        }
    }
}

/// Why Hark sends a message; each purpose has its own rules in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxPurpose {
    /// The automatic first answer; pointless once a person has answered.
    Acknowledgement,
    /// What an agent wrote (through the HTTP API or a help desk): it answers the customer,
    /// so it stops the SLA clock when it goes out.
    AgentReply,
    /// The short public message that closes a thread when a conversation is resolved (the
    /// seeds' "follow-up"): automatic, so it changes nothing on the conversation.
    FollowUp,
    /// Thanks for praise or feedback: automatic, and pointless once a person has answered.
    Thanks,
    /// An event forwarded to a help desk (a Standard Webhooks delivery). Its receiver
    /// deduplicates on the event id, so a delivery may be repeated; it is retried on the
    /// spec's schedule.
    Forward,
    /// An incident's proactive post, approved by a person: one per account and incident.
    IncidentPost,
}

impl OutboxPurpose {
    pub const ALL: [OutboxPurpose; 6] = [
        OutboxPurpose::Acknowledgement,
        OutboxPurpose::AgentReply,
        OutboxPurpose::FollowUp,
        OutboxPurpose::Thanks,
        OutboxPurpose::Forward,
        OutboxPurpose::IncidentPost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboxPurpose::Acknowledgement => "acknowledgement",
            OutboxPurpose::AgentReply => "agent_reply",
            OutboxPurpose::FollowUp => "follow_up",
            OutboxPurpose::Thanks => "thanks",
            OutboxPurpose::Forward => "forward",
            OutboxPurpose::IncidentPost => "incident_post",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|purpose| purpose.as_str() == value)
    }

    /// Short, for record keys.
    pub fn tag(self) -> &'static str {
        match self {
            OutboxPurpose::Acknowledgement => "ack",
            OutboxPurpose::AgentReply => "reply",
            OutboxPurpose::FollowUp => "fup",
            OutboxPurpose::Thanks => "thx",
            OutboxPurpose::Forward => "fwd",
            OutboxPurpose::IncidentPost => "inc",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|purpose| purpose.tag() == tag)
    }

    /// Written by a person: a platform may allow it where it refuses automated messages
    /// (Meta's HUMAN_AGENT tag), and its echo is a person's answer, not Hark's.
    pub fn is_human_written(self) -> bool {
        self == OutboxPurpose::AgentReply
    }

    /// Hark's own first answer to a customer's message (an acknowledgement or a thank-you):
    /// cancelled if a person answers before it goes out.
    pub fn is_automatic_answer(self) -> bool {
        matches!(self, OutboxPurpose::Acknowledgement | OutboxPurpose::Thanks)
    }
}

/// Names an outbox record within its conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxKey {
    pub purpose: OutboxPurpose,
    /// The answered message for an acknowledgement (one per message); the caller's
    /// idempotency key for an agent's reply (one per request, however often it is repeated).
    pub id: String,
}

impl OutboxKey {
    pub fn acknowledgement(answers_message_id: &str) -> Self {
        OutboxKey { purpose: OutboxPurpose::Acknowledgement, id: answers_message_id.to_owned() }
    }

    pub fn thanks(answers_message_id: &str) -> Self {
        OutboxKey { purpose: OutboxPurpose::Thanks, id: answers_message_id.to_owned() }
    }
}

impl std::fmt::Display for OutboxKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.purpose.tag(), self.id)
    }
}

/// An outbound message as written to the outbox before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub purpose: OutboxPurpose,
    /// With `purpose`, names the record (see [`OutboxKey::id`]).
    pub record_id: String,
    pub channel: Channel,
    pub account_id: String,
    /// The inbound message this answers.
    pub answers_message_id: String,
    pub target: ReplyTarget,
    pub text: String,
    /// When the customer last wrote, where that is not when the record was written (an
    /// agent answers later): messaging windows count from it.
    pub customer_wrote_at: Option<DateTime<Utc>>,
}

impl OutboxMessage {
    pub fn key(&self) -> OutboxKey {
        OutboxKey { purpose: self.purpose, id: self.record_id.clone() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for its next attempt (`due_at`).
    Pending,
    /// Claimed by a sender until its lease runs out; past that the sender is presumed dead.
    Sending,
    Sent,
    /// Refused for good, or given up on; the reason is kept and ops are alerted.
    Failed,
    /// An attempt may have gone out: the platform is checked before anything is sent again.
    Unknown,
    /// No longer wanted (a person answered before the acknowledgement could go out).
    Cancelled,
}

impl OutboxStatus {
    pub const ALL: [OutboxStatus; 6] = [
        OutboxStatus::Pending,
        OutboxStatus::Sending,
        OutboxStatus::Sent,
        OutboxStatus::Failed,
        OutboxStatus::Unknown,
        OutboxStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
            OutboxStatus::Unknown => "unknown",
            OutboxStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == value)
    }

    /// Nothing more will happen to the record.
    pub fn is_final(self) -> bool {
        matches!(self, OutboxStatus::Sent | OutboxStatus::Failed | OutboxStatus::Cancelled)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub message: OutboxMessage,
    pub status: OutboxStatus,
    /// Send attempts started so far.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub last_error: Option<String>,
    /// When the latest claim was taken: an attempt that may have gone out started no later.
    pub claimed_at: Option<DateTime<Utc>>,
    /// When the earliest attempt not known to have failed started (recorded with `Unknown`).
    pub perhaps_sent_since: Option<DateTime<Utc>>,
}

/// When an attempt whose outcome is unknown can have been posted: what the platform is
/// searched over, so a busy account's later posts need not be read through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// Result of trying to take an outbox record for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Ours until `lease_until`; pass the token back when finishing. `previous` is the record
    /// as it was before the claim: an earlier attempt that may have gone out (`Unknown`, or a
    /// `Sending` whose sender died) must be checked for before sending again.
    Claimed { token: String, previous: Box<OutboxEntry> },
    /// Not ours to send now: already finished, being sent by a live sender, or not yet due.
    NotClaimed(OutboxStatus),
    /// The message has no outbox record: it needed no acknowledgement.
    NoRecord,
}

/// What became of a claimed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Sent {
        platform_message_id: String,
    },
    /// Certainly not sent; try again at `at`.
    Retry {
        reason: String,
        at: DateTime<Utc>,
    },
    /// Perhaps sent, by an attempt that started no earlier than `since`; look for it at
    /// `check_at` before sending again.
    Unknown {
        reason: String,
        check_at: DateTime<Utc>,
        since: DateTime<Utc>,
    },
    Failed {
        reason: String,
    },
    Cancelled {
        reason: String,
    },
    /// Not to be sent automatically any more (the platform's messaging window closed): the
    /// record is cancelled and the conversation flagged for a person.
    LeftToPerson {
        reason: String,
    },
    /// Not tried: the destination's rate is taken up (`Error::Throttled`). Due again at
    /// `at`, and the attempt its claim counted is given back.
    Deferred {
        reason: String,
        at: DateTime<Utc>,
    },
    /// Not tried: it follows an earlier send not made yet (`Error::Waiting`), or the
    /// destination asked for time (a 429). Due again at `at`; no attempt spent.
    Waiting {
        reason: String,
        at: DateTime<Utc>,
    },
}

/// Where an outbox record sits, as the sweep finds it in the due index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRef {
    pub conversation: ConversationId,
    pub key: OutboxKey,
}

/// The outbox: outbound messages written before they are sent, claimed with a lease,
/// finished with their outcome, and found again by a sweep when they are due.
pub trait OutboxStore: Send + Sync {
    /// Every outbox record of a conversation (to recognise the echo of our own messages).
    fn outbox(&self, conversation: &ConversationId) -> impl Future<Output = Result<Vec<OutboxEntry>>> + Send;

    /// Takes the record if it is due (pending or unknown, at or past its `due_at`) or its
    /// sender's lease ran out before `now`.
    fn claim_outbox(
        &self,
        conversation: &ConversationId,
        key: &OutboxKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Claim>> + Send;

    fn finish_outbox(
        &self,
        conversation: &ConversationId,
        message: &OutboxMessage,
        token: &str,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Up to `limit` records of one outbox shard that are due at or before `now`.
    fn due_outbox(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<OutboxRef>>> + Send;

    /// Turns a claimed broadcast record into one record per endpoint (`children`), at once.
    fn fan_out(
        &self,
        conversation: &ConversationId,
        broadcast: &OutboxMessage,
        token: &str,
        children: &[OutboxMessage],
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// When a person last answered the conversation: an acknowledgement still waiting after
    /// that is no longer wanted.
    fn answered_at(&self, conversation: &ConversationId) -> impl Future<Output = Result<Option<DateTime<Utc>>>> + Send;
}

/// An agent's reply in the outbox, and whether this request wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueuedReply {
    /// Written now; the outbox sends it.
    Queued(OutboxEntry),
    /// Its key was used before, by the request `fingerprint` names.
    Existing { entry: OutboxEntry, fingerprint: String },
}

/// Agents' replies into the outbox: written once per idempotency key, sent by the sweep.
pub trait ReplyQueue: Send + Sync {
    fn queue_reply(
        &self,
        conversation: &ConversationId,
        message: &OutboxMessage,
        fingerprint: &str,
        due_shard: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<QueuedReply>> + Send;
}

/// Help-desk endpoints switched off by their own answer (410 Gone), until ops switch them on.
pub trait EndpointSwitch: Send + Sync {
    /// When the endpoint was disabled, and why; `None` while it is enabled.
    fn disabled(&self, endpoint: &str) -> impl Future<Output = Result<Option<(DateTime<Utc>, String)>>> + Send;
    fn disable(&self, endpoint: &str, reason: &str, now: DateTime<Utc>) -> impl Future<Output = Result<()>> + Send;
}

/// The ticket a native help desk holds for a conversation: Hark's own record of it, so a
/// retry hours after the create (past Zendesk's idempotency window, or at Freshdesk, which
/// has none) finds the ticket instead of making a second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLink {
    pub ticket_id: String,
    /// The help desk's user (Zendesk) or contact (Freshdesk) the customer is.
    pub requester_id: String,
}

pub trait TicketLinks: Send + Sync {
    fn ticket(
        &self,
        conversation: &ConversationId,
        desk: &str,
    ) -> impl Future<Output = Result<Option<TicketLink>>> + Send;
    /// Records the link; the first one written wins, and is returned.
    fn link_ticket(
        &self,
        conversation: &ConversationId,
        desk: &str,
        link: &TicketLink,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<TicketLink>> + Send;
}

/// What the table knows of a platform's message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnownMessage {
    /// Stored, or sent by Hark, in this conversation.
    In(ConversationId),
    /// Removed on the platform before Hark saw it: a late delivery is neither stored nor answered.
    RemovedUnseen,
}

impl KnownMessage {
    pub fn conversation(self) -> Option<ConversationId> {
        match self {
            KnownMessage::In(id) => Some(id),
            KnownMessage::RemovedUnseen => None,
        }
    }
}

/// A change to a message already delivered: an edit or a removal on the platform.
#[derive(Debug, Clone)]
pub struct Amendment<'a> {
    /// The edit or removal event (`action` says which).
    pub mention: &'a Mention,
    /// For an edit, the text as it is to be stored (redacted when it holds personal data
    /// posted in public), and the kinds of personal data that were redacted.
    pub text: Option<&'a str>,
    pub redacted: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amended {
    /// The stored message was changed (again, for a redelivery: amending is idempotent).
    Updated { conversation: ConversationId },
    /// Removed before it was seen: recorded, so a late delivery of it is never answered.
    RemovedUnseen,
    /// No stored message has that id: an edit of a message Hark never saw, or of one Hark
    /// sent itself.
    NotStored,
}

/// The processor's view of the table: threading and message storage.
pub trait ConversationStore: Send + Sync {
    fn known_message(
        &self,
        channel: Channel,
        account: &str,
        message_id: &str,
    ) -> impl Future<Output = Result<Option<KnownMessage>>> + Send;

    fn conversation_of_message(
        &self,
        channel: Channel,
        account: &str,
        message_id: &str,
    ) -> impl Future<Output = Result<Option<ConversationId>>> + Send {
        async move { Ok(self.known_message(channel, account, message_id).await?.and_then(KnownMessage::conversation)) }
    }

    /// Applies an edit or a removal. A removal also cancels the message's acknowledgement if
    /// it has not gone out, and ends the SLA clock of a conversation it alone opened.
    fn amend_message(&self, amendment: &Amendment<'_>) -> impl Future<Output = Result<Amended>> + Send;

    fn conversation(&self, id: &ConversationId) -> impl Future<Output = Result<Option<ConversationState>>> + Send;

    fn open_direct_conversation(
        &self,
        channel: Channel,
        account: &str,
        customer: &str,
    ) -> impl Future<Output = Result<Option<ConversationState>>> + Send;

    /// Creates the conversation unless it (or, for DMs, an open one with the customer)
    /// exists, and returns the one that won.
    fn open_conversation(&self, new: &NewConversation<'_>) -> impl Future<Output = Result<ConversationState>> + Send;

    /// Stores an inbound message exactly once, with its conversation, customer profile and
    /// acknowledgement outbox record, atomically.
    fn record_inbound(&self, record: &InboundRecord<'_>) -> impl Future<Output = Result<Recorded>> + Send;

    /// The thank-yous a customer was given: template id → when.
    fn thanks_given(
        &self,
        channel: Channel,
        account: &str,
        customer: &str,
    ) -> impl Future<Output = Result<std::collections::HashMap<String, DateTime<Utc>>>> + Send;

    fn record_outbound(&self, record: &OutboundRecord<'_>) -> impl Future<Output = Result<Recorded>> + Send;
}

/// Sends replies on a platform (X API `POST /2/tweets`, DM endpoint; Graph API).
pub trait ReplySender: Send + Sync {
    /// Returns the platform's id of the message it created.
    fn send(&self, message: &OutboxMessage) -> impl Future<Output = Result<String>> + Send;

    /// How long after the message it answers was received `message` may still be sent
    /// automatically (Meta's 24-hour messaging window); `None`: no such limit. Past it the
    /// outbox leaves the conversation to a person instead of sending.
    fn window(&self, message: &OutboxMessage) -> Option<chrono::TimeDelta> {
        let _ = message;
        None
    }

    /// Looks on the platform for `message`, sent by us within `window`: how an attempt
    /// whose outcome is unknown is settled before anything is sent again. `Ok(None)` must
    /// be conclusive; a search that could not cover the window is an error.
    fn find_sent(
        &self,
        message: &OutboxMessage,
        window: SendWindow,
    ) -> impl Future<Output = Result<Option<String>>> + Send;
}

/// Text a platform did not send with its event, fetched before the message is classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedText {
    pub text: String,
    pub author_handle: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// Fetches the text of a message whose event carried none (Instagram @mentions).
pub trait TextFetcher: Send + Sync {
    fn fetch_text(&self, mention: &Mention) -> impl Future<Output = Result<FetchedText>> + Send;
}

/// Spreads due items over index partitions so no single key takes every write.
pub fn due_shard(conversation: &ConversationId, shards: u32) -> u32 {
    (crate::stable_hash(&conversation.0) % u64::from(shards.max(1))) as u32
}

// Tokens: renewal at the platform, the shared store, the operator's seeds, and what a
// reply client asks of them.

/// Renews access tokens (`POST {token_url}` with `grant_type=refresh_token`).
pub trait TokenEndpoint: Send + Sync {
    fn refresh(
        &self,
        client: &OAuthClient,
        refresh_token: &Secret,
    ) -> impl Future<Output = std::result::Result<Grant, RefreshError>> + Send;
}

/// A conversation as the HTTP API shows it: the conversation and everything kept under it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationView {
    pub id: String,
    pub channel: String,
    pub account_id: String,
    /// `public` (a thread) or `direct` (DMs).
    pub kind: String,
    /// `open`, `awaiting_reply`, `answered` or `removed`.
    pub status: String,
    pub customer: CustomerRef,
    pub opened_by: String,
    pub created_at: Option<DateTime<Utc>>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_sentiment: Option<String>,
    pub last_intent: Option<String>,
    pub message_count: u64,
    /// The running SLA clock, if one runs.
    pub sla: Option<SlaView>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    /// Why a person must answer (the platform's messaging window closed), if so.
    pub needs_person: Option<String>,
    /// Opened by a listening hit (found by a search): Hark answers none of it on its own.
    pub listening: bool,
    pub messages: Vec<MessageView>,
    pub escalations: Vec<EscalationView>,
    pub outbound: Vec<OutboundView>,
    /// The tickets native help desks hold for it.
    pub tickets: Vec<TicketView>,
}

impl ConversationView {
    /// Whether the customer's latest message has had a public answer by a person: a brand
    /// reply on the platform, or an agent's public reply sent or on its way. (Hark's own
    /// acknowledgement is not an answer.)
    pub fn answered_in_public(&self) -> bool {
        let Some(latest) = self.messages.iter().filter(|m| m.direction == "inbound").map(|m| m.created_at).max() else {
            return false;
        };
        let brand_replied = self
            .messages
            .iter()
            .any(|m| m.direction == "outbound" && m.automated != Some(true) && m.created_at >= latest);
        let agent_replied = self.outbound.iter().any(|o| {
            matches!(o.purpose.as_str(), "agent_reply" | "follow_up")
                && o.visibility == "public"
                && !matches!(o.status.as_str(), "failed" | "cancelled")
                && o.created_at >= latest
        });
        brand_replied || agent_replied
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketView {
    /// `zendesk` or `freshdesk`.
    pub desk: String,
    pub ticket_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerRef {
    pub id: String,
    pub handle: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaView {
    pub started_at: DateTime<Utc>,
    pub ideal_due_at: DateTime<Utc>,
    pub breach_due_at: DateTime<Utc>,
    pub escalation_level: u32,
}

/// A message, with Hark's classification of it when it came from the customer. Personal
/// data posted in public is shown as it is stored: redacted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageView {
    pub id: String,
    /// `inbound` (the customer) or `outbound` (the brand).
    pub direction: String,
    pub kind: String,
    pub author_id: String,
    pub author_handle: Option<String>,
    pub author_name: Option<String>,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub sentiment: Option<String>,
    pub sentiment_score: Option<f64>,
    /// How sure the sentiment is: a calibrated probability.
    pub sentiment_confidence: Option<f64>,
    /// The classifier's thank-you decision: care operations may thank it automatically.
    pub thank: Option<bool>,
    pub intent: Option<String>,
    pub priority: Option<u32>,
    pub urgency: Vec<String>,
    pub language: Option<String>,
    /// The kinds of personal data removed from `text`.
    pub redacted: Vec<String>,
    /// For the brand's messages: sent by Hark (`true`) or by a person.
    pub automated: Option<bool>,
    pub edited_at: Option<DateTime<Utc>>,
    pub removed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EscalationView {
    pub level: u32,
    pub level_name: String,
    pub sla_started_at: DateTime<Utc>,
    pub escalated_at: DateTime<Utc>,
}

/// What Hark has sent, or is sending, in the conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboundView {
    /// The record's name in its conversation (`ack#{message id}`, `reply#{key}`).
    pub id: String,
    pub purpose: String,
    /// The platform's id of what went out, once sent.
    pub sent_message_id: Option<String>,
    pub answers_message_id: String,
    /// `public`, `private` or `help_desk`: who sees it.
    pub visibility: &'static str,
    pub status: String,
    pub attempts: u32,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

/// A conversation in a listing: what an agent scans a queue by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationSummary {
    pub id: String,
    pub channel: String,
    pub account_id: String,
    pub kind: String,
    pub status: String,
    pub customer: CustomerRef,
    pub created_at: DateTime<Utc>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_text: Option<String>,
    pub last_sentiment: Option<String>,
    pub last_intent: Option<String>,
    pub message_count: u64,
    /// The priority of the latest customer message that asked for an answer (0 to 100).
    pub priority: Option<u32>,
    pub escalation_level: u32,
    /// The SLA clock passed its breach.
    pub breached: bool,
    pub needs_person: Option<String>,
    pub listening: bool,
}

/// Which conversations a listing keeps; `None` keeps all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFilter {
    pub status: Option<String>,
    pub channel: Option<Channel>,
    pub min_priority: Option<u32>,
    pub breached: Option<bool>,
}

/// Where a listing goes on: the month being read (`2026-11`) and, within it, the last
/// conversation already returned (its list key), newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListCursor {
    pub month: String,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationPage {
    pub conversations: Vec<ConversationSummary>,
    pub next: Option<ListCursor>,
}

/// Reading conversations for the HTTP API.
pub trait ConversationReader: Send + Sync {
    fn conversation_view(&self, id: &ConversationId) -> impl Future<Output = Result<Option<ConversationView>>> + Send;

    /// What the KPIs need of every conversation opened from `since` until `until`.
    fn kpi_rows(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<crate::domain::kpi::KpiRow>>> + Send;

    /// Newest first, up to `limit`, from `cursor` (or from `now`'s month), reaching back at
    /// most [`LIST_MONTHS`] months.
    fn list_conversations(
        &self,
        filter: &ConversationFilter,
        limit: usize,
        cursor: Option<&ListCursor>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<ConversationPage>> + Send;
}

/// A customer as Hark knows them on one account, with their latest conversations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerProfile {
    pub channel: String,
    pub account_id: String,
    pub id: String,
    pub handle: Option<String>,
    pub name: Option<String>,
    pub followers: Option<u64>,
    pub verified: bool,
    pub first_seen_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub last_sentiment: Option<String>,
    pub message_count: u64,
    pub conversation_count: u64,
    /// What the customer is worth, as imported from the CRM.
    pub value: Option<crate::domain::customer_value::CustomerValue>,
    /// Newest first, at most [`CUSTOMER_HISTORY`].
    pub conversations: Vec<CustomerConversation>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerConversation {
    pub id: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_sentiment: Option<String>,
    pub last_intent: Option<String>,
    pub message_count: u64,
}

/// How many of a customer's conversations their profile lists.
pub const CUSTOMER_HISTORY: i32 = 20;

/// What customers are worth, as the company's CRM says (`domain::customer_value`).
pub trait CustomerValues: Send + Sync {
    /// Writes every row (a re-import replaces a customer's value); returns how many.
    fn import_values(
        &self,
        rows: &[crate::domain::customer_value::ValueRow],
    ) -> impl Future<Output = Result<usize>> + Send;

    /// The value of a customer, by platform id first, then by handle.
    fn customer_value(
        &self,
        channel: Channel,
        id: &str,
        handle: Option<&str>,
    ) -> impl Future<Output = Result<Option<crate::domain::customer_value::CustomerValue>>> + Send;
}

pub trait CustomerReader: Send + Sync {
    fn customer_profile(
        &self,
        channel: Channel,
        account: &str,
        customer: &str,
    ) -> impl Future<Output = Result<Option<CustomerProfile>>> + Send;
}

/// What resolving a conversation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Resolved,
    /// It was resolved before; nothing changed.
    AlreadyResolved,
    NoSuchConversation,
}

/// A person closing a conversation (from a help desk or the API).
pub trait ConversationResolver: Send + Sync {
    /// Marks it resolved: its SLA clock stops and it leaves the due index, and a DM
    /// conversation stops being the customer's open one, so their next DM opens a new
    /// conversation. Resolving again changes nothing.
    fn resolve_conversation(
        &self,
        id: &ConversationId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Resolution>> + Send;
}

/// How far back a listing reaches: conversations are listed by the month they opened.
pub const LIST_MONTHS: u32 = 24;

/// The HTTP API's keys: their records, never a key (see [`crate::domain::api_key`]).
pub trait ApiKeyStore: Send + Sync {
    /// Keeps a new key's record; an id already on record is refused (ids are random, so a
    /// clash means something is wrong, not that a key should be replaced).
    fn put_api_key(&self, record: &ApiKeyRecord) -> impl Future<Output = Result<()>> + Send;
    fn api_key(&self, id: &str) -> impl Future<Output = Result<Option<ApiKeyRecord>>> + Send;
    /// Every key on record, revoked ones included, oldest first.
    fn api_keys(&self) -> impl Future<Output = Result<Vec<ApiKeyRecord>>> + Send;
    /// Marks the key revoked (it stays on record); `false` when there is no such key.
    fn revoke_api_key(&self, id: &str, now: DateTime<Utc>) -> impl Future<Output = Result<bool>> + Send;
}

/// Where the current tokens of each account live, shared by every function instance.
pub trait TokenStore: Send + Sync {
    fn load_tokens(&self, key: &str) -> impl Future<Output = Result<Option<StoredTokens>>> + Send;

    /// Replaces the tokens with the seed's, if the item is still at `replacing` (`None`:
    /// absent). `false` when someone else wrote first.
    fn seed_tokens(&self, key: &str, seed: &Seed, replacing: Option<u64>) -> impl Future<Output = Result<bool>> + Send;

    /// Takes the right to refresh version `version` until `until`, unless another instance
    /// holds an unexpired lease or the version moved on.
    fn lease_tokens(
        &self,
        key: &str,
        version: u64,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Writes a refresh's result as version `version + 1` and drops the lease.
    fn store_refreshed(
        &self,
        key: &str,
        version: u64,
        access_token: &Secret,
        access_expires_at: DateTime<Utc>,
        refresh_token: &Secret,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Gives the lease back without a new version (the endpoint was unreachable).
    fn release_tokens(&self, key: &str, owner: &str) -> impl Future<Output = Result<()>> + Send;

    /// Records that version `version`'s refresh token was refused.
    fn mark_refused(&self, key: &str, version: u64, reason: &str) -> impl Future<Output = Result<()>> + Send;
}

/// Where the operator's seeds come from. Read again only when the stored refresh token is
/// refused, so an operator's re-authorisation is picked up without a cold start.
pub trait SeedSource: Send + Sync {
    fn current_seed(&self, account: &str) -> impl Future<Output = Result<Option<Seed>>> + Send;
}

/// What a reply client needs of its credentials.
pub trait AccessTokens: Send + Sync {
    fn access_token(&self, account: &str) -> impl Future<Output = Result<Secret>> + Send;
    fn after_rejection(&self, account: &str, rejected: &Secret) -> impl Future<Output = Result<Secret>> + Send;
}
