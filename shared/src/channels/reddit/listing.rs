//! Reddit listings (search, a subreddit's new posts) read into mentions. Pure: no I/O.
//!
//! Every Reddit item is a listening hit: Hark never answers on Reddit. A post's fullname
//! (`t3_…`) is its id; fullnames grow in base 36, so they order by length, then text.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::channels::feed::FeedPage;
use crate::channels::json::json_error;
use crate::channels::{Normalised, Skipped, shown};
use crate::domain::mention::{Author, Channel, Direction, Mention, MentionKind, MessageAction};

/// A post's title and body together stay under this (Reddit allows 40,000 in a body).
const MAX_TEXT_CHARS: usize = 40_400;

/// A subreddit's name as Reddit allows it.
pub fn is_subreddit(name: &str) -> bool {
    (2..=21).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A post's fullname: `t3_` and its base-36 id.
pub fn is_post_fullname(name: &str) -> bool {
    name.strip_prefix("t3_").is_some_and(|id| {
        (1..=16).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

#[derive(Deserialize)]
struct Listing {
    data: ListingData,
}

#[derive(Deserialize)]
struct ListingData {
    #[serde(default)]
    children: Vec<serde_json::Value>,
    #[serde(default)]
    after: Option<String>,
}

#[derive(Deserialize)]
struct Thing {
    kind: String,
    data: Post,
}

#[derive(Deserialize)]
struct Post {
    name: String,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    author_fullname: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    selftext: String,
    #[serde(default)]
    created_utc: Option<f64>,
}

/// Whose listening it is.
#[derive(Debug, Clone, Copy)]
pub struct ListingContext<'a> {
    /// The brand's Reddit username, the account posts are filed under.
    pub account: &'a str,
    pub reference: &'a str,
}

/// One page of a listing, newest first; `next` is Reddit's `after` (older posts).
pub fn parse_listing(body: &[u8], context: ListingContext<'_>, received_at: DateTime<Utc>) -> Result<FeedPage, String> {
    let listing: Listing = serde_json::from_slice(body).map_err(|e| format!("the listing {}", json_error(&e)))?;
    let mut normalised = Normalised::default();
    let mut ids = Vec::new();
    for raw in listing.data.children {
        let thing: Thing = match serde_json::from_value(raw) {
            Ok(thing) => thing,
            Err(e) => {
                normalised.skipped.push(Skipped::malformed(format!("a listing item {}", json_error(&e))));
                continue;
            }
        };
        if thing.kind != "t3" || !is_post_fullname(&thing.data.name) {
            normalised.skipped.push(Skipped::malformed(format!("{} is not a post", shown(&thing.data.name))));
            continue;
        }
        ids.push(thing.data.name.clone());
        normalised.push(mention(thing.data, context, received_at));
    }
    Ok(FeedPage {
        mentions: normalised.mentions,
        skipped: normalised.skipped,
        ids,
        next: listing.data.after.filter(|a| is_post_fullname(a)),
        pause_until: None,
    })
}

fn mention(post: Post, context: ListingContext<'_>, received_at: DateTime<Utc>) -> Result<Mention, Skipped> {
    let author = post.author.filter(|a| a != "[deleted]" && !a.is_empty());
    let Some(author) = author else {
        return Err(Skipped::ignored(format!("post {} has no author any more", post.name)));
    };
    if author.eq_ignore_ascii_case(context.account) {
        return Err(Skipped::ignored(format!("post {} is the brand's own", post.name)));
    }
    let text = match post.selftext.trim() {
        "" => post.title.trim().to_owned(),
        body => format!("{}\n\n{body}", post.title.trim()),
    };
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(Skipped::malformed(format!("post {} has no text, or too much", post.name)));
    }
    let customer = post
        .author_fullname
        .filter(|f| f.starts_with("t2_") && f.len() <= 20 && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .unwrap_or_else(|| {
            format!(
                "u_{}",
                author.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect::<String>()
            )
        });
    let created_at = post.created_utc.and_then(|s| DateTime::from_timestamp(s as i64, 0)).unwrap_or(received_at);
    Ok(Mention {
        channel: Channel::Reddit,
        account_id: context.account.to_owned(),
        direction: Direction::Inbound,
        kind: MentionKind::Post,
        message_id: post.name.clone(),
        parent_id: None,
        parent_author_id: None,
        quoted_id: None,
        author: Author {
            id: customer.clone(),
            handle: Some(author.chars().take(40).collect()),
            name: None,
            followers: None,
            verified: false,
        },
        customer_id: customer,
        text,
        language: None,
        created_at,
        received_at,
        raw_ref: format!("{}#{}", context.reference, post.name),
        action: MessageAction::Created,
        standby: false,
        automated: None,
        text_source: None,
        listening: true,
    })
}
