//! Personal data posted in public: card numbers (Luhn-checked), e-mail addresses, phone
//! numbers, and account/order/booking references after the words that introduce them.
//! Look-alikes stay unflagged: ratings ("5 stars"), flight numbers, dates, times, prices.
//! A hand-written scanner rather than regular expressions: one pass, no allocation until
//! something is found, which keeps the classifier within its per-message budget.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivacyKind {
    CardNumber,
    Email,
    Phone,
    Reference,
}

impl PrivacyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrivacyKind::CardNumber => "card_number",
            PrivacyKind::Email => "email",
            PrivacyKind::Phone => "phone",
            PrivacyKind::Reference => "reference",
        }
    }
}

/// The text as Hark keeps it: personal data posted in public redacted, with the kinds that
/// were there (sorted, each once).
pub fn stored_form<'a>(text: &'a str, findings: &[PrivacyFinding]) -> (std::borrow::Cow<'a, str>, Vec<String>) {
    if findings.is_empty() {
        return (std::borrow::Cow::Borrowed(text), Vec::new());
    }
    let mut kinds: Vec<String> = findings.iter().map(|f| f.kind.as_str().to_owned()).collect();
    kinds.sort();
    kinds.dedup();
    (std::borrow::Cow::Owned(redact(text, findings)), kinds)
}

/// Where personal data sits in the text (byte offsets), so it can be redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyFinding {
    pub kind: PrivacyKind,
    pub start: usize,
    pub end: usize,
}

/// What introduces a reference, and what a reference looks like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReferencePatterns {
    /// Words after which a code is a reference ("booking ABC123", "order #1234567").
    pub anchors: Vec<String>,
    /// How far after the anchor the code may sit, in words ("order number is 1234567").
    pub max_gap_words: usize,
    pub min_len: usize,
    pub max_len: usize,
}

impl Default for ReferencePatterns {
    fn default() -> Self {
        let anchors = [
            "booking",
            "confirmation",
            "conf",
            "reservation",
            "reference",
            "ref",
            "pnr",
            "locator",
            "order",
            "account",
            "acct",
            "ticket",
            "case",
            "membership",
            "member",
            "customer",
            "policy",
            "invoice",
            "tracking",
            "iban",
        ];
        ReferencePatterns {
            anchors: anchors.iter().map(|a| (*a).to_owned()).collect(),
            max_gap_words: 3,
            min_len: 5,
            max_len: 20,
        }
    }
}

/// Words between an anchor and its code that do not break the link.
const FILLERS: &[&str] = &["#", "no", "no.", "number", "num", "nr", "is", "id", "code", ":", "-", "my", "was", "of"];

/// What the classifier's own pass over the words already saw; each scan runs only when it
/// could find something, so most messages are never scanned at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Hints {
    /// An @ inside a word (not a leading @mention).
    pub at_sign: bool,
    /// Digits outside links and mentions.
    pub digits: u32,
    /// A word that introduces a reference ("booking", "order").
    pub reference_anchor: bool,
}

impl Hints {
    /// Every scan runs.
    pub const ALL: Hints = Hints { at_sign: true, digits: u32::MAX, reference_anchor: true };
}

pub fn scan(text: &str, references: &ReferencePatterns, hints: Hints) -> Vec<PrivacyFinding> {
    let mut found = Vec::new();
    if hints.at_sign {
        scan_emails(text, &mut found);
    }
    // Cards and phones need ten digits or more.
    if hints.digits >= 10 {
        scan_digit_runs(text, &mut found);
    }
    if hints.reference_anchor {
        scan_references(text, references, &mut found);
    }
    found.sort_by_key(|f| (f.start, f.end));
    // A card or phone number already covers what a reference scan might also see.
    found.dedup_by(|later, earlier| later.start < earlier.end);
    found
}

