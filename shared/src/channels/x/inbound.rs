//! X (Twitter) Account Activity webhooks: CRC challenge, signature verification over the
//! raw body, and normalisation of tweet and direct-message events into [`Mention`]s.
//! Pure: no I/O, so every rule here is tested from fixtures.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::Sha256;

use crate::channels::json::{ObjectError, RawObject, json_error, raw_list};
use crate::channels::{
    ChallengeAnswer, InboundChannel, InboundError, Normalised, Skipped, Verified, WebhookRequest, shown,
};
use crate::domain::mention::{Author, Channel, Direction, Mention, MentionKind, MessageAction};
use crate::domain::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Header X signs each delivery with: `sha256=<base64 HMAC-SHA256(consumer secret, raw body)>`.
pub const SIGNATURE_HEADER: &str = "x-twitter-webhooks-signature";
/// X's CRC tokens are short (a UUID or its base64); anything longer is not X talking to us.
pub const MAX_CRC_TOKEN_LEN: usize = 128;
/// Tweets are at most 4,000 characters for long posts and DMs 10,000; anything longer is refused.
const MAX_TEXT_CHARS: usize = 10_000;

/// Why a delivery's signature was not accepted. Deliberately says nothing about the expected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header is missing")]
    Missing,
    #[error("signature header is not of the form sha256=<base64>")]
    Malformed,
    #[error("signature does not match the body")]
    Mismatch,
}

fn mac(secret: &[u8], data: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(data);
    mac
}

/// `sha256=<base64 HMAC-SHA256(secret, data)>`: the format of X's delivery signatures.
pub fn sign(secret: &str, data: &[u8]) -> String {
    format!("sha256={}", BASE64.encode(mac(secret.as_bytes(), data).finalize().into_bytes()))
}

/// A CRC token that cannot be a delivery body.
///
/// The CRC answer is HMAC-SHA256 under the consumer secret, exactly how X signs deliveries,
/// so signing whatever arrives as `crc_token` would sign forged deliveries for anyone who
/// asks. A delivery is a JSON object: it starts with `{` (after optional whitespace). Tokens
/// are limited to letters, digits and `-_=+/`, none of which is `{` or JSON whitespace, so no
/// accepted token parses as a delivery, and [`crc_response`] only takes this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrcToken<'a>(&'a str);

impl<'a> CrcToken<'a> {
    pub fn parse(token: &'a str) -> Option<Self> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'+' | b'/');
        (!token.is_empty() && token.len() <= MAX_CRC_TOKEN_LEN && token.bytes().all(allowed)).then_some(CrcToken(token))
    }

    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// Answer to a CRC challenge: the JSON body X expects.
pub fn crc_response(consumer_secret: &str, token: CrcToken<'_>) -> serde_json::Value {
    serde_json::json!({ "response_token": sign(consumer_secret, token.0.as_bytes()) })
}

/// Checks `header` against the raw body in constant time.
pub fn verify_signature(consumer_secret: &str, raw_body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let claimed = decode_signature(header)?;
    verify_decoded(consumer_secret, raw_body, &claimed)
}

/// The header's MAC bytes, for checking against several candidate secrets.
pub fn decode_signature(header: Option<&str>) -> Result<Vec<u8>, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let encoded = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    BASE64.decode(encoded).map_err(|_| SignatureError::Malformed)
}

/// Constant-time check of decoded signature bytes against the raw body.
pub fn verify_decoded(consumer_secret: &str, raw_body: &[u8], claimed: &[u8]) -> Result<(), SignatureError> {
    mac(consumer_secret.as_bytes(), raw_body).verify_slice(claimed).map_err(|_| SignatureError::Mismatch)
}

/// A delivery split into its events, each still raw: one malformed event is skipped with a
/// reason and never costs the others (X gives up on a delivery after its retries).
#[derive(Debug)]
pub struct Delivery<'a> {
    pub for_user_id: String,
    tweet_create_events: Vec<&'a RawValue>,
    direct_message_events: Vec<&'a RawValue>,
    users: HashMap<String, DmUser>,
    /// Event kinds Hark does not handle (favorites, follows, blocks, …), by name.
    unhandled: Vec<String>,
}

