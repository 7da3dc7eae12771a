//! How each channel answers a message automatically: where the acknowledgement goes, and
//! whether its wording must move the customer to a private channel. Pure.

use crate::domain::agent_reply::Visibility;
use crate::domain::mention::{Channel, Direction, Mention, MentionKind, TextSource};
use crate::ports::ReplyTarget;

/// Which acknowledgement text fits where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    /// The usual answer to the message's intent.
    Usual,
    /// A public answer to a public post that showed personal data: it asks the customer to
    /// write privately and repeats nothing.
    MoveToPrivate,
}

/// Where Hark's acknowledgement of `mention` goes, and in which wording; `None` when the
/// message must not be answered automatically (another app owns the conversation).
pub fn acknowledgement(mention: &Mention, personal_data_in_public: bool) -> Option<(ReplyTarget, Wording)> {
    if mention.standby || mention.direction != Direction::Inbound {
        return None;
    }
    let id = mention.message_id.clone();
    if mention.kind.is_private() {
        return Some((ReplyTarget::Direct { participant_id: mention.customer_id.clone() }, Wording::Usual));
    }
    match mention.channel {
        // X has no private reply, a LinkedIn organisation cannot message a member,
        // Bluesky's chats are not open to an app password, and YouTube has no messages: a
        // public answer that asks to continue privately.
        Channel::X | Channel::LinkedIn | Channel::Bluesky | Channel::YouTube => {
            let wording = if personal_data_in_public { Wording::MoveToPrivate } else { Wording::Usual };
            Some((ReplyTarget::Post { in_reply_to: id }, wording))
        }
        Channel::Facebook | Channel::Instagram => meta(mention, id, personal_data_in_public),
        // A source takes private answers (its app shows them to the customer alone), and
        // Mastodon has private mentions.
        Channel::Mastodon | Channel::Generic if personal_data_in_public => {
            Some((ReplyTarget::Direct { participant_id: mention.customer_id.clone() }, Wording::Usual))
        }
        Channel::Mastodon | Channel::Generic => Some((ReplyTarget::Post { in_reply_to: id }, Wording::Usual)),
        // Reddit's communities remove and ban brands' automated replies: never answered.
        Channel::Reddit => None,
    }
}

fn meta(mention: &Mention, id: String, personal_data_in_public: bool) -> Option<(ReplyTarget, Wording)> {
    if let Some(TextSource::InstagramMention { media_id, comment_id }) = &mention.text_source {
        // Someone else's media: only the mentions edge can answer there, and only in public.
        let wording = if personal_data_in_public { Wording::MoveToPrivate } else { Wording::Usual };
        let target = ReplyTarget::InstagramMention { media_id: media_id.clone(), comment_id: comment_id.clone() };
        return Some((target, wording));
    }
    if personal_data_in_public {
        // Meta's private reply answers in Messenger or Instagram Direct, so the usual words
        // fit, and nothing personal is answered in public.
        let target = match (mention.channel, mention.kind) {
            (Channel::Facebook, MentionKind::Post) => ReplyTarget::PrivateReplyToPost { post_id: id },
            _ => ReplyTarget::PrivateReply { comment_id: id },
        };
        return Some((target, Wording::Usual));
    }
    let in_reply_to = match (mention.channel, &mention.parent_id) {
        // Instagram threads are one level deep and `/replies` takes top-level comments only:
        // a reply to a reply goes to the comment at the top. A top-level comment's parent is
        // the account's own media (whose author the parser names as the account).
        (Channel::Instagram, Some(parent)) if mention.parent_author_id.as_deref() != Some(&mention.account_id) => {
            parent.clone()
        }
        _ => id,
    };
    Some((ReplyTarget::Post { in_reply_to }, Wording::Usual))
}

/// What an agent answers: the conversation and its customer's latest message.
#[derive(Debug, Clone, Copy)]
pub struct Answering<'a> {
    pub channel: Channel,
    /// A DM conversation: every answer is a DM, whatever the visibility asked.
    pub direct: bool,
    pub customer_id: &'a str,
    /// The message the public thread is anchored on (its first post or top-level comment).
    pub anchor_id: &'a str,
    /// The customer's latest message, and whether it is a post (not a comment).
    pub latest_id: &'a str,
    pub latest_is_post: bool,
}

