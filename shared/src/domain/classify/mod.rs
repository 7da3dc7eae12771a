//! What a message is, and why: sentiment, intent, urgency, personal data, language and a
//! priority, each decision with the reasons an agent can read.
//!
//! The default [`CareClassifier`] is a lexicon and rules written for customer care, not
//! trained on anyone's data: complaints are full of "thanks", "please" and "help", so
//! politeness carries almost no weight, problem events ("delayed", "on hold", "no one")
//! carry most, and a positive word next to a problem reads as sarcasm. A [`model::LinearModel`]
//! trained on a company's own history (`hark train`) can take over sentiment or intent.

pub mod lexicon;
pub mod model;
pub mod privacy;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use serde::{Deserialize, Serialize};

use lexicon::flag;
pub use privacy::{PrivacyFinding, PrivacyKind, ReferencePatterns, redact, stored_form};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    Negative,
    Neutral,
    Positive,
}

impl Sentiment {
    pub const ALL: [Sentiment; 3] = [Sentiment::Negative, Sentiment::Neutral, Sentiment::Positive];
    pub fn as_str(self) -> &'static str {
        match self {
            Sentiment::Negative => "negative",
            Sentiment::Neutral => "neutral",
            Sentiment::Positive => "positive",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    Complaint,
    /// A support request: the customer needs something.
    Question,
    Praise,
    /// A suggestion or opinion about the product, without a problem to fix now.
    Feedback,
    /// Promotions, bots, unrelated noise.
    Spam,
    Other,
}

impl Intent {
    pub const ALL: [Intent; 6] =
        [Intent::Complaint, Intent::Question, Intent::Praise, Intent::Feedback, Intent::Spam, Intent::Other];
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Complaint => "complaint",
            Intent::Question => "question",
            Intent::Praise => "praise",
            Intent::Feedback => "feedback",
            Intent::Spam => "spam",
            Intent::Other => "other",
        }
    }
    /// Complaints and questions get an acknowledgement; the rest do not.
    pub fn wants_acknowledgement(self) -> bool {
        matches!(self, Intent::Complaint | Intent::Question)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UrgencyKind {
    /// The service is down for the customer.
    Outage,
    /// The customer threatens to leave.
    Churn,
    LegalSafety,
    /// A journalist or an account with a large audience.
    PressInfluencer,
    /// Engagement suggests the message is spreading.
    ViralRisk,
}

impl UrgencyKind {
    /// Outage, churn and legal/safety say something is wrong; audience and engagement only
    /// say who is watching.
    pub fn signals_a_problem(self) -> bool {
        matches!(self, UrgencyKind::Outage | UrgencyKind::Churn | UrgencyKind::LegalSafety)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Urgency {
    pub kind: UrgencyKind,
    /// The words (or figures) that raised it.
    pub triggers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Language {
    /// ISO 639-1 code, or "und" when it cannot tell.
    pub code: String,
    pub confidence: f32,
}

impl Language {
    pub fn is_english(&self) -> bool {
        self.code == "en"
    }
}

/// What is known about a message besides its text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Context {
    pub followers: Option<u64>,
    pub verified: bool,
    /// Likes, reposts and replies so far.
    pub engagement: Option<u64>,
    pub channel: Option<String>,
    /// A direct message: nothing posted in it is public.
    pub private: bool,
    /// Earlier conversations with this customer.
    pub previous_conversations: Option<u64>,
    pub last_sentiment: Option<Sentiment>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub sentiment: Sentiment,
    /// In [-1, 1].
    pub score: f32,
    pub intent: Intent,
    pub urgency: Vec<Urgency>,
    pub privacy: Vec<PrivacyFinding>,
    /// 0–100: what an agent should look at first.
    pub priority: u8,
    pub language: Language,
    /// Why, in words an agent reads (each serialises as a sentence).
    pub reasons: Vec<Reason>,
}

/// One reason behind a decision. Kept structured while classifying (no formatting on the
/// hot path); written out as a sentence when shown or serialised.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    Sentiment { sentiment: Sentiment, words: Vec<String> },
    Sarcasm,
    Language { code: String, confidence: f32 },
    Intent { intent: Intent, why: &'static str },
    Model { label: String, class: String, probability: f32 },
    Priority { points: i32, why: PriorityWhy },
}

#[derive(Debug, Clone, PartialEq)]
pub enum PriorityWhy {
    Intent(Intent),
    Tone { percent_negative: i32 },
    Urgency(Urgency),
    Privacy(Vec<PrivacyKind>),
    ReturningCustomer(u64),
    UnhappyAgain,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Sentiment { sentiment, words } => write!(f, "{}: {}", sentiment.as_str(), words.join(", ")),
            Reason::Sarcasm => f.write_str("sarcasm: praise word next to a problem"),
            Reason::Language { code, confidence } => {
                write!(f, "language {code} (confidence {confidence:.2}): English word lists, lower confidence")
            }
            Reason::Intent { intent, why } => write!(f, "{}: {why}", intent.as_str()),
            Reason::Model { label, class, probability } => {
                write!(f, "{label} {class} from the trained model (p={probability:.2})")
            }
            Reason::Priority { points, why } => {
                write!(f, "priority {points:+}: ")?;
                match why {
                    PriorityWhy::Intent(Intent::Question) => f.write_str("support question"),
                    PriorityWhy::Intent(intent) => f.write_str(intent.as_str()),
                    PriorityWhy::Tone { percent_negative } => write!(f, "negative tone ({percent_negative}% negative)"),
                    PriorityWhy::Urgency(u) => {
                        let name = match u.kind {
                            UrgencyKind::LegalSafety => "legal or safety",
                            UrgencyKind::Outage => "outage",
                            UrgencyKind::Churn => "churn threat",
                            UrgencyKind::PressInfluencer => "press or influencer",
                            UrgencyKind::ViralRisk => "viral risk",
                        };
                        write!(f, "{name} ({})", u.triggers.join(", "))
                    }
                    PriorityWhy::Privacy(kinds) => {
                        f.write_str("personal data in public (")?;
                        for (i, kind) in kinds.iter().enumerate() {
                            let name = match kind {
                                PrivacyKind::CardNumber => "card number",
                                PrivacyKind::Email => "e-mail",
                                PrivacyKind::Phone => "phone",
                                PrivacyKind::Reference => "reference",
                            };
                            write!(f, "{}{name}", if i == 0 { "" } else { ", " })?;
                        }
                        f.write_str("): move to a private channel")
                    }
                    PriorityWhy::ReturningCustomer(n) => write!(f, "returning customer ({n} earlier conversations)"),
                    PriorityWhy::UnhappyAgain => f.write_str("unhappy last time too"),
                }
            }
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

pub trait Classifier: Send + Sync {
    fn classify(&self, text: &str, context: &Context) -> Classification;
}

/// Per-account tuning. Everything has a default; an empty JSON object is a valid config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClassifierConfig {
    /// Extra words with their valence (-4..4), e.g. `{"turbulence": -1.5}`; they override the defaults.
    pub words: HashMap<String, f32>,
    /// The brand's own names and handles: never read as sentiment words ("@GreatAir").
    pub brand_terms: Vec<String>,
    /// Sentiment strength needed for negative and positive.
    pub negative_threshold: f32,
    pub positive_threshold: f32,
    /// Followers at which an author counts as an influencer.
    pub influencer_followers: u64,
    /// Engagement at which a message is a viral risk.
    pub viral_engagement: u64,
    pub references: ReferencePatterns,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            words: HashMap::new(),
            brand_terms: Vec::new(),
            negative_threshold: 0.25,
            positive_threshold: 1.4,
            influencer_followers: 10_000,
            viral_engagement: 100,
            references: ReferencePatterns::default(),
        }
    }
}

/// What the lexicon knows about a word: one lookup per word answers every question.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    valence: f32,
    flags: u32,
    /// In the sentiment and cue lists (not only a function word or an anchor).
    lexical: bool,
    /// Bit per language whose function words include it.
    languages: u8,
    /// Introduces an account or booking reference.
    anchor: bool,
    /// Some phrase starts with it: only then is the next word looked up with it.
    phrase_start: bool,
}

