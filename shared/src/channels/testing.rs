//! What every channel's table-driven tests share: fixtures from the channel's `testdata/`,
//! and one line per mention that says what the processor will act on.

use crate::domain::mention::Mention;

/// `src/channels/{channel}/testdata/{name}`, as bytes (signatures are over exact bytes).
pub fn fixture(channel: &str, name: &str) -> Vec<u8> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/channels").join(channel).join("testdata").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One line per event: what the processor will act on.
pub fn line(m: &Mention) -> String {
    let mut line = format!(
        "{} {} {:?} {:?} {} parent={} customer={} {:?}",
        m.channel,
        m.account_id,
        m.kind,
        m.direction,
        m.message_id,
        m.parent_id.as_deref().unwrap_or("-"),
        m.customer_id,
        m.action
    );
    if m.standby {
        line.push_str(" standby");
    }
    if let Some(automated) = m.automated {
        line.push_str(&format!(" automated={automated}"));
    }
    if m.text_source.is_some() {
        line.push_str(" fetch-text");
    }
    line
}

/// A customer's public message `id` on `account`, with nothing else said about it.
pub fn mention(channel: crate::domain::mention::Channel, account: &str, id: &str) -> Mention {
    use crate::domain::mention::{Author, Direction, MentionKind, MessageAction};
    let at = chrono::Utc::now();
    Mention {
        channel,
        account_id: account.to_owned(),
        direction: Direction::Inbound,
        kind: MentionKind::Reply,
        message_id: id.to_owned(),
        parent_id: None,
        parent_author_id: None,
        quoted_id: None,
        author: Author { id: "7".into(), handle: None, name: None, followers: None, verified: false },
        customer_id: "7".into(),
        text: String::new(),
        language: None,
        created_at: at,
        received_at: at,
        raw_ref: "r".into(),
        action: MessageAction::Created,
        standby: false,
        automated: None,
        text_source: None,
        listening: false,
    }
}
