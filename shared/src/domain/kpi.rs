//! Care KPIs over a period, as a manager reads them: how much came in (by channel, day and
//! hour), how much asked for an answer and how much of that a person answered, how fast
//! (to the first human reply, never Hark's acknowledgement), how much stayed within its
//! SLA, what was escalated, what still waits, and how customers felt. Pure: the store gives
//! one row per conversation opened in the period.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use serde::Serialize;

/// The longest trend a summary fills in (the API allows 92 days; a report, a year).
const MAX_DAYS: usize = 400;

/// What the KPIs need of one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiRow {
    pub channel: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// A person's first answer (on the platform, through the API or a help desk).
    pub first_response_at: Option<DateTime<Utc>>,
    /// An SLA clock started at some point: the conversation asked for an answer.
    pub asked: bool,
    /// Its clock reached the breach at some point, answered since or not.
    pub breached: bool,
    /// Escalation levels raised on it (warning, breach, repeats).
    pub escalations: u32,
    pub viral: bool,
    /// How it opened: the customer's first message's sentiment.
    pub sentiment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiSummary {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub all: Kpis,
    /// The same, per channel.
    pub channels: BTreeMap<String, Kpis>,
    /// Conversations opened per hour of the day (UTC, 0 to 23), per channel.
    pub by_hour: BTreeMap<String, Vec<u64>>,
    /// Day by day (UTC), oldest first: the trend.
    pub days: Vec<DayKpis>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Kpis {
    pub conversations: u64,
    pub by_status: BTreeMap<String, u64>,
    /// Conversations that asked for an answer (a complaint, a question…): an SLA clock ran.
    pub asked: u64,
    /// Conversations a person answered at least once.
    pub answered: u64,
    /// Of those that asked, the share a person answered, 0 to 1.
    pub response_rate: Option<f64>,
    /// Minutes from the conversation's first message to a person's first answer.
    pub first_response_minutes_median: Option<f64>,
    pub first_response_minutes_p90: Option<f64>,
    /// Conversations whose SLA clock reached its breach.
    pub breached: u64,
    /// `breached / conversations`, 0 to 1.
    pub breach_rate: Option<f64>,
    /// Of those that asked, the share that never breached, 0 to 1.
    pub sla_compliance: Option<f64>,
    /// Escalation levels raised, and conversations fast-tracked as viral.
    pub escalations: u64,
    pub viral: u64,
    /// Still waiting for a person's answer.
    pub backlog: u64,
    /// How conversations opened: `positive`, `neutral`, `negative`, `mixed`.
    pub sentiment: BTreeMap<String, u64>,
}

/// One day of the trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayKpis {
    pub date: NaiveDate,
    pub conversations: u64,
    pub by_channel: BTreeMap<String, u64>,
    pub sentiment: BTreeMap<String, u64>,
    pub answered: u64,
    pub breached: u64,
    pub first_response_minutes_median: Option<f64>,
}

/// The KPIs of `rows` (conversations opened from `since` until `until`).
pub fn summarise(rows: &[KpiRow], since: DateTime<Utc>, until: DateTime<Utc>) -> KpiSummary {
    let mut channels: BTreeMap<String, Vec<&KpiRow>> = BTreeMap::new();
    let mut by_hour: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut days: BTreeMap<NaiveDate, Vec<&KpiRow>> = BTreeMap::new();
    for row in rows {
        channels.entry(row.channel.clone()).or_default().push(row);
        by_hour.entry(row.channel.clone()).or_insert_with(|| vec![0; 24])[row.created_at.hour() as usize] += 1;
        days.entry(row.created_at.date_naive()).or_default().push(row);
    }
    // Every day of the period, the quiet ones too: a gap in a trend is a day with nothing.
    for day in since.date_naive().iter_days().take_while(|d| *d <= until.date_naive()).take(MAX_DAYS) {
        days.entry(day).or_default();
    }
    KpiSummary {
        since,
        until,
        all: kpis(rows.iter()),
        channels: channels.into_iter().map(|(channel, rows)| (channel, kpis(rows.into_iter()))).collect(),
        by_hour,
        days: days
            .into_iter()
            .map(|(date, rows)| {
                let k = kpis(rows.iter().copied());
                let mut by_channel = BTreeMap::new();
                for row in &rows {
                    *by_channel.entry(row.channel.clone()).or_default() += 1;
                }
                DayKpis {
                    date,
                    conversations: k.conversations,
                    by_channel,
                    sentiment: k.sentiment,
                    answered: k.answered,
                    breached: k.breached,
                    first_response_minutes_median: k.first_response_minutes_median,
                }
            })
            .collect(),
    }
}

