//! Response-time SLAs and the escalation ladder: warning at the ideal time, breach at the
//! breach time, then a repeat every interval while the customer is still unanswered.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// One channel's first-response targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaPolicy {
    pub ideal: TimeDelta,
    pub breach: TimeDelta,
}

impl SlaPolicy {
    /// X: 15 minutes ideal, 30 at most (DESIGN.md).
    pub const X_DEFAULT: SlaPolicy = SlaPolicy { ideal: TimeDelta::minutes(15), breach: TimeDelta::minutes(30) };

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

/// Every channel's policy. Only X is live so far; the rest arrive with their channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaPolicies {
    pub x: SlaPolicy,
}

impl SlaPolicies {
    pub fn for_channel(&self, channel: crate::mention::Channel) -> SlaPolicy {
        match channel {
            crate::mention::Channel::X => self.x,
        }
    }

    /// `SLA_X_IDEAL_MINUTES` and `SLA_X_BREACH_MINUTES`, defaulting to DESIGN.md's table.
    pub fn from_env() -> crate::Result<Self> {
        use crate::config::env_or;
        let ideal = env_or("SLA_X_IDEAL_MINUTES", 15u32)?;
        let breach = env_or("SLA_X_BREACH_MINUTES", 30u32)?;
        Ok(SlaPolicies { x: SlaPolicy::new(ideal, breach).map_err(crate::Error::Config)? })
    }
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

pub fn level_name(level: EscalationLevel) -> &'static str {
    match level {
        0 => "none",
        WARNING => "warning",
        BREACH => "breach",
        _ => "breach_repeat",
    }
}

impl SlaClock {
    /// When `level` falls due.
    pub fn checkpoint(&self, level: EscalationLevel, repeat: TimeDelta) -> DateTime<Utc> {
        match level {
            0 => self.started_at,
            WARNING => self.ideal_due_at,
            BREACH => self.breach_due_at,
            n => self.breach_due_at + repeat * (n - BREACH) as i32,
        }
    }

    /// The first level above `current` that can fall due: a channel whose ideal time equals
    /// its breach time (Tumblr, Reddit) goes straight to breach.
    fn next_level(&self, current: EscalationLevel) -> EscalationLevel {
        if current == 0 && self.ideal_due_at >= self.breach_due_at { BREACH } else { current + 1 }
    }

    /// When the escalator should next look at this conversation.
    pub fn next_due(&self, current: EscalationLevel, repeat: TimeDelta) -> DateTime<Utc> {
        self.checkpoint(self.next_level(current), repeat)
    }

    /// The level to escalate to at `now`, if any. When several rungs have passed (the
    /// escalator was paused), only the highest is raised: one alert, not a burst.
    pub fn due_level(
        &self,
        current: EscalationLevel,
        now: DateTime<Utc>,
        repeat: TimeDelta,
    ) -> Option<EscalationLevel> {
        let next = self.next_level(current);
        if now < self.checkpoint(next, repeat) {
            return None;
        }
        if now < self.breach_due_at {
            return Some(WARNING);
        }
        let repeats = if repeat > TimeDelta::zero() {
            ((now - self.breach_due_at).num_seconds() / repeat.num_seconds().max(1)) as u32
        } else {
            0
        };
        Some((BREACH + repeats).max(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 9, 0, 0).unwrap()
    }
    fn min(n: i64) -> TimeDelta {
        TimeDelta::minutes(n)
    }

    #[test]
    fn ladder_for_x_defaults() {
        let clock = SlaPolicy::X_DEFAULT.start(t0());
        let repeat = min(30);
        assert_eq!(clock.ideal_due_at, t0() + min(15));
        assert_eq!(clock.due_level(0, t0() + min(14), repeat), None);
        assert_eq!(clock.due_level(0, t0() + min(15), repeat), Some(WARNING));
        assert_eq!(clock.next_due(WARNING, repeat), t0() + min(30));
        assert_eq!(clock.due_level(WARNING, t0() + min(29), repeat), None);
        assert_eq!(clock.due_level(WARNING, t0() + min(30), repeat), Some(BREACH));
        assert_eq!(clock.next_due(BREACH, repeat), t0() + min(60));
        assert_eq!(clock.due_level(BREACH, t0() + min(59), repeat), None);
        assert_eq!(clock.due_level(BREACH, t0() + min(60), repeat), Some(3));
        assert_eq!(clock.next_due(3, repeat), t0() + min(90));
    }

    #[test]
    fn missed_rungs_collapse_into_the_highest() {
        let clock = SlaPolicy::X_DEFAULT.start(t0());
        assert_eq!(clock.due_level(0, t0() + min(31), min(30)), Some(BREACH));
        assert_eq!(clock.due_level(0, t0() + min(125), min(30)), Some(5));
    }

    #[test]
    fn equal_ideal_and_breach_skips_the_warning() {
        let clock = SlaPolicy::new(60, 60).unwrap().start(t0());
        assert_eq!(clock.next_due(0, min(30)), t0() + min(60));
        assert_eq!(clock.due_level(0, t0() + min(60), min(30)), Some(BREACH));
    }

    #[test]
    fn invalid_policies_are_refused() {
        assert!(SlaPolicy::new(0, 30).is_err());
        assert!(SlaPolicy::new(31, 30).is_err());
    }
}
