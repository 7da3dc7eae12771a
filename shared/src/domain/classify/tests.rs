use super::*;

fn classify(text: &str) -> Classification {
    CareClassifier::default().classify(text, &Context::default())
}

fn sentiment(text: &str) -> Sentiment {
    classify(text).sentiment
}

#[test]
fn polite_complaints_are_complaints() {
    for text in [
        "@acme thanks for nothing, my flight was cancelled and I'm stuck. Please help",
        "@acme please help, my bag is lost and nobody answers the phone. Thanks",
        "@acme thank you for the 3 hour delay",
        "@acme Thanks again for losing my luggage!!",
    ] {
        let c = classify(text);
        assert_eq!((c.sentiment, c.intent), (Sentiment::Negative, Intent::Complaint), "{text}: {:?}", c.reasons);
        assert!(c.score < 0.0, "{text}");
    }
}

#[test]
fn sarcasm_cues_read_as_negative() {
    for text in [
        "@acme great, another delay",
        "@acme love sitting on the tarmac for 2 hours",
        "@acme awesome, my flight got cancelled again",
    ] {
        let c = classify(text);
        assert_eq!(c.sentiment, Sentiment::Negative, "{text}: {:?}", c.reasons);
        assert!(c.reasons.iter().any(|r| r.to_string().starts_with("sarcasm")), "{text}: {:?}", c.reasons);
    }
}

#[test]
fn negation_intensifiers_caps_emoji_and_emoticons() {
    assert_eq!(sentiment("@acme not happy with the service"), Sentiment::Negative);
    assert_eq!(sentiment("@acme the crew was not rude at all, really lovely"), Sentiment::Positive);
    assert!(classify("@acme the crew was SO rude").score < classify("@acme the crew was rude").score);
    assert_eq!(sentiment("@acme crew on flight 88 😍😍"), Sentiment::Positive);
    assert_eq!(sentiment("@acme my seat 😡"), Sentiment::Negative);
    assert_eq!(sentiment("@acme boarding now :)"), Sentiment::Positive);
    assert_eq!(sentiment("@acme boarding now :("), Sentiment::Negative);
    assert_eq!(sentiment("@acme #fail"), Sentiment::Negative);
}

#[test]
fn praise_questions_feedback_spam_other() {
    let praise = classify("@acme the crew was amazing, love you guys");
    assert_eq!((praise.sentiment, praise.intent), (Sentiment::Positive, Intent::Praise));
    assert_eq!(classify("@acme how do I change my seat?").intent, Intent::Question);
    assert_eq!(classify("@acme any deals to orlando in April").intent, Intent::Question);
    assert_eq!(classify("@acme I need to add a bag to my booking").intent, Intent::Question);
    assert_eq!(classify("@acme you should add more vegetarian meals, just a suggestion").intent, Intent::Feedback);
    assert_eq!(classify("FREE followers!! click here http://spam.example giveaway").intent, Intent::Spam);
    assert_eq!(classify("@acme flying to Denver today").intent, Intent::Other);
    assert_eq!(classify("FREE followers!! click here http://spam.example giveaway").priority, 0);
}

#[test]
fn mentions_and_brand_terms_are_not_sentiment() {
    assert_eq!(sentiment("@worst_airline_ever hello"), Sentiment::Neutral);
    let config = ClassifierConfig { brand_terms: vec!["#GreatAir".into()], ..ClassifierConfig::default() };
    let c = CareClassifier::new(config).classify("flying #GreatAir tomorrow", &Context::default());
    assert_eq!(c.sentiment, Sentiment::Neutral);
}

#[test]
fn operators_add_words_and_thresholds() {
    let config = ClassifierConfig { words: HashMap::from([("turbulence".into(), -2.5)]), ..Default::default() };
    let custom = CareClassifier::new(config);
    assert_eq!(sentiment("@acme so much turbulence"), Sentiment::Neutral);
    assert_eq!(custom.classify("@acme so much turbulence", &Context::default()).sentiment, Sentiment::Negative);
    let strict = CareClassifier::new(ClassifierConfig { positive_threshold: 10.0, ..Default::default() });
    assert_eq!(strict.classify("@acme great crew", &Context::default()).sentiment, Sentiment::Neutral);
}