impl Entry {
    fn lexical(valence: f32, flags: u32) -> Self {
        Entry { valence, flags, lexical: true, ..Entry::default() }
    }
}

/// FNV-1a for short words: the lexicon is read once per word of every message.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Lexicon = HashMap<Box<str>, Entry, BuildHasherDefault<Fnv>>;

/// The default classifier. Build it once (at cold start) and share it.
pub struct CareClassifier {
    config: ClassifierConfig,
    words: Lexicon,
    phrases: Lexicon,
    emoticons: HashMap<&'static str, f32, BuildHasherDefault<Fnv>>,
    emoji: HashMap<char, f32, BuildHasherDefault<Fnv>>,
}

impl Default for CareClassifier {
    fn default() -> Self {
        CareClassifier::new(ClassifierConfig::default())
    }
}

/// One word of the message, lower-cased into a shared buffer.
#[derive(Debug, Clone, Copy)]
struct Word {
    start: u32,
    end: u32,
    entry: Entry,
    shouted: bool,
    hashtag: bool,
    /// A sentence or clause boundary follows (punctuation), which ends negation scope.
    boundary: bool,
}

/// Everything the rules read off a message, collected in one pass.
#[derive(Debug, Default)]
pub struct Signals {
    pub negative: f32,
    /// The part of `negative` from feelings and judgements rather than problem events.
    pub feeling: f32,
    pub positive: f32,
    pub polite: f32,
    pub problems: u32,
    pub sarcasm: bool,
    pub question_mark: bool,
    pub opens_with_question: bool,
    pub request: bool,
    pub feedback: bool,
    pub spam: u32,
    pub urls: u32,
    pub exclamations: u32,
    triggers: Vec<(u32, String)>,
    negative_words: Vec<String>,
    positive_words: Vec<String>,
    polite_word: String,
    language: LanguageCounts,
    privacy_hints: privacy::Hints,
}

