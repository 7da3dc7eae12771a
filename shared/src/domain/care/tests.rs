use chrono::TimeZone;

use super::hours::BusinessHours;
use super::policy::CarePolicy;
use super::templates::CareTemplates;
use super::*;
use crate::domain::classify::UrgencyKind;
use crate::domain::classify::{CareClassifier, Classifier, Context};
use crate::domain::mention::{Author, Channel, Direction, MentionKind};
use crate::domain::sla::{SlaClock, SlaPolicy};

/// A conversation with nothing gathered yet.
static NO_HISTORY: ConversationFacts = ConversationFacts {
    customer_id: None,
    followers: None,
    verified: false,
    valued: None,
    engagement: 0,
    risks: Vec::new(),
    viral: false,
    running: None,
};

/// Friday 4 December 2026.
fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, hour, minute, 0).unwrap()
}

fn mention(text: &str, received: DateTime<Utc>) -> Mention {
    Mention {
        channel: Channel::X,
        account_id: "acme".into(),
        direction: Direction::Inbound,
        kind: MentionKind::Post,
        message_id: format!("m{}", crate::stable_hash(text)),
        parent_id: None,
        parent_author_id: None,
        quoted_id: None,
        author: Author {
            id: "c1".into(),
            handle: Some("dana_x".into()),
            name: Some("Dana Smith".into()),
            followers: None,
            verified: false,
        },
        customer_id: "c1".into(),
        text: text.into(),
        language: None,
        created_at: received,
        received_at: received,
        raw_ref: "r".into(),
        action: Default::default(),
        standby: false,
        automated: None,
        text_source: None,
        listening: false,
    }
}

