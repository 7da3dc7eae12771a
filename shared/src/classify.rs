//! What a message is: sentiment and intent. This is the first, deliberately simple
//! classifier; a fuller one replaces it behind the [`Classifier`] trait.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    Negative,
    Neutral,
    Positive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Intent {
    Complaint,
    Question,
    Praise,
    Other,
}

impl Intent {
    /// Complaints and questions get an acknowledgement; praise and the rest do not.
    pub fn wants_acknowledgement(self) -> bool {
        matches!(self, Intent::Complaint | Intent::Question)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub sentiment: Sentiment,
    /// In [-1, 1].
    pub score: f32,
    pub intent: Intent,
}

pub trait Classifier: Send + Sync {
    fn classify(&self, text: &str) -> Classification;
}

/// Word-list sentiment with negation, plus intent rules. Complaints are full of "thanks"
/// and "please", so politeness words carry no weight and questions about a problem count
/// as complaints.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeywordClassifier;

const NEGATIVE: &[&str] = &[
    "angry",
    "annoyed",
    "awful",
    "bad",
    "broken",
    "cancelled",
    "canceled",
    "delay",
    "delayed",
    "disappointed",
    "disappointing",
    "disgusted",
    "down",
    "fail",
    "failed",
    "fails",
    "failure",
    "frustrated",
    "frustrating",
    "hate",
    "horrible",
    "issue",
    "lost",
    "mess",
    "missing",
    "outage",
    "overcharged",
    "poor",
    "problem",
    "refund",
    "rude",
    "ruined",
    "scam",
    "stuck",
    "terrible",
    "unacceptable",
    "useless",
    "waiting",
    "worse",
    "worst",
    "wrong",
];
const POSITIVE: &[&str] = &[
    "amazing",
    "awesome",
    "best",
    "brilliant",
    "excellent",
    "fantastic",
    "glad",
    "great",
    "happy",
    "impressed",
    "love",
    "loved",
    "lovely",
    "nice",
    "perfect",
    "recommend",
    "smooth",
    "superb",
    "wonderful",
];
const NEGATORS: &[&str] = &[
    "not", "no", "never", "don't", "dont", "didn't", "didnt", "isn't", "isnt", "wasn't", "wasnt", "can't", "cant",
    "won't", "wont",
];
const QUESTION_OPENERS: &[&str] = &[
    "how", "what", "when", "where", "why", "who", "which", "can", "could", "is", "are", "do", "does", "will", "would",
    "should", "any",
];

impl Classifier for KeywordClassifier {
    fn classify(&self, text: &str) -> Classification {
        let lower = text.to_lowercase();
        let words: Vec<&str> = lower
            .split_whitespace()
            .filter(|token| !token.starts_with('@') && !token.starts_with("http"))
            .flat_map(|token| token.split(|c: char| !(c.is_alphanumeric() || c == '\'')))
            .filter(|w| !w.is_empty())
            .collect();
        let mut score = 0.0f32;
        for (i, word) in words.iter().enumerate() {
            let polarity = if NEGATIVE.contains(word) {
                -1.0
            } else if POSITIVE.contains(word) {
                1.0
            } else {
                continue;
            };
            // "not great" and "never again" flip within a three-word window.
            let negated = words[i.saturating_sub(3)..i].iter().any(|w| NEGATORS.contains(w));
            score += if negated { -polarity } else { polarity };
        }
        if text.contains("!!") && score < 0.0 {
            score -= 0.5;
        }
        let score = (score / 3.0).clamp(-1.0, 1.0);
        let sentiment = if score <= -0.15 {
            Sentiment::Negative
        } else if score >= 0.15 {
            Sentiment::Positive
        } else {
            Sentiment::Neutral
        };
        let asks = text.contains('?') || words.first().is_some_and(|w| QUESTION_OPENERS.contains(w));
        let intent = match (sentiment, asks) {
            (Sentiment::Negative, _) => Intent::Complaint,
            (_, true) => Intent::Question,
            (Sentiment::Positive, false) => Intent::Praise,
            (Sentiment::Neutral, false) => Intent::Other,
        };
        Classification { sentiment, score, intent }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(text: &str) -> Classification {
        KeywordClassifier.classify(text)
    }

    #[test]
    fn polite_complaint_is_still_a_complaint() {
        let c = classify("@acme thanks for nothing, my flight was cancelled and I'm stuck. Please help");
        assert_eq!(c.sentiment, Sentiment::Negative);
        assert_eq!(c.intent, Intent::Complaint);
        assert!(c.score < 0.0);
    }

    #[test]
    fn question_praise_other() {
        assert_eq!(classify("@acme how do I change my seat?").intent, Intent::Question);
        assert_eq!(classify("@acme any deals to orlando in April").intent, Intent::Question);
        let praise = classify("@acme the crew was amazing, love you guys");
        assert_eq!((praise.sentiment, praise.intent), (Sentiment::Positive, Intent::Praise));
        assert_eq!(classify("@acme flying to Denver today").intent, Intent::Other);
    }

    #[test]
    fn negation_flips_polarity() {
        assert_eq!(classify("@acme not great at all").sentiment, Sentiment::Negative);
        assert_eq!(classify("@acme never a problem with you").sentiment, Sentiment::Positive);
    }

    #[test]
    fn mentions_do_not_count_as_words() {
        assert_eq!(classify("@worst_airline_ever hello").sentiment, Sentiment::Neutral);
    }
}