/// Function words of each language seen, counted while tokenizing.
#[derive(Debug, Default)]
struct LanguageCounts {
    words: u32,
    latin: u32,
    hits: [u32; 5],
}

const LANG_EN: u8 = 1;
const LANG_ES: u8 = 2;
const LANG_FR: u8 = 4;
const LANG_DE: u8 = 8;
const LANG_PT: u8 = 16;

impl CareClassifier {
    pub fn new(config: ClassifierConfig) -> Self {
        let mut words: Lexicon = HashMap::default();
        for (word, valence, flags) in lexicon::WORDS {
            words.insert((*word).into(), Entry::lexical(*valence, *flags));
        }
        for (word, valence) in &config.words {
            let entry = words.entry(word.to_lowercase().into()).or_default();
            entry.lexical = true;
            entry.valence = valence.clamp(-4.0, 4.0);
            if *valence < 0.0 {
                entry.flags |= flag::PROBLEM;
            }
        }
        for term in &config.brand_terms {
            words.insert(term.trim_start_matches(['@', '#']).to_lowercase().into(), Entry::lexical(0.0, 0));
        }
        let mut phrases: Lexicon = HashMap::default();
        for (phrase, valence, flags) in lexicon::PHRASES {
            phrases.insert((*phrase).into(), Entry::lexical(*valence, *flags));
            let first = phrase.split(' ').next().expect("a phrase has words");
            words.entry(first.into()).or_default().phrase_start = true;
        }
        for (list, bit) in [
            (lexicon::ENGLISH, LANG_EN),
            (lexicon::SPANISH, LANG_ES),
            (lexicon::FRENCH, LANG_FR),
            (lexicon::GERMAN, LANG_DE),
            (lexicon::PORTUGUESE, LANG_PT),
        ] {
            for word in list {
                words.entry((*word).into()).or_default().languages |= bit;
            }
        }
        for anchor in &config.references.anchors {
            words.entry(anchor.to_lowercase().into()).or_default().anchor = true;
        }
        CareClassifier {
            words,
            phrases,
            emoticons: lexicon::EMOTICONS.iter().copied().collect(),
            emoji: lexicon::EMOJI.iter().copied().collect(),
            config,
        }
    }

    pub fn config(&self) -> &ClassifierConfig {
        &self.config
    }

