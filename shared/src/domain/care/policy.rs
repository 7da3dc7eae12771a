//! Each account's care policy: business hours, which channels' clocks run in business
//! time, the texts Hark writes, and whether praise is thanked. Stack-wide defaults come
//! from the template's parameters; `ACCOUNT_CARE_POLICIES` overrides any of them per
//! account. Everything is checked at cold start: a bad policy stops the function from
//! starting, with a message that says what is wrong and where.

use std::collections::HashMap;

use serde::Deserialize;

use super::hours::BusinessHours;
use super::spike::SpikeRule;
use super::templates::CareTemplates;
use super::viral::ViralRule;
use crate::domain::mention::Channel;
use crate::domain::sla::SlaPolicy;

#[derive(Debug, Clone)]
pub struct CarePolicy {
    pub hours: BusinessHours,
    /// Channels whose SLA clocks pause outside business hours; the others run around the
    /// clock (24/7 coverage) and only their texts change when the team is off.
    pub business_time: Vec<Channel>,
    pub templates: CareTemplates,
    /// Thank praise and feedback the classifier says may be thanked.
    pub thanks: bool,
    pub viral: ViralRule,
    pub spike: SpikeRule,
}

impl CarePolicy {
    pub fn runs_in_business_time(&self, channel: Channel) -> bool {
        self.business_time.contains(&channel)
    }
}

impl Default for CarePolicy {
    fn default() -> Self {
        CarePolicy {
            hours: BusinessHours::always(),
            business_time: Vec::new(),
            templates: CareTemplates::defaults(""),
            thanks: true,
            viral: ViralRule::default(),
            spike: SpikeRule::default(),
        }
    }
}

/// The stack's settings, as the template's parameters give them.
#[derive(Debug, Clone, Default)]
pub struct StackSettings {
    pub time_zone: String,
    pub hours: String,
    pub holidays: Vec<String>,
    pub business_time: String,
    pub templates_json: String,
    pub signature: String,
    pub thanks: bool,
    pub viral: ViralSettings,
    pub spike: SpikeSettings,
    /// `{"<account id>": AccountSettings}`.
    pub accounts_json: String,
}

/// The viral fast track's thresholds, as operators give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViralSettings {
    pub followers: u64,
    pub engagement: u64,
    pub ideal_minutes: u32,
    pub breach_minutes: u32,
}

impl Default for ViralSettings {
    fn default() -> Self {
        let rule = ViralRule::default();
        ViralSettings {
            followers: rule.followers,
            engagement: rule.engagement,
            ideal_minutes: rule.sla.ideal.num_minutes() as u32,
            breach_minutes: rule.sla.breach.num_minutes() as u32,
        }
    }
}

impl ViralSettings {
    fn rule(&self) -> Result<ViralRule, String> {
        if self.engagement == 0 {
            return Err("viral: an engagement threshold of 0 would fast-track every complaint".into());
        }
        let sla = SlaPolicy::new(self.ideal_minutes, self.breach_minutes).map_err(|e| format!("viral SLA: {e}"))?;
        Ok(ViralRule { followers: self.followers, engagement: self.engagement, sla })
    }
}

/// The outage-spike rule, as operators give it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikeSettings {
    pub min_mentions: u64,
    pub factor: f64,
    pub baseline_minutes: u32,
    pub post: String,
}

