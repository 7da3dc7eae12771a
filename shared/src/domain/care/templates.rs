//! The texts Hark writes on its own: acknowledgements (with an off-hours variant that says
//! when a person will answer), the move-to-DM answer, and thanks for praise, gratitude and
//! feedback. Per account, channel, language and business hours, each with variants.
//!
//! People spot repeated boilerplate, and X refuses a post identical to a recent one: a
//! message always gets the same template (stable across redeliveries), a customer never
//! the same one twice in a row nor twice within an hour, and every thank-you names its
//! customer, so two customers never get the same text.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;

use crate::domain::mention::{Channel, Mention};
use crate::domain::reply::fill;

/// X counts up to 280 characters; keep well inside it after substitution.
const MAX_TEMPLATE_CHARS: usize = 220;
const MAX_SIGNATURE_CHARS: usize = 20;
/// A customer is not given the same thank-you twice within this.
pub const REPEAT_WINDOW: TimeDelta = TimeDelta::hours(1);

/// What a template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateKind {
    Complaint,
    Question,
    /// A public post that shows personal data: the answer moves the conversation to DMs.
    Private,
    Praise,
    /// Thanks with no praise ("Thanks for the update"): "you're welcome".
    Gratitude,
    /// A suggestion: thanks, and it was passed on.
    Feedback,
}

impl TemplateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Complaint => "complaint",
            TemplateKind::Question => "question",
            TemplateKind::Private => "private",
            TemplateKind::Praise => "praise",
            TemplateKind::Gratitude => "gratitude",
            TemplateKind::Feedback => "feedback",
        }
    }

    /// A thank-you: it must name the customer (see the module's notes).
    pub fn is_thanks(self) -> bool {
        matches!(self, TemplateKind::Praise | TemplateKind::Gratitude | TemplateKind::Feedback)
    }
}

/// One level of texts; any list may be missing, and is then looked up further out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateSet {
    #[serde(default)]
    complaint: Vec<String>,
    #[serde(default)]
    question: Vec<String>,
    #[serde(default)]
    private: Vec<String>,
    #[serde(default)]
    praise: Vec<String>,
    #[serde(default)]
    gratitude: Vec<String>,
    #[serde(default)]
    feedback: Vec<String>,
    /// Used while the team is off: acknowledgements here say `{when}` it is back.
    #[serde(default)]
    closed: Option<Box<TemplateSet>>,
}

impl TemplateSet {
    fn list(&self, kind: TemplateKind) -> &[String] {
        match kind {
            TemplateKind::Complaint => &self.complaint,
            TemplateKind::Question => &self.question,
            TemplateKind::Private => &self.private,
            TemplateKind::Praise => &self.praise,
            TemplateKind::Gratitude => &self.gratitude,
            TemplateKind::Feedback => &self.feedback,
        }
    }

    fn lists(&self) -> impl Iterator<Item = (TemplateKind, &Vec<String>)> {
        [
            (TemplateKind::Complaint, &self.complaint),
            (TemplateKind::Question, &self.question),
            (TemplateKind::Private, &self.private),
            (TemplateKind::Praise, &self.praise),
            (TemplateKind::Gratitude, &self.gratitude),
            (TemplateKind::Feedback, &self.feedback),
        ]
        .into_iter()
    }

    fn check(&self, path: &str, closed: bool) -> Result<(), String> {
        for (kind, list) in self.lists() {
            for template in list {
                let n = template.chars().count();
                if n == 0 || n > MAX_TEMPLATE_CHARS {
                    return Err(format!(
                        "{path}{}: a template is 1 to {MAX_TEMPLATE_CHARS} characters: {template:?}",
                        kind.as_str()
                    ));
                }
                if kind.is_thanks() && !template.contains("{name}") {
                    return Err(format!(
                        "{path}{}: a thank-you names the customer ({{name}}), so two customers never get the same post: {template:?}",
                        kind.as_str()
                    ));
                }
                if closed
                    && matches!(kind, TemplateKind::Complaint | TemplateKind::Question)
                    && !template.contains("{when}")
                {
                    return Err(format!(
                        "{path}closed.{}: an off-hours acknowledgement says {{when}} a person will answer: {template:?}",
                        kind.as_str()
                    ));
                }
                if !closed && template.contains("{when}") {
                    return Err(format!(
                        "{path}{}: {{when}} only exists in \"closed\" templates: {template:?}",
                        kind.as_str()
                    ));
                }
            }
        }
        match &self.closed {
            Some(_) if closed => Err(format!("{path}closed: \"closed\" does not nest")),
            Some(set) => set.check(path, true),
            None => Ok(()),
        }
    }
}

