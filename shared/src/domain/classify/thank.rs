//! The thank-you decision: whether care operations may thank a message automatically, in
//! public, with every reason for and against. A thank-you to an angry customer is the worst
//! thing a care tool can send, so everything that could mean anger blocks it: a problem
//! still wrong, blame, irony, negated or hypothetical praise, a turn ("but"), a question or
//! a request (they need an answer, not thanks), an outage, churn or legal flag, a language
//! the word lists do not read. A pure function of what the classifier found.

use std::fmt;

use serde::Serialize;

use super::{Intent, Sentiment, UrgencyKind};

/// The sentiment confidence praise needs before it is thanked.
pub const PRAISE_CONFIDENCE: f32 = 0.65;
/// Thanks with no praise ("Thanks!", "thanks for the update") is thanked back when this
/// sure, without a link (a photo beside "thanks" is often the complaint), and either short
/// or saying what for: "...sleeping in the airport until 4pm tomorrow! thanks" is irony.
pub const GRATITUDE_CONFIDENCE: f32 = 0.6;
pub const GRATITUDE_WORDS: u32 = 8;
/// The confidence that a suggestion is not a complaint before it is thanked as feedback.
pub const FEEDBACK_CONFIDENCE: f32 = 0.6;
/// Negative valence (summed) that is blame, however much praise comes with it.
pub const BLAME_LIMIT: f32 = 0.5;

/// What the decision reads: the classifier's labels and the cues behind them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThankInputs {
    pub sentiment: Sentiment,
    pub confidence: f32,
    pub intent: Intent,
    pub english: bool,
    /// Outage, churn or legal/safety, if raised.
    pub urgency: Option<UrgencyKind>,
    pub cues: Cues,
}

/// The cues of the text that can turn praise into something else.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cues {
    /// Problems reported and not put right.
    pub problems: u32,
    /// Negative valence, as a positive number.
    pub blame: f32,
    pub sarcasm: bool,
    pub negated_praise: bool,
    pub hypothetical_praise: bool,
    pub contrast: bool,
    pub question: bool,
    pub request: bool,
    /// Most of it in capitals: a suggestion shouted is a demand.
    pub shouting: bool,
    /// Its only warmth is thanks.
    pub only_thanks: bool,
    /// Its only warmth is emoji or emoticons.
    pub only_symbols: bool,
    /// A suggestion named as such.
    pub suggestion: bool,
    /// The thanks says what for.
    pub thanks_for: bool,
    pub words: u32,
    pub links: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThankDecision {
    pub thank: bool,
    /// Why: the grounds when it thanks, every obstacle when it does not.
    pub reasons: Vec<ThankReason>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThankReason {
    Praise {
        confidence: f32,
    },
    Gratitude {
        confidence: f32,
    },
    Feedback {
        confidence: f32,
    },
    NotPraise(Intent),
    NotPositive(Sentiment),
    LowConfidence {
        confidence: f32,
        needed: f32,
    },
    /// Thanks alone, in a long message or beside a link.
    BareThanks,
    /// A smiley is not praise.
    OnlySymbols,
    /// A wish or a request ("you should send me"), not a suggestion to pass on.
    NoSuggestion,
    Problem(u32),
    Blame,
    Sarcasm,
    NegatedPraise,
    HypotheticalPraise,
    Contrast,
    Question,
    Request,
    Shouting,
    Urgency(UrgencyKind),
    OtherLanguage,
}

impl fmt::Display for ThankReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThankReason::Praise { confidence } => write!(f, "praise, confidence {confidence:.2}"),
            ThankReason::Gratitude { confidence } => write!(f, "thanks with nothing wrong, confidence {confidence:.2}"),
            ThankReason::BareThanks => f.write_str("thanks alone beside a link or a long story may be irony"),
            ThankReason::OnlySymbols => f.write_str("only a smiley is warm: not praise"),
            ThankReason::NoSuggestion => f.write_str("a wish or a request, not a suggestion to pass on"),
            ThankReason::Feedback { confidence } => {
                write!(f, "feedback with nothing wrong, confidence {confidence:.2}")
            }
            ThankReason::NotPraise(intent) => write!(f, "not praise or feedback ({})", intent.as_str()),
            ThankReason::NotPositive(sentiment) => write!(f, "sentiment is {}", sentiment.as_str()),
            ThankReason::LowConfidence { confidence, needed } => {
                write!(f, "confidence {confidence:.2} is below {needed:.2}")
            }
            ThankReason::Problem(n) => write!(f, "{n} problem(s) still wrong"),
            ThankReason::Blame => f.write_str("blame beside the praise"),
            ThankReason::Sarcasm => f.write_str("praise beside a problem reads as sarcasm"),
            ThankReason::NegatedPraise => f.write_str("negated praise"),
            ThankReason::HypotheticalPraise => f.write_str("praise for what has not happened"),
            ThankReason::Contrast => f.write_str("the message turns (but, however)"),
            ThankReason::Question => f.write_str("a question needs an answer, not thanks"),
            ThankReason::Request => f.write_str("a request needs an answer, not thanks"),
            ThankReason::Shouting => f.write_str("a suggestion in capitals is a demand"),
            ThankReason::Urgency(kind) => write!(f, "{} flag", kind.as_str()),
            ThankReason::OtherLanguage => f.write_str("not English: the word lists cannot vouch for it"),
        }
    }
}