    /// Splits into words (lower-cased into `buffer`), leaving @mentions and links out and
    /// scoring emoji and emoticons on the way.
    fn tokenize(&self, text: &str, buffer: &mut String, signals: &mut Signals) -> Vec<Word> {
        let mut words = Vec::with_capacity(32);
        let ascii = text.is_ascii();
        let raws: &mut dyn Iterator<Item = &str> =
            if ascii { &mut text.split_ascii_whitespace() } else { &mut text.split_whitespace() };
        for raw in raws {
            if raw.starts_with('@') {
                continue;
            }
            if raw.starts_with("http://") || raw.starts_with("https://") || raw.starts_with("www.") {
                signals.urls += 1;
                continue;
            }
            if raw.len() <= 4 && !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
                let lower = raw.to_ascii_lowercase();
                if let Some(v) = self.emoticons.get(lower.as_str()) {
                    add_valence(signals, *v, raw);
                    signals.feeling += v.min(0.0);
                    continue;
                }
            }
            let hashtag = raw.starts_with('#');
            if ascii || raw.is_ascii() {
                // Most words: one pass over the bytes.
                let bytes = raw.as_bytes();
                let mut i = 0;
                while i < bytes.len() {
                    if !bytes[i].is_ascii_alphanumeric() {
                        match bytes[i] {
                            b'!' => signals.exclamations += 1,
                            b'?' => signals.question_mark = true,
                            b'@' => signals.privacy_hints.at_sign = true,
                            _ => {}
                        }
                        i += 1;
                        continue;
                    }
                    let start = buffer.len();
                    let (mut upper, mut lower) = (0usize, 0usize);
                    let mut j = i;
                    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'\'') {
                        upper += usize::from(bytes[j].is_ascii_uppercase());
                        signals.privacy_hints.digits += u32::from(bytes[j].is_ascii_digit());
                        lower += usize::from(bytes[j].is_ascii_lowercase());
                        buffer.push(char::from(bytes[j].to_ascii_lowercase()));
                        j += 1;
                    }
                    let boundary = bytes.get(j).is_some_and(|b| b".,!?;:".contains(b));
                    let shouted = j - i >= 3 && lower == 0 && upper > 0;
                    self.word(buffer, start, upper + lower > 0, true, shouted, hashtag, boundary, &mut words, signals);
                    i = j;
                }
                continue;
            }
            signals.exclamations += raw.bytes().filter(|b| *b == b'!').count() as u32;
            signals.question_mark |= raw.contains('?');
            signals.privacy_hints.at_sign |= raw.contains('@');
            signals.privacy_hints.digits += raw.bytes().filter(u8::is_ascii_digit).count() as u32;
            let mut rest = raw;
            while !rest.is_empty() {
                let start = rest.find(|c: char| c.is_alphanumeric() || self.emoji.contains_key(&c));
                let Some(start) = start else { break };
                rest = &rest[start..];
                let first = rest.chars().next().expect("non-empty");
                if let Some(v) = self.emoji.get(&first) {
                    add_valence(signals, *v, &first.to_string());
                    signals.feeling += v.min(0.0);
                    rest = &rest[first.len_utf8()..];
                    continue;
                }
                let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’')).unwrap_or(rest.len());
                let piece = &rest[..end];
                rest = &rest[end..];
                let boundary = rest.starts_with(['.', ',', '!', '?', ';', ':']);
                let alphabetic = piece.chars().any(char::is_alphabetic);
                let shouted = piece.len() >= 3 && piece.chars().all(|c| !c.is_lowercase()) && alphabetic;
                let latin = piece.chars().all(|c| c.is_ascii() || ('\u{00c0}'..='\u{024f}').contains(&c));
                let start = buffer.len();
                for c in piece.chars() {
                    match c {
                        '’' => buffer.push('\''),
                        c => buffer.extend(c.to_lowercase()),
                    }
                }
                self.word(buffer, start, alphabetic, latin, shouted, hashtag, boundary, &mut words, signals);
            }
        }
        words
    }

    /// Records one lower-cased word (`buffer[start..]`): language counts, reference anchors.
    #[allow(clippy::too_many_arguments)]
    fn word(
        &self,
        buffer: &str,
        start: usize,
        alphabetic: bool,
        latin: bool,
        shouted: bool,
        hashtag: bool,
        boundary: bool,
        words: &mut Vec<Word>,
        signals: &mut Signals,
    ) {
        let entry = self.words.get(&buffer[start..]).copied().unwrap_or_default();
        if alphabetic {
            signals.language.words += 1;
            signals.language.latin += u32::from(latin);
            for (i, count) in signals.language.hits.iter_mut().enumerate() {
                *count += u32::from(entry.languages >> i & 1);
            }
        }
        signals.privacy_hints.reference_anchor |= entry.anchor && !hashtag;
        words.push(Word { start: start as u32, end: buffer.len() as u32, entry, shouted, hashtag, boundary });
    }

    /// Reads the words: valences with negation, intensifiers, contrast and sarcasm; the
    /// intent and urgency cues; the words behind each for the reasons.
    pub fn signals(&self, text: &str) -> Signals {
        let mut signals = Signals::default();
        let mut buffer = String::with_capacity(text.len() + 8);
        let words = self.tokenize(text, &mut buffer, &mut signals);
        let word = |w: &Word| &buffer[w.start as usize..w.end as usize];
        let all_caps = words.iter().all(|w| w.shouted);
        let mut phrase = String::new();
        let mut negated_for = 0u8;
        let mut hypothetical_for = 0u8;
        let mut intensity = 1.0f32;
        let mut contrast_seen = false;
        let mut last_positive: Option<(usize, f32, bool)> = None;
        let mut skip_next = false;

        for (i, w) in words.iter().enumerate() {
            if skip_next {
                skip_next = false;
                continue;
            }
            let text_word = word(w);
            let mut entry = w.entry.lexical.then_some(w.entry);
            let mut matched: &str = text_word;
            if let Some(next) = words.get(i + 1).filter(|_| w.entry.phrase_start) {
                phrase.clear();
                phrase.push_str(text_word);
                phrase.push(' ');
                phrase.push_str(word(next));
                if let Some(p) = self.phrases.get(phrase.as_str()) {
                    entry = Some(*p);
                    matched = phrase.as_str();
                    skip_next = true;
                }
            }
            if i == 0 && entry.is_some_and(|e| e.flags & flag::QUESTION_OPENER != 0) {
                signals.opens_with_question = true;
            }
            let entry = entry.or_else(|| w.hashtag.then(|| hashtag_entry(text_word)).flatten());
            let Some(entry) = entry else {
                // Out-of-lexicon words use up negation scope.
                negated_for = negated_for.saturating_sub(1);
                hypothetical_for = hypothetical_for.saturating_sub(1);
                intensity = 1.0;
                if w.boundary {
                    negated_for = 0;
                    hypothetical_for = 0;
                }
                continue;
            };
            let f = entry.flags;
            for bit in [flag::OUTAGE, flag::CHURN, flag::LEGAL_SAFETY, flag::PRESS, flag::VIRAL] {
                if f & bit != 0 {
                    signals.triggers.push((bit, matched.to_owned()));
                }
            }
            if f & flag::SPAM != 0 {
                signals.spam += 1;
            }
            if f & flag::FEEDBACK != 0 {
                signals.feedback = true;
            }
            if f & flag::REQUEST != 0 {
                signals.request = true;
            }
            if f & flag::CONTRAST != 0 {
                // "nice crew but 3 hours late": what follows the "but" counts more.
                contrast_seen = true;
                signals.positive *= 0.4;
                signals.polite *= 0.4;
                signals.negative *= 0.6;
                signals.feeling *= 0.6;
            }
            let mut v = entry.valence;
            if v != 0.0 {
                v *= intensity;
                if w.shouted && !all_caps {
                    v *= 1.3;
                }
                if w.hashtag {
                    v *= 1.2;
                }
                if contrast_seen {
                    v *= 1.2;
                }
                if hypothetical_for > 0 && v > 0.0 {
                    v *= 0.2;
                }
                if negated_for > 0 && f & flag::NEGATOR == 0 {
                    // "not happy" is negative; "not my problem", "no delays" are not praise.
                    v = if v > 0.0 { -v * 0.9 } else { 0.0 };
                }
                if f & flag::POLITE != 0 && v > 0.0 {
                    signals.polite += v;
                    if signals.polite_word.is_empty() {
                        signals.polite_word = matched.to_owned();
                    }
                } else {
                    add_valence(&mut signals, v, matched);
                    if v < 0.0 && f & (flag::PROBLEM | flag::NEGATOR) == 0 {
                        signals.feeling += v;
                    }
                }
                if f & flag::PROBLEM != 0 && v < 0.0 {
                    signals.problems += 1;
                }
                // Only a problem event ("delay", "tarmac"; not "again") turns praise into sarcasm.
                if f & flag::PROBLEM != 0 && v <= -0.6 && !matches!(matched, "again" | "still" | "yet") {
                    // "great, another delay", "love sitting on the tarmac": a positive word
                    // right before a problem is sarcasm.
                    if let Some((at, positive, bait)) = last_positive
                        && bait
                        && i - at <= 4
                    {
                        signals.sarcasm = true;
                        signals.positive -= positive;
                        signals.negative -= positive;
                        signals.feeling -= positive;
                        last_positive = None;
                    }
                }
                if v > 0.0 {
                    last_positive = Some((i, v, f & flag::SARCASM_BAIT != 0));
                }
            }
            if f & flag::NEGATOR != 0 {
                negated_for = 4;
            } else {
                negated_for = negated_for.saturating_sub(1);
            }
            hypothetical_for = if f & flag::HYPOTHETICAL != 0 { 4 } else { hypothetical_for.saturating_sub(1) };
            intensity = if f & flag::INTENSIFIER != 0 {
                1.4
            } else if f & flag::DIMINISHER != 0 {
                0.6
            } else {
                1.0
            };
            if w.boundary {
                negated_for = 0;
                hypothetical_for = 0;
            }
        }
        // Thanks after a problem is politeness (or sarcasm), not praise.
        if signals.problems == 0 && signals.negative > -0.5 && signals.polite > 0.0 {
            signals.positive += signals.polite;
            let polite = std::mem::take(&mut signals.polite_word);
            signals.positive_words.push(polite);
        }
        if signals.exclamations >= 2 {
            let boost = 1.0 + 0.1 * signals.exclamations.min(4) as f32;
            if -signals.negative > signals.positive {
                signals.negative *= boost;
            } else {
                signals.positive *= boost;
            }
        }
        signals
    }

    fn language(counts: &LanguageCounts) -> Language {
        let words = counts.words;
        if words == 0 {
            return Language { code: "und".into(), confidence: 0.0 };
        }
        if words - counts.latin > counts.latin {
            return Language { code: "und".into(), confidence: 0.3 };
        }
        let codes = ["en", "es", "fr", "de", "pt"];
        let hits = &counts.hits;
        let (best, &top) = hits.iter().enumerate().max_by_key(|(i, c)| (**c, usize::from(*i == 0))).expect("five");
        if top == 0 {
            // Short English messages often have no function words ("worst airline ever").
            let confidence = if words <= 4 { 0.5 } else { 0.3 };
            return Language { code: if words <= 4 { "en" } else { "und" }.into(), confidence };
        }
        let runner_up = hits.iter().enumerate().filter(|(i, _)| *i != best).map(|(_, c)| *c).max().unwrap_or(0);
        let confidence = ((top - runner_up.min(top)) as f32 / words as f32 * 2.0 + 0.4).min(0.99);
        Language { code: codes[best].into(), confidence }
    }
}