/// Every text of one account, looked up by kind, channel, language and whether the team is in.
#[derive(Debug, Clone)]
pub struct CareTemplates {
    base: TemplateSet,
    channels: HashMap<Channel, TemplateSet>,
    languages: HashMap<String, TemplateSet>,
    signature: String,
}

/// The configuration's shape: a set, plus sets per channel and per language.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplatesJson {
    #[serde(default)]
    complaint: Vec<String>,
    #[serde(default)]
    question: Vec<String>,
    #[serde(default)]
    private: Vec<String>,
    #[serde(default)]
    praise: Vec<String>,
    #[serde(default)]
    gratitude: Vec<String>,
    #[serde(default)]
    feedback: Vec<String>,
    #[serde(default)]
    closed: Option<Box<TemplateSet>>,
    #[serde(default)]
    channels: HashMap<String, TemplateSet>,
    #[serde(default)]
    languages: HashMap<String, TemplateSet>,
}

impl TemplatesJson {
    fn split(self) -> (TemplateSet, HashMap<String, TemplateSet>, HashMap<String, TemplateSet>) {
        let base = TemplateSet {
            complaint: self.complaint,
            question: self.question,
            private: self.private,
            praise: self.praise,
            gratitude: self.gratitude,
            feedback: self.feedback,
            closed: self.closed,
        };
        (base, self.channels, self.languages)
    }
}

/// Hark's own texts, used for whatever an account does not set.
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
  ],
  "private": [
    "Hi {name}, please don't share personal details in public. Send us a DM and we'll sort this out there. {signature}",
    "{name}, for your security we've left your details out of this reply. Please DM us and we'll help from there. {signature}"
  ],
  "praise": [
    "Thank you so much, {name}! That's lovely to hear, and I'll pass it on to the team. {signature}",
    "{name}, this made our day. Thanks for taking the time to tell us! {signature}",
    "Thanks, {name}! We're really glad it went well. {signature}",
    "That's great to hear, {name}. Thank you for the kind words! {signature}"
  ],
  "gratitude": [
    "You're welcome, {name}! {signature}",
    "Any time, {name}. Glad we could help. {signature}",
    "Happy to help, {name}! {signature}"
  ],
  "feedback": [
    "Thanks for the suggestion, {name}. I've passed it on to the team who look after this. {signature}",
    "{name}, thank you, that's useful. I've shared it with the team. {signature}",
    "Good idea, {name}. I've passed it on; thanks for helping us get better. {signature}"
  ],
  "closed": {
    "complaint": [
      "Hi {name}, sorry about this. Our team is away right now and will pick it up {when}. {signature}",
      "{name}, thanks for telling us, and sorry for the trouble. A member of the team will answer {when}. {signature}"
    ],
    "question": [
      "Hi {name}, thanks for your question. Our team is away right now and will answer {when}. {signature}",
      "{name}, we've got your message. The team is back {when} and will reply then. {signature}"
    ]
  }
}"#;

/// What a rendered text is, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Names the template (a hash of its text), to keep a customer from getting it twice.
    pub template_id: String,
    pub text: String,
}

/// Which text is wanted, and what it may say besides the name and the signature.
#[derive(Debug, Clone, Copy)]
pub struct Want<'a> {
    pub kind: TemplateKind,
    /// The message's language, when known well enough to answer in it.
    pub language: Option<&'a str>,
    /// The team is off: off-hours texts first.
    pub closed: bool,
    /// When a person will answer ("tomorrow at 09:00 GMT"), for off-hours texts.
    pub when: Option<&'a str>,
}

impl Want<'_> {
    pub fn open(kind: TemplateKind) -> Self {
        Want { kind, language: None, closed: false, when: None }
    }
}