impl Serialize for ThankReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

pub fn decide(input: &ThankInputs) -> ThankDecision {
    let ThankInputs { sentiment, confidence, intent, english, urgency, cues } = *input;
    let mut against = Vec::new();
    let grounds = match intent {
        Intent::Praise => {
            let needed = if cues.only_thanks { GRATITUDE_CONFIDENCE } else { PRAISE_CONFIDENCE };
            if sentiment != Sentiment::Positive {
                against.push(ThankReason::NotPositive(sentiment));
            } else if confidence < needed {
                against.push(ThankReason::LowConfidence { confidence, needed });
            }
            if cues.only_thanks && (cues.links > 0 || (cues.words > GRATITUDE_WORDS && !cues.thanks_for)) {
                against.push(ThankReason::BareThanks);
            }
            if cues.only_symbols {
                against.push(ThankReason::OnlySymbols);
            }
            if cues.hypothetical_praise {
                against.push(ThankReason::HypotheticalPraise);
            }
            if cues.request {
                against.push(ThankReason::Request);
            }
            if cues.only_thanks { ThankReason::Gratitude { confidence } } else { ThankReason::Praise { confidence } }
        }
        // Suggestions are often hypothetical ("would be nice if") and asked ("please add").
        Intent::Feedback => {
            if sentiment == Sentiment::Negative {
                against.push(ThankReason::NotPositive(sentiment));
            } else if confidence < FEEDBACK_CONFIDENCE {
                against.push(ThankReason::LowConfidence { confidence, needed: FEEDBACK_CONFIDENCE });
            }
            if cues.shouting {
                against.push(ThankReason::Shouting);
            }
            if !cues.suggestion {
                against.push(ThankReason::NoSuggestion);
            }
            ThankReason::Feedback { confidence }
        }
        other => return ThankDecision { thank: false, reasons: vec![ThankReason::NotPraise(other)] },
    };
    if cues.problems > 0 {
        against.push(ThankReason::Problem(cues.problems));
    }
    if cues.blame >= BLAME_LIMIT {
        against.push(ThankReason::Blame);
    }
    if cues.sarcasm {
        against.push(ThankReason::Sarcasm);
    }
    if cues.negated_praise {
        against.push(ThankReason::NegatedPraise);
    }
    if cues.contrast {
        against.push(ThankReason::Contrast);
    }
    if cues.question {
        against.push(ThankReason::Question);
    }
    if let Some(kind) = urgency {
        against.push(ThankReason::Urgency(kind));
    }
    if !english {
        against.push(ThankReason::OtherLanguage);
    }
    if against.is_empty() {
        ThankDecision { thank: true, reasons: vec![grounds] }
    } else {
        ThankDecision { thank: false, reasons: against }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn praise(confidence: f32, cues: Cues) -> ThankInputs {
        ThankInputs {
            sentiment: Sentiment::Positive,
            confidence,
            intent: Intent::Praise,
            english: true,
            urgency: None,
            cues,
        }
    }

    #[test]
    fn only_clear_praise_with_nothing_against_it_is_thanked() {
        let clean = Cues::default();
        let suggestion = Cues { suggestion: true, ..clean };
        let table: &[(&str, ThankInputs, bool, Option<ThankReason>)] = &[
            ("clear praise", praise(0.9, clean), true, Some(ThankReason::Praise { confidence: 0.9 })),
            (
                "praise, unsure",
                praise(0.6, clean),
                false,
                Some(ThankReason::LowConfidence { confidence: 0.6, needed: PRAISE_CONFIDENCE }),
            ),
            ("a problem still wrong", praise(0.9, Cues { problems: 1, ..clean }), false, Some(ThankReason::Problem(1))),
            ("blame beside praise", praise(0.9, Cues { blame: 0.6, ..clean }), false, Some(ThankReason::Blame)),
            ("a little blame is not blame", praise(0.9, Cues { blame: 0.3, ..clean }), true, None),
            (
                "short thanks",
                praise(0.62, Cues { only_thanks: true, words: 3, ..clean }),
                true,
                Some(ThankReason::Gratitude { confidence: 0.62 }),
            ),
            (
                "thanks beside a link",
                praise(0.62, Cues { only_thanks: true, words: 3, links: 1, ..clean }),
                false,
                Some(ThankReason::BareThanks),
            ),
            (
                "thanks after a long story",
                praise(0.62, Cues { only_thanks: true, words: 12, ..clean }),
                false,
                Some(ThankReason::BareThanks),
            ),
            (
                "thanks for something, after a long story",
                praise(0.62, Cues { only_thanks: true, thanks_for: true, words: 12, ..clean }),
                true,
                None,
            ),
            ("sarcasm", praise(0.9, Cues { sarcasm: true, ..clean }), false, Some(ThankReason::Sarcasm)),
            (
                "negated praise",
                praise(0.9, Cues { negated_praise: true, ..clean }),
                false,
                Some(ThankReason::NegatedPraise),
            ),
            (
                "hypothetical praise",
                praise(0.9, Cues { hypothetical_praise: true, ..clean }),
                false,
                Some(ThankReason::HypotheticalPraise),
            ),
            ("a turn", praise(0.9, Cues { contrast: true, ..clean }), false, Some(ThankReason::Contrast)),
            ("a question", praise(0.9, Cues { question: true, ..clean }), false, Some(ThankReason::Question)),
            ("a request", praise(0.9, Cues { request: true, ..clean }), false, Some(ThankReason::Request)),
            (
                "an outage flag",
                ThankInputs { urgency: Some(UrgencyKind::Outage), ..praise(0.9, clean) },
                false,
                Some(ThankReason::Urgency(UrgencyKind::Outage)),
            ),
            (
                "another language",
                ThankInputs { english: false, ..praise(0.9, clean) },
                false,
                Some(ThankReason::OtherLanguage),
            ),
            (
                "a complaint",
                ThankInputs { intent: Intent::Complaint, sentiment: Sentiment::Negative, ..praise(0.9, clean) },
                false,
                Some(ThankReason::NotPraise(Intent::Complaint)),
            ),
            (
                "a question about praise",
                ThankInputs { intent: Intent::Question, ..praise(0.9, clean) },
                false,
                Some(ThankReason::NotPraise(Intent::Question)),
            ),
            (
                "feedback, calm and sure",
                ThankInputs { intent: Intent::Feedback, sentiment: Sentiment::Neutral, ..praise(0.7, suggestion) },
                true,
                Some(ThankReason::Feedback { confidence: 0.7 }),
            ),
            (
                "feedback asked politely",
                ThankInputs {
                    intent: Intent::Feedback,
                    sentiment: Sentiment::Neutral,
                    ..praise(0.7, Cues { request: true, hypothetical_praise: true, ..suggestion })
                },
                true,
                None,
            ),
            (
                "feedback shouted",
                ThankInputs {
                    intent: Intent::Feedback,
                    sentiment: Sentiment::Neutral,
                    ..praise(0.7, Cues { shouting: true, ..clean })
                },
                false,
                Some(ThankReason::Shouting),
            ),
            (
                "a wish, not a suggestion",
                ThankInputs { intent: Intent::Feedback, sentiment: Sentiment::Neutral, ..praise(0.7, clean) },
                false,
                Some(ThankReason::NoSuggestion),
            ),
            (
                "a smiley alone",
                praise(0.9, Cues { only_symbols: true, ..clean }),
                false,
                Some(ThankReason::OnlySymbols),
            ),
            (
                "feedback about a problem",
                ThankInputs {
                    intent: Intent::Feedback,
                    sentiment: Sentiment::Neutral,
                    ..praise(0.7, Cues { problems: 2, ..clean })
                },
                false,
                Some(ThankReason::Problem(2)),
            ),
            (
                "feedback, unsure",
                ThankInputs { intent: Intent::Feedback, sentiment: Sentiment::Neutral, ..praise(0.5, clean) },
                false,
                Some(ThankReason::LowConfidence { confidence: 0.5, needed: FEEDBACK_CONFIDENCE }),
            ),
        ];
        for (case, input, thank, reason) in table {
            let decision = decide(input);
            assert_eq!(decision.thank, *thank, "{case}: {:?}", decision.reasons);
            if let Some(reason) = reason {
                assert!(decision.reasons.contains(reason), "{case}: {:?}", decision.reasons);
            }
            assert!(!decision.reasons.is_empty(), "{case}: a decision always says why");
        }
    }

    #[test]
    fn a_refusal_lists_every_obstacle() {
        let cues = Cues { problems: 1, sarcasm: true, question: true, ..Cues::default() };
        let decision = decide(&praise(0.95, cues));
        assert_eq!(decision.reasons, vec![ThankReason::Problem(1), ThankReason::Sarcasm, ThankReason::Question]);
        assert_eq!(decision.reasons[1].to_string(), "praise beside a problem reads as sarcasm");
    }
}
