//! The viral fast track: a rule, not a panic. A complaint is fast-tracked when at least two
//! of three things hold: its author reaches many people (followers, a verified account, a
//! valued customer), it is spreading (other people replying and reposting), or it is about
//! an outage, safety, the law or the press. A plain complaint from a large account is not
//! an emergency by itself; a complaint nobody sees is not viral however loud. A fast-tracked
//! conversation's clock is shortened and it is escalated at once, with its reasons.

use chrono::TimeDelta;

use crate::domain::classify::UrgencyKind;
use crate::domain::sla::SlaPolicy;

/// An account's thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViralRule {
    /// Followers at which an author reaches many people.
    pub followers: u64,
    /// Engagement (replies by others, reposts, likes) at which a thread is spreading.
    pub engagement: u64,
    /// The shortened first-response targets of a fast-tracked conversation.
    pub sla: SlaPolicy,
}

impl Default for ViralRule {
    fn default() -> Self {
        ViralRule {
            followers: 10_000,
            engagement: 25,
            sla: SlaPolicy { ideal: TimeDelta::minutes(5), breach: TimeDelta::minutes(15) },
        }
    }
}

/// What is known of a conversation, this message included.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposure {
    /// The conversation's customer's followers, and whether the platform verified them.
    pub followers: Option<u64>,
    pub verified: bool,
    /// A customer the operator marked as valued (a tier such as "vip").
    pub valued: Option<String>,
    pub engagement: u64,
    /// The urgency flags raised in the conversation so far.
    pub risks: Vec<UrgencyKind>,
    /// Something is wrong: a complaint, or negative.
    pub negative: bool,
}

/// The reasons to fast-track, or `None`.
pub fn assess(rule: &ViralRule, e: &Exposure) -> Option<Vec<String>> {
    if !e.negative {
        return None;
    }
    let mut reach = Vec::new();
    if let Some(followers) = e.followers.filter(|f| *f >= rule.followers) {
        reach.push(format!("{followers} followers"));
    }
    if e.verified {
        reach.push("a verified account".to_owned());
    }
    if let Some(tier) = &e.valued {
        reach.push(format!("a {tier} customer"));
    }
    let spreading = (e.engagement >= rule.engagement).then(|| format!("{} engagements", e.engagement));
    let risks: Vec<&str> = e
        .risks
        .iter()
        .filter_map(|k| match k {
            UrgencyKind::Outage => Some("an outage"),
            UrgencyKind::LegalSafety => Some("safety or legal"),
            UrgencyKind::PressInfluencer => None, // reach, counted above from the figures
            UrgencyKind::Churn | UrgencyKind::ViralRisk => None,
        })
        .collect();
    let signals = usize::from(!reach.is_empty()) + usize::from(spreading.is_some()) + usize::from(!risks.is_empty());
    if signals < 2 {
        return None;
    }
    let mut reasons = Vec::new();
    if !reach.is_empty() {
        reasons.push(format!("reach: {}", reach.join(", ")));
    }
    if let Some(spreading) = spreading {
        reasons.push(format!("spreading: {spreading}"));
    }
    if !risks.is_empty() {
        reasons.push(format!("about {}", risks.join(" and ")));
    }
    Some(reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_of_reach_spread_and_risk_make_it_viral() {
        let rule = ViralRule::default();
        let big = Exposure { followers: Some(250_000), negative: true, ..Exposure::default() };
        let table: &[(&str, Exposure, Option<&[&str]>)] = &[
            ("a plain complaint from a large account", big.clone(), None),
            ("a verified large account alone", Exposure { verified: true, ..big.clone() }, None),
            (
                "a large account about an outage",
                Exposure { risks: vec![UrgencyKind::Outage], ..big.clone() },
                Some(&["reach: 250000 followers", "about an outage"]),
            ),
            (
                "a large account's complaint spreading",
                Exposure { engagement: 40, ..big.clone() },
                Some(&["reach: 250000 followers", "spreading: 40 engagements"]),
            ),
            (
                "a small account's safety complaint spreading",
                Exposure {
                    followers: Some(120),
                    engagement: 30,
                    risks: vec![UrgencyKind::LegalSafety],
                    negative: true,
                    ..Exposure::default()
                },
                Some(&["spreading: 30 engagements", "about safety or legal"]),
            ),
            (
                "a valued customer on a broken app",
                Exposure {
                    valued: Some("vip".into()),
                    risks: vec![UrgencyKind::Outage],
                    negative: true,
                    ..Exposure::default()
                },
                Some(&["reach: a vip customer", "about an outage"]),
            ),
            (
                "praise from a famous account, however shared",
                Exposure { engagement: 900, verified: true, negative: false, ..big.clone() },
                None,
            ),
            (
                "a small account's outage, nobody else around",
                Exposure {
                    followers: Some(80),
                    risks: vec![UrgencyKind::Outage],
                    negative: true,
                    ..Exposure::default()
                },
                None,
            ),
            ("a churn threat from a large account", Exposure { risks: vec![UrgencyKind::Churn], ..big }, None),
        ];
        for (case, exposure, expected) in table {
            let got = assess(&rule, exposure);
            let expected = expected.map(|r| r.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
            assert_eq!(got, expected, "{case}");
        }
    }
}