/// Why a delivery could not be read at all; never quotes the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("body {0}")]
    Json(String),
    #[error("body has no for_user_id string")]
    MissingAccount,
    #[error("body repeats the key {0:?}")]
    DuplicateKey(String),
    #[error("{0} is not a list of events")]
    NotAList(&'static str),
}

#[derive(Debug, Deserialize)]
struct Tweet {
    id_str: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    full_text: Option<String>,
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    extended_tweet: Option<ExtendedTweet>,
    user: TweetUser,
    #[serde(default)]
    in_reply_to_status_id_str: Option<String>,
    #[serde(default)]
    in_reply_to_user_id_str: Option<String>,
    #[serde(default)]
    quoted_status_id_str: Option<String>,
    #[serde(default)]
    is_quote_status: bool,
    #[serde(default)]
    retweeted_status: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    timestamp_ms: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ExtendedTweet {
    full_text: String,
}

#[derive(Debug, Deserialize)]
struct TweetUser {
    id_str: String,
    #[serde(default)]
    screen_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    followers_count: Option<u64>,
    #[serde(default)]
    verified: bool,
}

#[derive(Debug, Deserialize)]
struct DirectMessageEvent {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    #[serde(default)]
    created_timestamp: Option<String>,
    #[serde(default)]
    message_create: Option<MessageCreate>,
}

#[derive(Debug, Deserialize)]
struct MessageCreate {
    target: DmTarget,
    sender_id: String,
    message_data: DmData,
}

#[derive(Debug, Deserialize)]
struct DmTarget {
    recipient_id: String,
}

#[derive(Debug, Deserialize)]
struct DmData {
    text: String,
}

#[derive(Debug, Deserialize)]
struct DmUser {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    screen_name: Option<String>,
    #[serde(default)]
    followers_count: Option<u64>,
    #[serde(default)]
    verified: bool,
}

/// Splits a delivery into its account and raw events. Only the envelope is read here; each
/// event is read on its own in [`Delivery::normalise`].
pub fn parse(raw_body: &[u8]) -> Result<Delivery<'_>, ParseError> {
    let object = RawObject::parse(raw_body).map_err(|e| match e {
        ObjectError::DuplicateKey(key) => ParseError::DuplicateKey(key),
        ObjectError::Json(summary) => ParseError::Json(summary),
    })?;
    let mut delivery = Delivery {
        for_user_id: String::new(),
        tweet_create_events: Vec::new(),
        direct_message_events: Vec::new(),
        users: HashMap::new(),
        unhandled: Vec::new(),
    };
    let mut account = None;
    for (key, value) in object.into_fields() {
        match key.as_str() {
            "for_user_id" => account = serde_json::from_str::<String>(value.get()).ok(),
            "tweet_create_events" => {
                delivery.tweet_create_events = raw_list(value).ok_or(ParseError::NotAList("tweet_create_events"))?
            }
            "direct_message_events" => {
                delivery.direct_message_events = raw_list(value).ok_or(ParseError::NotAList("direct_message_events"))?
            }
            // Profiles are context for DMs: a profile that cannot be read is left out, not fatal.
            "users" => {
                if let Ok(users) = serde_json::from_str::<HashMap<String, &RawValue>>(value.get()) {
                    delivery.users = users
                        .into_iter()
                        .filter_map(|(id, user)| Some((id, serde_json::from_str(user.get()).ok()?)))
                        .collect();
                }
            }
            // Besides event arrays, deliveries carry context such as `user_has_blocked` and `apps`.
            other if other.ends_with("_events") => delivery.unhandled.push(other.to_owned()),
            _ => {}
        }
    }
    delivery.for_user_id = account.ok_or(ParseError::MissingAccount)?;
    delivery.unhandled.sort();
    Ok(delivery)
}

/// X ids are decimal snowflakes.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

