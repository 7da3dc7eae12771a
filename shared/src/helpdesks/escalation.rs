//! What an escalation does to the conversation's ticket in Zendesk or Freshdesk, level by
//! level: an internal note always, a priority raise and a move to another group where the
//! policy says so. Pure: the policy comes from `EscalationDeskActions` (JSON, checked at
//! load), the ticket's current state from the desk, and [`TicketChange::for_ticket`] decides.
//!
//! ```json
//! {"breach": {"priority": "urgent", "groups": {"zendesk": 360000111, "freshdesk": 43000012}},
//!  "viral": {"groups": {"zendesk": 360000222}, "off_hours_groups": {"zendesk": 360000333}},
//!  "accounts": {"1234567890321": {"warning": {"priority": "keep"}}}}
//! ```
//!
//! Levels are `warning`, `breach`, `breach_repeat`, `viral` and `spike`; what a level leaves
//! out keeps the default (warning: high; the others: urgent; no group). An account's entry
//! overrides the stack's for that level, field by field.

use std::collections::HashMap;

use serde::Deserialize;

use super::tickets::TicketPriority;
use crate::ports::Route;

/// The escalation levels a policy may name, as `sla::level_name` and incidents name them.
pub const LEVELS: [&str; 5] = ["warning", "breach", "breach_repeat", "viral", "spike"];

/// What a level asks of the ticket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeskActions {
    /// Raised to at least this; `None` leaves the priority alone.
    pub priority: Option<TicketPriority>,
    pub zendesk_group: Option<u64>,
    pub freshdesk_group: Option<u64>,
}

/// A desk's group ids for a level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeskGroups {
    zendesk: Option<u64>,
    freshdesk: Option<u64>,
}

/// One level's entry as configured; what it leaves out comes from the level below it
/// (the stack's entry, then the default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelEntry {
    /// `low`, `normal`, `high`, `urgent`, or `keep` (never change it).
    priority: Option<String>,
    groups: Option<DeskGroups>,
    /// Outside business hours, instead of `groups` (the off-hours cover's queue).
    off_hours_groups: Option<DeskGroups>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Level {
    /// `Some(None)`: `keep`.
    priority: Option<Option<TicketPriority>>,
    groups: Option<DeskGroups>,
    off_hours_groups: Option<DeskGroups>,
}

impl Level {
    fn parse(name: &str, entry: LevelEntry) -> Result<Level, String> {
        let priority = match entry.priority.as_deref() {
            None => None,
            Some("keep") => Some(None),
            Some(p) => Some(Some(
                parse_priority(p)
                    .ok_or_else(|| format!("{name}.priority {p:?}: one of low, normal, high, urgent, keep"))?,
            )),
        };
        for groups in [&entry.groups, &entry.off_hours_groups].into_iter().flatten() {
            if groups.zendesk == Some(0) || groups.freshdesk == Some(0) {
                return Err(format!("{name}: group ids are positive numbers"));
            }
        }
        Ok(Level { priority, groups: entry.groups, off_hours_groups: entry.off_hours_groups })
    }

    /// `self` over `below`, field by field.
    fn over(&self, below: &Level) -> Level {
        Level {
            priority: self.priority.or(below.priority),
            groups: self.groups.or(below.groups),
            off_hours_groups: self.off_hours_groups.or(below.off_hours_groups),
        }
    }
}

fn parse_priority(text: &str) -> Option<TicketPriority> {
    match text {
        "low" => Some(TicketPriority::Low),
        "normal" => Some(TicketPriority::Normal),
        "high" => Some(TicketPriority::High),
        "urgent" => Some(TicketPriority::Urgent),
        _ => None,
    }
}

fn default_priority(level: &str) -> TicketPriority {
    if level == "warning" { TicketPriority::High } else { TicketPriority::Urgent }
}

/// Every account's desk actions per level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EscalationDeskPolicy {
    stack: HashMap<String, Level>,
    accounts: HashMap<String, HashMap<String, Level>>,
}