/// The text with every finding replaced by `[kind]`.
pub fn redact(text: &str, findings: &[PrivacyFinding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        if f.start < at || f.end > text.len() {
            continue;
        }
        out.push_str(&text[at..f.start]);
        out.push_str(match f.kind {
            PrivacyKind::CardNumber => "[card number]",
            PrivacyKind::Email => "[email]",
            PrivacyKind::Phone => "[phone]",
            PrivacyKind::Reference => "[reference]",
        });
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}

fn scan_emails(text: &str, found: &mut Vec<PrivacyFinding>) {
    let bytes = text.as_bytes();
    let local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
    let domain = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
    for (at, _) in text.match_indices('@') {
        let start = (0..at).rev().take_while(|&i| local(bytes[i])).last().unwrap_or(at);
        // "@handle" has nothing before the @: a mention, not an address.
        if start == at {
            continue;
        }
        let mut end = at + 1;
        while end < bytes.len() && domain(bytes[end]) {
            end += 1;
        }
        let host = text[at + 1..end].trim_end_matches('.');
        let end = at + 1 + host.len();
        let tld_ok = host.rsplit_once('.').is_some_and(|(name, tld)| {
            !name.is_empty() && tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic())
        });
        if tld_ok {
            found.push(PrivacyFinding { kind: PrivacyKind::Email, start, end });
        }
    }
}

pub fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Digit runs with the separators people type inside card and phone numbers.
fn scan_digit_runs(text: &str, found: &mut Vec<PrivacyFinding>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts_phone = bytes[i] == b'+' || bytes[i] == b'(';
        if !(bytes[i].is_ascii_digit() || starts_phone) || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits: Vec<u8> = Vec::with_capacity(20);
        let mut separators = 0;
        let mut end = i;
        let mut j = i;
        while j < bytes.len() {
            let b = bytes[j];
            if b.is_ascii_digit() {
                digits.push(b - b'0');
                end = j + 1;
            } else if (b == b' ' || b == b'-' || b == b'.' || b == b'(' || b == b')' || (b == b'+' && j == start))
                && j + 1 < bytes.len()
                && (bytes[j + 1].is_ascii_digit() || bytes[j + 1] == b'(' || bytes[j + 1] == b' ')
            {
                separators += 1;
            } else {
                break;
            }
            j += 1;
        }
        // Letters glued to the end ("123abc") make it a code, not a number.
        let glued = end < bytes.len() && bytes[end].is_ascii_alphabetic();
        // A slash or colon right after ("02/24", "10:30") makes it a date or a time.
        let date_like = end < bytes.len() && (bytes[end] == b'/' || bytes[end] == b':');
        let n = digits.len();
        if !glued && !date_like {
            if (13..=19).contains(&n) && luhn_valid(&digits) {
                found.push(PrivacyFinding { kind: PrivacyKind::CardNumber, start, end });
            } else if (10..=15).contains(&n) && (separators > 0 || bytes[start] == b'+' || n <= 11) {
                found.push(PrivacyFinding { kind: PrivacyKind::Phone, start, end });
            }
        }
        i = j.max(i + 1);
    }
}

fn scan_references(text: &str, patterns: &ReferencePatterns, found: &mut Vec<PrivacyFinding>) {
    let mut words = text
        .split_whitespace()
        .map(|w| {
            let offset = w.as_ptr() as usize - text.as_ptr() as usize;
            let trimmed = w.trim_matches(|c: char| !(c.is_alphanumeric() || c == '#'));
            let lead = trimmed.as_ptr() as usize - w.as_ptr() as usize;
            (offset + lead, trimmed)
        })
        .peekable();
    while let Some((_, word)) = words.next() {
        let anchor = word.trim_start_matches('#');
        if !patterns.anchors.iter().any(|a| a.eq_ignore_ascii_case(anchor)) {
            continue;
        }
        let mut gap = 0;
        while let Some(&(offset, candidate)) = words.peek() {
            let code = candidate.trim_start_matches('#');
            let code_offset = offset + (candidate.len() - code.len());
            if looks_like_reference(code, patterns) {
                found.push(PrivacyFinding {
                    kind: PrivacyKind::Reference,
                    start: code_offset,
                    end: code_offset + code.len(),
                });
                words.next();
                break;
            }
            let filler = candidate.is_empty() || FILLERS.iter().any(|f| f.eq_ignore_ascii_case(candidate));
            if !filler || gap >= patterns.max_gap_words {
                break;
            }
            gap += 1;
            words.next();
        }
    }
}