impl Delivery<'_> {
    /// Turns the delivery into mentions. `raw_ref` names the request the payload came in.
    pub fn normalise(self, received_at: DateTime<Utc>, raw_ref: &str) -> Normalised {
        let mut out = Normalised::default();
        let account = self.for_user_id;
        for kind in self.unhandled {
            out.skipped.push(Skipped::ignored(format!("unhandled event kind {}", shown(&kind))));
        }
        for (index, raw) in self.tweet_create_events.into_iter().enumerate() {
            let reference = format!("{raw_ref}#tweet{index}");
            let outcome = match serde_json::from_str::<Tweet>(raw.get()) {
                Ok(tweet) => tweet_mention(&account, tweet, received_at, reference),
                Err(e) => Err(Skipped::malformed(format!("tweet event {index} {}", json_error(&e)))),
            };
            match outcome {
                Ok(mention) => out.mentions.push(mention),
                Err(skipped) => out.skipped.push(skipped),
            }
        }
        for (index, raw) in self.direct_message_events.into_iter().enumerate() {
            let reference = format!("{raw_ref}#dm{index}");
            let outcome = match serde_json::from_str::<DirectMessageEvent>(raw.get()) {
                Ok(event) => dm_mention(&account, event, &self.users, received_at, reference),
                Err(e) => Err(Skipped::malformed(format!("direct message event {index} {}", json_error(&e)))),
            };
            match outcome {
                Ok(mention) => out.mentions.push(mention),
                Err(skipped) => out.skipped.push(skipped),
            }
        }
        out
    }
}

fn checked_text(text: String, id: &str) -> Result<String, Skipped> {
    let text = text.trim().to_owned();
    if text.is_empty() {
        return Err(Skipped::malformed(format!("message {id} has no text")));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Skipped::malformed(format!("message {id} text exceeds {MAX_TEXT_CHARS} characters")));
    }
    Ok(text)
}

fn tweet_mention(account: &str, tweet: Tweet, received_at: DateTime<Utc>, raw_ref: String) -> Result<Mention, Skipped> {
    let id = tweet.id_str;
    if !is_valid_id(&id) || !is_valid_id(&tweet.user.id_str) {
        return Err(Skipped::malformed(format!("tweet {} has an invalid tweet or user id", shown(&id))));
    }
    if tweet.retweeted_status.is_some() {
        return Err(Skipped::ignored(format!("tweet {id} is a retweet")));
    }
    let parent_id = tweet.in_reply_to_status_id_str.filter(|p| is_valid_id(p));
    let parent_author_id = tweet.in_reply_to_user_id_str.filter(|p| is_valid_id(p));
    let quoted_id = tweet.quoted_status_id_str.filter(|q| is_valid_id(q));

    let echo = tweet.user.id_str == account;
    let (direction, customer_id) = if echo {
        // The brand's own tweet. Only a reply to someone else answers a customer.
        match parent_author_id.as_deref() {
            Some(customer) if customer != account => (Direction::Outbound, customer.to_owned()),
            _ => return Err(Skipped::ignored(format!("tweet {id} is the brand's own post"))),
        }
    } else {
        (Direction::Inbound, tweet.user.id_str.clone())
    };

    let text = match (tweet.truncated, tweet.extended_tweet, tweet.full_text, tweet.text) {
        (true, Some(extended), _, _) => extended.full_text,
        (_, _, Some(full), _) => full,
        (_, _, _, Some(text)) => text,
        (_, Some(extended), None, None) => extended.full_text,
        _ => String::new(),
    };
    let text = checked_text(text, &id)?;
    let kind = if parent_id.is_some() {
        MentionKind::Reply
    } else if tweet.is_quote_status || quoted_id.is_some() {
        MentionKind::Quote
    } else {
        MentionKind::Post
    };
    let created_at = tweet
        .timestamp_ms
        .as_deref()
        .and_then(parse_millis)
        .or_else(|| tweet.created_at.as_deref().and_then(parse_tweet_time))
        .unwrap_or(received_at);
    Ok(Mention {
        channel: Channel::X,
        account_id: account.to_owned(),
        direction,
        kind,
        message_id: id,
        parent_id,
        parent_author_id,
        quoted_id,
        author: Author {
            id: tweet.user.id_str,
            handle: tweet.user.screen_name,
            name: tweet.user.name,
            followers: tweet.user.followers_count,
            verified: tweet.user.verified,
        },
        customer_id,
        text,
        language: tweet.lang.filter(|l| l != "und"),
        created_at,
        received_at,
        raw_ref,
        action: MessageAction::Created,
        standby: false,
        automated: None,
        text_source: None,
        listening: false,
    })
}

