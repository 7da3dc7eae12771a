//! What the message asks of the care team: its intent, its urgency and a priority, each
//! with its reasons.

use super::lexicon::flag;
use super::signals::Signals;
use super::{
    ClassifierConfig, Context, Intent, PriorityWhy, PrivacyFinding, PrivacyKind, Reason, Sentiment, Urgency,
    UrgencyKind,
};

pub fn intent(s: &Signals, sentiment: Sentiment, reasons: &mut Vec<Reason>) -> Intent {
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

pub fn urgency(s: &Signals, context: &Context, config: &ClassifierConfig) -> Vec<Urgency> {
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
    if let Some(followers) = context.followers.filter(|f| *f >= config.influencer_followers) {
        raise(UrgencyKind::PressInfluencer, format!("{followers} followers"));
    }
    if context.verified {
        raise(UrgencyKind::PressInfluencer, "verified account".into());
    }
    if let Some(engagement) = context.engagement.filter(|e| *e >= config.viral_engagement) {
        raise(UrgencyKind::ViralRisk, format!("{engagement} engagements"));
    }
    urgency
}

#[allow(clippy::too_many_arguments)]
pub fn priority(
    sentiment: Sentiment,
    score: f32,
    intent: Intent,
    urgency: &[Urgency],
    privacy: &[PrivacyFinding],
    context: &Context,
    config: &ClassifierConfig,
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
    if let Some(tier) = context.tier.as_ref().filter(|t| config.valued_tiers.contains(t)) {
        add(15, PriorityWhy::ValuedCustomer(tier.clone()));
    }
    if intent == Intent::Spam {
        return 0;
    }
    total.clamp(0, 100) as u8
}
