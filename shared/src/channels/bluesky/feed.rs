//! Bluesky's notifications and post searches read into mentions. Pure: no I/O.
//!
//! Both lists come newest first and page backwards (older) by an opaque cursor, and AT URIs
//! do not order, so the listener places items by the time Bluesky indexed them: each
//! page's `ids` are those times as [`time_key`]s, and each mention's `created_at` is its
//! indexed time (the record's own `createdAt` is whatever the author's client wrote).
//! The account's mentions, replies to it and quotes of it are addressed to it; what a
//! search finds is a listening hit unless it mentions the account or replies to it.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::ids::{account_of_did, post_account, post_id};
use crate::channels::feed::FeedPage;
use crate::channels::json::json_error;
use crate::channels::{Normalised, Skipped, shown};
use crate::domain::listening::{placeable, time_key};
use crate::domain::mention::{Author, Channel, Direction, Mention, MentionKind, MessageAction};

/// A post holds 300 graphemes; a grapheme may be several characters, not ten.
const MAX_TEXT_CHARS: usize = 3000;
const MENTION_FACET: &str = "app.bsky.richtext.facet#mention";
const POST_TYPE: &str = "app.bsky.feed.post";

/// Whose feed it is.
#[derive(Debug, Clone, Copy)]
pub struct FeedContext<'a> {
    /// The brand's account, as a compact DID (`plc_…`).
    pub account: &'a str,
    /// Names the feed in each mention's `raw_ref`.
    pub reference: &'a str,
}