fn dm_mention(
    account: &str,
    event: DirectMessageEvent,
    users: &HashMap<String, DmUser>,
    received_at: DateTime<Utc>,
    raw_ref: String,
) -> Result<Mention, Skipped> {
    let id = event.id;
    if event.kind != "message_create" {
        return Err(Skipped::ignored(format!("direct message event {} of type {}", shown(&id), shown(&event.kind))));
    }
    let create = event
        .message_create
        .ok_or_else(|| Skipped::malformed(format!("direct message event {} has no message_create", shown(&id))))?;
    let sender = create.sender_id;
    let recipient = create.target.recipient_id;
    if !is_valid_id(&id) || !is_valid_id(&sender) || !is_valid_id(&recipient) {
        return Err(Skipped::malformed(format!("direct message {} has an invalid message or user id", shown(&id))));
    }
    let (direction, customer_id) = if sender == recipient {
        return Err(Skipped::ignored(format!("direct message {id} is from an account to itself")));
    } else if sender == account {
        (Direction::Outbound, recipient)
    } else if recipient == account {
        (Direction::Inbound, sender.clone())
    } else {
        return Err(Skipped::ignored(format!("direct message {id} does not involve account {}", shown(account))));
    };
    let text = checked_text(create.message_data.text, &id)?;
    let user = users.get(&sender);
    Ok(Mention {
        channel: Channel::X,
        account_id: account.to_owned(),
        direction,
        kind: MentionKind::DirectMessage,
        message_id: id,
        parent_id: None,
        parent_author_id: None,
        quoted_id: None,
        author: Author {
            id: sender,
            handle: user.and_then(|u| u.screen_name.clone()),
            name: user.and_then(|u| u.name.clone()),
            followers: user.and_then(|u| u.followers_count),
            verified: user.is_some_and(|u| u.verified),
        },
        customer_id,
        text,
        language: None,
        created_at: event.created_timestamp.as_deref().and_then(parse_millis).unwrap_or(received_at),
        received_at,
        raw_ref,
        action: MessageAction::Created,
        standby: false,
        automated: None,
        text_source: None,
        listening: false,
    })
}

/// Text as X shows it back to us, reduced to what we wrote: echoes and timeline reads come
/// HTML-escaped and with the reply's @mentions in front.
pub fn comparable_text(text: &str) -> String {
    let unescaped = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    unescaped.split_whitespace().skip_while(|word| word.starts_with('@')).collect::<Vec<_>>().join(" ")
}

fn parse_millis(value: &str) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(value.parse().ok()?).single()
}

/// v1.1 format: `Wed Oct 10 20:19:24 +0000 2018`.
fn parse_tweet_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(value, "%a %b %d %H:%M:%S %z %Y").ok().map(|t| t.with_timezone(&Utc))
}

/// X's inbound side: the CRC handshake and deliveries, verified with the consumer secret of
/// the X app the URL's account (or the only app configured) belongs to.
pub struct XInbound {
    consumer_secrets: HashMap<String, Secret>,
}

impl XInbound {
    pub fn new(credentials: &crate::credentials::XCredentials) -> Self {
        XInbound { consumer_secrets: credentials.consumer_secrets() }
    }

    pub fn with_secrets(consumer_secrets: HashMap<String, Secret>) -> Self {
        XInbound { consumer_secrets }
    }

