//! Response-time SLAs and the escalation ladder: warning at the ideal time, breach at the
//! breach time, then a repeat every interval while the customer is still unanswered.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::mention::Channel;

/// One channel's first-response targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaPolicy {
    pub ideal: TimeDelta,
    pub breach: TimeDelta,
}

impl SlaPolicy {
    /// X: 15 minutes ideal, 30 at most (DESIGN.md).
    pub const X_DEFAULT: SlaPolicy = SlaPolicy { ideal: TimeDelta::minutes(15), breach: TimeDelta::minutes(30) };
    /// Facebook and Instagram: 25 minutes ideal, 24 hours at most.
    pub const META_DEFAULT: SlaPolicy = SlaPolicy { ideal: TimeDelta::minutes(25), breach: TimeDelta::hours(24) };
    /// LinkedIn: the same working day; four hours ideal.
    pub const LINKEDIN_DEFAULT: SlaPolicy = SlaPolicy { ideal: TimeDelta::hours(4), breach: TimeDelta::hours(24) };
    /// Reddit: an hour ideal, two at most (threads move on fast).
    pub const REDDIT_DEFAULT: SlaPolicy = SlaPolicy { ideal: TimeDelta::hours(1), breach: TimeDelta::hours(2) };
    /// Listening hits (found by a search, not addressed to the brand): a person looks within
    /// a working day, and within two days at most.
    pub const LISTENING_DEFAULT: SlaPolicy = SlaPolicy { ideal: TimeDelta::hours(8), breach: TimeDelta::hours(48) };
    /// A company's own source (an app, a web form): an hour ideal, the same day at most.
    pub const GENERIC_DEFAULT: SlaPolicy = SlaPolicy { ideal: TimeDelta::hours(1), breach: TimeDelta::hours(24) };

    /// What the field expects of each channel.
    pub const fn default_for(channel: Channel) -> SlaPolicy {
        match channel {
            // Mastodon's and Bluesky's users expect what X's do.
            Channel::X | Channel::Mastodon | Channel::Bluesky => Self::X_DEFAULT,
            Channel::Facebook | Channel::Instagram => Self::META_DEFAULT,
            // Both answer within the working day.
            Channel::LinkedIn | Channel::YouTube => Self::LINKEDIN_DEFAULT,
            Channel::Reddit => Self::REDDIT_DEFAULT,
            Channel::Generic => Self::GENERIC_DEFAULT,
        }
    }

    pub fn new(ideal_minutes: u32, breach_minutes: u32) -> Result<Self, String> {
        if ideal_minutes == 0 || breach_minutes == 0 {
            return Err("SLA minutes must be positive".into());
        }
        if ideal_minutes > breach_minutes {
            return Err(format!("ideal ({ideal_minutes} min) must not exceed breach ({breach_minutes} min)"));
        }
        Ok(SlaPolicy {
            ideal: TimeDelta::minutes(ideal_minutes.into()),
            breach: TimeDelta::minutes(breach_minutes.into()),
        })
    }

    /// Starts the clock for a message received at `at`.
    pub fn start(&self, at: DateTime<Utc>) -> SlaClock {
        SlaClock { started_at: at, ideal_due_at: at + self.ideal, breach_due_at: at + self.breach }
    }
}

/// Every channel's policy, by [`Channel::ALL`]'s order, and the listening hits' own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaPolicies {
    channels: [SlaPolicy; Channel::ALL.len()],
    pub listening: SlaPolicy,
}

impl SlaPolicies {
    /// The defaults the field recommends (see [`SlaPolicy::default_for`]).
    pub const DEFAULT: SlaPolicies = {
        let mut policies = [SlaPolicy::X_DEFAULT; Channel::ALL.len()];
        let mut i = 0;
        while i < policies.len() {
            policies[i] = SlaPolicy::default_for(Channel::ALL[i]);
            i += 1;
        }
        SlaPolicies { channels: policies, listening: SlaPolicy::LISTENING_DEFAULT }
    };