/// A run-together hashtag read through the pieces it contains (#jetbluefail, #nothappy).
fn hashtag_entry(word: &str) -> Option<Entry> {
    let negated = word.starts_with("not") || word.starts_with("no");
    let (part, valence) = lexicon::HASHTAG_PARTS.iter().find(|(part, _)| word.contains(part))?;
    let flags = if *valence < 0.0 { flag::PROBLEM } else { 0 };
    // #notimpressed, #nolove: the piece is praise, the tag is not.
    let valence = if negated && *valence > 0.0 && !part.starts_with("no") { -valence } else { *valence };
    Some(Entry::lexical(valence, flags))
}

fn add_valence(signals: &mut Signals, v: f32, word: &str) {
    if v < 0.0 {
        signals.negative += v;
        if signals.negative_words.len() < 4 && !signals.negative_words.iter().any(|w| w == word) {
            signals.negative_words.push(word.to_owned());
        }
    } else if v > 0.0 {
        signals.positive += v;
        if signals.positive_words.len() < 4 && !signals.positive_words.iter().any(|w| w == word) {
            signals.positive_words.push(word.to_owned());
        }
    }
}

impl Classifier for CareClassifier {
    fn classify(&self, text: &str, context: &Context) -> Classification {
        self.classify_with(text, context, None)
    }
}