/// A code: letters and digits with at least one digit ("ACM4KZ", "1234567"), or six capital
/// letters (an airline record locator).
fn looks_like_reference(code: &str, patterns: &ReferencePatterns) -> bool {
    let len = code.chars().count();
    if len < patterns.min_len || len > patterns.max_len {
        return false;
    }
    if !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return false;
    }
    let digits = code.bytes().filter(u8::is_ascii_digit).count();
    digits > 0 || (len == 6 && code.bytes().all(|b| b.is_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(PrivacyKind, String)> {
        scan(text, &ReferencePatterns::default(), Hints::ALL)
            .into_iter()
            .map(|f| (f.kind, text[f.start..f.end].to_owned()))
            .collect()
    }

    #[test]
    fn real_personal_data_is_found() {
        assert_eq!(
            kinds("my card 4111 1111 1111 1111 was charged twice"),
            vec![(PrivacyKind::CardNumber, "4111 1111 1111 1111".into())]
        );
        assert_eq!(
            kinds("card 5500-0000-0000-0004 pls"),
            vec![(PrivacyKind::CardNumber, "5500-0000-0000-0004".into())]
        );
        assert_eq!(
            kinds("mail me at jane.doe+care@example.co.uk."),
            vec![(PrivacyKind::Email, "jane.doe+care@example.co.uk".into())]
        );
        assert_eq!(kinds("call me on +1 (415) 555-0132 today"), vec![(PrivacyKind::Phone, "+1 (415) 555-0132".into())]);
        assert_eq!(kinds("my number is 07700 900123"), vec![(PrivacyKind::Phone, "07700 900123".into())]);
        assert_eq!(kinds("booking ref ACM4KZ please"), vec![(PrivacyKind::Reference, "ACM4KZ".into())]);
        assert_eq!(kinds("Confirmation: QWERTY"), vec![(PrivacyKind::Reference, "QWERTY".into())]);
        assert_eq!(kinds("order #1234567 never arrived"), vec![(PrivacyKind::Reference, "1234567".into())]);
        assert_eq!(kinds("my account number is 00123456"), vec![(PrivacyKind::Reference, "00123456".into())]);
    }

    #[test]
    fn look_alikes_are_not_flagged() {
        for text in [
            "5 stars for the crew!",
            "flight 1234 from JFK to LAX",
            "UA 901 was delayed 3 hours",
            "on 02/24/2015 at 10:30 we were told",
            "rebooked on 2/24 for $200",
            "@united 24 seats available on the 2:15 pm from ORD",
            "the 2015 model costs 1299.99",
            "ticket prices went up",
            "order arrived today, thanks",
            "4111 1111 1111 1112 is not a valid card",
            "@jane_doe and @example.com handles",
            "room 1204, floor 12",
        ] {
            assert_eq!(kinds(text), vec![], "{text}");
        }
    }

    #[test]
    fn redaction_replaces_only_the_findings() {
        let text = "card 4111111111111111, mail a@b.io";
        let findings = scan(text, &ReferencePatterns::default(), Hints::ALL);
        assert_eq!(redact(text, &findings), "card [card number], mail [email]");
    }

    #[test]
    fn anchors_are_configurable() {
        let patterns = ReferencePatterns { anchors: vec!["claim".into()], ..ReferencePatterns::default() };
        let found = scan("claim CLM-88231 and order 1234567", &patterns, Hints::ALL);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, PrivacyKind::Reference);
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
        assert!(!luhn_valid(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]));
    }

    #[test]
    fn the_stored_form_redacts_and_names_each_kind_once_as_serde_does() {
        for kind in [PrivacyKind::CardNumber, PrivacyKind::Email, PrivacyKind::Phone, PrivacyKind::Reference] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        let text = "mail a@b.co or c@d.co";
        let findings = vec![
            PrivacyFinding { kind: PrivacyKind::Email, start: 5, end: 11 },
            PrivacyFinding { kind: PrivacyKind::Email, start: 15, end: 21 },
        ];
        let (stored, kinds) = stored_form(text, &findings);
        assert!(!stored.contains("a@b.co") && !stored.contains("c@d.co"), "{stored}");
        assert_eq!(kinds, vec!["email".to_owned()]);
        assert_eq!(stored_form("nothing here", &[]), (std::borrow::Cow::Borrowed("nothing here"), Vec::new()));
    }
}
