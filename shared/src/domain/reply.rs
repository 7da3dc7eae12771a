//! Filling in Hark's texts, and the follow-up that closes a resolved thread. The texts a
//! message gets on its own (acknowledgements, thanks) are `domain::care::templates`.

/// X counts up to 280 characters; keep well inside it after substitution.
const MAX_TEMPLATE_CHARS: usize = 220;
const MAX_NAME_CHARS: usize = 30;

/// `{name}` (the first name, or the handle) and `{signature}` filled in, spaces tidied.
pub(crate) fn fill(template: &str, name: Option<&str>, handle: Option<&str>, signature: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
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