/// The default classifier, with a model trained on the company's own history deciding what
/// it was trained for (sentiment or intent).
pub struct TrainedClassifier {
    pub care: CareClassifier,
    pub model: model::LinearModel,
}

impl Classifier for TrainedClassifier {
    fn classify(&self, text: &str, context: &Context) -> Classification {
        self.care.classify_with(text, context, Some(&self.model))
    }
}

impl CareClassifier {
    pub fn classify_with(&self, text: &str, context: &Context, model: Option<&model::LinearModel>) -> Classification {
        let mut s = self.signals(text);
        let language = Self::language(&s.language);
        let mut reasons = Vec::with_capacity(6);
        let (mut sentiment, mut score) = self.sentiment(&mut s, &language, &mut reasons);
        let mut predicted_intent = None;
        if let Some(model) = model {
            let (class, p) = model.predict_with(text, &s);
            let label = model.header.label.as_str();
            match label {
                "sentiment" => {
                    if let Some(predicted) = Sentiment::ALL.into_iter().find(|s| s.as_str() == class) {
                        sentiment = predicted;
                        score = match predicted {
                            Sentiment::Negative => -p,
                            Sentiment::Neutral => score.clamp(-0.2, 0.2),
                            Sentiment::Positive => p,
                        };
                    }
                }
                _ => predicted_intent = Intent::ALL.into_iter().find(|i| i.as_str() == class),
            }
            reasons.push(Reason::Model { label: label.to_owned(), class: class.to_owned(), probability: p });
        }
        let intent = match predicted_intent {
            Some(intent) => intent,
            None => self.intent(&s, sentiment, &mut reasons),
        };
        let urgency = self.urgency(&s, context);
        let privacy =
            if context.private { Vec::new() } else { privacy::scan(text, &self.config.references, s.privacy_hints) };
        let priority = priority(sentiment, score, intent, &urgency, &privacy, context, &mut reasons);
        Classification { sentiment, score, intent, urgency, privacy, priority, language, reasons }
    }
}