#[derive(Deserialize)]
struct Notifications {
    #[serde(default)]
    notifications: Vec<serde_json::Value>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct Notification {
    reason: String,
    #[serde(flatten)]
    post: PostView,
}

#[derive(Deserialize)]
struct Posts {
    #[serde(default)]
    posts: Vec<serde_json::Value>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct PostView {
    uri: String,
    author: Profile,
    #[serde(default)]
    record: serde_json::Value,
    #[serde(rename = "indexedAt")]
    indexed_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Profile {
    did: String,
    #[serde(default)]
    handle: Option<String>,
    #[serde(default, rename = "displayName")]
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(default, rename = "$type")]
    kind: Option<String>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    langs: Vec<String>,
    #[serde(default)]
    reply: Option<ReplyRefs>,
    #[serde(default)]
    facets: Vec<Facet>,
}

#[derive(Deserialize)]
struct ReplyRefs {
    parent: StrongRef,
}

#[derive(Deserialize)]
struct StrongRef {
    uri: String,
}

#[derive(Deserialize)]
struct Facet {
    #[serde(default)]
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    #[serde(default, rename = "$type")]
    kind: String,
    #[serde(default)]
    did: Option<String>,
}

/// The time key of a list item whose shape is otherwise unreadable, so the cursor still
/// moves past it; none for a time that cannot place it.
fn indexed_key(raw: &serde_json::Value, now: DateTime<Utc>) -> Option<String> {
    let at: DateTime<Utc> = raw.get("indexedAt")?.as_str()?.parse().ok()?;
    placeable(at, now).then(|| time_key(at))
}

/// A page of `app.bsky.notification.listNotifications`: mentions, replies and quotes.
pub fn notifications_page(
    body: &[u8],
    context: FeedContext<'_>,
    received_at: DateTime<Utc>,
) -> Result<FeedPage, String> {
    let list: Notifications =
        serde_json::from_slice(body).map_err(|e| format!("the notifications {}", json_error(&e)))?;
    let mut normalised = Normalised::default();
    let mut ids = Vec::new();
    for raw in list.notifications {
        ids.extend(indexed_key(&raw, received_at));
        let notification: Notification = match serde_json::from_value(raw) {
            Ok(n) => n,
            Err(e) => {
                normalised.skipped.push(Skipped::malformed(format!("a notification {}", json_error(&e))));
                continue;
            }
        };
        if !matches!(notification.reason.as_str(), "mention" | "reply" | "quote") {
            normalised
                .skipped
                .push(Skipped::ignored(format!("a {} notification asks for no answer", shown(&notification.reason))));
            continue;
        }
        normalised.push(post_mention(notification.post, context, received_at, false));
    }
    Ok(FeedPage {
        mentions: normalised.mentions,
        skipped: normalised.skipped,
        ids,
        next: list.cursor,
        pause_until: None,
    })
}

/// A page of `app.bsky.feed.searchPosts` (`sort=latest`): listening hits unless addressed.
pub fn search_page(body: &[u8], context: FeedContext<'_>, received_at: DateTime<Utc>) -> Result<FeedPage, String> {
    let list: Posts = serde_json::from_slice(body).map_err(|e| format!("the search {}", json_error(&e)))?;
    let mut normalised = Normalised::default();
    let mut ids = Vec::new();
    for raw in list.posts {
        ids.extend(indexed_key(&raw, received_at));
        match serde_json::from_value::<PostView>(raw) {
            Ok(post) => normalised.push(post_mention(post, context, received_at, true)),
            Err(e) => normalised.skipped.push(Skipped::malformed(format!("a post {}", json_error(&e)))),
        }
    }
    Ok(FeedPage {
        mentions: normalised.mentions,
        skipped: normalised.skipped,
        ids,
        next: list.cursor,
        pause_until: None,
    })
}

fn post_mention(
    post: PostView,
    context: FeedContext<'_>,
    received_at: DateTime<Utc>,
    searched: bool,
) -> Result<Mention, Skipped> {
    let Some(message_id) = post_id(&post.uri) else {
        return Err(Skipped::malformed(format!("{} is not a post's URI", shown(&post.uri))));
    };
    let Some(author) = account_of_did(&post.author.did) else {
        return Err(Skipped::malformed(format!("post {message_id} has an author Hark cannot key on")));
    };
    if author == context.account {
        return Err(Skipped::ignored(format!("post {message_id} is the account's own")));
    }
    if !placeable(post.indexed_at, received_at) {
        return Err(Skipped::malformed(format!("post {message_id} is dated {}, which cannot be", post.indexed_at)));
    }
    let record: Record = serde_json::from_value(post.record)
        .map_err(|e| Skipped::malformed(format!("post {message_id}'s record {}", json_error(&e))))?;
    if record.kind.as_deref().is_some_and(|k| k != POST_TYPE) {
        return Err(Skipped::ignored(format!("{message_id} is not a post")));
    }
    let text = record.text.trim().to_owned();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(Skipped::malformed(format!("post {message_id} has no text, or too much")));
    }
    let parent = record.reply.as_ref().and_then(|r| post_id(&r.parent.uri));
    let parent_author = parent.as_deref().and_then(post_account).map(str::to_owned);
    let brand_did = super::ids::did_of_account(context.account);
    let mentions_brand = record
        .facets
        .iter()
        .flat_map(|f| &f.features)
        .any(|f| f.kind == MENTION_FACET && f.did.is_some() && f.did == brand_did);
    let addressed = mentions_brand || parent_author.as_deref() == Some(context.account);
    let bounded = |v: Option<String>| v.map(|v| v.chars().take(200).collect::<String>());
    Ok(Mention {
        channel: Channel::Bluesky,
        account_id: context.account.to_owned(),
        direction: Direction::Inbound,
        kind: if parent.is_some() { MentionKind::Reply } else { MentionKind::Post },
        message_id: message_id.clone(),
        parent_id: parent,
        parent_author_id: parent_author,
        quoted_id: None,
        author: Author {
            id: author.clone(),
            handle: bounded(post.author.handle),
            name: bounded(post.author.display_name).filter(|n| !n.is_empty()),
            followers: None,
            verified: false,
        },
        customer_id: author,
        text,
        language: record.langs.into_iter().next().filter(|l| l.len() <= 8),
        created_at: post.indexed_at,
        received_at,
        raw_ref: format!("{}#{message_id}", context.reference),
        action: MessageAction::Created,
        standby: false,
        automated: None,
        text_source: None,
        listening: searched && !addressed,
    })
}
