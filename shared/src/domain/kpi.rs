//! Care KPIs over a period: how many conversations came in, how fast a person first
//! answered, and how many ran past their SLA's breach. Pure: the store gives the rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What the KPIs need of one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiRow {
    pub channel: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub escalation_level: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiSummary {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub all: Kpis,
    /// The same, per channel.
    pub channels: BTreeMap<String, Kpis>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Kpis {
    pub conversations: u64,
    pub by_status: BTreeMap<String, u64>,
    /// Conversations a person answered at least once.
    pub answered: u64,
    /// Minutes from the conversation's first message to a person's first answer.
    pub first_response_minutes_median: Option<f64>,
    pub first_response_minutes_p90: Option<f64>,
    /// Conversations whose SLA clock reached its breach.
    pub breached: u64,
    /// `breached / conversations`, 0 to 1.
    pub breach_rate: Option<f64>,
}

/// The KPIs of `rows` (conversations opened from `since` until `until`).
pub fn summarise(rows: &[KpiRow], since: DateTime<Utc>, until: DateTime<Utc>) -> KpiSummary {
    let mut channels: BTreeMap<String, Vec<&KpiRow>> = BTreeMap::new();
    for row in rows {
        channels.entry(row.channel.clone()).or_default().push(row);
    }
    KpiSummary {
        since,
        until,
        all: kpis(rows.iter()),
        channels: channels.into_iter().map(|(channel, rows)| (channel, kpis(rows.into_iter()))).collect(),
    }
}

fn kpis<'a>(rows: impl Iterator<Item = &'a KpiRow>) -> Kpis {
    let mut out = Kpis::default();
    let mut response_minutes = Vec::new();
    for row in rows {
        out.conversations += 1;
        *out.by_status.entry(row.status.clone()).or_default() += 1;
        if let Some(first) = row.first_response_at {
            out.answered += 1;
            // A reply timestamped before the conversation (clock skew between platforms)
            // counts as immediate.
            response_minutes.push(((first - row.created_at).num_seconds().max(0) as f64) / 60.0);
        }
        if row.escalation_level >= crate::domain::sla::BREACH {
            out.breached += 1;
        }
    }
    response_minutes.sort_by(f64::total_cmp);
    out.first_response_minutes_median = percentile(&response_minutes, 0.5);
    out.first_response_minutes_p90 = percentile(&response_minutes, 0.9);
    out.breach_rate = (out.conversations > 0).then(|| out.breached as f64 / out.conversations as f64);
    out
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

    fn row(channel: &str, status: &str, minutes_to_answer: Option<i64>, level: u32) -> KpiRow {
        let created_at = DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        KpiRow {
            channel: channel.into(),
            status: status.into(),
            created_at,
            first_response_at: minutes_to_answer.map(|m| created_at + TimeDelta::minutes(m)),
            escalation_level: level,
        }
    }

    #[test]
    fn kpis_count_answers_times_and_breaches_per_channel() {
        let rows = [
            row("x", "answered", Some(4), 0),
            row("x", "answered", Some(10), 1),
            row("x", "awaiting_reply", None, 3),
            row("facebook", "answered", Some(60), 2),
            row("facebook", "resolved", Some(-1), 0),
        ];
        let at = rows[0].created_at;
        let summary = summarise(&rows, at, at + TimeDelta::days(1));
        assert_eq!(summary.all.conversations, 5);
        assert_eq!(summary.all.answered, 4);
        assert_eq!(summary.all.breached, 2);
        assert_eq!(summary.all.breach_rate, Some(0.4));
        assert_eq!(summary.all.first_response_minutes_median, Some(4.0), "0, 4, 10, 60");
        assert_eq!(summary.all.first_response_minutes_p90, Some(60.0));
        assert_eq!(summary.all.by_status["answered"], 3);
        let x = &summary.channels["x"];
        assert_eq!((x.conversations, x.answered, x.breached), (3, 2, 1));
        assert_eq!(x.first_response_minutes_median, Some(4.0));
        assert_eq!(summary.channels["facebook"].first_response_minutes_median, Some(0.0), "skew counts as 0");

        let empty = summarise(&[], at, at);
        assert_eq!((empty.all.conversations, empty.all.breach_rate), (0, None));
        assert_eq!(empty.all.first_response_minutes_median, None);
        assert!(empty.channels.is_empty());
    }
}