impl CareClassifier {
    fn sentiment(&self, s: &mut Signals, language: &Language, reasons: &mut Vec<Reason>) -> (Sentiment, f32) {
        let negative = -s.negative;
        let positive = s.positive;
        let mut score = ((positive - negative) / (positive + negative + 2.0)).clamp(-1.0, 1.0);
        if s.sarcasm {
            reasons.push(Reason::Sarcasm);
        }
        let sentiment = if negative >= self.config.negative_threshold && negative >= positive * 0.8 {
            reasons.push(Reason::Sentiment {
                sentiment: Sentiment::Negative,
                words: std::mem::take(&mut s.negative_words),
            });
            Sentiment::Negative
        } else if positive >= self.config.positive_threshold && positive > negative * 1.5 {
            reasons.push(Reason::Sentiment {
                sentiment: Sentiment::Positive,
                words: std::mem::take(&mut s.positive_words),
            });
            Sentiment::Positive
        } else {
            Sentiment::Neutral
        };
        // The score agrees with the decision; its size says how clear it was.
        score = match sentiment {
            Sentiment::Negative => score.min(-0.05),
            Sentiment::Positive => score.max(0.05),
            Sentiment::Neutral => score.clamp(-0.3, 0.3),
        };
        if !language.is_english() {
            score *= 0.5;
            reasons.push(Reason::Language { code: language.code.clone(), confidence: language.confidence });
        }
        (sentiment, score)
    }

