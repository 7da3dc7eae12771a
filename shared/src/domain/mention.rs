//! The normalised message every channel is turned into at the edge.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A social network Hark listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    X,
    /// A Facebook Page: its feed, @mentions, and Messenger.
    Facebook,
    Instagram,
    /// A LinkedIn organisation page: comments on its posts and posts that mention it.
    #[serde(rename = "linkedin")]
    LinkedIn,
    /// A brand account on one Mastodon instance: mentions, replies and private mentions.
    Mastodon,
    /// A brand account on Bluesky: mentions, replies and quotes, read by the listener.
    Bluesky,
    /// A brand's YouTube channel: comments on its videos, read by the listener.
    #[serde(rename = "youtube")]
    YouTube,
    /// Reddit, by listening only: posts found by search and in subreddits, never answered
    /// by Hark (Reddit communities punish brands' automated replies).
    Reddit,
    /// Any source that signs Standard Webhooks: a company's own app, a review-site bridge,
    /// a web form. The account is the source's name.
    Generic,
}

impl Channel {
    pub const ALL: [Channel; 9] = [
        Channel::X,
        Channel::Facebook,
        Channel::Instagram,
        Channel::LinkedIn,
        Channel::Mastodon,
        Channel::Bluesky,
        Channel::YouTube,
        Channel::Reddit,
        Channel::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::X => "x",
            Channel::Facebook => "facebook",
            Channel::Instagram => "instagram",
            Channel::LinkedIn => "linkedin",
            Channel::Mastodon => "mastodon",
            Channel::Bluesky => "bluesky",
            Channel::YouTube => "youtube",
            Channel::Reddit => "reddit",
            Channel::Generic => "generic",
        }
    }

    /// Every channel's name, for messages that list them.
    pub fn names() -> String {
        Self::ALL.map(Channel::as_str).join(", ")
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == value)
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the message came from a customer or is the brand's own (echoed) message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    /// The brand's own reply, echoed back by the platform: it answers the customer.
    Outbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MentionKind {
    /// A public post that mentions the brand.
    Post,
    /// A public reply in a thread.
    Reply,
    /// A public quote of another post.
    Quote,
    DirectMessage,
}

impl MentionKind {
    pub fn is_private(self) -> bool {
        matches!(self, MentionKind::DirectMessage)
    }
}

/// What an event does to its message. Most create one; Meta also edits and removes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageAction {
    #[default]
    Created,
    /// The author changed the text: the stored text is updated.
    Edited,
    /// Removed or hidden on the platform: marked removed, never deleted here.
    Removed,
}

/// Where the text of a message is to be fetched when the platform sent none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TextSource {
    /// An Instagram @mention: the comment (or the media's caption) that mentions the account.
    InstagramMention { media_id: String, comment_id: Option<String> },
    /// A LinkedIn comment or post whose notification left its text out: the message id
    /// says which (see `channels::linkedin::urn`).
    LinkedIn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub id: String,
    pub handle: Option<String>,
    pub name: Option<String>,
    pub followers: Option<u64>,
    pub verified: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    pub channel: Channel,
    /// The brand's own id on the platform (X: `for_user_id`).
    pub account_id: String,
    pub direction: Direction,
    pub kind: MentionKind,
    /// The platform's id of this message; with channel and account it identifies it uniquely.
    pub message_id: String,
    /// The message this one replies to, when it is a reply.
    pub parent_id: Option<String>,
    /// Who wrote the parent, when the platform says.
    pub parent_author_id: Option<String>,
    /// The post this one quotes, for quotes.
    pub quoted_id: Option<String>,
    pub author: Author,
    /// The customer this message is with: the author for inbound, the recipient for outbound.
    pub customer_id: String,
    pub text: String,
    pub language: Option<String>,
    pub created_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// Where the raw payload can be found (API Gateway request id and event index).
    pub raw_ref: String,
    #[serde(default)]
    pub action: MessageAction,
    /// Delivered while another app owns the conversation (Meta's standby): kept, never
    /// answered automatically.
    #[serde(default)]
    pub standby: bool,
    /// For an outbound message, whether Hark sent it (`Some(true)`) or a person did, when
    /// the platform says; `None` leaves it to the processor.
    #[serde(default)]
    pub automated: Option<bool>,
    #[serde(default)]
    pub text_source: Option<TextSource>,
    /// Found by listening (a search for the brand), not addressed to it: classified, stored,
    /// forwarded and escalated for a person, on its own SLA, and never answered
    /// automatically (X forbids automated replies to keyword matches; communities punish them).
    #[serde(default)]
    pub listening: bool,
}

impl Mention {
    /// FIFO message group: one customer's messages on one account stay in order.
    pub fn queue_group_id(&self) -> String {
        let group = format!("{}:{}:{}", self.channel, self.account_id, self.customer_id);
        // SQS takes at most 128 characters; a hash keeps long ids in one group all the same.
        if group.len() <= 128 { group } else { format!("{}:h{:016x}", self.channel, crate::stable_hash(&group)) }
    }

    /// SQS FIFO deduplication id: the account and the platform's event id, and for an
    /// edit or a removal what it does, so neither is taken for a repeat of the message it
    /// changes. The account is in it because one post can mention two of the brand's
    /// accounts, and two sources may use the same ids.
    pub fn queue_deduplication_id(&self) -> String {
        let message = format!("{}:{}:{}", self.channel, self.account_id, self.message_id);
        let id = match self.action {
            MessageAction::Created => message,
            MessageAction::Edited => format!("{message}:edited:{:x}", crate::stable_hash(&self.text)),
            MessageAction::Removed => format!("{message}:removed"),
        };
        // SQS takes at most 128 characters; Meta's message ids can be long.
        if id.len() <= 128 { id } else { format!("{}:h{:016x}", self.channel, crate::stable_hash(&id)) }
    }
}
