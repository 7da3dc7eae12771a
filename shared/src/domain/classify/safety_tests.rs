//! The asymmetric safety of the sentiment label and the thank-you decision, as a table:
//! when cues conflict, a message reads neutral or negative and is never thanked.

use super::*;

/// What a row expects of the sentiment label.
#[derive(Debug, Clone, Copy)]
enum Label {
    Is(Sentiment),
    /// Neutral or negative: anything but praise.
    NotPositive,
}

const NEG: Label = Label::Is(Sentiment::Negative);
const POS: Label = Label::Is(Sentiment::Positive);
const NOT_POS: Label = Label::NotPositive;

/// (kind of case, message, label, thanked)
const CASES: &[(&str, &str, Label, bool)] = &[
    // Mixed cues: praise beside a problem is not praise.
    ("mixed", "@acme love the crew but my bag is lost", NOT_POS, false),
    ("mixed", "@acme great food, terrible wait", NOT_POS, false),
    ("mixed", "@acme the staff were lovely, shame the flight was delayed 3 hours", NOT_POS, false),
    ("mixed", "@acme I love Boots! Shame you're introducing a man tax", NOT_POS, false),
    ("mixed", "@acme amazing phone, battery drains in two hours though", NOT_POS, false),
    ("mixed", "@acme nice app but it keeps crashing", NOT_POS, false),
    // Sarcasm: praise words around a problem.
    ("sarcasm", "@acme great, another delay", NEG, false),
    ("sarcasm", "@acme love sitting on the tarmac for 2 hours", NEG, false),
    ("sarcasm", "@acme thanks for nothing, 3 hours on hold", NEG, false),
    ("sarcasm", "@acme Thanks again for losing my luggage!!", NEG, false),
    ("sarcasm", "@acme awesome, my flight got cancelled again", NEG, false),
    ("sarcasm", "@acme sent me to 3 departments and still no refund for my broken tv. Great service!!!", NEG, false),
    ("sarcasm", "@acme My holiday present is a laptop that does not work. #HappyHolidays", NEG, false),
    ("sarcasm", "@acme thank you so much for the 2 hour delay", NEG, false),
    ("sarcasm", "@acme brilliant, the app crashed again and ate my order", NEG, false),
    ("sarcasm", "@acme thanks for the \"help\" today", NOT_POS, false),
    ("sarcasm", "@acme another wonderful experience #sarcasm", NEG, false),
    ("sarcasm", "@acme love flying with you #not", NEG, false),
    // Negation: negated praise is blame.
    ("negation", "@acme not happy with the service", NEG, false),
    ("negation", "@acme your support was never helpful", NEG, false),
    ("negation", "@acme not impressed with the new update", NEG, false),
    ("negation", "@acme the app doesn't work on my phone", NEG, false),
    ("negation", "@acme my order never arrived", NEG, false),
    ("negation", "@acme the service wasn't great today", NOT_POS, false),
    // Praise that has not happened, and manners around a request.
    ("hypothetical", "@acme it would be great if someone answered my emails", NOT_POS, false),
    ("hypothetical", "@acme would love a reply at some point", NOT_POS, false),
    ("hypothetical", "@acme would be nice if the app actually worked", NOT_POS, false),
    ("request", "@acme please help, my order never arrived. Thanks", NEG, false),
    ("question", "@acme thanks! do you ship to Canada?", NOT_POS, false),
    ("question", "@acme love the app! when is the android version coming?", POS, false),
    // Flags and languages the word lists cannot vouch for.
    ("urgency", "@acme amazing, the whole network is down again", NEG, false),
    ("language", "@acme gracias, excelente servicio y muy amable", NOT_POS, false),
    // Genuine praise, with nothing against it, is thanked.
    ("praise", "@acme the crew on flight 88 was amazing, thank you!", POS, true),
    ("praise", "@acme great service at the Leeds store today, thanks", POS, true),
    ("praise", "@acme I love my new phone", POS, true),
    ("praise", "@acme best customer service ever, you guys rock", POS, true),
    ("resolved", "@acme the wifi was broken but it's fixed now, thank you so much!", POS, false),
    ("resolved", "@acme thank you, we solved the problem", POS, true),
];

#[test]
fn conflicting_cues_read_neutral_or_negative_and_are_never_thanked() {
    let classifier = CareClassifier::default();
    let mut failures = Vec::new();
    for (kind, text, label, thanked) in CASES {
        let c = classifier.classify(text, &Context::default());
        let label_ok = match label {
            Label::Is(s) => c.sentiment == *s,
            Label::NotPositive => c.sentiment != Sentiment::Positive,
        };
        if !label_ok || c.thank.thank != *thanked {
            failures.push(format!(
                "{kind}: {text:?}: {} (confidence {:.2}), thank {} {:?}; reasons {:?}",
                c.sentiment.as_str(),
                c.confidence,
                c.thank.thank,
                c.thank.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
                c.reasons.iter().map(ToString::to_string).collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}

#[test]
fn confidence_is_a_probability_that_grows_with_the_evidence() {
    let classifier = CareClassifier::default();
    let confidence = |text: &str| classifier.classify(text, &Context::default()).confidence;
    let mild = confidence("@acme my flight is delayed");
    let strong = confidence("@acme my flight is delayed again, 3 hours on hold, terrible service, worst airline ever");
    assert!(0.0 < mild && mild < strong && strong < 1.0, "{mild} {strong}");
    let praise = confidence("@acme thanks");
    let warm = confidence("@acme amazing crew, wonderful flight, thank you so much!");
    assert!(praise < warm, "{praise} {warm}");
    let spanish = classifier.classify("@acme el vuelo está muy retrasado y nadie me ayuda", &Context::default());
    assert!(spanish.confidence <= 0.6, "{}", spanish.confidence);
}
