//! Acknowledgement texts. People spot repeated boilerplate, so each intent has several
//! templates and a message always gets the same one (stable across redeliveries).

use serde::Deserialize;

use crate::domain::classify::Intent;
use crate::domain::mention::Mention;

/// X counts up to 280 characters; keep well inside it after substitution.
const MAX_TEMPLATE_CHARS: usize = 220;
const MAX_NAME_CHARS: usize = 30;

#[derive(Debug, Clone, Deserialize)]
pub struct AckTemplates {
    complaint: Vec<String>,
    question: Vec<String>,
    /// For a public post that shows personal data: the answer moves the conversation to DMs.
    #[serde(default = "default_private")]
    private: Vec<String>,
    #[serde(skip)]
    signature: String,
}

fn default_private() -> Vec<String> {
    DEFAULT_PRIVATE.iter().map(|t| (*t).to_owned()).collect()
}

const DEFAULT_PRIVATE: &[&str] = &[
    "Hi {name}, please don't share personal details in public. Send us a DM and we'll sort this out there. {signature}",
    "{name}, for your security we've left your details out of this reply. Please DM us and we'll help from there. {signature}",
];

pub const DEFAULT_TEMPLATES_JSON: &str = r#"{
  "complaint": [
    "Hi {name}, I'm sorry about this. I'm looking into it now and will come back to you shortly. {signature}",
    "{name}, thanks for flagging this, and sorry for the trouble. I'm on it and will update you soon. {signature}",
    "Sorry to hear this, {name}. I've passed it to the team and will get back to you as soon as I can. {signature}"
  ],
  "question": [
    "Hi {name}, good question. Let me check and get back to you shortly. {signature}",
    "Thanks for asking, {name}. I'm finding out for you now and will reply soon. {signature}",
    "{name}, I'm checking on this for you and will follow up shortly. {signature}"
  ]
}"#;

impl AckTemplates {
    /// Parses and validates operator-supplied templates (`{"complaint":[..],"question":[..]}`).
    pub fn from_json(json: &str, signature: &str) -> Result<Self, String> {
        let mut templates: AckTemplates =
            serde_json::from_str(json).map_err(|e| format!("acknowledgement templates are not valid JSON: {e}"))?;
        for (intent, list) in
            [("complaint", &templates.complaint), ("question", &templates.question), ("private", &templates.private)]
        {
            if list.is_empty() {
                return Err(format!("no {intent} acknowledgement templates"));
            }
            if let Some(long) = list.iter().find(|t| t.chars().count() > MAX_TEMPLATE_CHARS) {
                return Err(format!("{intent} template longer than {MAX_TEMPLATE_CHARS} characters: {long:?}"));
            }
        }
        if signature.chars().count() > 20 {
            return Err("agent signature is longer than 20 characters".into());
        }
        templates.signature = signature.trim().to_owned();
        Ok(templates)
    }

    /// The acknowledgement for `mention`, or `None` when its intent gets none. A public post
    /// that shows personal data gets the move-to-DM text instead, which repeats nothing.
    pub fn render(&self, intent: Intent, mention: &Mention, personal_data_in_public: bool) -> Option<String> {
        let list = match intent {
            Intent::Complaint | Intent::Question if personal_data_in_public => &self.private,
            Intent::Complaint => &self.complaint,
            Intent::Question => &self.question,
            Intent::Praise | Intent::Feedback | Intent::Spam | Intent::Other => return None,
        };
        let template = &list[stable_index(&mention.message_id, list.len())];
        Some(fill(template, mention.author.name.as_deref(), mention.author.handle.as_deref(), &self.signature))
    }
}