impl EscalationDeskPolicy {
    /// From `EscalationDeskActions`; empty is the defaults.
    pub fn from_json(json: &str) -> Result<Self, String> {
        if json.trim().is_empty() {
            return Ok(Self::default());
        }
        let mut top: HashMap<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|e| format!("EscalationDeskActions is not a JSON object: {e}"))?;
        let accounts = match top.remove("accounts") {
            None => HashMap::new(),
            Some(accounts) => {
                let accounts: HashMap<String, HashMap<String, serde_json::Value>> =
                    serde_json::from_value(accounts).map_err(|e| format!("EscalationDeskActions.accounts: {e}"))?;
                let mut parsed = HashMap::new();
                for (account, levels) in accounts {
                    let levels =
                        parse_levels(levels).map_err(|e| format!("EscalationDeskActions.accounts.{account}.{e}"))?;
                    parsed.insert(account, levels);
                }
                parsed
            }
        };
        let stack = parse_levels(top).map_err(|e| format!("EscalationDeskActions.{e}"))?;
        Ok(EscalationDeskPolicy { stack, accounts })
    }

    /// From the `ESCALATION_DESK_ACTIONS` environment variable (unset: the defaults).
    pub fn from_env() -> crate::Result<Self> {
        Self::from_json(&crate::config::optional_env("ESCALATION_DESK_ACTIONS").unwrap_or_default())
            .map_err(crate::Error::Config)
    }

    /// What `level` (a level name) asks of the ticket of a conversation on `account`.
    pub fn actions(&self, account: &str, level: &str, route: Route) -> DeskActions {
        let none = Level::default();
        let stack = self.stack.get(level).unwrap_or(&none);
        let account = self.accounts.get(account).and_then(|levels| levels.get(level)).unwrap_or(&none);
        let level_entry = account.over(stack);
        let groups = match route {
            Route::OffHours => level_entry.off_hours_groups.or(level_entry.groups),
            Route::Day => level_entry.groups,
        }
        .unwrap_or_default();
        DeskActions {
            priority: level_entry.priority.unwrap_or(Some(default_priority(level))),
            zendesk_group: groups.zendesk,
            freshdesk_group: groups.freshdesk,
        }
    }
}

fn parse_levels(levels: HashMap<String, serde_json::Value>) -> Result<HashMap<String, Level>, String> {
    let mut parsed = HashMap::new();
    for (name, entry) in levels {
        if !LEVELS.contains(&name.as_str()) {
            return Err(format!("{name}: not a level; the levels are {}", LEVELS.join(", ")));
        }
        let entry: LevelEntry = serde_json::from_value(entry).map_err(|e| format!("{name}: {e}"))?;
        let level = Level::parse(&name, entry)?;
        parsed.insert(name, level);
    }
    Ok(parsed)
}

/// The ticket as the desk has it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrentTicket {
    pub priority: Option<TicketPriority>,
    pub group: Option<u64>,
    /// An agent has taken it.
    pub assigned: bool,
}

/// What to change on the ticket, besides the note.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TicketChange {
    pub priority: Option<TicketPriority>,
    pub group: Option<u64>,
}