    /// The secret for a request, and the account it is filed under: the URL's account's, or
    /// the one app's when the URL names none.
    fn secret_for(&self, account: Option<&str>) -> Result<(&str, &Secret), InboundError> {
        let refuse = |why: String| Err(InboundError::Unauthenticated(why));
        match account {
            Some(account) if !is_valid_id(account) => Err(InboundError::InvalidAccount),
            Some(account) => match self.consumer_secrets.get_key_value(account) {
                Some((account, secret)) => Ok((account.as_str(), secret)),
                None => refuse(format!("no consumer secret is configured for account {account}")),
            },
            None => {
                // One X app usually serves every brand account; then its secret answers.
                let mut secrets = self.consumer_secrets.iter();
                let Some((first_account, first)) = secrets.next() else {
                    return refuse("no consumer secret is configured at all".into());
                };
                if secrets.any(|(_, other)| other.expose() != first.expose()) {
                    return refuse(
                        "several X apps are configured; the webhook URL must name the account (/webhooks/x/<account id>)"
                            .into(),
                    );
                }
                Ok((first_account.as_str(), first))
            }
        }
    }
}

impl InboundChannel for XInbound {
    fn answer_challenge(&self, request: &WebhookRequest<'_>) -> Result<ChallengeAnswer, InboundError> {
        let token = request
            .query("crc_token")
            .and_then(CrcToken::parse)
            .ok_or_else(|| InboundError::InvalidChallenge("crc_token is missing or invalid".into()))?;
        let (_, secret) = self.secret_for(request.account)?;
        Ok(ChallengeAnswer::Json(crc_response(secret.expose(), token)))
    }

    fn verify<'a>(&'a self, request: &WebhookRequest<'a>) -> Result<Verified<'a>, InboundError> {
        let (account, secret) = self.secret_for(request.account)?;
        verify_signature(secret.expose(), request.body, request.header(SIGNATURE_HEADER))
            .map_err(|e| InboundError::Unauthenticated(e.to_string()))?;
        Ok(Verified::new(request.body, account))
    }

