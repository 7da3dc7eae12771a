//! What a message is, and why: sentiment with a calibrated confidence, intent, urgency,
//! personal data, language, a priority, and whether it may be thanked, each decision with
//! the reasons an agent can read.
//!
//! The default [`CareClassifier`] is word lists and rules written for customer care, not
//! trained on anyone's data: complaints are full of "thanks", "please" and "help", so
//! politeness carries almost no weight, problem events ("delayed", "on hold", "no one")
//! carry most, and praise beside a problem reads as sarcasm. A [`model::LinearModel`]
//! trained on a company's own history (`hark train`) can take over sentiment or intent.
//!
//! The parts, in the order a message meets them: [`lexicon`] (the word lists),
//! `tokenize` (words), `signals` (one reading pass), `sentiment` (the label and its
//! confidence), `care` (intent, urgency, priority) and [`thank`] (the thank-you decision).

mod care;
pub mod lexicon;
pub mod model;
pub mod privacy;
mod sentiment;
mod signals;
pub mod thank;
mod tokenize;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub use privacy::{PrivacyFinding, PrivacyKind, ReferencePatterns, redact, stored_form};
pub use signals::Signals;
pub use thank::{ThankDecision, ThankReason};

use lexicon::Lexicon;

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
    pub fn as_str(self) -> &'static str {
        match self {
            UrgencyKind::Outage => "outage",
            UrgencyKind::Churn => "churn",
            UrgencyKind::LegalSafety => "legal_safety",
            UrgencyKind::PressInfluencer => "press_influencer",
            UrgencyKind::ViralRisk => "viral_risk",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Urgency {
    pub kind: UrgencyKind,
    /// The words (or figures) that raised it.
    pub triggers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Language {
    /// ISO 639-1 code, or "und" when it cannot tell.
    pub code: &'static str,
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
    /// The customer's tier in the company's CRM ("vip"), if imported.
    pub tier: Option<String>,
    pub last_sentiment: Option<Sentiment>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    pub sentiment: Sentiment,
    /// In [-1, 1].
    pub score: f32,
    /// The probability, calibrated on labelled messages, that a person would give the same
    /// sentiment: what "how sure" means in the reliability table of `hark eval`.
    pub confidence: f32,
    pub intent: Intent,
    pub urgency: Vec<Urgency>,
    pub privacy: Vec<PrivacyFinding>,
    /// 0–100: what an agent should look at first.
    pub priority: u8,
    pub language: Language,
    /// Why, in words an agent reads (each serialises as a sentence).
    pub reasons: Vec<Reason>,
    /// Whether care operations may thank it automatically, and why.
    pub thank: ThankDecision,
}

/// One reason behind a decision. Kept structured while classifying (no formatting on the
/// hot path); written out as a sentence when shown or serialised.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// The words behind it, comma-separated.
    Sentiment {
        sentiment: Sentiment,
        words: String,
    },
    Sarcasm,
    /// Praise that would have won, held back by a problem beside it.
    PraiseBesideProblem,
    Language {
        code: &'static str,
        confidence: f32,
    },
    Intent {
        intent: Intent,
        why: &'static str,
    },
    Model {
        label: String,
        class: String,
        probability: f32,
    },
    Priority {
        points: i32,
        why: PriorityWhy,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum PriorityWhy {
    Intent(Intent),
    Tone { percent_negative: i32 },
    Urgency(Urgency),
    Privacy(Vec<PrivacyKind>),
    ReturningCustomer(u64),
    UnhappyAgain,
    ValuedCustomer(String),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Sentiment { sentiment, words } => write!(f, "{}: {words}", sentiment.as_str()),
            Reason::Sarcasm => f.write_str("sarcasm: praise word next to a problem"),
            Reason::PraiseBesideProblem => f.write_str("neutral: praise beside a problem is not praise"),
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
                    PriorityWhy::ValuedCustomer(tier) => write!(f, "valued customer ({tier})"),
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
    /// CRM tiers that raise a message's priority and count as reach for the viral fast track.
    pub valued_tiers: Vec<String>,
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
            valued_tiers: vec!["vip".into(), "gold".into(), "platinum".into()],
            references: ReferencePatterns::default(),
        }
    }
}

/// The default classifier. Build it once (at cold start) and share it.
pub struct CareClassifier {
    config: ClassifierConfig,
    lexicon: Lexicon,
}

impl Default for CareClassifier {
    fn default() -> Self {
        CareClassifier::new(ClassifierConfig::default())
    }
}

impl CareClassifier {
    pub fn new(config: ClassifierConfig) -> Self {
        CareClassifier { lexicon: Lexicon::new(&config), config }
    }

    pub fn config(&self) -> &ClassifierConfig {
        &self.config
    }

    /// Reads the words: valences with negation, intensifiers, contrast and sarcasm; the
    /// intent and urgency cues; the words behind each for the reasons.
    pub fn signals(&self, text: &str) -> Signals {
        signals::read(&self.lexicon, text)
    }

    pub fn classify_with(&self, text: &str, context: &Context, model: Option<&model::LinearModel>) -> Classification {
        let mut s = self.signals(text);
        let language = sentiment::language(&s.language);
        let mut reasons = Vec::with_capacity(6);
        let mut reading = sentiment::decide(&mut s, &self.config, &language, &mut reasons);
        let mut predicted_intent = None;
        if let Some(model) = model {
            let (class, p) = model.predict_with(text, &s);
            let label = model.header.label.as_str();
            match label {
                "sentiment" => {
                    if let Some(predicted) = Sentiment::ALL.into_iter().find(|s| s.as_str() == class) {
                        reading.sentiment = predicted;
                        reading.confidence = p;
                        reading.score = match predicted {
                            Sentiment::Negative => -p,
                            Sentiment::Neutral => reading.score.clamp(-0.2, 0.2),
                            Sentiment::Positive => p,
                        };
                    }
                }
                _ => predicted_intent = Intent::ALL.into_iter().find(|i| i.as_str() == class),
            }
            reasons.push(Reason::Model { label: label.to_owned(), class: class.to_owned(), probability: p });
        }
        let sentiment::Reading { sentiment, score, confidence } = reading;
        let intent = match predicted_intent {
            Some(intent) => intent,
            None => care::intent(&s, sentiment, &mut reasons),
        };
        let urgency = care::urgency(&s, context, &self.config);
        let thank = thank::decide(&thank::ThankInputs {
            sentiment,
            confidence,
            intent,
            english: language.is_english(),
            urgency: urgency.iter().map(|u| u.kind).find(|k| k.signals_a_problem()),
            cues: thank::Cues {
                problems: s.problems,
                blame: -s.negative,
                sarcasm: s.sarcasm,
                negated_praise: s.negated_praise,
                hypothetical_praise: s.hypothetical_praise,
                contrast: s.contrast,
                question: s.question_mark,
                request: s.request,
                shouting: s.shouting,
                only_thanks: s.only_thanks,
                only_symbols: s.only_symbols,
                suggestion: s.suggestion,
                thanks_for: s.thanks_for,
                words: s.words,
                links: s.urls,
            },
        });
        let privacy =
            if context.private { Vec::new() } else { privacy::scan(text, &self.config.references, s.privacy_hints) };
        let priority =
            care::priority(sentiment, score, intent, &urgency, &privacy, context, &self.config, &mut reasons);
        Classification { sentiment, score, confidence, intent, urgency, privacy, priority, language, reasons, thank }
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

#[cfg(test)]
mod safety_tests;
#[cfg(test)]
mod tests;
