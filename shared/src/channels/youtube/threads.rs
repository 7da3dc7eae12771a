//! YouTube comment threads on the brand's channel read into mentions. Pure: no I/O.
//!
//! `commentThreads.list` with `allThreadsRelatedToChannelId` gives every thread on the
//! channel's videos, newest first, each with its top-level comment and some of its replies.
//! Comment ids do not order, so items are placed by their `publishedAt` (each page's `ids`
//! are those times as [`time_key`]s). A comment on the brand's video is addressed to the
//! brand, and so is a reply in a thread the brand started; a reply between two viewers in
//! someone else's thread is a listening hit, left to a person.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::channels::feed::FeedPage;
use crate::channels::json::json_error;
use crate::channels::{Normalised, Skipped, shown};
use crate::domain::listening::{placeable, time_key};
use crate::domain::mention::{Author, Channel, Direction, Mention, MentionKind, MessageAction};

/// YouTube allows 10,000 characters in a comment.
const MAX_TEXT_CHARS: usize = 10_000;

/// A channel id (`UC…`) or a comment id (`Ugz…`, a reply's `Ugz….8wW…`).
pub fn is_valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The top-level comment a comment belongs to: itself, or a reply's prefix. Replies are
/// always made to the top-level comment (`parentId`), whatever they answer.
pub fn thread_of(comment_id: &str) -> &str {
    comment_id.split_once('.').map_or(comment_id, |(thread, _)| thread)
}

/// Whose channel it is.
#[derive(Debug, Clone, Copy)]
pub struct ThreadsContext<'a> {
    /// The brand's channel id.
    pub channel: &'a str,
    pub reference: &'a str,
}

#[derive(Deserialize)]
struct ThreadList {
    #[serde(default)]
    items: Vec<serde_json::Value>,
    #[serde(default, rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct Thread {
    snippet: ThreadSnippet,
    #[serde(default)]
    replies: Option<Replies>,
}

#[derive(Deserialize)]
struct ThreadSnippet {
    #[serde(rename = "topLevelComment")]
    top_level_comment: Comment,
}

#[derive(Deserialize)]
struct Replies {
    #[serde(default)]
    comments: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Comment {
    id: String,
    snippet: CommentSnippet,
}

#[derive(Deserialize)]
struct CommentSnippet {
    #[serde(default, rename = "authorDisplayName")]
    author_display_name: Option<String>,
    #[serde(default, rename = "authorChannelId")]
    author_channel_id: Option<ChannelRef>,
    #[serde(default, rename = "textOriginal")]
    text_original: Option<String>,
    #[serde(default, rename = "textDisplay")]
    text_display: Option<String>,
    #[serde(rename = "publishedAt")]
    published_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct ChannelRef {
    value: String,
}

/// A comment's time key, even when the rest of it is unreadable; none for a time that
/// cannot place it.
fn published_key(raw: &serde_json::Value, now: DateTime<Utc>) -> Option<String> {
    let at: DateTime<Utc> = raw.pointer("/snippet/publishedAt")?.as_str()?.parse().ok()?;
    placeable(at, now).then(|| time_key(at))
}

/// One page of `commentThreads.list` (`order=time`); `next` is its `nextPageToken` (older).
pub fn threads_page(body: &[u8], context: ThreadsContext<'_>, received_at: DateTime<Utc>) -> Result<FeedPage, String> {
    let list: ThreadList =
        serde_json::from_slice(body).map_err(|e| format!("the comment threads {}", json_error(&e)))?;
    let mut normalised = Normalised::default();
    let mut ids = Vec::new();
    for raw in list.items {
        let top_key = raw.pointer("/snippet/topLevelComment").and_then(|c| published_key(c, received_at));
        ids.extend(top_key);
        let thread: Thread = match serde_json::from_value(raw) {
            Ok(thread) => thread,
            Err(e) => {
                normalised.skipped.push(Skipped::malformed(format!("a comment thread {}", json_error(&e))));
                continue;
            }
        };
        let top = thread.snippet.top_level_comment;
        let top_author = top.snippet.author_channel_id.as_ref().map(|c| c.value.clone());
        let brand_thread = top_author.as_deref() == Some(context.channel);
        normalised.push(comment_mention(top, None, context, received_at));
        for raw in thread.replies.map(|r| r.comments).unwrap_or_default() {
            ids.extend(published_key(&raw, received_at));
            match serde_json::from_value::<Comment>(raw) {
                Ok(reply) => normalised.push(comment_mention(
                    reply,
                    Some((top_author.as_deref(), brand_thread)),
                    context,
                    received_at,
                )),
                Err(e) => normalised.skipped.push(Skipped::malformed(format!("a reply {}", json_error(&e)))),
            }
        }
    }
    Ok(FeedPage {
        mentions: normalised.mentions,
        skipped: normalised.skipped,
        ids,
        next: list.next_page_token.filter(|t| is_valid_id(t)),
        pause_until: None,
    })
}

/// A comment as a mention; `in_thread` for a reply: the thread's author, and whether the
/// brand started the thread.
fn comment_mention(
    comment: Comment,
    in_thread: Option<(Option<&str>, bool)>,
    context: ThreadsContext<'_>,
    received_at: DateTime<Utc>,
) -> Result<Mention, Skipped> {
    if !is_valid_id(&comment.id) {
        return Err(Skipped::malformed(format!("comment id {}", shown(&comment.id))));
    }
    let Some(author) = comment.snippet.author_channel_id.map(|c| c.value).filter(|a| is_valid_id(a)) else {
        return Err(Skipped::malformed(format!("comment {} has no author channel", comment.id)));
    };
    if author == context.channel {
        return Err(Skipped::ignored(format!("comment {} is the channel's own", comment.id)));
    }
    if !placeable(comment.snippet.published_at, received_at) {
        let at = comment.snippet.published_at;
        return Err(Skipped::malformed(format!("comment {} is dated {at}, which cannot be", comment.id)));
    }
    let text = comment.snippet.text_original.or(comment.snippet.text_display).unwrap_or_default().trim().to_owned();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(Skipped::malformed(format!("comment {} has no text, or too much", comment.id)));
    }
    let (kind, parent, parent_author, listening) = match in_thread {
        None => (MentionKind::Post, None, None, false),
        Some((thread_author, brand_thread)) => (
            MentionKind::Reply,
            Some(thread_of(&comment.id).to_owned()),
            thread_author.filter(|a| is_valid_id(a)).map(str::to_owned),
            !brand_thread,
        ),
    };
    Ok(Mention {
        channel: Channel::YouTube,
        account_id: context.channel.to_owned(),
        direction: Direction::Inbound,
        kind,
        message_id: comment.id.clone(),
        parent_id: parent,
        parent_author_id: parent_author,
        quoted_id: None,
        author: Author {
            id: author.clone(),
            handle: None,
            name: comment
                .snippet
                .author_display_name
                .map(|n| n.chars().take(200).collect())
                .filter(|n: &String| !n.is_empty()),
            followers: None,
            verified: false,
        },
        customer_id: author,
        text,
        language: None,
        created_at: comment.snippet.published_at,
        received_at,
        raw_ref: format!("{}#{}", context.reference, comment.id),
        action: MessageAction::Created,
        standby: false,
        automated: None,
        text_source: None,
        listening,
    })
}