/// `{name}` (the first name, or the handle) and `{signature}` filled in, spaces tidied.
fn fill(template: &str, name: Option<&str>, handle: Option<&str>, signature: &str) -> String {
    let name = name
        .and_then(|n| n.split_whitespace().next())
        .or(handle)
        .map(|n| n.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect::<String>())
        .filter(|n| !n.is_empty());
    let text = match name {
        Some(name) => template.replace("{name}", &name),
        None => without_name(template),
    };
    text.replace("{signature}", signature).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The default follow-up: the short public message that closes a thread.
pub const DEFAULT_FOLLOW_UP: &str =
    "Thanks for your patience, {name}. This is sorted now; we're here if you need anything else. {signature}";

/// Follow-ups per account, with a default for the others.
#[derive(Debug, Clone)]
pub struct FollowUpTemplates {
    default: String,
    per_account: std::collections::HashMap<String, String>,
    signature: String,
}

impl FollowUpTemplates {
    /// `default` and `per_account` (`{"<account id>": "<template>"}`) as the operator gives them.
    pub fn new(default: &str, per_account_json: &str, signature: &str) -> Result<Self, String> {
        let per_account: std::collections::HashMap<String, String> = serde_json::from_str(per_account_json)
            .map_err(|_| "follow-up templates must be a JSON object of account id to text".to_owned())?;
        for template in per_account.values().chain(std::iter::once(&default.to_owned())) {
            if template.trim().is_empty() || template.chars().count() > MAX_TEMPLATE_CHARS {
                return Err(format!("a follow-up template is 1 to {MAX_TEMPLATE_CHARS} characters: {template:?}"));
            }
        }
        Ok(FollowUpTemplates { default: default.to_owned(), per_account, signature: signature.trim().to_owned() })
    }

    pub fn render(&self, account: &str, name: Option<&str>, handle: Option<&str>) -> String {
        let template = self.per_account.get(account).unwrap_or(&self.default);
        fill(template, name, handle, &self.signature)
    }
}

/// The template for a customer whose name the platform does not give (Messenger sends only
/// an id): the name and its comma go, and the sentence still reads ("Hi, …", "Thanks, …").
fn without_name(template: &str) -> String {
    if let Some(rest) = template.strip_prefix("{name},").or(template.strip_prefix("{name}")) {
        let rest = rest.trim_start();
        let mut chars = rest.chars();
        return chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default();
    }
    template.replace(", {name}", "").replace(" {name}", "").replace("{name}", "")
}

fn stable_index(key: &str, len: usize) -> usize {
    (crate::stable_hash(key) % len as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::mention::{Author, Channel, Direction, MentionKind};
    use chrono::Utc;

    fn mention(id: &str, name: Option<&str>) -> Mention {
        Mention {
            channel: Channel::X,
            account_id: "1".into(),
            direction: Direction::Inbound,
            kind: MentionKind::Post,
            message_id: id.into(),
            parent_id: None,
            parent_author_id: None,
            quoted_id: None,
            author: Author {
                id: "2".into(),
                handle: Some("dana_x".into()),
                name: name.map(Into::into),
                followers: None,
                verified: false,
            },
            customer_id: "2".into(),
            text: "help".into(),
            language: None,
            created_at: Utc::now(),
            received_at: Utc::now(),
            raw_ref: "r".into(),
            action: Default::default(),
            standby: false,
            automated: None,
            text_source: None,
        }
    }

    #[test]
    fn renders_name_signature_and_is_stable_per_message() {
        let templates = AckTemplates::from_json(DEFAULT_TEMPLATES_JSON, "^KT").unwrap();
        let text = templates.render(Intent::Complaint, &mention("42", Some("Dana Smith")), false).unwrap();
        assert!(text.contains("Dana") && text.ends_with("^KT"), "{text}");
        assert!(!text.contains("Smith"));
        assert_eq!(Some(text), templates.render(Intent::Complaint, &mention("42", Some("Dana Smith")), false));
        let handle = templates.render(Intent::Question, &mention("43", None), false).unwrap();
        assert!(handle.contains("dana_x"), "{handle}");
        assert!(templates.render(Intent::Praise, &mention("44", None), false).is_none());
        let private = templates.render(Intent::Complaint, &mention("45", Some("Dana")), true).unwrap();
        assert!(private.contains("DM"), "{private}");
    }

    #[test]
    fn without_a_name_every_default_template_still_reads() {
        let templates = AckTemplates::from_json(DEFAULT_TEMPLATES_JSON, "^KT").unwrap();
        let mut nameless = mention("1", None);
        nameless.author.handle = None;
        let mut seen = std::collections::HashSet::new();
        for i in 0..60 {
            nameless.message_id = i.to_string();
            for (intent, private) in [(Intent::Complaint, false), (Intent::Question, false), (Intent::Complaint, true)]
            {
                let text = templates.render(intent, &nameless, private).unwrap();
                assert!(!text.contains("{name}") && !text.contains(" ,") && !text.contains(",."), "{text}");
                assert!(text.starts_with(|c: char| c.is_uppercase()), "{text}");
                seen.insert(text);
            }
        }
        assert!(
            seen.contains("Hi, I'm sorry about this. I'm looking into it now and will come back to you shortly. ^KT")
        );
        assert!(
            seen.contains(
                "Thanks for flagging this, and sorry for the trouble. I'm on it and will update you soon. ^KT"
            )
        );
        assert!(
            seen.contains(
                "Sorry to hear this. I've passed it to the team and will get back to you as soon as I can. ^KT"
            )
        );
    }

    #[test]
    fn different_messages_get_varied_wording() {
        let templates = AckTemplates::from_json(DEFAULT_TEMPLATES_JSON, "").unwrap();
        let distinct: std::collections::HashSet<_> = (0..30)
            .map(|i| templates.render(Intent::Complaint, &mention(&format!("{i}"), Some("Al")), false).unwrap())
            .collect();
        assert_eq!(distinct.len(), 3);
        assert!(distinct.iter().all(|t| !t.ends_with(' ')));
    }

    #[test]
    fn invalid_templates_are_refused_with_a_reason() {
        assert!(AckTemplates::from_json("[]", "").unwrap_err().contains("JSON"));
        assert!(AckTemplates::from_json(r#"{"complaint":[],"question":["q"]}"#, "").unwrap_err().contains("complaint"));
        let long = format!(r#"{{"complaint":["{}"],"question":["q"]}}"#, "a".repeat(300));
        assert!(AckTemplates::from_json(&long, "").is_err());
    }

    #[test]
    fn follow_ups_are_per_account_with_a_default_and_name_the_customer() {
        let templates = FollowUpTemplates::new(
            DEFAULT_FOLLOW_UP,
            r#"{"17841400000000001": "All done, {name}! {signature}"}"#,
            "^HK",
        )
        .unwrap();
        assert_eq!(templates.render("17841400000000001", Some("Ana Bell"), None), "All done, Ana! ^HK");
        let default = templates.render("2244994945", None, Some("dana_x"));
        assert!(default.starts_with("Thanks for your patience, dana_x.") && default.ends_with("^HK"), "{default}");
        let nameless = templates.render("2244994945", None, None);
        assert!(nameless.starts_with("Thanks for your patience. This"), "{nameless}");
        assert!(FollowUpTemplates::new("", "{}", "").is_err());
        assert!(FollowUpTemplates::new(DEFAULT_FOLLOW_UP, "[1]", "").is_err());
        assert!(FollowUpTemplates::new(&"a".repeat(300), "{}", "").is_err());
    }
}