/// London office hours; Facebook's clocks pause outside them, X runs around the clock.
fn office() -> CarePolicy {
    CarePolicy {
        hours: BusinessHours::parse("Europe/London", "mon-fri 09:00-17:00", &[]).unwrap(),
        business_time: vec![Channel::Facebook],
        templates: CareTemplates::defaults("^KT"),
        thanks: true,
        viral: Default::default(),
        spike: Default::default(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Nothing,
    Ack,
    OffHoursAck,
    Thanks(&'static str),
}

struct Case {
    name: &'static str,
    text: &'static str,
    received: DateTime<Utc>,
    channel: Channel,
    /// Found by a search for the brand.
    listening: bool,
    acknowledged: bool,
    answered_at: Option<DateTime<Utc>>,
    thanks: bool,
    expect: Expect,
    /// When the clock's breach falls due, or None for no clock.
    breach: Option<DateTime<Utc>>,
}

fn case(
    name: &'static str,
    text: &'static str,
    received: DateTime<Utc>,
    expect: Expect,
    breach: Option<DateTime<Utc>>,
) -> Case {
    Case {
        name,
        text,
        received,
        channel: Channel::X,
        listening: false,
        acknowledged: false,
        answered_at: None,
        thanks: true,
        expect,
        breach,
    }
}

#[test]
fn the_care_rules_as_a_table() {
    let x = SlaPolicy::X_DEFAULT; // 15 minutes ideal, 30 breach
    let facebook = SlaPolicy::META_DEFAULT; // 25 minutes, 24 hours
    let cases = [
        case(
            "a complaint in hours",
            "@acme my order never arrived and nobody answers",
            at(10, 0),
            Expect::Ack,
            Some(at(10, 30)),
        ),
        case(
            "a question in hours",
            "@acme how do I change my delivery address?",
            at(10, 0),
            Expect::Ack,
            Some(at(10, 30)),
        ),
        case(
            "a complaint after hours on a round-the-clock channel: told when, clock runs",
            "@acme my order never arrived and nobody answers",
            at(19, 0),
            Expect::OffHoursAck,
            Some(at(19, 30)),
        ),
        Case {
            channel: Channel::Facebook,
            ..case(
                "after hours on a business-time channel: the clock waits for Monday",
                "my order never arrived and nobody answers",
                at(19, 0),
                Expect::OffHoursAck,
                // 24 working hours from Monday 09:00: three 8-hour days, Wednesday 17:00.
                Some(Utc.with_ymd_and_hms(2026, 12, 9, 17, 0, 0).unwrap()),
            )
        },
        Case {
            acknowledged: true,
            ..case(
                "already acknowledged",
                "@acme still waiting for my refund",
                at(10, 0),
                Expect::Nothing,
                Some(at(10, 30)),
            )
        },
        Case {
            answered_at: Some(at(10, 5)),
            ..case(
                "written before a person's answer that came first",
                "@acme still waiting for my refund",
                at(10, 0),
                Expect::Nothing,
                None,
            )
        },
        Case {
            listening: true,
            ..case(
                "a complaint found by listening: never answered automatically, the clock runs",
                "acme lost my order and nobody answers",
                at(10, 0),
                Expect::Nothing,
                Some(at(10, 30)),
            )
        },
        Case {
            listening: true,
            ..case(
                "praise found by listening is not thanked either",
                "the acme crew on flight 88 was amazing, thank you!",
                at(10, 0),
                Expect::Nothing,
                None,
            )
        },
        case(
            "praise is thanked, no clock",
            "@acme the crew on flight 88 was amazing, thank you!",
            at(10, 0),
            Expect::Thanks("made our day|lovely to hear|glad it went well|kind words"),
            None,
        ),
        case(
            "gratitude gets a welcome",
            "@acme thanks so much!",
            at(10, 0),
            Expect::Thanks("welcome|Any time|Happy to help"),
            None,
        ),
        case(
            "a suggestion is thanked and passed on",
            "@acme great idea would be a dark mode feature in the app",
            at(10, 0),
            Expect::Thanks("passed it on|shared it"),
            None,
        ),
        case(
            "praise beside a problem is not thanked",
            "@acme love the crew but my bag is lost",
            at(10, 0),
            Expect::Ack,
            Some(at(10, 30)),
        ),
        case(
            "sarcasm is not thanked",
            "@acme thanks for nothing, 3 hours on hold",
            at(10, 0),
            Expect::Ack,
            Some(at(10, 30)),
        ),
        Case {
            answered_at: Some(at(9, 0)),
            ..case(
                "thanks to an agent are the agent's to answer",
                "@acme thanks so much, all sorted!",
                at(10, 0),
                Expect::Nothing,
                None,
            )
        },
        Case {
            thanks: false,
            ..case(
                "an account that does not thank",
                "@acme the crew on flight 88 was amazing, thank you!",
                at(10, 0),
                Expect::Nothing,
                None,
            )
        },
        case(
            "spam: nothing",
            "FREE followers!! click here http://spam.example giveaway",
            at(10, 0),
            Expect::Nothing,
            None,
        ),
    ];
    let thanked = HashMap::new();
    for c in cases {
        let mut policy = office();
        policy.thanks = c.thanks;
        let mut m = mention(c.text, c.received);
        m.channel = c.channel;
        m.listening = c.listening;
        let classification = CareClassifier::default().classify(c.text, &Context::default());
        let inbound = Inbound {
            mention: &m,
            classification: &classification,
            acknowledged: c.acknowledged,
            answered_at: c.answered_at,
            thanked: &thanked,
            conversation: &ConversationFacts::default(),
        };
        let sla = if c.channel == Channel::X { x } else { facebook };
        let decision = decide_inbound(&policy, sla, &inbound, c.received);
        let got = match &decision.reply {
            None => Expect::Nothing,
            Some(r) if r.kind == ReplyKind::Acknowledgement => Expect::Ack,
            Some(r) if r.kind == ReplyKind::OffHoursAcknowledgement => Expect::OffHoursAck,
            Some(r) => {
                let Expect::Thanks(words) = c.expect else { panic!("{}: thanked: {:?}", c.name, r.text) };
                assert!(words.split('|').any(|w| r.text.contains(w)), "{}: {:?}", c.name, r.text);
                assert!(r.text.contains("Dana") && r.template_id.is_some(), "{}: {:?}", c.name, r);
                c.expect
            }
        };
        assert_eq!(got, c.expect, "{}: {:?} ({:?})", c.name, decision, classification.intent);
        assert_eq!(decision.clock.map(|clock| clock.breach_due_at), c.breach, "{}", c.name);
        if let Some(reply) = &decision.reply
            && reply.kind == ReplyKind::OffHoursAcknowledgement
        {
            assert!(reply.text.contains("on Monday at 09:00 GMT"), "{}: {}", c.name, reply.text);
        }
    }
}

#[test]
fn personal_data_in_public_moves_to_a_dm_and_is_never_thanked() {
    let policy = office();
    let text = "@acme my card 4111 1111 1111 1111 was charged twice";
    let m = mention(text, at(10, 0));
    let classification = CareClassifier::default().classify(text, &Context::default());
    let thanked = HashMap::new();
    let inbound = Inbound {
        mention: &m,
        classification: &classification,
        acknowledged: false,
        answered_at: None,
        thanked: &thanked,
        conversation: &NO_HISTORY,
    };
    let reply = decide_inbound(&policy, SlaPolicy::X_DEFAULT, &inbound, at(10, 0)).reply.unwrap();
    assert!(reply.text.contains("DM"), "{}", reply.text);
    let text = "@acme amazing service, thank you! my email is dana@example.com";
    let classification = CareClassifier::default().classify(text, &Context::default());
    let m = mention(text, at(10, 0));
    let inbound = Inbound { mention: &m, classification: &classification, ..inbound };
    let decision = decide_inbound(&policy, SlaPolicy::X_DEFAULT, &inbound, at(10, 0));
    assert!(decision.reply.is_none(), "{decision:?}");
}

#[test]
fn the_same_customer_gets_a_different_thank_you_each_time() {
    let policy = office();
    let text = "@acme the crew on flight 88 was amazing, thank you!";
    let m = mention(text, at(10, 0));
    let classification = CareClassifier::default().classify(text, &Context::default());
    let mut thanked = HashMap::new();
    let mut seen = Vec::new();
    for minute in 0..4 {
        let now = at(10, minute);
        let inbound = Inbound {
            mention: &m,
            classification: &classification,
            acknowledged: false,
            answered_at: None,
            thanked: &thanked,
            conversation: &NO_HISTORY,
        };
        let reply = decide_inbound(&policy, SlaPolicy::X_DEFAULT, &inbound, now).reply.unwrap();
        let id = reply.template_id.unwrap();
        assert!(!seen.contains(&id), "template {id} again within the hour");
        seen.push(id.clone());
        thanked.insert(id, now);
    }
    // Four praise texts, all used within the hour: the fifth time, no thanks at all.
    let inbound = Inbound {
        mention: &m,
        classification: &classification,
        acknowledged: false,
        answered_at: None,
        thanked: &thanked,
        conversation: &NO_HISTORY,
    };
    let decision = decide_inbound(&policy, SlaPolicy::X_DEFAULT, &inbound, at(10, 5));
    assert!(decision.reply.is_none() && decision.quiet_because.is_some());
    // An hour later they may come round again, but never the last one twice in a row.
    let later = at(11, 10);
    let inbound = Inbound { thanked: &thanked, ..inbound };
    let reply = decide_inbound(&policy, SlaPolicy::X_DEFAULT, &inbound, later).reply.unwrap();
    assert_ne!(reply.template_id.as_deref(), seen.last().map(String::as_str));
}

#[test]
fn the_viral_fast_track_shortens_the_clock_and_escalates_at_once() {
    let policy = office();
    let thanked = HashMap::new();
    let decide = |text: &str, followers: u64, verified: bool, facts: &ConversationFacts| {
        let mut m = mention(text, at(10, 0));
        m.author.followers = Some(followers);
        m.author.verified = verified;
        let classification = CareClassifier::default().classify(text, &Context::default());
        let inbound = Inbound {
            mention: &m,
            classification: &classification,
            acknowledged: false,
            answered_at: None,
            thanked: &thanked,
            conversation: facts,
        };
        decide_inbound(&policy, SlaPolicy::X_DEFAULT, &inbound, at(10, 0))
    };
    let fresh = ConversationFacts { customer_id: Some("c1".into()), ..ConversationFacts::default() };
    // A large account's plain complaint: the usual clock, no fast track.
    let plain = decide("@acme my bag is lost", 250_000, true, &fresh);
    assert!(plain.fast_track.is_none() && plain.clock.unwrap().breach_due_at == at(10, 30));
    // The same account about an outage: fast-tracked, the clock 5/15 minutes.
    let outage = decide("@acme the app is down again, nothing works", 250_000, false, &fresh);
    let track = outage.fast_track.expect("fast-tracked");
    assert_eq!(track.reasons, vec!["reach: 250000 followers".to_owned(), "about an outage".to_owned()]);
    assert_eq!(outage.clock.unwrap().ideal_due_at, at(10, 5));
    assert_eq!(outage.clock.unwrap().breach_due_at, at(10, 15));
    assert_eq!(outage.risks_added, vec![UrgencyKind::Outage]);
    // Someone else piling into a thread that is already big and about an outage: the
    // engagement tips it, and the running clock is shortened, never lengthened.
    let running = SlaClock { started_at: at(9, 50), ideal_due_at: at(10, 5), breach_due_at: at(10, 20) };
    let spreading = ConversationFacts {
        customer_id: Some("someone-else".into()),
        engagement: 24,
        risks: vec![UrgencyKind::Outage],
        running: Some((running, 0)),
        ..ConversationFacts::default()
    };
    let joined = decide("@acme same here, down for me too", 90, false, &spreading);
    assert_eq!(joined.engagement_added, 1);
    let track = joined.fast_track.expect("25 engagements and an outage");
    assert_eq!(track.clock.started_at, at(9, 50));
    assert_eq!((track.clock.ideal_due_at, track.clock.breach_due_at), (at(10, 5), at(10, 15)));
    // Once a conversation.
    let done = ConversationFacts { viral: true, ..spreading };
    assert!(decide("@acme still down!!", 90, false, &done).fast_track.is_none());
}