    pub fn for_channel(&self, channel: Channel) -> SlaPolicy {
        self.channels[position(channel)]
    }

    /// A listening hit's policy, or its channel's.
    pub fn for_mention(&self, mention: &crate::domain::mention::Mention) -> SlaPolicy {
        if mention.listening { self.listening } else { self.for_channel(mention.channel) }
    }

    pub fn set(&mut self, channel: Channel, policy: SlaPolicy) {
        self.channels[position(channel)] = policy;
    }

    /// `SLA_{CHANNEL}_{IDEAL,BREACH}_MINUTES` for each channel (`SLA_LINKEDIN_IDEAL_MINUTES`)
    /// and `SLA_LISTENING_…` for listening hits, defaulting to [`SlaPolicies::DEFAULT`].
    pub fn from_env() -> crate::Result<Self> {
        use crate::config::env_or;
        let read = |name: &str, default: SlaPolicy| -> crate::Result<SlaPolicy> {
            let ideal = env_or(&format!("SLA_{name}_IDEAL_MINUTES"), default.ideal.num_minutes() as u32)?;
            let breach = env_or(&format!("SLA_{name}_BREACH_MINUTES"), default.breach.num_minutes() as u32)?;
            SlaPolicy::new(ideal, breach).map_err(|e| crate::Error::Config(format!("{name} SLA: {e}")))
        };
        let mut policies = Self::DEFAULT;
        for channel in Channel::ALL {
            policies.set(channel, read(&channel.as_str().to_ascii_uppercase(), SlaPolicy::default_for(channel))?);
        }
        policies.listening = read("LISTENING", SlaPolicy::LISTENING_DEFAULT)?;
        Ok(policies)
    }
}

/// A channel's slot: [`Channel::ALL`] lists the channels in their declared order (tested).
const fn position(channel: Channel) -> usize {
    channel as usize
}

/// A running first-response clock, stored on the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaClock {
    pub started_at: DateTime<Utc>,
    pub ideal_due_at: DateTime<Utc>,
    pub breach_due_at: DateTime<Utc>,
}

/// Rung 0 is "nothing yet"; 1 warning; 2 breach; 3 and up are repeats of the breach alert.
pub type EscalationLevel = u32;
pub const WARNING: EscalationLevel = 1;
pub const BREACH: EscalationLevel = 2;
/// Off the ladder: the viral fast track, raised once a conversation.
pub const VIRAL: EscalationLevel = 100;
/// Off the ladder: an outage spike's incident, once per incident and account.
pub const SPIKE: EscalationLevel = 101;

pub fn level_name(level: EscalationLevel) -> &'static str {
    match level {
        0 => "none",
        WARNING => "warning",
        BREACH => "breach",
        VIRAL => "viral",
        SPIKE => "spike",
        _ => "breach_repeat",
    }
}

/// How a breach is raised again while the customer is still unanswered, and how often at
/// most: an alert that repeats forever stops being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ladder {
    pub repeat: TimeDelta,
    pub max_repeats: u32,
}

impl Ladder {
    pub fn new(repeat_minutes: u32, max_repeats: u32) -> Result<Self, String> {
        if repeat_minutes == 0 {
            return Err("the escalation repeat interval must be positive".into());
        }
        Ok(Ladder { repeat: TimeDelta::minutes(repeat_minutes.into()), max_repeats })
    }

    /// The highest rung: the breach plus its repeats.
    pub fn last_level(&self) -> EscalationLevel {
        BREACH + self.max_repeats
    }
}

impl SlaClock {
    /// When `level` falls due.
    pub fn checkpoint(&self, level: EscalationLevel, ladder: &Ladder) -> DateTime<Utc> {
        match level {
            0 => self.started_at,
            WARNING => self.ideal_due_at,
            BREACH => self.breach_due_at,
            n => self.breach_due_at + ladder.repeat * (n - BREACH) as i32,
        }
    }