impl Default for SpikeSettings {
    fn default() -> Self {
        let rule = SpikeRule::default();
        SpikeSettings {
            min_mentions: rule.min_mentions,
            factor: rule.factor,
            baseline_minutes: rule.baseline_buckets * super::spike::BUCKET.num_minutes() as u32,
            post: rule.post,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartialSpike {
    min_mentions: Option<u64>,
    factor: Option<f64>,
    baseline_minutes: Option<u32>,
    post: Option<String>,
}

/// One account's overrides; anything left out is the stack's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountSettings {
    time_zone: Option<String>,
    hours: Option<String>,
    holidays: Option<Vec<String>>,
    business_time: Option<Vec<String>>,
    templates: Option<serde_json::Value>,
    signature: Option<String>,
    thanks: Option<bool>,
    viral: Option<PartialViral>,
    spike: Option<PartialSpike>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartialViral {
    followers: Option<u64>,
    engagement: Option<u64>,
    ideal_minutes: Option<u32>,
    breach_minutes: Option<u32>,
}

/// One account's settings, the stack's where it sets nothing.
struct Effective {
    time_zone: String,
    hours: String,
    holidays: Vec<String>,
    business_time: Vec<String>,
    templates_json: String,
    signature: String,
    thanks: bool,
    viral: ViralSettings,
    spike: SpikeSettings,
}

impl Effective {
    fn of_stack(stack: &StackSettings) -> Self {
        let zone = if stack.time_zone.trim().is_empty() { "UTC" } else { stack.time_zone.trim() };
        Effective {
            time_zone: zone.to_owned(),
            hours: stack.hours.clone(),
            holidays: stack.holidays.clone(),
            business_time: stack.business_time.split(',').map(str::to_owned).collect(),
            templates_json: stack.templates_json.clone(),
            signature: stack.signature.clone(),
            thanks: stack.thanks,
            viral: stack.viral,
            spike: stack.spike.clone(),
        }
    }

    fn with(&self, account: AccountSettings) -> Self {
        // An account's texts stand on the stack's, which stand on Hark's defaults: each
        // top-level key it sets replaces the stack's.
        let templates_json = match account.templates {
            Some(serde_json::Value::Object(own)) => {
                let mut merged = match serde_json::from_str::<serde_json::Value>(&self.templates_json) {
                    Ok(serde_json::Value::Object(stack)) => stack,
                    _ => serde_json::Map::new(),
                };
                merged.extend(own);
                serde_json::Value::Object(merged).to_string()
            }
            Some(other) => other.to_string(),
            None => self.templates_json.clone(),
        };
        let viral = account.viral.unwrap_or_default();
        let spike = account.spike.unwrap_or_default();
        Effective {
            time_zone: account.time_zone.unwrap_or_else(|| self.time_zone.clone()),
            hours: account.hours.unwrap_or_else(|| self.hours.clone()),
            holidays: account.holidays.unwrap_or_else(|| self.holidays.clone()),
            business_time: account.business_time.unwrap_or_else(|| self.business_time.clone()),
            templates_json,
            signature: account.signature.unwrap_or_else(|| self.signature.clone()),
            thanks: account.thanks.unwrap_or(self.thanks),
            viral: ViralSettings {
                followers: viral.followers.unwrap_or(self.viral.followers),
                engagement: viral.engagement.unwrap_or(self.viral.engagement),
                ideal_minutes: viral.ideal_minutes.unwrap_or(self.viral.ideal_minutes),
                breach_minutes: viral.breach_minutes.unwrap_or(self.viral.breach_minutes),
            },
            spike: SpikeSettings {
                min_mentions: spike.min_mentions.unwrap_or(self.spike.min_mentions),
                factor: spike.factor.unwrap_or(self.spike.factor),
                baseline_minutes: spike.baseline_minutes.unwrap_or(self.spike.baseline_minutes),
                post: spike.post.unwrap_or_else(|| self.spike.post.clone()),
            },
        }
    }

    fn policy(&self) -> Result<CarePolicy, String> {
        let business_time = self
            .business_time
            .iter()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .map(|c| {
                Channel::parse(c).ok_or_else(|| format!("business time: {c:?} is not a channel ({})", Channel::names()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CarePolicy {
            hours: BusinessHours::parse(&self.time_zone, &self.hours, &self.holidays)
                .map_err(|e| format!("business hours: {e}"))?,
            business_time,
            templates: CareTemplates::from_json(&self.templates_json, &self.signature)
                .map_err(|e| format!("templates: {e}"))?,
            thanks: self.thanks,
            viral: self.viral.rule()?,
            spike: SpikeRule::new(
                self.spike.min_mentions,
                self.spike.factor,
                self.spike.baseline_minutes,
                &self.spike.post,
            )?,
        })
    }
}

/// Every account's policy.
#[derive(Debug, Clone, Default)]
pub struct CarePolicies {
    default: CarePolicy,
    accounts: HashMap<String, CarePolicy>,
}

impl CarePolicies {
    pub fn new(default: CarePolicy, accounts: HashMap<String, CarePolicy>) -> Self {
        CarePolicies { default, accounts }
    }

    pub fn for_account(&self, account: &str) -> &CarePolicy {
        self.accounts.get(account).unwrap_or(&self.default)
    }

    pub fn from_settings(stack: &StackSettings) -> Result<Self, String> {
        let effective = Effective::of_stack(stack);
        let default = effective.policy()?;
        let given: HashMap<String, AccountSettings> = if stack.accounts_json.trim().is_empty() {
            HashMap::new()
        } else {
            serde_json::from_str(&stack.accounts_json)
                .map_err(|e| format!("account care policies: expected {{\"<account id>\": {{...}}}}: {e}"))?
        };
        let mut accounts = HashMap::new();
        for (account, settings) in given {
            let policy = effective.with(settings).policy().map_err(|e| format!("account {account}: {e}"))?;
            accounts.insert(account, policy);
        }
        Ok(CarePolicies { default, accounts })
    }

    /// The processor's and the escalator's environment (the template's parameters):
    /// `BUSINESS_TIME_ZONE`, `BUSINESS_HOURS`, `BUSINESS_HOLIDAYS` (comma-separated dates),
    /// `BUSINESS_TIME_CHANNELS`, `ACK_TEMPLATES`, `ACK_SIGNATURE`, `THANKS` (on/off),
    /// `VIRAL_FOLLOWERS`, `VIRAL_ENGAGEMENT`, `VIRAL_SLA_{IDEAL,BREACH}_MINUTES`,
    /// `SPIKE_MIN_MENTIONS`, `SPIKE_FACTOR`, `SPIKE_BASELINE_MINUTES`, `INCIDENT_POST` and
    /// `ACCOUNT_CARE_POLICIES`.
    pub fn from_env() -> crate::Result<Self> {
        use crate::config::{env_or, optional_env};
        let thanks = match optional_env("THANKS").as_deref() {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => return Err(crate::Error::Config(format!("THANKS={other:?}: on or off"))),
        };
        let settings = StackSettings {
            time_zone: optional_env("BUSINESS_TIME_ZONE").unwrap_or_default(),
            hours: optional_env("BUSINESS_HOURS").unwrap_or_default(),
            holidays: optional_env("BUSINESS_HOLIDAYS")
                .map(|h| h.split(',').map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()).collect())
                .unwrap_or_default(),
            business_time: optional_env("BUSINESS_TIME_CHANNELS").unwrap_or_default(),
            templates_json: optional_env("ACK_TEMPLATES").unwrap_or_default(),
            signature: optional_env("ACK_SIGNATURE").unwrap_or_default(),
            thanks,
            viral: ViralSettings {
                followers: env_or("VIRAL_FOLLOWERS", ViralSettings::default().followers)?,
                engagement: env_or("VIRAL_ENGAGEMENT", ViralSettings::default().engagement)?,
                ideal_minutes: env_or("VIRAL_SLA_IDEAL_MINUTES", ViralSettings::default().ideal_minutes)?,
                breach_minutes: env_or("VIRAL_SLA_BREACH_MINUTES", ViralSettings::default().breach_minutes)?,
            },
            spike: SpikeSettings {
                min_mentions: env_or("SPIKE_MIN_MENTIONS", SpikeSettings::default().min_mentions)?,
                factor: env_or("SPIKE_FACTOR", SpikeSettings::default().factor)?,
                baseline_minutes: env_or("SPIKE_BASELINE_MINUTES", SpikeSettings::default().baseline_minutes)?,
                post: optional_env("INCIDENT_POST")
                    .filter(|p| !p.trim().is_empty())
                    .unwrap_or_else(|| SpikeSettings::default().post),
            },
            accounts_json: optional_env("ACCOUNT_CARE_POLICIES").unwrap_or_default(),
        };
        CarePolicies::from_settings(&settings).map_err(crate::Error::Config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn stack() -> StackSettings {
        StackSettings {
            time_zone: "Europe/London".into(),
            hours: "mon-fri 09:00-17:00".into(),
            holidays: vec!["2026-12-25".into()],
            business_time: "facebook".into(),
            thanks: true,
            ..StackSettings::default()
        }
    }

    #[test]
    fn accounts_override_what_they_set_and_keep_the_rest() {
        let settings = StackSettings {
            accounts_json: r#"{"17841400000000001": {"time_zone": "America/New_York", "thanks": false,
                               "business_time": ["x", "instagram"], "viral": {"followers": 500}}}"#
                .into(),
            ..stack()
        };
        let policies = CarePolicies::from_settings(&settings).unwrap();
        let stack_default = policies.for_account("2244994945");
        assert_eq!(stack_default.hours.zone(), chrono_tz::Europe::London);
        assert!(stack_default.thanks && stack_default.runs_in_business_time(Channel::Facebook));
        assert!(!stack_default.runs_in_business_time(Channel::X));
        let account = policies.for_account("17841400000000001");
        assert_eq!(account.hours.zone(), chrono_tz::America::New_York);
        assert!(!account.thanks && account.runs_in_business_time(Channel::X));
        assert_eq!((account.viral.followers, account.viral.engagement), (500, 25), "the rest is the stack's");
        // Its hours are the stack's, in its own zone: 09:00 New York is 14:00 UTC.
        let monday_noon_utc = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        assert!(stack_default.hours.is_open(monday_noon_utc) && !account.hours.is_open(monday_noon_utc));
        // And its holidays.
        assert!(!account.hours.is_open(Utc.with_ymd_and_hms(2026, 12, 25, 15, 0, 0).unwrap()));
    }

    #[test]
    fn an_empty_configuration_is_round_the_clock_with_the_default_texts() {
        let policies =
            CarePolicies::from_settings(&StackSettings { thanks: true, ..StackSettings::default() }).unwrap();
        let policy = policies.for_account("any");
        assert!(policy.hours.is_always() && policy.business_time.is_empty() && policy.thanks);
    }

    #[test]
    fn bad_policies_are_refused_saying_where() {
        let refused = |settings: StackSettings| CarePolicies::from_settings(&settings).unwrap_err();
        assert!(refused(StackSettings { time_zone: "Europe/Londres".into(), ..stack() }).contains("business hours"));
        assert!(refused(StackSettings { business_time: "myspace".into(), ..stack() }).contains("not a channel"));
        let error = refused(StackSettings { accounts_json: r#"{"42": {"hours": "mon 9-5"}}"#.into(), ..stack() });
        assert!(error.starts_with("account 42: business hours"), "{error}");
        let error =
            refused(StackSettings { accounts_json: r#"{"42": {"viral": {"engagement": 0}}}"#.into(), ..stack() });
        assert!(error.contains("engagement threshold of 0"), "{error}");
        let error =
            refused(StackSettings { accounts_json: r#"{"42": {"viral": {"ideal_minutes": 30}}}"#.into(), ..stack() });
        assert!(error.contains("viral SLA"), "{error}");
        let error =
            refused(StackSettings { accounts_json: r#"{"42": {"spike": {"min_mentions": 1}}}"#.into(), ..stack() });
        assert!(error.starts_with("account 42: spike: min_mentions"), "{error}");
        let error = refused(StackSettings { accounts_json: r#"{"42": {"timezone": "UTC"}}"#.into(), ..stack() });
        assert!(error.contains("unknown field"), "{error}");
        let error = refused(StackSettings {
            accounts_json: r#"{"42": {"templates": {"praise": ["Thanks!"]}}}"#.into(),
            ..stack()
        });
        assert!(error.starts_with("account 42: templates") && error.contains("names the customer"), "{error}");
        assert!(refused(StackSettings { accounts_json: "[]".into(), ..stack() }).contains("account care policies"));
    }
}
