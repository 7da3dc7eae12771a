//! The reply clients, one per platform, behind the outbox's and the processor's ports:
//! each message goes to the client of its channel, and a help-desk delivery to the help
//! desk (Zendesk, Freshdesk or a Standard Webhooks endpoint). A new channel is a field and an arm here.

use chrono::TimeDelta;

use super::bluesky::client::AwsBlueskyClient;
use super::generic::GenericClient;
use super::linkedin::LinkedInClient;
use super::mastodon::MastodonClient;
use super::meta::MetaClient;
use super::youtube::client::AwsYouTubeClient;
use crate::domain::mention::{Channel, Mention};
use crate::error::{Error, Result};
use crate::helpdesks::HelpDesks;
use crate::ports::{FetchedText, OutboxMessage, ReplySender, ReplyTarget, SendWindow, TextFetcher};

pub struct Outbound<X> {
    pub x: X,
    pub meta: MetaClient,
    pub linkedin: LinkedInClient,
    pub mastodon: MastodonClient,
    pub bluesky: AwsBlueskyClient,
    pub youtube: AwsYouTubeClient,
    pub sources: GenericClient,
    pub help_desks: HelpDesks,
}

impl<X> Outbound<X> {
    /// X's, Meta's and the help desks' clients as the function builds them, and the other
    /// channels' from the credentials and the environment (`LINKEDIN_*`).
    pub fn new(
        x: X,
        meta: MetaClient,
        bluesky: AwsBlueskyClient,
        youtube: AwsYouTubeClient,
        help_desks: HelpDesks,
        credentials: &crate::credentials::Credentials,
    ) -> Result<Self> {
        Ok(Outbound {
            x,
            meta,
            linkedin: LinkedInClient::from_env(credentials)?,
            mastodon: MastodonClient::new(credentials.mastodon.as_ref(), Default::default())?,
            bluesky,
            youtube,
            sources: GenericClient::new(&credentials.sources)?,
            help_desks,
        })
    }
}

impl<X: ReplySender> ReplySender for Outbound<X> {
    async fn send(&self, message: &OutboxMessage) -> Result<String> {
        if let ReplyTarget::Webhook { .. } = message.target {
            return self.help_desks.send(message).await;
        }
        match message.channel {
            Channel::X => self.x.send(message).await,
            Channel::Facebook | Channel::Instagram => self.meta.send(message).await,
            Channel::LinkedIn => self.linkedin.send(message).await,
            Channel::Mastodon => self.mastodon.send(message).await,
            Channel::Bluesky => self.bluesky.send(message).await,
            Channel::YouTube => self.youtube.send(message).await,
            // Refused before it is queued (`answer::agent_reply`); a record from elsewhere fails here.
            Channel::Reddit => Err(Error::Invalid("Hark does not post on Reddit".into())),
            Channel::Generic => self.sources.send(message).await,
        }
    }

    async fn find_sent(&self, message: &OutboxMessage, window: SendWindow) -> Result<Option<String>> {
        if let ReplyTarget::Webhook { .. } = message.target {
            return self.help_desks.find_sent(message, window).await;
        }
        match message.channel {
            Channel::X => self.x.find_sent(message, window).await,
            Channel::Facebook | Channel::Instagram => self.meta.find_sent(message, window).await,
            Channel::LinkedIn => self.linkedin.find_sent(message, window).await,
            Channel::Mastodon => self.mastodon.find_sent(message, window).await,
            Channel::Bluesky => self.bluesky.find_sent(message, window).await,
            Channel::YouTube => self.youtube.find_sent(message, window).await,
            Channel::Reddit => Ok(None),
            Channel::Generic => self.sources.find_sent(message, window).await,
        }
    }

    fn window(&self, message: &OutboxMessage) -> Option<TimeDelta> {
        if let ReplyTarget::Webhook { .. } = message.target {
            return None;
        }
        match message.channel {
            Channel::X => self.x.window(message),
            Channel::Facebook | Channel::Instagram => self.meta.window(message),
            Channel::LinkedIn
            | Channel::Mastodon
            | Channel::Bluesky
            | Channel::YouTube
            | Channel::Reddit
            | Channel::Generic => None,
        }
    }
}

impl<X: Send + Sync> TextFetcher for Outbound<X> {
    async fn fetch_text(&self, mention: &Mention) -> Result<FetchedText> {
        match mention.channel {
            Channel::Facebook | Channel::Instagram => self.meta.fetch_text(mention).await,
            Channel::LinkedIn => self.linkedin.fetch_text(mention).await,
            Channel::X
            | Channel::Mastodon
            | Channel::Bluesky
            | Channel::YouTube
            | Channel::Reddit
            | Channel::Generic => Err(Error::Invalid(format!("{} messages carry their text", mention.channel))),
        }
    }
}
