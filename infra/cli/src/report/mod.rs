//! `hark report --from DATE --to DATE`: the period's care KPIs as one self-contained HTML
//! file a manager opens (or prints): headline figures, volume by day and by hour, how
//! customers felt day by day, each channel side by side, and the outage incidents. Read from
//! the stack's table with the same code the API's `/v1/kpis` uses; rendered without a
//! script, a font or a stylesheet from anywhere else.

mod svg;

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use hark_shared::domain::kpi::{KpiSummary, Kpis, summarise};
use hark_shared::ports::{ConversationReader, Incident, Incidents};

use crate::{Args, CliError};
use svg::{Series, stacked_bars};

/// The longest period one report covers.
const MAX_DAYS: i64 = 366;

pub fn run(args: &Args) -> Result<(), CliError> {
    let date = |name: &str| -> Result<NaiveDate, CliError> {
        let text = args.flag(name).ok_or_else(|| CliError::Usage(format!("--{name} YYYY-MM-DD is needed")))?;
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| CliError::Usage(format!("--{name} {text:?} is not a date (YYYY-MM-DD)")))
    };
    let (from, to) = (date("from")?, date("to")?);
    if to < from {
        return Err(CliError::Usage("--to is before --from".into()));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(CliError::Usage(format!("a report covers at most {MAX_DAYS} days")));
    }
    let since = from.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    // The whole of the last day.
    let until = (to.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc() + TimeDelta::days(1)
        - TimeDelta::milliseconds(1))
    .min(Utc::now());
    let out = args.flag("out").map(str::to_owned).unwrap_or_else(|| format!("hark-report-{from}-to-{to}.html"));
    crate::on_table(args, async |store| {
        let rows = store.kpi_rows(since, until).await.map_err(|e| CliError::Usage(e.to_string()))?;
        let incidents: Vec<Incident> = store
            .incidents(50)
            .await
            .map_err(|e| CliError::Usage(e.to_string()))?
            .into_iter()
            .filter(|i| i.opened_at >= since && i.opened_at <= until)
            .collect();
        let summary = summarise(&rows, since, until);
        let html = render(&summary, &incidents, Utc::now());
        std::fs::write(&out, html).map_err(|e| CliError::Io(out.clone(), e))?;
        println!("{out}: {} conversation(s) from {from} to {to}", summary.all.conversations);
        Ok(())
    })
}

/// Text as HTML shows it, whatever a customer or an operator put in it.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn channel_colour(channel: &str) -> &'static str {
    match channel {
        "x" => "#111827",
        "facebook" => "#1877f2",
        "instagram" => "#c13584",
        _ => "#6b7280",
    }
}

const SENTIMENTS: [(&str, &str); 4] =
    [("negative", "#dc2626"), ("mixed", "#f59e0b"), ("neutral", "#9ca3af"), ("positive", "#16a34a")];

fn percent(share: Option<f64>) -> String {
    share.map_or("–".to_owned(), |s| format!("{:.0}%", s * 100.0))
}

fn minutes(m: Option<f64>) -> String {
    match m {
        None => "–".to_owned(),
        Some(m) if m < 90.0 => format!("{m:.0} min"),
        Some(m) => format!("{:.1} h", m / 60.0),
    }
}

/// The report, rendered at `now`.
pub fn render(summary: &KpiSummary, incidents: &[Incident], now: DateTime<Utc>) -> String {
    let all = &summary.all;
    let period = format!("{} to {}", summary.since.format("%-d %b %Y"), summary.until.format("%-d %b %Y"));
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Hark care report, {period}</title><style>{STYLE}</style></head><body>"#,
        period = escape(&period)
    );
    let _ = write!(
        html,
        r#"<header><h1>Social care report</h1><p>{} &middot; times in UTC &middot; made {}</p></header>"#,
        escape(&period),
        now.format("%-d %b %Y %H:%M UTC")
    );
    html.push_str(r#"<section class="cards">"#);
    let cards = [
        ("Conversations", all.conversations.to_string(), format!("{} asked for an answer", all.asked)),
        ("Response rate", percent(all.response_rate), format!("{} answered by a person", all.answered)),
        (
            "First response",
            minutes(all.first_response_minutes_median),
            format!("median; 90% within {}", minutes(all.first_response_minutes_p90)),
        ),
        ("SLA compliance", percent(all.sla_compliance), format!("{} breached", all.breached)),
        ("Escalations", all.escalations.to_string(), format!("{} fast-tracked as viral", all.viral)),
        ("Backlog", all.backlog.to_string(), "still waiting for a person".to_owned()),
    ];
    for (title, figure, note) in cards {
        let _ = write!(
            html,
            r#"<div class="card"><h2>{title}</h2><b>{}</b><span>{}</span></div>"#,
            escape(&figure),
            escape(&note)
        );
    }
    html.push_str("</section>");

    let channels: Vec<&String> = summary.channels.keys().collect();
    let day_labels: Vec<String> = summary.days.iter().map(|d| d.date.format("%-d %b").to_string()).collect();
    let every = (day_labels.len() / 10).max(1);
    let by_day: Vec<Series<'_>> = channels
        .iter()
        .map(|c| Series {
            name: c.as_str(),
            colour: channel_colour(c),
            values: summary.days.iter().map(|d| d.by_channel.get(*c).copied().unwrap_or(0)).collect(),
        })
        .collect();
    section(&mut html, "Conversations by day", &stacked_bars(&day_labels, &by_day, false, every));

    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    let by_hour: Vec<Series<'_>> = channels
        .iter()
        .map(|c| Series { name: c.as_str(), colour: channel_colour(c), values: summary.by_hour[*c].clone() })
        .collect();
    section(&mut html, "Conversations by hour of day (UTC)", &stacked_bars(&hours, &by_hour, false, 3));

    let sentiment: Vec<Series<'_>> = SENTIMENTS
        .iter()
        .map(|(name, colour)| Series {
            name,
            colour,
            values: summary.days.iter().map(|d| d.sentiment.get(*name).copied().unwrap_or(0)).collect(),
        })
        .collect();
    section(
        &mut html,
        "How conversations opened, day by day (share of each day)",
        &stacked_bars(&day_labels, &sentiment, true, every),
    );

    html.push_str(r#"<section><h2>By channel</h2><table><tr><th>channel</th><th>conversations</th><th>asked</th><th>response rate</th><th>first response (median)</th><th>90% within</th><th>SLA compliance</th><th>breached</th><th>escalations</th><th>backlog</th></tr>"#);
    for (channel, k) in summary.channels.iter().chain(std::iter::once((&"all".to_owned(), all))) {
        channel_row(&mut html, channel, k);
    }
    html.push_str("</table></section>");

    html.push_str("<section><h2>Outage incidents</h2>");
    if incidents.is_empty() {
        html.push_str(r#"<p class="quiet">No outage spike in the period.</p>"#);
    } else {
        html.push_str(
            "<table><tr><th>incident</th><th>opened</th><th>channels</th><th>mentions</th><th>post</th></tr>",
        );
        for incident in incidents {
            let posted = if incident.posts.is_empty() {
                "not approved".to_owned()
            } else {
                let sent = incident.posts.iter().filter(|p| p.status == "sent").count();
                format!("{sent} of {} sent", incident.posts.len())
            };
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&incident.id),
                incident.opened_at.format("%-d %b %H:%M"),
                escape(&incident.channels.join(", ")),
                incident.mentions,
                escape(&posted)
            );
        }
        html.push_str("</table>");
    }
    html.push_str("</section>");
    html.push_str(
        r#"<footer>First response: to a person's first answer, never Hark's acknowledgement. SLA compliance: of the conversations that asked for an answer, the share that never reached its breach. Opening sentiment: the customer's first message.</footer></body></html>"#,
    );
    html
}