#[test]
fn urgency_flags_carry_their_triggers() {
    let kinds = |text: &str, context: &Context| -> Vec<(UrgencyKind, Vec<String>)> {
        CareClassifier::default().classify(text, context).urgency.into_iter().map(|u| (u.kind, u.triggers)).collect()
    };
    let none = Context::default();
    assert_eq!(
        kinds("@acme the app is not working again", &none),
        vec![(UrgencyKind::Outage, vec!["not working".into()])]
    );
    assert_eq!(kinds("@acme I'm switching to Delta, never again", &none)[0].0, UrgencyKind::Churn);
    assert_eq!(kinds("@acme my lawyer will hear about this", &none)[0].0, UrgencyKind::LegalSafety);
    assert_eq!(kinds("@acme there was smoke in the cabin", &none)[0].0, UrgencyKind::LegalSafety);
    assert!(kinds("@acme going down to Miami", &none).is_empty(), "a direction is not an outage");
    let famous = Context { followers: Some(250_000), verified: true, engagement: Some(900), ..Context::default() };
    let flags = kinds("@acme my bag is lost", &famous);
    assert_eq!(flags[0], (UrgencyKind::PressInfluencer, vec!["250000 followers".into(), "verified account".into()]));
    assert_eq!(flags[1], (UrgencyKind::ViralRisk, vec!["900 engagements".into()]));
}

#[test]
fn priority_adds_up_with_reasons() {
    let calm = classify("@acme what time does check-in open?");
    let urgent = CareClassifier::default().classify(
        "@acme my card 4111 1111 1111 1111 was charged twice and the app is down. My lawyer is next",
        &Context { previous_conversations: Some(4), ..Context::default() },
    );
    assert!(urgent.priority > calm.priority + 40, "{} vs {}", urgent.priority, calm.priority);
    assert!(urgent.priority <= 100);
    for expected in ["complaint", "legal or safety", "outage", "personal data", "returning customer"] {
        assert!(urgent.reasons.iter().any(|r| r.to_string().contains(expected)), "{expected}: {:?}", urgent.reasons);
    }
    assert_eq!(urgent.privacy[0].kind, PrivacyKind::CardNumber);
}

#[test]
fn valued_customers_come_first() {
    let plain = classify("@acme my order is late");
    let vip = CareClassifier::default()
        .classify("@acme my order is late", &Context { tier: Some("vip".into()), ..Context::default() });
    assert_eq!(vip.priority, plain.priority + 15);
    assert!(vip.reasons.iter().any(|r| r.to_string() == "priority +15: valued customer (vip)"), "{:?}", vip.reasons);
    let bronze = CareClassifier::default()
        .classify("@acme my order is late", &Context { tier: Some("bronze".into()), ..Context::default() });
    assert_eq!(bronze.priority, plain.priority, "only the valued tiers count");
}

#[test]
fn private_messages_are_not_flagged_for_privacy() {
    let c = CareClassifier::default()
        .classify("my card is 4111 1111 1111 1111", &Context { private: true, ..Context::default() });
    assert!(c.privacy.is_empty());
}

#[test]
fn non_english_is_flagged_with_lower_confidence() {
    let spanish = classify("@acme el vuelo está muy retrasado y nadie me ayuda con la maleta");
    assert_eq!(spanish.language.code, "es");
    assert!(spanish.reasons.iter().any(|r| r.to_string().contains("lower confidence")), "{:?}", spanish.reasons);
    let english = classify("@acme my flight is delayed and nobody is helping me with the bag");
    assert_eq!(english.language.code, "en");
    assert!(english.language.confidence > 0.6);
    assert_eq!(classify("@acme フライトが遅れています").language.code, "und");
}