    /// The first level above `current` that can fall due: a channel whose ideal time equals
    /// its breach time (Tumblr, Reddit) goes straight to breach.
    fn next_level(&self, current: EscalationLevel) -> EscalationLevel {
        if current == 0 && self.ideal_due_at >= self.breach_due_at { BREACH } else { current + 1 }
    }

    /// When a new clock is first due.
    pub fn first_due(&self) -> DateTime<Utc> {
        if self.ideal_due_at >= self.breach_due_at { self.breach_due_at } else { self.ideal_due_at }
    }

    /// When the escalator should next look at this conversation; `None` once the ladder's
    /// last rung is reached, which ends the clock.
    pub fn next_due(&self, current: EscalationLevel, ladder: &Ladder) -> Option<DateTime<Utc>> {
        let next = self.next_level(current);
        (next <= ladder.last_level()).then(|| self.checkpoint(next, ladder))
    }

    /// The level to escalate to at `now`, if any. When several rungs have passed (the
    /// escalator was paused), only the highest is raised: one alert, not a burst.
    pub fn due_level(&self, current: EscalationLevel, now: DateTime<Utc>, ladder: &Ladder) -> Option<EscalationLevel> {
        let next = self.next_level(current);
        if next > ladder.last_level() || now < self.checkpoint(next, ladder) {
            return None;
        }
        if now < self.breach_due_at {
            return Some(WARNING);
        }
        let repeats = ((now - self.breach_due_at).num_seconds() / ladder.repeat.num_seconds().max(1)) as u32;
        Some((BREACH + repeats).max(next).min(ladder.last_level()))
    }
}

