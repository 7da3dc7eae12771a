//! The channels: one folder per platform, each with its inbound side (the webhook routes it
//! answers, its challenge handshake, verification of the raw bytes, and pure parsing into
//! mentions) and its outbound side (the reply client).

pub mod answer;
pub mod bluesky;
#[cfg(all(test, feature = "aws"))]
mod canned;
pub mod feed;
pub mod generic;
pub mod json;
pub mod linkedin;
pub mod mastodon;
pub mod meta;
#[cfg(feature = "aws")]
mod outbound;
pub mod reddit;
#[cfg(test)]
pub(crate) mod testing;
pub mod x;
pub mod youtube;

#[cfg(feature = "aws")]
pub use outbound::Outbound;

use chrono::{DateTime, Utc};

use crate::credentials::Credentials;
use crate::domain::mention::Mention;

/// A webhook request as a channel sees it: `/webhooks/{channel}[/{account}]`.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// The URL's last segment, when it names one (an account, or for Meta an app).
    pub account: Option<&'a str>,
    pub query: &'a [(String, String)],
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    pub received_at: DateTime<Utc>,
    /// Names the request in each mention's `raw_ref`.
    pub request_id: &'a str,
}

impl<'a> WebhookRequest<'a> {
    pub fn query(&self, name: &str) -> Option<&'a str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How a channel answers its handshake.
#[derive(Debug, Clone, PartialEq)]
pub enum ChallengeAnswer {
    Json(serde_json::Value),
    Text(String),
}

/// Why a channel refused a request. The webhook function turns each into a status in one
/// place; before verification nothing specific is ever told to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    /// The request is not provably the platform's. Answered with a uniform 401.
    #[error("unauthorized: {0}")]
    Unauthenticated(String),
    /// A handshake with the wrong token (Meta expects 403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A handshake that is not one.
    #[error("invalid challenge: {0}")]
    InvalidChallenge(String),
    /// The URL names an account in a form no platform uses.
    #[error("the webhook URL names an invalid account")]
    InvalidAccount,
    /// Signed, but not a delivery this channel can read, or not for the URL's account.
    #[error("malformed delivery: {0}")]
    Malformed(String),
}

/// A body whose signature checked out. Only a channel's `verify` makes one, and `normalise`
/// takes only this: nothing is parsed before it is verified.
#[derive(Debug, Clone, Copy)]
pub struct Verified<'a> {
    body: &'a [u8],
    /// Whose secret signed it: an X account, a Meta app, LinkedIn, or a source.
    signer: &'a str,
}

impl<'a> Verified<'a> {
    pub(crate) fn new(body: &'a [u8], signer: &'a str) -> Self {
        Verified { body, signer }
    }

    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    pub fn signer(&self) -> &'a str {
        self.signer
    }
}

/// A platform's inbound side.
pub trait InboundChannel: Send + Sync {
    /// `GET`: the subscription handshake.
    fn answer_challenge(&self, request: &WebhookRequest<'_>) -> Result<ChallengeAnswer, InboundError>;
    /// `POST`: the signature over the raw bytes, and nothing else.
    fn verify<'a>(&'a self, request: &WebhookRequest<'a>) -> Result<Verified<'a>, InboundError>;
    /// The verified body's events, each read on its own.
    fn normalise(&self, verified: Verified<'_>, request: &WebhookRequest<'_>) -> Result<Normalised, InboundError>;
}

/// The channels the webhook answers for. A new channel is a folder and a line here.
pub struct Inbound {
    x: x::XInbound,
    meta: meta::MetaInbound,
    linkedin: linkedin::LinkedInInbound,
    generic: generic::GenericInbound,
}

impl Inbound {
    pub fn new(credentials: &Credentials) -> Self {
        Inbound {
            x: x::XInbound::new(&credentials.x),
            meta: meta::MetaInbound::new(&credentials.meta),
            linkedin: linkedin::LinkedInInbound::new(credentials.linkedin.as_ref()),
            generic: generic::GenericInbound::new(&credentials.sources),
        }
    }

    /// The channel a `/webhooks/{name}` URL names.
    pub fn channel(&self, name: &str) -> Option<&dyn InboundChannel> {
        match name {
            "x" => Some(&self.x),
            "meta" => Some(&self.meta),
            "linkedin" => Some(&self.linkedin),
            "generic" => Some(&self.generic),
            _ => None,
        }
    }

    /// Verifies, then normalises: the one way a delivery is read.
    pub fn receive(channel: &dyn InboundChannel, request: &WebhookRequest<'_>) -> Result<Normalised, InboundError> {
        let verified = channel.verify(request)?;
        channel.normalise(verified, request)
    }
}

/// An event that did not become a mention, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The event could not be read (bad shape, invalid id, no text): worth a warning.
    /// Otherwise it was read and is deliberately ignored (a retweet, the brand's own post).
    pub malformed: bool,
    pub reason: String,
}

impl Skipped {
    pub(crate) fn malformed(reason: String) -> Self {
        Skipped { malformed: true, reason }
    }
    pub(crate) fn ignored(reason: String) -> Self {
        Skipped { malformed: false, reason }
    }
}

/// What a delivery turned into: mentions to enqueue, and what was skipped and why.
#[derive(Debug, Default)]
pub struct Normalised {
    pub mentions: Vec<Mention>,
    pub skipped: Vec<Skipped>,
}

impl Normalised {
    pub(crate) fn push(&mut self, outcome: Result<Mention, Skipped>) {
        match outcome {
            // Every thread, clock and reply is keyed by the customer: one who is the account
            // itself (a body naming the account as a post's parent, say) would have Hark
            // answering itself. No platform sends that; a crafted body might.
            Ok(mention) if mention.customer_id == mention.account_id => self.skipped.push(Skipped::ignored(format!(
                "message {} would make {} its own customer",
                shown(&mention.message_id),
                shown(&mention.account_id)
            ))),
            Ok(mention) => self.mentions.push(mention),
            Err(skipped) => self.skipped.push(skipped),
        }
    }
}

/// A value from a body, quoted for a log line: bounded, so a hostile value cannot flood logs.
pub(crate) fn shown(value: &str) -> String {
    let mut shown: String = value.chars().take(24).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    format!("{shown:?}")
}
