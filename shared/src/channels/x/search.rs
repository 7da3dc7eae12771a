//! X API v2 recent search, for listening beyond the handle: the request for one page, and
//! the page read into mentions. A post that names the brand's handle, or replies to the
//! brand, is a direct mention (the Account Activity webhook may deliver it too; the message
//! store keeps it once) and is answered as one; anything else is a listening hit, which X's
//! developer policy forbids answering automatically.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::channels::feed::FeedPage;
use crate::channels::json::json_error;
use crate::channels::{Normalised, Skipped, shown};
use crate::domain::mention::{Author, Channel, Direction, Mention, MentionKind, MessageAction};

pub const SEARCH_PATH: &str = "/2/tweets/search/recent";
/// X's largest page.
pub const MAX_RESULTS: &str = "100";
pub const TWEET_FIELDS: &str =
    "created_at,author_id,conversation_id,in_reply_to_user_id,referenced_tweets,lang,edit_history_tweet_ids";
pub const USER_FIELDS: &str = "username,name,verified,public_metrics";

/// Whose search it is.
#[derive(Debug, Clone)]
pub struct SearchContext<'a> {
    /// The brand's X user id.
    pub account: &'a str,
    /// The brand's handle, without `@`.
    pub handle: &'a str,
    /// Names the search in each mention's `raw_ref`.
    pub reference: &'a str,
}

/// The query parameters of one page: the first from `since_id`, the rest by `next_token`.
pub fn page_query<'a>(
    query: &'a str,
    since_id: Option<&'a str>,
    next: Option<&'a str>,
) -> Vec<(&'static str, &'a str)> {
    let mut params = vec![
        ("query", query),
        ("max_results", MAX_RESULTS),
        ("tweet.fields", TWEET_FIELDS),
        ("expansions", "author_id"),
        ("user.fields", USER_FIELDS),
    ];
    if let Some(since) = since_id {
        params.push(("since_id", since));
    }
    if let Some(next) = next {
        params.push(("next_token", next));
    }
    params
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    data: Vec<serde_json::Value>,
    #[serde(default)]
    includes: Includes,
    #[serde(default)]
    meta: Meta,
}

#[derive(Deserialize, Default)]
struct Includes {
    #[serde(default)]
    users: Vec<User>,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    next_token: Option<String>,
}

#[derive(Deserialize, Clone)]
struct User {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    verified: bool,
    #[serde(default)]
    public_metrics: Option<Metrics>,
}

#[derive(Deserialize, Clone, Copy)]
struct Metrics {
    #[serde(default)]
    followers_count: Option<u64>,
}