fn kpis<'a>(rows: impl Iterator<Item = &'a KpiRow>) -> Kpis {
    let mut out = Kpis::default();
    let mut response_minutes = Vec::new();
    let (mut asked_answered, mut asked_breached) = (0u64, 0u64);
    for row in rows {
        out.conversations += 1;
        *out.by_status.entry(row.status.clone()).or_default() += 1;
        if let Some(first) = row.first_response_at {
            out.answered += 1;
            // A reply timestamped before the conversation (clock skew between platforms)
            // counts as immediate.
            response_minutes.push(((first - row.created_at).num_seconds().max(0) as f64) / 60.0);
        }
        if row.asked {
            out.asked += 1;
            asked_answered += u64::from(row.first_response_at.is_some());
            asked_breached += u64::from(row.breached);
        }
        out.breached += u64::from(row.breached);
        out.escalations += u64::from(row.escalations);
        out.viral += u64::from(row.viral);
        out.backlog += u64::from(row.status == "awaiting_reply");
        if let Some(sentiment) = &row.sentiment {
            *out.sentiment.entry(sentiment.clone()).or_default() += 1;
        }
    }
    response_minutes.sort_by(f64::total_cmp);
    out.first_response_minutes_median = percentile(&response_minutes, 0.5);
    out.first_response_minutes_p90 = percentile(&response_minutes, 0.9);
    let share = |part: u64, whole: u64| (whole > 0).then(|| round3(part as f64 / whole as f64));
    out.breach_rate = share(out.breached, out.conversations);
    out.response_rate = share(asked_answered, out.asked);
    out.sla_compliance = share(out.asked - asked_breached, out.asked);
    out
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some((sorted[rank - 1] * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000, 0).unwrap()
    }

    /// A conversation: channel, status, minutes to a person's answer, asked, breached,
    /// escalations, sentiment.
    fn row(channel: &str, status: &str, answer: Option<i64>, asked: bool, breached: bool, escalations: u32) -> KpiRow {
        KpiRow {
            channel: channel.into(),
            status: status.into(),
            created_at: at(),
            first_response_at: answer.map(|m| at() + TimeDelta::minutes(m)),
            asked,
            breached,
            escalations,
            viral: false,
            sentiment: Some(if asked { "negative" } else { "positive" }.into()),
        }
    }

    #[test]
    fn kpis_count_answers_times_breaches_and_backlog_per_channel() {
        let rows = [
            row("x", "answered", Some(4), true, false, 0),
            row("x", "answered", Some(10), true, false, 1),
            row("x", "awaiting_reply", None, true, true, 3),
            // Breached, then answered: still a breach (the level is gone from the item).
            row("facebook", "answered", Some(60), true, true, 2),
            row("facebook", "resolved", Some(-1), true, false, 0),
            // Praise: counted, never asked, so outside the rates.
            row("facebook", "resolved", None, false, false, 0),
        ];
        let summary = summarise(&rows, at(), at() + TimeDelta::days(1));
        let all = &summary.all;
        let cases: &[(&str, u64, u64)] = &[
            ("conversations", all.conversations, 6),
            ("asked", all.asked, 5),
            ("answered", all.answered, 4),
            ("breached", all.breached, 2),
            ("escalations", all.escalations, 6),
            ("backlog", all.backlog, 1),
            ("negative openings", all.sentiment["negative"], 5),
        ];
        for (what, got, want) in cases {
            assert_eq!(got, want, "{what}");
        }
        assert_eq!(all.response_rate, Some(0.8), "4 of the 5 that asked");
        assert_eq!(all.sla_compliance, Some(0.6), "3 of the 5 that asked never breached");
        assert_eq!(all.breach_rate, Some(0.333));
        assert_eq!(all.first_response_minutes_median, Some(4.0), "0, 4, 10, 60");
        assert_eq!(all.first_response_minutes_p90, Some(60.0));
        let x = &summary.channels["x"];
        assert_eq!((x.conversations, x.answered, x.breached, x.backlog), (3, 2, 1, 1));
        assert_eq!(summary.channels["facebook"].first_response_minutes_median, Some(0.0), "skew counts as 0");
        let hour = at().hour() as usize;
        assert_eq!(summary.by_hour["x"][hour], 3);
        assert_eq!(summary.by_hour["facebook"].iter().sum::<u64>(), 3);
    }

    #[test]
    fn the_trend_has_every_day_of_the_period_the_quiet_ones_too() {
        let mut late = row("x", "answered", Some(2), true, false, 0);
        late.created_at = at() + TimeDelta::days(2);
        let rows = [row("x", "answered", Some(30), true, false, 0), late];
        let summary = summarise(&rows, at(), at() + TimeDelta::days(2));
        let days: Vec<(NaiveDate, u64)> = summary.days.iter().map(|d| (d.date, d.conversations)).collect();
        let first = at().date_naive();
        assert_eq!(days, [(first, 1), (first + TimeDelta::days(1), 0), (first + TimeDelta::days(2), 1)]);
        assert_eq!(summary.days[0].first_response_minutes_median, Some(30.0));
        assert_eq!(summary.days[1].first_response_minutes_median, None);

        let empty = summarise(&[], at(), at());
        assert_eq!((empty.all.conversations, empty.all.breach_rate, empty.all.response_rate), (0, None, None));
        assert_eq!(empty.all.first_response_minutes_median, None);
        assert!(empty.channels.is_empty());
        assert_eq!(empty.days.len(), 1);
    }
}
