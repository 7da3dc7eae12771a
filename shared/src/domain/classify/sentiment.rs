//! The sentiment decision, with a confidence that means what it says, and the language.
//!
//! Asymmetric by design: a message is negative as soon as something is clearly wrong,
//! but positive only when its praise clearly outweighs any blame and nothing it reports
//! is still wrong. Praise beside a problem reads neutral or negative, never positive.
//!
//! The confidence is the share of messages, among those given the same label with about
//! the same margin, that people labelled that way: a logistic curve over the margin by
//! which the label won, one per label, its two numbers set by hand against the
//! reliability table of `hark eval` on the tuning parts (`docs/classifier.md`).

use super::signals::{LanguageCounts, Signals};
use super::{ClassifierConfig, Language, Reason, Sentiment};

/// (bias, slope) of each label's confidence curve over its margin.
const NEGATIVE_CURVE: (f32, f32) = (0.2, 0.85);
const NEUTRAL_CURVE: (f32, f32) = (0.75, 0.5);
const POSITIVE_CURVE: (f32, f32) = (0.5, 1.0);
/// English word lists on another language: the label is a guess.
const OTHER_LANGUAGE_CONFIDENCE: f32 = 0.6;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub sentiment: Sentiment,
    /// In [-1, 1]: agrees with the label; its size says how clear it was.
    pub score: f32,
    /// The probability that the label is the one a person would give, in (0, 1).
    pub confidence: f32,
}

fn logistic(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

pub fn decide(s: &mut Signals, config: &ClassifierConfig, language: &Language, reasons: &mut Vec<Reason>) -> Reading {
    let negative = -s.negative;
    let positive = s.positive;
    let mut score = ((positive - negative) / (positive + negative + 2.0)).clamp(-1.0, 1.0);
    if s.sarcasm {
        reasons.push(Reason::Sarcasm);
    }
    let negative_bar = config.negative_threshold.max(positive * 0.8);
    let positive_bar = config.positive_threshold.max(negative * 2.0);
    // Praise counts only when nothing it stands beside is still wrong: no serious problem, not
    // two small ones, no irony.
    let praise_is_safe = s.serious_problems == 0 && s.unresolved > -1.0 && !s.sarcasm;
    let (sentiment, margin) = if negative >= negative_bar {
        reasons.push(Reason::Sentiment {
            sentiment: Sentiment::Negative,
            words: std::mem::take(&mut s.negative_words).into_string(),
        });
        (Sentiment::Negative, negative - negative_bar)
    } else if positive >= positive_bar && praise_is_safe {
        reasons.push(Reason::Sentiment {
            sentiment: Sentiment::Positive,
            words: std::mem::take(&mut s.positive_words).into_string(),
        });
        (Sentiment::Positive, positive - positive_bar)
    } else {
        if positive >= positive_bar && !praise_is_safe {
            reasons.push(Reason::PraiseBesideProblem);
        }
        // How far it is from either bar.
        let margin = negative_bar - negative - 0.2 * positive.min(positive_bar);
        (Sentiment::Neutral, margin)
    };
    let (bias, slope) = match sentiment {
        Sentiment::Negative => NEGATIVE_CURVE,
        Sentiment::Neutral => NEUTRAL_CURVE,
        Sentiment::Positive => POSITIVE_CURVE,
    };
    let mut confidence = logistic(bias + slope * margin.min(4.0));
    score = match sentiment {
        Sentiment::Negative => score.min(-0.05),
        Sentiment::Positive => score.max(0.05),
        Sentiment::Neutral => score.clamp(-0.3, 0.3),
    };
    if !language.is_english() {
        score *= 0.5;
        confidence = confidence.min(OTHER_LANGUAGE_CONFIDENCE);
        reasons.push(Reason::Language { code: language.code, confidence: language.confidence });
    }
    Reading { sentiment, score, confidence }
}

pub fn language(counts: &LanguageCounts) -> Language {
    let words = counts.words;
    if words == 0 {
        return Language { code: "und", confidence: 0.0 };
    }
    if words - counts.latin > counts.latin {
        return Language { code: "und", confidence: 0.3 };
    }
    let codes = ["en", "es", "fr", "de", "pt"];
    let hits = &counts.hits;
    let (best, &top) = hits.iter().enumerate().max_by_key(|(i, c)| (**c, usize::from(*i == 0))).expect("five");
    if top == 0 {
        // Short English messages often have no function words ("worst airline ever").
        let confidence = if words <= 4 { 0.5 } else { 0.3 };
        return Language { code: if words <= 4 { "en" } else { "und" }, confidence };
    }
    let runner_up = hits.iter().enumerate().filter(|(i, _)| *i != best).map(|(_, c)| *c).max().unwrap_or(0);
    let confidence = ((top - runner_up.min(top)) as f32 / words as f32 * 2.0 + 0.4).min(0.99);
    Language { code: codes[best], confidence }
}