impl CareTemplates {
    /// Hark's defaults, under `json` (an account's or the stack's texts; any key may be
    /// left out). The old shape (`{"complaint": [...], "question": [...]}`) still reads.
    pub fn from_json(json: &str, signature: &str) -> Result<Self, String> {
        let defaults: TemplatesJson = serde_json::from_str(DEFAULT_TEMPLATES_JSON).expect("the defaults parse");
        let given: TemplatesJson = if json.trim().is_empty() {
            TemplatesJson::default()
        } else {
            let shape = |e: String| format!("templates are not valid JSON of the documented shape: {e}");
            let value: serde_json::Value = serde_json::from_str(json).map_err(|e| shape(e.to_string()))?;
            if !value.is_object() {
                return Err(shape("expected an object".into()));
            }
            serde_json::from_value(value).map_err(|e| shape(e.to_string()))?
        };
        let (base, given_channels, given_languages) = given.split();
        base.check("", false)?;
        let mut channels = HashMap::new();
        for (name, set) in given_channels {
            let channel = Channel::parse(&name).ok_or_else(|| format!("channels.{name}: not a channel Hark serves"))?;
            set.check(&format!("channels.{name}."), false)?;
            channels.insert(channel, set);
        }
        for (code, set) in &given_languages {
            if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(format!("languages.{code}: a language is an ISO 639-1 code like \"es\""));
            }
            set.check(&format!("languages.{code}."), false)?;
        }
        let signature = signature.trim();
        if signature.chars().count() > MAX_SIGNATURE_CHARS {
            return Err(format!("the signature is longer than {MAX_SIGNATURE_CHARS} characters: {signature:?}"));
        }
        Ok(CareTemplates {
            base: merge(base, defaults.split().0),
            channels,
            languages: given_languages,
            signature: signature.to_owned(),
        })
    }

    /// The account's signature, for texts written outside these templates.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    pub fn defaults(signature: &str) -> Self {
        CareTemplates::from_json("", signature).expect("the defaults are valid")
    }

    /// The variants for `kind`, most specific first: while closed, the off-hours texts of
    /// the language, the channel and the account; then the language's, the channel's and
    /// the account's own.
    fn candidates(&self, kind: TemplateKind, channel: Channel, language: Option<&str>, closed: bool) -> &[String] {
        let language = language.and_then(|code| self.languages.get(code));
        let channel = self.channels.get(&channel);
        let levels = [language, channel, Some(&self.base)];
        let closed_lists = levels.iter().flatten().filter_map(|set| set.closed.as_deref()).map(|set| set.list(kind));
        let open_lists = levels.iter().flatten().map(|set| set.list(kind));
        let mut lists: Box<dyn Iterator<Item = &[String]>> =
            if closed { Box::new(closed_lists.chain(open_lists)) } else { Box::new(open_lists) };
        lists.find(|list| !list.is_empty()).unwrap_or(&[])
    }

    /// The text for `mention`: the variant its message id picks, moved on past any this
    /// customer was given within the hour (`recent`, template id → when). `None` when no
    /// variant is left, or a thank-you has no one to name.
    pub fn render(
        &self,
        want: Want<'_>,
        mention: &Mention,
        recent: &HashMap<String, DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<Rendered> {
        let Want { kind, language, closed, when } = want;
        let (name, handle) = (mention.author.name.as_deref(), mention.author.handle.as_deref());
        if kind.is_thanks() && name.is_none_or(|n| n.trim().is_empty()) && handle.is_none() {
            return None;
        }
        let list = self.candidates(kind, mention.channel, language, closed);
        let when = when.unwrap_or("soon");
        let last = recent.iter().max_by_key(|(_, at)| **at).map(|(id, _)| id.as_str());
        let start = (crate::stable_hash(&mention.message_id) % list.len().max(1) as u64) as usize;
        (0..list.len()).map(|i| &list[(start + i) % list.len()]).find_map(|template| {
            let template_id = template_id(template);
            let used_recently = recent.get(&template_id).is_some_and(|at| now - *at < REPEAT_WINDOW);
            if kind.is_thanks() && (used_recently || last == Some(template_id.as_str())) {
                return None;
            }
            let text = fill(&template.replace("{when}", when), name, handle, &self.signature);
            Some(Rendered { template_id, text })
        })
    }
}

fn template_id(template: &str) -> String {
    format!("{:08x}", crate::stable_hash(template) as u32)
}