impl TicketChange {
    /// An escalation only ever raises a priority (a ticket opened urgent stays urgent at
    /// the warning), and moves a ticket to the level's group only while no agent has taken
    /// it: a person working on it keeps it, and the desks refuse a group the assignee is not in.
    pub fn for_ticket(
        current: CurrentTicket,
        wanted_priority: Option<TicketPriority>,
        wanted_group: Option<u64>,
    ) -> Self {
        TicketChange {
            priority: wanted_priority.filter(|wanted| current.priority.is_none_or(|now| *wanted > now)),
            group: wanted_group.filter(|wanted| !current.assigned && current.group != Some(*wanted)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.priority.is_none() && self.group.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TicketPriority::*;

    const POLICY: &str = r#"{
        "breach": {"groups": {"zendesk": 11, "freshdesk": 21}, "off_hours_groups": {"zendesk": 19}},
        "viral": {"priority": "urgent", "groups": {"zendesk": 12}},
        "accounts": {"acme-cargo": {"warning": {"priority": "keep"}, "breach": {"groups": {"zendesk": 31}}}}
    }"#;

    #[test]
    fn each_level_asks_what_the_policy_says_and_the_rest_keeps_the_defaults() {
        let policy = EscalationDeskPolicy::from_json(POLICY).unwrap();
        let actions = |account: &str, level: &str, route: Route| policy.actions(account, level, route);
        let day = Route::Day;
        let cases: &[(&str, &str, Route, DeskActions)] = &[
            ("acme", "warning", day, DeskActions { priority: Some(High), ..Default::default() }),
            (
                "acme",
                "breach",
                day,
                DeskActions { priority: Some(Urgent), zendesk_group: Some(11), freshdesk_group: Some(21) },
            ),
            // Off hours: the off-hours groups replace the day's (Freshdesk has none there).
            (
                "acme",
                "breach",
                Route::OffHours,
                DeskActions { priority: Some(Urgent), zendesk_group: Some(19), freshdesk_group: None },
            ),
            ("acme", "breach_repeat", day, DeskActions { priority: Some(Urgent), ..Default::default() }),
            (
                "acme",
                "viral",
                day,
                DeskActions { priority: Some(Urgent), zendesk_group: Some(12), freshdesk_group: None },
            ),
            ("acme", "spike", day, DeskActions { priority: Some(Urgent), ..Default::default() }),
            // The account's entry wins field by field: its own group, the stack's priority.
            (
                "acme-cargo",
                "breach",
                day,
                DeskActions { priority: Some(Urgent), zendesk_group: Some(31), freshdesk_group: None },
            ),
            ("acme-cargo", "warning", day, DeskActions::default()),
        ];
        for (account, level, route, expected) in cases {
            assert_eq!(actions(account, level, *route), *expected, "{account} {level} {route:?}");
        }
        assert_eq!(EscalationDeskPolicy::from_json("").unwrap(), EscalationDeskPolicy::default());
    }

    #[test]
    fn a_bad_policy_is_refused_at_load_with_where_it_is_wrong() {
        let cases = [
            (r#"{"breech": {}}"#, "breech: not a level"),
            (r#"{"breach": {"priority": "critical"}}"#, "breach.priority \"critical\""),
            (r#"{"breach": {"groups": {"zendesk": "sales"}}}"#, "breach: invalid type"),
            (r#"{"breach": {"groups": {"jira": 4}}}"#, "unknown field `jira`"),
            (r#"{"breach": {"groups": {"zendesk": 0}}}"#, "positive"),
            (r#"{"accounts": {"a": {"viral": {"colour": "red"}}}}"#, "accounts.a.viral: unknown field `colour`"),
            ("[1]", "not a JSON object"),
        ];
        for (json, expected) in cases {
            let error = EscalationDeskPolicy::from_json(json).unwrap_err();
            assert!(error.contains(expected), "{json}: {error}");
        }
    }

    #[test]
    fn a_ticket_is_only_ever_raised_and_a_taken_ticket_keeps_its_group() {
        let ticket = |priority, group, assigned| CurrentTicket { priority, group, assigned };
        let change = |priority, group| TicketChange { priority, group };
        let cases = [
            (ticket(Some(Normal), None, false), Some(High), Some(7), change(Some(High), Some(7))),
            (ticket(Some(Urgent), None, false), Some(High), None, change(None, None)),
            (ticket(Some(High), Some(7), false), Some(High), Some(7), change(None, None)),
            (ticket(Some(Low), Some(3), true), Some(Urgent), Some(7), change(Some(Urgent), None)),
            (ticket(None, None, false), Some(Normal), None, change(Some(Normal), None)),
            (ticket(Some(Low), None, false), None, None, change(None, None)),
        ];
        for (current, priority, group, expected) in cases {
            assert_eq!(TicketChange::for_ticket(current, priority, group), expected, "{current:?}");
        }
        assert!(TicketChange::default().is_empty());
    }
}