    fn intent(&self, s: &Signals, sentiment: Sentiment, reasons: &mut Vec<Reason>) -> Intent {
        let asks = s.question_mark || s.opens_with_question || s.request;
        let intent = if s.spam >= 2 || (s.spam >= 1 && s.urls >= 1) {
            Intent::Spam
        } else if s.feedback && sentiment != Sentiment::Negative && s.problems == 0 {
            Intent::Feedback
        } else if sentiment == Sentiment::Negative {
            Intent::Complaint
        } else if asks {
            Intent::Question
        } else if sentiment == Sentiment::Positive {
            Intent::Praise
        } else if s.feedback {
            Intent::Feedback
        } else {
            Intent::Other
        };
        let why = match intent {
            Intent::Spam => "promotional words and links",
            Intent::Feedback => "a suggestion about the service",
            Intent::Complaint if asks => "a question about a problem",
            Intent::Complaint => "a problem or negative experience",
            Intent::Question => "asks for something",
            Intent::Praise => "praise with nothing wrong",
            Intent::Other => "no request, problem or praise",
        };
        reasons.push(Reason::Intent { intent, why });
        intent
    }

    fn urgency(&self, s: &Signals, context: &Context) -> Vec<Urgency> {
        let mut urgency: Vec<Urgency> = Vec::new();
        let mut raise = |kind: UrgencyKind, trigger: String| match urgency.iter_mut().find(|u| u.kind == kind) {
            Some(u) => {
                if !u.triggers.contains(&trigger) {
                    u.triggers.push(trigger);
                }
            }
            None => urgency.push(Urgency { kind, triggers: vec![trigger] }),
        };
        for (bit, trigger) in &s.triggers {
            let kind = match *bit {
                flag::OUTAGE => UrgencyKind::Outage,
                flag::CHURN => UrgencyKind::Churn,
                flag::LEGAL_SAFETY => UrgencyKind::LegalSafety,
                flag::PRESS => UrgencyKind::PressInfluencer,
                _ => UrgencyKind::ViralRisk,
            };
            // "down" alone is a direction; an outage needs a problem around it.
            if kind == UrgencyKind::Outage && trigger == "down" && s.problems == 0 {
                continue;
            }
            raise(kind, trigger.clone());
        }
        if let Some(followers) = context.followers.filter(|f| *f >= self.config.influencer_followers) {
            raise(UrgencyKind::PressInfluencer, format!("{followers} followers"));
        }
        if context.verified {
            raise(UrgencyKind::PressInfluencer, "verified account".into());
        }
        if let Some(engagement) = context.engagement.filter(|e| *e >= self.config.viral_engagement) {
            raise(UrgencyKind::ViralRisk, format!("{engagement} engagements"));
        }
        urgency
    }
}

fn priority(
    sentiment: Sentiment,
    score: f32,
    intent: Intent,
    urgency: &[Urgency],
    privacy: &[PrivacyFinding],
    context: &Context,
    reasons: &mut Vec<Reason>,
) -> u8 {
    let mut total = 0i32;
    let mut add = |points: i32, why: PriorityWhy| {
        total += points;
        reasons.push(Reason::Priority { points, why });
    };
    let points = match intent {
        Intent::Complaint => 35,
        Intent::Question => 25,
        Intent::Feedback | Intent::Other => 10,
        Intent::Praise => 5,
        Intent::Spam => 0,
    };
    if points > 0 {
        add(points, PriorityWhy::Intent(intent));
    }
    if sentiment == Sentiment::Negative {
        let percent_negative = (-score * 100.0).round() as i32;
        add(percent_negative / 5, PriorityWhy::Tone { percent_negative });
    }
    for u in urgency {
        let points = match u.kind {
            UrgencyKind::LegalSafety => 30,
            UrgencyKind::Outage => 20,
            UrgencyKind::Churn | UrgencyKind::PressInfluencer | UrgencyKind::ViralRisk => 15,
        };
        add(points, PriorityWhy::Urgency(u.clone()));
    }
    if !privacy.is_empty() {
        let mut kinds: Vec<PrivacyKind> = privacy.iter().map(|p| p.kind).collect();
        kinds.dedup();
        add(10, PriorityWhy::Privacy(kinds));
    }
    if let Some(n) = context.previous_conversations.filter(|n| *n >= 3) {
        add(5, PriorityWhy::ReturningCustomer(n));
    }
    if context.last_sentiment == Some(Sentiment::Negative) && sentiment == Sentiment::Negative {
        add(5, PriorityWhy::UnhappyAgain);
    }
    if intent == Intent::Spam {
        return 0;
    }
    total.clamp(0, 100) as u8
}

#[cfg(test)]
mod tests;