    fn normalise(&self, verified: Verified<'_>, request: &WebhookRequest<'_>) -> Result<Normalised, InboundError> {
        let delivery = parse(verified.body()).map_err(|e| InboundError::Malformed(e.to_string()))?;
        if let Some(path) = request.account
            && path != delivery.for_user_id
        {
            return Err(InboundError::Malformed(format!(
                "delivery is for account {}, but the webhook URL names account {path}",
                shown(&delivery.for_user_id)
            )));
        }
        // The app signed it, but Hark answers only for accounts it holds that app's secret for.
        let signer = &self.consumer_secrets[verified.signer()];
        if self.consumer_secrets.get(&delivery.for_user_id).is_none_or(|s| s.expose() != signer.expose()) {
            return Err(InboundError::Unauthenticated(format!(
                "the signing app does not serve account {}",
                shown(&delivery.for_user_id)
            )));
        }
        Ok(delivery.normalise(request.received_at, request.request_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from ../shared/platform-contracts.md.
    const KEY: &str = "z3ZX4v7mAAUGykl3EcmkqbartmuW8VFOOzCloLx9Q45P0hLrFu";
    const BODY: &str = r#"{"for_user_id":"2244994945","tweet_create_events":[{"id_str":"1500000000000000001","text":"@acme help","user":{"id_str":"123","screen_name":"alice"},"in_reply_to_status_id_str":null}]}"#;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    #[test]
    fn echo_text_comparison_ignores_leading_mentions_and_escaping() {
        assert_eq!(comparable_text("@alice  Hi Alice, sorry &amp; more ^KT"), "Hi Alice, sorry & more ^KT");
        assert_eq!(comparable_text("Hi Alice, sorry & more ^KT"), "Hi Alice, sorry & more ^KT");
        assert_eq!(comparable_text("a &amp;lt; b"), "a &lt; b", "unescaped once, as X escapes once");
        assert_ne!(comparable_text("@alice Fixed now"), comparable_text("Hi Alice, sorry"));
    }

    #[test]
    fn crc_matches_published_vector() {
        let token = CrcToken::parse("9b4507b3-9040-4669-9ca3-6b94edb50553").unwrap();
        let response = crc_response(KEY, token);
        assert_eq!(response["response_token"], "sha256=Cytd4Sq+NvEcV3MMrXxWJGJx5A+y/lXzzU2Maartkx8=");
    }

    #[test]
    fn crc_tokens_are_short_url_safe_strings_only() {
        for good in ["abc", "9b4507b3-9040-4669-9ca3-6b94edb50553", "NDI0OTI4OTktMjc2Yi00ZWQy+/=", &"a".repeat(128)] {
            assert!(CrcToken::parse(good).is_some(), "{good}");
        }
        for bad in ["", " abc", "a b", "a%7Bb", "{}", "[1]", "\"x\"", "ab\n", "é", &"a".repeat(129), BODY] {
            assert!(CrcToken::parse(bad).is_none(), "{bad:?}");
        }
    }

    /// The signing-oracle regression: whatever a caller gets signed through the CRC endpoint
    /// must never be accepted as a delivery. Every accepted token is tried against the same
    /// parser the webhook uses, over the whole alphabet and a spread of lengths and shapes.
    #[test]
    fn no_accepted_crc_token_is_an_accepted_delivery_body() {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut tokens: Vec<String> = ALPHABET.iter().map(|&b| (b as char).to_string()).collect();
        for _ in 0..20_000 {
            let len = 1 + (next() % MAX_CRC_TOKEN_LEN as u64) as usize;
            tokens.push((0..len).map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize] as char).collect());
        }
        for token in &tokens {
            let accepted = CrcToken::parse(token).expect("alphabet tokens are accepted");
            assert!(parse(accepted.as_str().as_bytes()).is_err(), "{token} parses as a delivery");
        }
        // And the attack itself: a forged delivery offered as a token is refused.
        assert!(parse(BODY.as_bytes()).is_ok());
        assert!(CrcToken::parse(BODY).is_none());
        assert!(CrcToken::parse(&format!("  {BODY}")).is_none());
    }

    #[test]
    fn body_signature_matches_vector_and_rejects_tampering() {
        let header = "sha256=pX9gsymmIC3e8FcR5+SOBR9IRN7FNYikc+ODnZPwWLs=";
        assert_eq!(sign(KEY, BODY.as_bytes()), header);
        assert_eq!(verify_signature(KEY, BODY.as_bytes(), Some(header)), Ok(()));
        let tampered = BODY.replace("help", "hel p");
        assert_eq!(verify_signature(KEY, tampered.as_bytes(), Some(header)), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature("other", BODY.as_bytes(), Some(header)), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(KEY, BODY.as_bytes(), None), Err(SignatureError::Missing));
        assert_eq!(
            verify_signature(KEY, BODY.as_bytes(), Some("pX9gsymmIC3e8FcR5+SOBR9IRN7FNYikc+ODnZPwWLs=")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(verify_signature(KEY, BODY.as_bytes(), Some("sha256=%%%")), Err(SignatureError::Malformed));
    }

    #[test]
    fn vector_body_normalises_to_one_inbound_post() {
        let out = parse(BODY.as_bytes()).unwrap().normalise(now(), "req-1");
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
        let [m] = out.mentions.as_slice() else { panic!("{:?}", out.mentions) };
        assert_eq!(m.account_id, "2244994945");
        assert_eq!(m.direction, Direction::Inbound);
        assert_eq!(m.kind, MentionKind::Post);
        assert_eq!(m.customer_id, "123");
        assert_eq!(m.author.handle.as_deref(), Some("alice"));
        assert_eq!(m.text, "@acme help");
        assert_eq!(m.created_at, now());
        assert_eq!(m.queue_group_id(), "x:2244994945:123");
        assert_eq!(m.queue_deduplication_id(), "x:2244994945:1500000000000000001");
        assert_eq!(m.raw_ref, "req-1#tweet0");
    }

    #[test]
    fn truncated_tweet_uses_extended_full_text_and_reply_fields() {
        let body = serde_json::json!({
            "for_user_id": "100",
            "tweet_create_events": [{
                "id_str": "2", "text": "@acme my bag never arrived and…", "truncated": true,
                "extended_tweet": {"full_text": "@acme my bag never arrived and nobody answers the phone"},
                "user": {"id_str": "7", "screen_name": "bob", "name": "Bob", "followers_count": 12000, "verified": true},
                "in_reply_to_status_id_str": "1", "in_reply_to_user_id_str": "100",
                "created_at": "Wed Oct 10 20:19:24 +0000 2018", "lang": "en"
            }]
        });
        let out = parse(body.to_string().as_bytes()).unwrap().normalise(now(), "r");
        let m = &out.mentions[0];
        assert_eq!(m.text, "@acme my bag never arrived and nobody answers the phone");
        assert_eq!(m.kind, MentionKind::Reply);
        assert_eq!(m.parent_id.as_deref(), Some("1"));
        assert_eq!(m.parent_author_id.as_deref(), Some("100"));
        assert_eq!(m.author.followers, Some(12000));
        assert!(m.author.verified);
        assert_eq!(m.language.as_deref(), Some("en"));
        assert_eq!(m.created_at, Utc.with_ymd_and_hms(2018, 10, 10, 20, 19, 24).unwrap());
    }

    #[test]
    fn quotes_dms_echoes_retweets_and_unknown_kinds() {
        let body = serde_json::json!({
            "for_user_id": "100",
            "tweet_create_events": [
                {"id_str": "3", "text": "look at this @acme", "is_quote_status": true, "quoted_status_id_str": "1",
                 "user": {"id_str": "8"}},
                {"id_str": "4", "text": "Sorry to hear that, DM us", "user": {"id_str": "100"},
                 "in_reply_to_status_id_str": "3", "in_reply_to_user_id_str": "8"},
                {"id_str": "5", "text": "Big sale today!", "user": {"id_str": "100"}},
                {"id_str": "6", "text": "RT @acme: Big sale", "user": {"id_str": "9"}, "retweeted_status": {"id_str": "5"}}
            ],
            "direct_message_events": [
                {"type": "message_create", "id": "900", "created_timestamp": "1700000000000",
                 "message_create": {"target": {"recipient_id": "100"}, "sender_id": "8", "message_data": {"text": "my order 123?"}}},
                {"type": "message_create", "id": "901",
                 "message_create": {"target": {"recipient_id": "8"}, "sender_id": "100", "message_data": {"text": "Checking now"}}}
            ],
            "users": {"8": {"id": "8", "name": "Carol", "screen_name": "carol", "followers_count": 5}},
            "favorite_events": [{"id": "x"}]
        });
        let out = parse(body.to_string().as_bytes()).unwrap().normalise(now(), "r");
        let summary: Vec<_> =
            out.mentions.iter().map(|m| (m.message_id.as_str(), m.kind, m.direction, m.customer_id.as_str())).collect();
        assert_eq!(
            summary,
            vec![
                ("3", MentionKind::Quote, Direction::Inbound, "8"),
                ("4", MentionKind::Reply, Direction::Outbound, "8"),
                ("900", MentionKind::DirectMessage, Direction::Inbound, "8"),
                ("901", MentionKind::DirectMessage, Direction::Outbound, "8"),
            ]
        );
        assert_eq!(out.mentions[2].author.handle.as_deref(), Some("carol"));
        assert_eq!(out.mentions[2].created_at, Utc.timestamp_millis_opt(1_700_000_000_000).unwrap());
        assert_eq!(out.skipped.len(), 3, "{:?}", out.skipped);
        assert!(out.skipped.iter().any(|s| s.reason.contains("favorite_events")));
        assert!(out.skipped.iter().any(|s| s.reason.contains("brand's own post")));
        assert!(out.skipped.iter().any(|s| s.reason.contains("retweet")));
        assert!(out.skipped.iter().all(|s| !s.malformed), "deliberate skips are not warnings");
    }

    #[test]
    fn a_dm_from_the_brand_to_itself_is_nobody_s_conversation() {
        // Found by the x_normalise fuzz target: it became an outbound message whose
        // customer was the brand.
        let body = serde_json::json!({"for_user_id": "100", "direct_message_events": [
            {"type": "message_create", "id": "900",
             "message_create": {"target": {"recipient_id": "100"}, "sender_id": "100", "message_data": {"text": "note to self"}}}]});
        let out = parse(body.to_string().as_bytes()).unwrap().normalise(now(), "r");
        assert!(out.mentions.is_empty(), "{:?}", out.mentions);
        assert!(out.skipped[0].reason.contains("to itself") && !out.skipped[0].malformed);
    }

    #[test]
    fn skip_reasons_quote_body_strings_bounded() {
        // Found by the x_normalise fuzz target: an event kind of any length went into the log.
        let kind = format!("{}_events", "x".repeat(10_000));
        let body = serde_json::json!({"for_user_id": "100", kind: []});
        let out = parse(body.to_string().as_bytes()).unwrap().normalise(now(), "r");
        assert_eq!(out.skipped.len(), 1);
        assert!(out.skipped[0].reason.len() < 80, "{}", out.skipped[0].reason);
    }

    #[test]
    fn invalid_ids_and_empty_text_are_skipped_with_a_reason() {
        let body = serde_json::json!({
            "for_user_id": "100",
            "tweet_create_events": [
                {"id_str": "12a", "text": "hi", "user": {"id_str": "8"}},
                {"id_str": "13", "text": "   ", "user": {"id_str": "8"}}
            ]
        });
        let out = parse(body.to_string().as_bytes()).unwrap().normalise(now(), "r");
        assert!(out.mentions.is_empty());
        assert_eq!(out.skipped.len(), 2);
        assert!(out.skipped.iter().all(|s| s.malformed), "{:?}", out.skipped);
    }

    #[test]
    fn one_odd_event_is_skipped_and_the_rest_of_the_delivery_kept() {
        // Missing user, a lone surrogate, a wrong type, a bad DM: each costs only itself.
        let body = r#"{"for_user_id":"100","tweet_create_events":[
            {"id_str":"1","text":"@acme first"},
            {"id_str":"2","text":"bad \ud800 surrogate","user":{"id_str":"8"}},
            {"id_str":"3","text":"@acme kept","user":{"id_str":"8"}},
            {"id_str":4,"text":"number id","user":{"id_str":"8"}},
            "not an object"],
          "direct_message_events":[{"type":"message_create"},
            {"type":"message_create","id":"900","message_create":{"target":{"recipient_id":"100"},"sender_id":"8","message_data":{"text":"dm kept"}}}],
          "users":{"8":{"screen_name":"carol"},"9":{"screen_name":42}}}"#;
        let out = parse(body.as_bytes()).unwrap().normalise(now(), "r");
        let kept: Vec<_> = out.mentions.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(kept, vec!["3", "900"]);
        assert_eq!(out.mentions[1].author.handle.as_deref(), Some("carol"), "a bad profile costs only itself");
        assert_eq!(out.skipped.len(), 5, "{:?}", out.skipped);
        assert!(out.skipped.iter().all(|s| s.malformed));
        assert!(out.skipped.iter().all(|s| !s.reason.contains("surrogate") && !s.reason.contains("not an object")));
    }

    #[test]
    fn structurally_broken_deliveries_are_parse_errors_that_quote_nothing() {
        assert!(matches!(parse(b"{not json"), Err(ParseError::Json(_))));
        assert_eq!(parse(br#"{"tweet_create_events": []}"#).unwrap_err(), ParseError::MissingAccount);
        assert_eq!(parse(br#"{"for_user_id": 1}"#).unwrap_err(), ParseError::MissingAccount);
        assert_eq!(
            parse(br#"{"for_user_id":"1","tweet_create_events":{"id_str":"2"}}"#).unwrap_err(),
            ParseError::NotAList("tweet_create_events")
        );
        assert_eq!(
            parse(br#"{"for_user_id":"1","for_user_id":"2"}"#).unwrap_err(),
            ParseError::DuplicateKey("for_user_id".into())
        );
        let error = parse(br#"{"for_user_id":"1","tweet_create_events":[{"text":"secret words"]}"#).unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
        assert!(parse(b"[]").is_err() && parse(b"").is_err() && parse(b"\xff\xfe").is_err());
        // Null event lists are empty lists.
        assert!(parse(br#"{"for_user_id":"1","tweet_create_events":null}"#).is_ok());
    }
}