/// Whether a customer's message starts (or joins) an SLA clock. A clock means "someone owes
/// this customer an answer", so only messages that ask for one start it: complaints and
/// questions always, anything urgent always, and an unclassifiable message unless it
/// follows a recent answer ("ok", "got it" after an agent replied). Praise, feedback and
/// spam never do: "thanks, sorted!" must not page anyone.
pub fn starts_clock(
    intent: crate::domain::classify::Intent,
    urgent: bool,
    answered_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    use crate::domain::classify::Intent;
    /// How long after an answer a message that says nothing in particular is read as a reply to it.
    const AFTER_ANSWER: TimeDelta = TimeDelta::hours(24);
    match intent {
        Intent::Complaint | Intent::Question => true,
        Intent::Spam => false,
        Intent::Praise | Intent::Feedback => urgent,
        Intent::Other => urgent || answered_at.is_none_or(|at| now - at > AFTER_ANSWER),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::classify::Intent;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
    }

    #[test]
    fn each_channel_has_its_own_slot_and_default() {
        assert!(Channel::ALL.iter().enumerate().all(|(i, c)| position(*c) == i), "ALL in declared order");
        let mut policies = SlaPolicies::DEFAULT;
        assert_eq!(policies.for_channel(Channel::X), SlaPolicy::X_DEFAULT);
        assert_eq!(policies.for_channel(Channel::Instagram), SlaPolicy::META_DEFAULT);
        assert_eq!(policies.for_channel(Channel::LinkedIn).breach, TimeDelta::hours(24));
        let quick = SlaPolicy::new(5, 10).unwrap();
        policies.set(Channel::LinkedIn, quick);
        assert_eq!(policies.for_channel(Channel::LinkedIn), quick);
        assert_eq!(policies.for_channel(Channel::Generic), SlaPolicy::GENERIC_DEFAULT, "the others untouched");
        let mut hit = crate::channels::testing::mention(Channel::X, "1", "2");
        assert_eq!(policies.for_mention(&hit), SlaPolicy::X_DEFAULT);
        hit.listening = true;
        assert_eq!(policies.for_mention(&hit), SlaPolicy::LISTENING_DEFAULT, "a listening hit has its own");
    }
    fn min(n: i64) -> TimeDelta {
        TimeDelta::minutes(n)
    }
    fn ladder(max_repeats: u32) -> Ladder {
        Ladder::new(30, max_repeats).unwrap()
    }

    #[test]
    fn ladder_for_x_defaults() {
        let clock = SlaPolicy::X_DEFAULT.start(t0());
        let ladder = ladder(10);
        assert_eq!(clock.ideal_due_at, t0() + min(15));
        assert_eq!(clock.first_due(), t0() + min(15));
        assert_eq!(clock.due_level(0, t0() + min(14), &ladder), None);
        assert_eq!(clock.due_level(0, t0() + min(15), &ladder), Some(WARNING));
        assert_eq!(clock.next_due(WARNING, &ladder), Some(t0() + min(30)));
        assert_eq!(clock.due_level(WARNING, t0() + min(29), &ladder), None);
        assert_eq!(clock.due_level(WARNING, t0() + min(30), &ladder), Some(BREACH));
        assert_eq!(clock.next_due(BREACH, &ladder), Some(t0() + min(60)));
        assert_eq!(clock.due_level(BREACH, t0() + min(59), &ladder), None);
        assert_eq!(clock.due_level(BREACH, t0() + min(60), &ladder), Some(3));
        assert_eq!(clock.next_due(3, &ladder), Some(t0() + min(90)));
    }

    #[test]
    fn missed_rungs_collapse_into_the_highest() {
        let clock = SlaPolicy::X_DEFAULT.start(t0());
        assert_eq!(clock.due_level(0, t0() + min(31), &ladder(10)), Some(BREACH));
        assert_eq!(clock.due_level(0, t0() + min(125), &ladder(10)), Some(5));
    }

    #[test]
    fn repeats_stop_at_the_cap() {
        let clock = SlaPolicy::X_DEFAULT.start(t0());
        let capped = ladder(2);
        assert_eq!(capped.last_level(), 4);
        assert_eq!(clock.due_level(3, t0() + min(90), &capped), Some(4));
        assert_eq!(clock.next_due(4, &capped), None, "the last rung ends the clock");
        assert_eq!(clock.due_level(4, t0() + min(10_000), &capped), None);
        // A long pause collapses into the last rung, never past it.
        assert_eq!(clock.due_level(0, t0() + min(10_000), &capped), Some(4));
        let no_repeats = ladder(0);
        assert_eq!(clock.next_due(BREACH, &no_repeats), None);
        assert!(Ladder::new(0, 3).is_err());
    }

    #[test]
    fn equal_ideal_and_breach_skips_the_warning() {
        let clock = SlaPolicy::new(60, 60).unwrap().start(t0());
        assert_eq!(clock.first_due(), t0() + min(60));
        assert_eq!(clock.next_due(0, &ladder(3)), Some(t0() + min(60)));
        assert_eq!(clock.due_level(0, t0() + min(60), &ladder(3)), Some(BREACH));
    }

    #[test]
    fn invalid_policies_are_refused() {
        assert!(SlaPolicy::new(0, 30).is_err());
        assert!(SlaPolicy::new(31, 30).is_err());
    }

    #[test]
    fn only_messages_that_ask_for_an_answer_start_a_clock() {
        let now = t0();
        let answered = Some(now - min(20));
        let long_ago = Some(now - TimeDelta::days(3));
        for (intent, urgent, answered_at, starts) in [
            (Intent::Complaint, false, answered, true),
            (Intent::Question, false, None, true),
            (Intent::Praise, false, answered, false),
            (Intent::Praise, false, None, false),
            (Intent::Feedback, false, None, false),
            (Intent::Praise, true, answered, true),
            (Intent::Spam, true, None, false),
            (Intent::Other, false, answered, false),
            (Intent::Other, false, long_ago, true),
            (Intent::Other, false, None, true),
            (Intent::Other, true, answered, true),
        ] {
            assert_eq!(
                starts_clock(intent, urgent, answered_at, now),
                starts,
                "{intent:?} urgent={urgent} {answered_at:?}"
            );
        }
    }
}