/// `given`'s lists where it has them, the defaults' elsewhere; the same for "closed".
fn merge(given: TemplateSet, defaults: TemplateSet) -> TemplateSet {
    let pick = |given: Vec<String>, default: Vec<String>| if given.is_empty() { default } else { given };
    let closed = match (given.closed, defaults.closed) {
        (Some(g), Some(d)) => Some(Box::new(merge(*g, *d))),
        (g, d) => g.or(d),
    };
    TemplateSet {
        complaint: pick(given.complaint, defaults.complaint),
        question: pick(given.question, defaults.question),
        private: pick(given.private, defaults.private),
        praise: pick(given.praise, defaults.praise),
        gratitude: pick(given.gratitude, defaults.gratitude),
        feedback: pick(given.feedback, defaults.feedback),
        closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::mention::{Author, Direction, MentionKind};
    use chrono::TimeZone;

    fn mention(id: &str, name: Option<&str>, handle: Option<&str>) -> Mention {
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
                handle: handle.map(Into::into),
                name: name.map(Into::into),
                followers: None,
                verified: false,
            },
            customer_id: "2".into(),
            text: "love it".into(),
            language: None,
            created_at: Utc::now(),
            received_at: Utc::now(),
            raw_ref: "r".into(),
            action: Default::default(),
            standby: false,
            automated: None,
            text_source: None,
            listening: false,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 4, 18, 0, 0).unwrap()
    }

    fn render(t: &CareTemplates, kind: TemplateKind, m: &Mention, closed: bool) -> Option<Rendered> {
        let want = Want { kind, language: None, closed, when: Some("tomorrow at 09:00 GMT") };
        t.render(want, m, &HashMap::new(), now())
    }

    #[test]
    fn each_kind_has_texts_that_name_the_customer_and_sign() {
        let t = CareTemplates::defaults("^KT");
        let m = mention("42", Some("Dana Smith"), Some("dana_x"));
        for kind in [
            TemplateKind::Complaint,
            TemplateKind::Question,
            TemplateKind::Private,
            TemplateKind::Praise,
            TemplateKind::Gratitude,
            TemplateKind::Feedback,
        ] {
            let r = render(&t, kind, &m, false).unwrap();
            assert!(
                r.text.contains("Dana") && !r.text.contains("Smith") && r.text.ends_with("^KT"),
                "{kind:?}: {}",
                r.text
            );
            // Stable for a message, whatever the redelivery.
            assert_eq!(Some(r), render(&t, kind, &m, false));
        }
    }

    #[test]
    fn without_a_name_every_acknowledgement_still_reads() {
        let t = CareTemplates::defaults("^KT");
        let mut seen = std::collections::HashSet::new();
        for i in 0..60 {
            let m = mention(&i.to_string(), None, None);
            for (kind, closed) in [
                (TemplateKind::Complaint, false),
                (TemplateKind::Question, false),
                (TemplateKind::Private, false),
                (TemplateKind::Complaint, true),
                (TemplateKind::Question, true),
            ] {
                let text = render(&t, kind, &m, closed).unwrap().text;
                assert!(!text.contains("{name}") && !text.contains(" ,") && !text.contains(",."), "{text}");
                assert!(text.starts_with(|c: char| c.is_uppercase()), "{text}");
                seen.insert(text);
            }
        }
        assert!(
            seen.contains("Hi, I'm sorry about this. I'm looking into it now and will come back to you shortly. ^KT")
        );
        assert!(
            seen.contains("We've got your message. The team is back tomorrow at 09:00 GMT and will reply then. ^KT")
        );
    }

    #[test]
    fn off_hours_acknowledgements_say_when_a_person_answers() {
        let t = CareTemplates::defaults("");
        let m = mention("7", Some("Dana"), None);
        let closed = render(&t, TemplateKind::Complaint, &m, true).unwrap();
        assert!(closed.text.contains("tomorrow at 09:00 GMT"), "{}", closed.text);
        let open = render(&t, TemplateKind::Complaint, &m, false).unwrap();
        assert!(!open.text.contains("tomorrow"), "{}", open.text);
        // Thanks have no off-hours texts of their own: the day's are used.
        assert_eq!(render(&t, TemplateKind::Praise, &m, true), render(&t, TemplateKind::Praise, &m, false));
    }

    #[test]
    fn a_customer_never_gets_the_same_thanks_twice_in_a_row_or_within_the_hour() {
        let t = CareTemplates::defaults("");
        let m = mention("9", Some("Dana"), None);
        let first = render(&t, TemplateKind::Praise, &m, false).unwrap();
        let mut recent = HashMap::from([(first.template_id.clone(), now() - TimeDelta::minutes(10))]);
        let second = t.render(Want::open(TemplateKind::Praise), &m, &recent, now()).unwrap();
        assert_ne!(second.template_id, first.template_id);
        // Two hours later the first is allowed again, but not right after the second.
        recent.insert(first.template_id.clone(), now() - TimeDelta::hours(2));
        recent.insert(second.template_id.clone(), now() - TimeDelta::minutes(1));
        let third = t.render(Want::open(TemplateKind::Praise), &m, &recent, now()).unwrap();
        assert_ne!(third.template_id, second.template_id);
        // Every variant used within the hour: no thanks at all rather than a repeat.
        let all: HashMap<String, DateTime<Utc>> = t
            .candidates(TemplateKind::Gratitude, Channel::X, None, false)
            .iter()
            .map(|x| (template_id(x), now()))
            .collect();
        assert!(t.render(Want::open(TemplateKind::Gratitude), &m, &all, now()).is_none());
        // A thank-you with no one to name is not sent.
        assert!(render(&t, TemplateKind::Praise, &mention("9", None, None), false).is_none());
    }

    #[test]
    fn channel_and_language_texts_come_first() {
        let json = r#"{
            "praise": ["Cheers, {name}! {signature}"],
            "channels": {"instagram": {"praise": ["Thank you {name} 💛 {signature}"]}},
            "languages": {"es": {"complaint": ["Hola {name}, lo sentimos. Lo revisamos ya. {signature}"],
                                 "closed": {"complaint": ["Hola {name}, el equipo vuelve {when}. {signature}"]}}}
        }"#;
        let t = CareTemplates::from_json(json, "").unwrap();
        let mut m = mention("1", Some("Ana"), None);
        assert_eq!(render(&t, TemplateKind::Praise, &m, false).unwrap().text, "Cheers, Ana!");
        m.channel = Channel::Instagram;
        assert_eq!(render(&t, TemplateKind::Praise, &m, false).unwrap().text, "Thank you Ana 💛");
        let es = |closed| {
            let want = Want { kind: TemplateKind::Complaint, language: Some("es"), closed, when: Some("mañana") };
            t.render(want, &m, &HashMap::new(), now())
        };
        assert!(es(false).unwrap().text.starts_with("Hola Ana, lo sentimos"));
        assert_eq!(es(true).unwrap().text, "Hola Ana, el equipo vuelve mañana.");
        // What an account leaves out comes from the defaults.
        assert!(render(&t, TemplateKind::Question, &m, false).is_some());
    }

    #[test]
    fn bad_templates_are_refused_with_what_is_wrong() {
        let refused = |json: &str| CareTemplates::from_json(json, "").unwrap_err();
        assert!(refused("[]").contains("JSON"));
        assert!(refused(r#"{"praise": ["Thanks! {signature}"]}"#).contains("names the customer"));
        assert!(refused(r#"{"closed": {"question": ["We're closed. {signature}"]}}"#).contains("{when}"));
        assert!(refused(r#"{"complaint": ["Back {when}"]}"#).contains("only exists"));
        assert!(refused(r#"{"channels": {"myspace": {}}}"#).contains("not a channel"));
        assert!(refused(r#"{"languages": {"spanish": {}}}"#).contains("ISO 639-1"));
        assert!(refused(r#"{"compliant": []}"#).contains("unknown field"));
        assert!(refused(&format!(r#"{{"question": ["{}"]}}"#, "a".repeat(300))).contains("1 to 220"));
        assert!(CareTemplates::from_json("", &"x".repeat(30)).unwrap_err().contains("signature"));
        // The old acknowledgement shape still reads.
        assert!(
            CareTemplates::from_json(r#"{"complaint": ["Sorry {name}"], "question": ["On it {name}"]}"#, "").is_ok()
        );
    }
}
