//! The classifier on arbitrary text (every stored message passes through it): never a
//! panic, and what it says stays in range and agrees with itself.
#![no_main]

use std::sync::LazyLock;

use hark_shared::domain::classify::{CareClassifier, Classifier, Context, Intent, Sentiment};
use libfuzzer_sys::fuzz_target;

static CLASSIFIER: LazyLock<CareClassifier> = LazyLock::new(CareClassifier::default);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for context in [Context::default(), Context { private: true, followers: Some(50_000), ..Context::default() }] {
        let c = CLASSIFIER.classify(text, &context);
        assert!(c.confidence > 0.0 && c.confidence < 1.0, "{}", c.confidence);
        assert!((-1.0..=1.0).contains(&c.score), "{}", c.score);
        assert!(c.priority <= 100);
        match c.sentiment {
            Sentiment::Negative => assert!(c.score < 0.0),
            Sentiment::Positive => assert!(c.score > 0.0),
            Sentiment::Neutral => {}
        }
        // Only praise or feedback is ever thanked, and a thank-you always says why.
        assert!(!c.thank.reasons.is_empty());
        if c.thank.thank {
            assert!(matches!(c.intent, Intent::Praise | Intent::Feedback));
            assert!(c.sentiment != Sentiment::Negative);
        }
        // Reasons serialise (they are stored and shown).
        serde_json::to_string(&c).unwrap();
    }
});