/// Where an agent's reply goes: in the thread, under the customer's latest message, or
/// privately, by DM or Meta's private reply. `Err` says why it cannot go anywhere.
pub fn agent_reply(answering: &Answering<'_>, visibility: Visibility) -> Result<ReplyTarget, &'static str> {
    let a = answering;
    if a.direct {
        return Ok(ReplyTarget::Direct { participant_id: a.customer_id.to_owned() });
    }
    if a.channel == Channel::Instagram && a.customer_id.starts_with("mention:") {
        // Someone else's media, whose author Hark never learned: answer it on Instagram.
        return Err("an Instagram @mention on someone else's media cannot be answered through Hark");
    }
    let latest = a.latest_id.to_owned();
    Ok(match (a.channel, visibility) {
        (
            Channel::X
            | Channel::Facebook
            | Channel::LinkedIn
            | Channel::Mastodon
            | Channel::Bluesky
            | Channel::YouTube
            | Channel::Generic,
            Visibility::Public,
        ) => ReplyTarget::Post { in_reply_to: latest },
        // `/replies` takes top-level comments only: the thread's anchor is one.
        (Channel::Instagram, Visibility::Public) => ReplyTarget::Post { in_reply_to: a.anchor_id.to_owned() },
        (Channel::X | Channel::Mastodon | Channel::Generic, Visibility::Private) => {
            ReplyTarget::Direct { participant_id: a.customer_id.to_owned() }
        }
        (Channel::Reddit, _) => {
            return Err("Hark does not post on Reddit: answer in the thread yourself, within the community's rules");
        }
        (Channel::LinkedIn, Visibility::Private) => {
            return Err("a LinkedIn organisation cannot message a member privately: answer in public");
        }
        (Channel::Bluesky, Visibility::Private) => {
            return Err("Hark cannot open a Bluesky chat: answer in public, or write to the customer there yourself");
        }
        (Channel::YouTube, Visibility::Private) => {
            return Err("YouTube has no private messages: answer in the comment thread");
        }
        (Channel::Facebook, Visibility::Private) if a.latest_is_post => {
            ReplyTarget::PrivateReplyToPost { post_id: latest }
        }
        (Channel::Facebook | Channel::Instagram, Visibility::Private) => {
            ReplyTarget::PrivateReply { comment_id: latest }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mention(channel: Channel, kind: MentionKind, parent: Option<&str>, parent_author: Option<&str>) -> Mention {
        Mention {
            kind,
            parent_id: parent.map(Into::into),
            parent_author_id: parent_author.map(Into::into),
            text: "where is my order".into(),
            ..crate::channels::testing::mention(channel, "100", "m1")
        }
    }

    #[test]
    fn each_channel_answers_where_its_rules_allow() {
        use MentionKind::*;
        use ReplyTarget as T;
        use Wording::*;
        let post = |id: &str| T::Post { in_reply_to: id.into() };
        let mut ig_mention = mention(Channel::Instagram, Reply, Some("media1"), None);
        ig_mention.text_source =
            Some(TextSource::InstagramMention { media_id: "media1".into(), comment_id: Some("m1".into()) });
        let mention_target = T::InstagramMention { media_id: "media1".into(), comment_id: Some("m1".into()) };
        type Case = (&'static str, Mention, bool, Option<(ReplyTarget, Wording)>);
        let cases: Vec<Case> = vec![
            ("X post", mention(Channel::X, Post, None, None), false, Some((post("m1"), Usual))),
            (
                "X post with personal data",
                mention(Channel::X, Post, None, None),
                true,
                Some((post("m1"), MoveToPrivate)),
            ),
            (
                "X DM",
                mention(Channel::X, DirectMessage, None, None),
                true,
                Some((T::Direct { participant_id: "7".into() }, Usual)),
            ),
            (
                "Facebook comment",
                mention(Channel::Facebook, Reply, Some("100_1"), Some("100")),
                false,
                Some((post("m1"), Usual)),
            ),
            (
                "Facebook comment with personal data: a private reply",
                mention(Channel::Facebook, Reply, Some("100_1"), Some("100")),
                true,
                Some((T::PrivateReply { comment_id: "m1".into() }, Usual)),
            ),
            (
                "Facebook visitor post with personal data",
                mention(Channel::Facebook, Post, None, None),
                true,
                Some((T::PrivateReplyToPost { post_id: "m1".into() }, Usual)),
            ),
            (
                "Messenger",
                mention(Channel::Facebook, DirectMessage, None, None),
                false,
                Some((T::Direct { participant_id: "7".into() }, Usual)),
            ),
            (
                "Instagram top-level comment",
                mention(Channel::Instagram, Reply, Some("media1"), Some("100")),
                false,
                Some((post("m1"), Usual)),
            ),
            (
                "Instagram reply to a comment goes to the top-level one",
                mention(Channel::Instagram, Reply, Some("c0"), None),
                false,
                Some((post("c0"), Usual)),
            ),
            ("Instagram @mention", ig_mention.clone(), false, Some((mention_target.clone(), Usual))),
            ("Instagram @mention with personal data", ig_mention, true, Some((mention_target, MoveToPrivate))),
            (
                "LinkedIn comment",
                mention(Channel::LinkedIn, Reply, Some("urn:li:activity:1"), None),
                false,
                Some((post("m1"), Usual)),
            ),
            (
                "LinkedIn comment with personal data: in public, asking to move",
                mention(Channel::LinkedIn, Reply, Some("urn:li:activity:1"), None),
                true,
                Some((post("m1"), MoveToPrivate)),
            ),
            ("A source's message", mention(Channel::Generic, Post, None, None), false, Some((post("m1"), Usual))),
            ("A Mastodon mention", mention(Channel::Mastodon, Post, None, None), false, Some((post("m1"), Usual))),
            ("A Bluesky mention", mention(Channel::Bluesky, Post, None, None), false, Some((post("m1"), Usual))),
            (
                "A Bluesky mention with personal data: in public, asking to move",
                mention(Channel::Bluesky, Post, None, None),
                true,
                Some((post("m1"), MoveToPrivate)),
            ),
            (
                "A YouTube comment",
                mention(Channel::YouTube, Reply, Some("UgzThread"), None),
                false,
                Some((post("m1"), Usual)),
            ),
            ("A Reddit post is never answered automatically", mention(Channel::Reddit, Post, None, None), false, None),
            (
                "A Mastodon mention with personal data: a private mention",
                mention(Channel::Mastodon, Post, None, None),
                true,
                Some((T::Direct { participant_id: "7".into() }, Usual)),
            ),
            (
                "A source's public message with personal data: answered privately",
                mention(Channel::Generic, Post, None, None),
                true,
                Some((T::Direct { participant_id: "7".into() }, Usual)),
            ),
        ];
        for (label, m, personal, expected) in cases {
            assert_eq!(acknowledgement(&m, personal), expected, "{label}");
        }
    }

    #[test]
    fn standby_and_outbound_messages_are_never_answered() {
        let mut standby = mention(Channel::Facebook, MentionKind::DirectMessage, None, None);
        standby.standby = true;
        assert_eq!(acknowledgement(&standby, false), None);
        let mut ours = mention(Channel::Facebook, MentionKind::Reply, Some("100_1"), None);
        ours.direction = Direction::Outbound;
        assert_eq!(acknowledgement(&ours, false), None);
    }

    #[test]
    fn an_agent_s_reply_goes_where_the_channel_lets_a_person_answer() {
        let public = |channel, latest_is_post| Answering {
            channel,
            direct: false,
            customer_id: "42",
            anchor_id: "top",
            latest_id: "latest",
            latest_is_post,
        };
        let post = |id: &str| Ok(ReplyTarget::Post { in_reply_to: id.into() });
        let dm = Ok(ReplyTarget::Direct { participant_id: "42".into() });
        use Visibility::{Private, Public};
        assert_eq!(agent_reply(&public(Channel::X, false), Public), post("latest"));
        assert_eq!(agent_reply(&public(Channel::X, false), Private), dm);
        assert_eq!(agent_reply(&public(Channel::Facebook, false), Public), post("latest"));
        assert_eq!(
            agent_reply(&public(Channel::Facebook, false), Private),
            Ok(ReplyTarget::PrivateReply { comment_id: "latest".into() })
        );
        assert_eq!(
            agent_reply(&public(Channel::Facebook, true), Private),
            Ok(ReplyTarget::PrivateReplyToPost { post_id: "latest".into() })
        );
        assert_eq!(agent_reply(&public(Channel::Instagram, false), Public), post("top"), "top-level comments only");
        assert_eq!(
            agent_reply(&public(Channel::Instagram, false), Private),
            Ok(ReplyTarget::PrivateReply { comment_id: "latest".into() })
        );
        assert_eq!(agent_reply(&public(Channel::LinkedIn, false), Public), post("latest"));
        assert!(agent_reply(&public(Channel::Reddit, false), Public).is_err(), "answered on Reddit by hand");
        assert!(agent_reply(&public(Channel::LinkedIn, false), Private).is_err(), "no private messages");
        assert_eq!(agent_reply(&public(Channel::Generic, false), Public), post("latest"));
        assert_eq!(agent_reply(&public(Channel::Generic, false), Private), dm);
        let named_like_a_mention = Answering { customer_id: "mention:7", ..public(Channel::Generic, false) };
        assert_eq!(agent_reply(&named_like_a_mention, Public), post("latest"), "a source names customers freely");
        for channel in [Channel::X, Channel::Facebook, Channel::Instagram, Channel::Generic] {
            for visibility in [Public, Private] {
                let direct = Answering { direct: true, ..public(channel, false) };
                assert_eq!(agent_reply(&direct, visibility), dm, "{channel} DMs are answered by DM");
            }
        }
        let mention = Answering { customer_id: "mention:1789", ..public(Channel::Instagram, false) };
        assert!(agent_reply(&mention, Public).is_err());
    }
}