#[derive(Deserialize)]
struct Post {
    id: String,
    text: String,
    author_id: String,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    in_reply_to_user_id: Option<String>,
    #[serde(default)]
    referenced_tweets: Vec<Reference>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    edit_history_tweet_ids: Vec<String>,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

/// Whether `text` names `@handle` (X handles are case-insensitive; a longer handle that
/// starts with it is someone else).
pub fn names_handle(text: &str, handle: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let wanted = format!("@{}", handle.to_ascii_lowercase());
    lower.match_indices(&wanted).any(|(at, _)| {
        let after = lower[at + wanted.len()..].chars().next();
        !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// One page of results, each post read on its own.
pub fn parse_page(body: &[u8], context: &SearchContext<'_>, received_at: DateTime<Utc>) -> Result<FeedPage, String> {
    let response: Response =
        serde_json::from_slice(body).map_err(|e| format!("the search answer {}", json_error(&e)))?;
    let mut normalised = Normalised::default();
    let mut ids = Vec::new();
    for raw in &response.data {
        let post: Post = match serde_json::from_value(raw.clone()) {
            Ok(post) => post,
            Err(e) => {
                normalised.skipped.push(Skipped::malformed(format!("a search result {}", json_error(&e))));
                continue;
            }
        };
        if super::is_valid_id(&post.id) {
            ids.push(post.id.clone());
        }
        normalised.push(mention(post, &response.includes.users, context, received_at));
    }
    Ok(FeedPage {
        mentions: normalised.mentions,
        skipped: normalised.skipped,
        ids,
        next: response.meta.next_token.filter(|t| !t.is_empty() && t.len() <= 200),
        pause_until: None,
    })
}

fn mention(
    post: Post,
    users: &[User],
    context: &SearchContext<'_>,
    received_at: DateTime<Utc>,
) -> Result<Mention, Skipped> {
    if !super::is_valid_id(&post.id) || !super::is_valid_id(&post.author_id) {
        return Err(Skipped::malformed(format!("search result {} has an id that is not X's", shown(&post.id))));
    }
    if post.author_id == context.account {
        return Err(Skipped::ignored(format!("post {} is the brand's own", post.id)));
    }
    let reference = |kind: &str| post.referenced_tweets.iter().find(|r| r.kind == kind).map(|r| r.id.clone());
    if reference("retweeted").is_some() {
        return Err(Skipped::ignored(format!("post {} is a repost", post.id)));
    }
    let (kind, parent_id, quoted_id) = match (reference("replied_to"), reference("quoted")) {
        (Some(parent), _) => (MentionKind::Reply, Some(parent), None),
        (None, Some(quoted)) => (MentionKind::Quote, None, Some(quoted)),
        (None, None) => (MentionKind::Post, None, None),
    };
    let addressed =
        post.in_reply_to_user_id.as_deref() == Some(context.account) || names_handle(&post.text, context.handle);
    let user = users.iter().find(|u| u.id == post.author_id);
    // An edited post has a new id; X's edit history names the original, which is the one kept.
    let message_id =
        post.edit_history_tweet_ids.first().filter(|id| super::is_valid_id(id)).cloned().unwrap_or(post.id.clone());
    Ok(Mention {
        channel: Channel::X,
        account_id: context.account.to_owned(),
        direction: Direction::Inbound,
        kind,
        message_id: message_id.clone(),
        parent_id,
        parent_author_id: post.in_reply_to_user_id.clone(),
        quoted_id,
        author: Author {
            id: post.author_id.clone(),
            handle: user.and_then(|u| u.username.clone()),
            name: user.and_then(|u| u.name.clone()),
            followers: user.and_then(|u| u.public_metrics).and_then(|m| m.followers_count),
            verified: user.is_some_and(|u| u.verified),
        },
        customer_id: post.author_id,
        text: post.text,
        language: post.lang,
        created_at: post.created_at.unwrap_or(received_at),
        received_at,
        raw_ref: format!("{}#{message_id}", context.reference),
        action: MessageAction::Created,
        standby: false,
        automated: None,
        text_source: None,
        listening: !addressed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::testing::{fixture, line};
    use chrono::TimeZone;

    #[test]
    fn a_page_of_results() {
        let context = SearchContext { account: "2244994945", handle: "AcmeAir", reference: "xsearch:1" };
        let at = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        let page = parse_page(&fixture("x", "search_page.json"), &context, at).unwrap();
        let lines: Vec<String> =
            page.mentions.iter().map(|m| format!("{} listening={}", line(m), m.listening)).collect();
        assert_eq!(
            lines,
            [
                "x 2244994945 Post Inbound 1870000000000000001 parent=- customer=9001 Created listening=true",
                "x 2244994945 Post Inbound 1870000000000000002 parent=- customer=9002 Created listening=false",
                "x 2244994945 Reply Inbound 1870000000000000003 parent=1869999999999999999 customer=9003 Created listening=false",
                "x 2244994945 Quote Inbound 1870000000000000004 parent=- customer=9001 Created listening=true",
                "x 2244994945 Post Inbound 1869000000000000000 parent=- customer=9004 Created listening=true",
            ]
        );
        assert_eq!(page.mentions[0].author.handle.as_deref(), Some("ana_b"));
        assert_eq!(page.mentions[0].author.followers, Some(1200));
        assert_eq!(page.next.as_deref(), Some("b26v89c19zqg8o3f"));
        assert_eq!(page.ids.len(), 7, "an id that is not X's never moves the cursor");
        let reasons: Vec<&str> = page.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].contains("brand's own") && reasons[1].contains("repost") && reasons[2].contains("not X's"));
        assert!(parse_page(b"{\"data\": 7}", &context, at).is_err());
        assert_eq!(parse_page(b"{\"meta\": {\"result_count\": 0}}", &context, at).unwrap().ids.len(), 0);
    }

    #[test]
    fn a_handle_is_named_only_whole() {
        assert!(names_handle("hey @acmeair where is my bag", "AcmeAir"));
        assert!(names_handle("@AcmeAir.", "acmeair"));
        assert!(!names_handle("@AcmeAirlines is better", "AcmeAir"));
        assert!(!names_handle("acmeair", "AcmeAir"));
    }

    #[test]
    fn pages_follow_since_id_then_next_token() {
        let first = page_query("acme", Some("10"), None);
        assert!(first.contains(&("since_id", "10")) && !first.iter().any(|(k, _)| *k == "next_token"));
        let next = page_query("acme", Some("10"), Some("t2"));
        assert!(next.contains(&("next_token", "t2")) && next.contains(&("since_id", "10")));
    }
}

#[cfg(feature = "aws")]
pub use client::XSearchClient;

#[cfg(feature = "aws")]
mod client {
    use std::collections::HashMap;
    use std::time::Duration;

    use chrono::{DateTime, Utc};

    use super::{SEARCH_PATH, SearchContext, page_query, parse_page};
    use crate::channels::feed::{FeedPage, reset_at};
    use crate::credentials::XCredentials;
    use crate::domain::secret::Secret;
    use crate::error::{Error, Result};

    const PLATFORM: &str = "X API search";
    /// X's rate window, when it names no reset.
    const WINDOW: Duration = Duration::from_secs(15 * 60);

    struct Search {
        token: Secret,
        handle: String,
        query: String,
    }

    /// The listener's side of X: one recent search per account that configures one.
    pub struct XSearchClient {
        http: reqwest::Client,
        base_url: String,
        searches: HashMap<String, Search>,
    }

    impl XSearchClient {
        pub fn new(base_url: &str, credentials: &XCredentials) -> Result<Self> {
            let searches = credentials
                .accounts
                .iter()
                .filter_map(|(id, account)| {
                    let s = account.search.as_ref()?;
                    Some((
                        id.clone(),
                        Search { token: s.bearer_token.clone(), handle: s.handle.clone(), query: s.query.clone() },
                    ))
                })
                .collect();
            Ok(XSearchClient {
                http: crate::adapters::http::client()?,
                base_url: base_url.trim_end_matches('/').to_owned(),
                searches,
            })
        }

        /// The accounts that search.
        pub fn accounts(&self) -> Vec<String> {
            let mut accounts: Vec<String> = self.searches.keys().cloned().collect();
            accounts.sort();
            accounts
        }

        /// One page of the account's search, from `since_id` or following `next`.
        pub async fn page(
            &self,
            account: &str,
            since_id: Option<&str>,
            next: Option<&str>,
            reference: &str,
            now: DateTime<Utc>,
        ) -> Result<FeedPage> {
            let search =
                self.searches.get(account).ok_or_else(|| Error::Config(format!("account {account} has no search")))?;
            let url = format!("{}{SEARCH_PATH}", self.base_url);
            let send = |since: Option<&str>| {
                self.http
                    .get(&url)
                    .bearer_auth(search.token.expose())
                    .query(&page_query(&search.query, since, next))
                    .send()
            };
            let unavailable = |e: reqwest::Error| Error::PlatformUnavailable {
                platform: PLATFORM,
                message: e.without_url().to_string(),
            };
            let mut response = send(since_id).await.map_err(unavailable)?;
            // [U] X refuses a since_id older than its seven-day window: read the window again
            // (the message store keeps each post once) rather than stall.
            if response.status().as_u16() == 400 && since_id.is_some() && next.is_none() {
                let body = response.text().await.unwrap_or_default();
                if !body.contains("since_id") {
                    return Err(Error::PlatformRejected {
                        platform: PLATFORM,
                        status: 400,
                        message: body.chars().take(200).collect(),
                    });
                }
                tracing::warn!(
                    account,
                    "X refused the since_id (older than its search window): reading the window again"
                );
                response = send(None).await.map_err(unavailable)?;
            }
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            let reset = header("x-rate-limit-reset").and_then(|v| reset_at(v, now));
            let body = response.bytes().await.map_err(unavailable)?;
            match status {
                200 => {}
                429 => {
                    let retry_after = reset.and_then(|r| (r - now).to_std().ok()).unwrap_or(WINDOW);
                    return Err(Error::RateLimited { platform: PLATFORM, retry_after });
                }
                401 | 403 => {
                    let message = String::from_utf8_lossy(&body).chars().take(200).collect();
                    return Err(Error::CredentialsRejected {
                        platform: PLATFORM,
                        account: account.to_owned(),
                        message,
                    });
                }
                500..=599 => {
                    return Err(Error::PlatformUnavailable { platform: PLATFORM, message: format!("HTTP {status}") });
                }
                _ => {
                    let message = String::from_utf8_lossy(&body).chars().take(200).collect();
                    return Err(Error::PlatformRejected { platform: PLATFORM, status, message });
                }
            }
            let context = SearchContext { account, handle: &search.handle, reference };
            let mut page = parse_page(&body, &context, now)
                .map_err(|message| Error::PlatformUnavailable { platform: PLATFORM, message })?;
            if header("x-rate-limit-remaining").and_then(|v| v.trim().parse::<u64>().ok()) == Some(0) {
                page.pause_until = Some(reset.unwrap_or(now + chrono::TimeDelta::minutes(15)));
            }
            Ok(page)
        }
    }
}