fn section(html: &mut String, title: &str, chart: &str) {
    let _ = write!(html, "<section><h2>{}</h2>{chart}</section>", escape(title));
}

fn channel_row(html: &mut String, channel: &str, k: &Kpis) {
    let _ = write!(
        html,
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        escape(channel),
        k.conversations,
        k.asked,
        percent(k.response_rate),
        minutes(k.first_response_minutes_median),
        minutes(k.first_response_minutes_p90),
        percent(k.sla_compliance),
        k.breached,
        k.escalations,
        k.backlog
    );
}

const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#111827;margin:0 auto;max-width:820px;padding:24px}\
header h1{font-size:24px;margin:0}header p{color:#6b7280;margin:4px 0 20px}\
.cards{display:grid;grid-template-columns:repeat(3,1fr);gap:12px;margin-bottom:8px}\
.card{border:1px solid #e5e7eb;border-radius:8px;padding:12px 14px}\
.card h2{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#6b7280;margin:0}\
.card b{display:block;font-size:28px;margin:2px 0}.card span{color:#6b7280;font-size:12px}\
section h2{font-size:16px;margin:24px 0 8px}.chart{width:100%;height:auto}\
.axis{font-size:10px;fill:#6b7280}.legend span{margin-right:14px;font-size:12px;color:#374151}\
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}\
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:right;padding:5px 8px;border-bottom:1px solid #e5e7eb}\
th:first-child,td:first-child{text-align:left}th{color:#6b7280;font-weight:600}tr:last-child td{font-weight:600}\
.quiet{color:#6b7280}footer{color:#6b7280;font-size:12px;margin-top:28px}\
@media print{body{padding:0}}";

#[cfg(test)]
mod tests {
    use super::*;
    use hark_shared::domain::kpi::KpiRow;

    fn summary() -> KpiSummary {
        let at = DateTime::from_timestamp(1_796_000_000, 0).unwrap();
        let row = |channel: &str, hours: i64, answer: Option<i64>, breached: bool, sentiment: &str| KpiRow {
            channel: channel.into(),
            status: if answer.is_some() { "answered" } else { "awaiting_reply" }.into(),
            created_at: at + TimeDelta::hours(hours),
            first_response_at: answer.map(|m| at + TimeDelta::hours(hours) + TimeDelta::minutes(m)),
            asked: true,
            breached,
            escalations: u32::from(breached) * 2,
            viral: false,
            sentiment: Some(sentiment.into()),
        };
        let rows = [
            row("x", 0, Some(12), false, "negative"),
            row("x", 26, Some(45), true, "neutral"),
            row("facebook", 3, None, true, "negative"),
            row("<script>", 4, Some(5), false, "positive"),
        ];
        summarise(&rows, at, at + TimeDelta::days(2))
    }

    #[test]
    fn the_report_shows_the_figures_and_charts_and_nothing_from_elsewhere() {
        let html = render(&summary(), &[], DateTime::from_timestamp(1_796_300_000, 0).unwrap());
        assert!(html.starts_with("<!doctype html>") && html.ends_with("</html>"));
        assert_eq!(html.matches("<svg").count(), 3, "by day, by hour, sentiment");
        for figure in ["<b>4</b>", "<b>75%</b>", "<b>12 min</b>", "<b>50%</b>", "<b>1</b>"] {
            assert!(html.contains(figure), "{figure} missing");
        }
        assert!(!html.contains("<script"), "a hostile channel name is shown, not run");
        assert!(html.contains("&lt;script&gt;"));
        for remote in ["http://", "https://", "src=", "@import", "url("] {
            assert!(!html.contains(remote), "{remote}: the report must open offline");
        }
        assert!(html.contains("No outage spike in the period."));
    }
}
