//! `hark-local escalations`: an outage's worth of SLA deadlines falling in the same second,
//! through the local stack, measured from outside.
//!
//! How thousands of conversations come to be due at once, without touching the table: the
//! stack runs with business hours that open a few minutes from now and X on business time.
//! The burst of complaints arrives while the team is closed, so every clock is paused and
//! starts when the day opens: each warning falls due at the same instant, opening plus X's
//! ideal time. A queue subscribed to the escalation topic sees each notice as SNS delivers
//! it; its `due_at` (the deadline that passed) and SQS's `SentTimestamp` give deadline →
//! published for every conversation. The table then shows each level recorded once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use serde_json::{Value, json};

use crate::load::{percentile, send_signed};
use crate::{Error, LocalStack, demo};

#[derive(Debug, Clone)]
pub struct BurstOptions {
    pub conversations: usize,
    pub senders: usize,
    /// Time to send and store the burst before the business day opens.
    pub lead: Duration,
    /// Longest to wait for the notices after the deadline.
    pub patience: Duration,
}

/// The business day opens at a whole minute at least `lead` from `now`; `None` when that
/// would leave less than half an hour of the day to measure in (the hours are one period on
/// today's weekday).
pub fn opening(now: DateTime<Utc>, lead: Duration) -> Option<DateTime<Utc>> {
    let earliest = now + TimeDelta::from_std(lead).ok()?;
    let opening = earliest.with_second(0)?.with_nanosecond(0)? + TimeDelta::minutes(1);
    (opening.date_naive() == now.date_naive() && opening.hour() * 60 + opening.minute() < 23 * 60 + 30)
        .then_some(opening)
}

/// The template parameters that make every clock of the burst start at `opening`: X on
/// business time, open from then until the end of the day, warning one minute later.
pub fn parameters(opening: DateTime<Utc>) -> Vec<(String, String)> {
    let day = opening.weekday().to_string().to_lowercase();
    [
        ("BusinessTimeZone", "UTC".to_owned()),
        ("BusinessHours", format!("{day} {:02}:{:02}-23:59", opening.hour(), opening.minute())),
        ("BusinessTimeChannels", "x".to_owned()),
        ("XSlaIdealMinutes", "1".to_owned()),
        // Past the measurement: only the warning is raised.
        ("XSlaBreachMinutes", "120".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The demo brand's credentials with no help desk: ten thousand tickets would keep the
/// outbox busy for half an hour, and this measures the escalator.
pub fn credentials() -> Result<String, Error> {
    let mut credentials: Value =
        serde_json::from_str(&demo::credentials_json()).map_err(|e| Error::Usage(e.to_string()))?;
    credentials["webhooks"] = json!({"endpoints": {}});
    Ok(credentials.to_string())
}

/// What the burst did, as measured.
#[derive(Debug, Default)]
pub struct BurstReport {
    pub conversations: usize,
    pub answered_200: usize,
    pub send_seconds: f64,
    /// From the first webhook until every message is stored.
    pub stored_seconds: Option<f64>,
    pub seconds_before_opening: f64,
    /// Earliest and latest deadline among the notices.
    pub deadline_spread_seconds: f64,
    pub warnings_notified: usize,
    pub notified_twice: usize,
    pub missing: usize,
    /// Deadline → the escalation was recorded (its `escalated_at`).
    pub escalated_ms: [f64; 3],
    /// Deadline → SNS accepted the notice (the record's `notified_at`).
    pub published_ms: [f64; 3],
    /// Deadline → SNS delivered it to the subscribed queue (SQS `SentTimestamp`).
    pub delivered_ms: [f64; 3],
    /// Published within 60 s of the deadline.
    pub within_60_s: usize,
    /// Escalation records in the table at warning level: one per conversation.
    pub warning_records: usize,
}

impl BurstReport {
    pub fn passed(&self) -> bool {
        self.answered_200 == self.conversations
            && self.missing == 0
            && self.notified_twice == 0
            && self.warning_records == self.conversations
            && self.within_60_s == self.conversations
    }
}

impl std::fmt::Display for BurstReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seconds = |[p50, p99, max]: [f64; 3]| {
            format!("p50 {:.1} s, p99 {:.1} s, max {:.1} s", p50 / 1e3, p99 / 1e3, max / 1e3)
        };
        writeln!(
            f,
            "complaints sent          {} ({} × 200) in {:.1} s",
            self.conversations, self.answered_200, self.send_seconds
        )?;
        match self.stored_seconds {
            Some(s) => writeln!(
                f,
                "all stored after         {s:.1} s, {:.0} s before the day opened",
                self.seconds_before_opening
            )?,
            None => writeln!(f, "all stored after         not within the lead time")?,
        }
        writeln!(f, "deadlines                spread over {:.1} s", self.deadline_spread_seconds)?;
        writeln!(
            f,
            "warnings notified        {} (missing {}, notified twice {}); warning records {}",
            self.warnings_notified, self.missing, self.notified_twice, self.warning_records
        )?;
        writeln!(f, "deadline → escalated     {}", seconds(self.escalated_ms))?;
        writeln!(f, "deadline → published     {} (SNS accepted it)", seconds(self.published_ms))?;
        writeln!(f, "deadline → delivered     {} (at the subscribed queue)", seconds(self.delivered_ms))?;
        writeln!(f, "published within 60 s    {} of {}", self.within_60_s, self.conversations)?;
        write!(f, "verdict                  {}", if self.passed() { "PASS" } else { "FAIL" })
    }
}

const COMPLAINTS: &[&str] = &[
    "@AcmeAir the app is down and I can't check in for flight {n}",
    "@AcmeAir is your website down? booking {n} won't load",
    "@AcmeAir flight {n} cancelled and your app crashes every time I try to rebook",
    "@AcmeAir where is my refund for {n}? nobody answers the phone",
];

/// One new post per customer: each is its own conversation with its own clock.
fn burst(conversations: usize, seed: u64) -> Vec<Vec<u8>> {
    let base = 1_880_000_000_000_000_000u64 + (seed % 1_000_000_000) * 1_000_000;
    (0..conversations)
        .map(|i| {
            let id = (base + i as u64).to_string();
            let who = (7_000_000 + i as u64).to_string();
            let text = COMPLAINTS[i % COMPLAINTS.len()].replace("{n}", &(i % 997).to_string());
            json!({"for_user_id": demo::BRAND_ID, "tweet_create_events": [{"id_str": id, "text": text,
                "user": {"id_str": who, "screen_name": format!("user{who}"), "name": format!("Pat {who}"), "followers_count": 120}}]})
            .to_string()
            .into_bytes()
        })
        .collect()
}

/// A notice as the subscribed queue received it.
struct Received {
    conversation: String,
    level: String,
    due_at: DateTime<Utc>,
    sent_at: DateTime<Utc>,
}

/// A warning's escalation record as the table keeps it.
struct WarningRecord {
    due_at: DateTime<Utc>,
    escalated_at: DateTime<Utc>,
    /// When SNS confirmed the notice; `None` while unconfirmed.
    notified_at: Option<DateTime<Utc>>,
}

/// Sends the burst before `opening`, then measures the escalations after it.
pub async fn run(stack: &LocalStack, opening: DateTime<Utc>, options: &BurstOptions) -> Result<BurstReport, Error> {
    let sqs = aws_sdk_sqs::Client::new(&stack.aws);
    let sns = aws_sdk_sns::Client::new(&stack.aws);
    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.aws);
    let table = stack.resource("Table").to_owned();
    let inbox = subscribe_inbox(&sqs, &sns, stack.resource("EscalationTopic")).await?;
    let received = Arc::new(Mutex::new(Vec::<Received>::new()));
    let receivers: Vec<_> =
        (0..4).map(|_| tokio::spawn(receive(sqs.clone(), inbox.clone(), received.clone()))).collect();

    let mut report = BurstReport { conversations: options.conversations, ..BurstReport::default() };
    let seed = Utc::now().timestamp_micros() as u64;
    let started = Instant::now();
    let answers =
        send_signed(&stack.http_url, Arc::new(burst(options.conversations, seed)), options.senders, None, &[], None)
            .await?;
    report.answered_200 = answers.iter().filter(|answer| answer.status == Some(200)).count();
    report.send_seconds = started.elapsed().as_secs_f64();

    // Stored before the day opens, or the clocks do not all start at once. The queue is
    // watched, not the table: a scan holds DynamoDB Local up for the functions.
    let queue = stack.resource("MentionsQueue").to_owned();
    loop {
        let drained = crate::load::queue_depth(&sqs, &queue).await? == 0;
        if drained && count_of_type(&dynamodb, &table, "message").await? >= options.conversations {
            report.stored_seconds = Some(started.elapsed().as_secs_f64());
            report.seconds_before_opening = (opening - Utc::now()).num_milliseconds() as f64 / 1e3;
            break;
        }
        if Utc::now() > opening {
            break;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    println!("  burst stored; the day opens at {opening}, warnings fall due at {}", opening + TimeDelta::minutes(1));
    let give_up = opening + TimeDelta::minutes(1) + TimeDelta::from_std(options.patience).unwrap_or(TimeDelta::MAX);
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let warnings = received.lock().expect("received").iter().filter(|r| r.level == "warning").count();
        if warnings >= options.conversations || Utc::now() > give_up {
            break;
        }
    }
    // Anything sent twice arrives within moments of the first.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for receiver in receivers {
        receiver.abort();
    }
    let received = std::mem::take(&mut *received.lock().expect("received"));
    let warnings: Vec<&Received> = received.iter().filter(|r| r.level == "warning").collect();
    let mut per_conversation: HashMap<&str, usize> = HashMap::new();
    for r in &warnings {
        *per_conversation.entry(&r.conversation).or_default() += 1;
    }
    report.warnings_notified = per_conversation.len();
    report.notified_twice = per_conversation.values().filter(|&&n| n > 1).count();
    report.missing = options.conversations.saturating_sub(per_conversation.len());
    let ms = |d: TimeDelta| d.num_milliseconds() as f64;
    let three = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        [percentile(&v, 0.5), percentile(&v, 0.99), v.last().copied().unwrap_or(0.0)]
    };
    report.delivered_ms = three(warnings.iter().map(|r| ms(r.sent_at - r.due_at)).collect());
    let records = warning_records(&dynamodb, &table).await?;
    report.warning_records = records.len();
    let published: Vec<f64> = records.iter().filter_map(|r| Some(ms(r.notified_at? - r.due_at))).collect();
    report.within_60_s = published.iter().filter(|&&ms| ms <= 60_000.0).count();
    report.published_ms = three(published);
    report.escalated_ms = three(records.iter().map(|r| ms(r.escalated_at - r.due_at)).collect());
    let (first, last) = (records.iter().map(|r| r.due_at).min(), records.iter().map(|r| r.due_at).max());
    report.deadline_spread_seconds = first.zip(last).map_or(0.0, |(a, b)| ms(b - a) / 1e3);
    let _ = sqs.delete_queue().queue_url(&inbox).send().await;
    Ok(report)
}

/// A queue subscribed to the escalation topic with raw delivery: each message is a notice.
/// Its URL.
async fn subscribe_inbox(sqs: &aws_sdk_sqs::Client, sns: &aws_sdk_sns::Client, topic: &str) -> Result<String, Error> {
    let failed = |what: &'static str| move |e: String| Error::Usage(format!("{what}: {e}"));
    let name = format!("hark-escalation-burst-{}", Utc::now().timestamp_millis());
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .map_err(|e| failed("create the inbox queue")(e.to_string()))?
        .queue_url
        .unwrap_or_default();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| failed("the inbox queue's ARN")(e.to_string()))?
        .attributes
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
        .unwrap_or_default();
    sns.subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(&arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .map_err(|e| failed("subscribe the inbox")(e.to_string()))?;
    Ok(url)
}

async fn receive(sqs: aws_sdk_sqs::Client, url: String, into: Arc<Mutex<Vec<Received>>>) {
    loop {
        let Ok(out) = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
        else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut entries = Vec::new();
        for (i, message) in out.messages.unwrap_or_default().into_iter().enumerate() {
            let sent_at = message
                .attributes
                .as_ref()
                .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp))
                .and_then(|t| t.parse::<i64>().ok())
                .and_then(DateTime::from_timestamp_millis);
            let notice: Option<Value> = message.body.as_deref().and_then(|b| serde_json::from_str(b).ok());
            let at = |n: &Value, field: &str| n[field].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok());
            if let (Some(sent_at), Some(n)) = (sent_at, notice.as_ref())
                && let Some(due_at) = at(n, "due_at")
            {
                into.lock().expect("received").push(Received {
                    conversation: n["conversation_id"].as_str().unwrap_or_default().to_owned(),
                    level: n["level_name"].as_str().unwrap_or_default().to_owned(),
                    due_at,
                    sent_at,
                });
            }
            if let Some(handle) = message.receipt_handle {
                entries.push(
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .build()
                        .expect("id and handle are set"),
                );
            }
        }
        if !entries.is_empty() {
            let _ = sqs.delete_message_batch().queue_url(&url).set_entries(Some(entries)).send().await;
        }
    }
}

async fn warning_records(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<WarningRecord>, Error> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut records = Vec::new();
    let mut start = None;
    loop {
        let out = dynamodb
            .scan()
            .table_name(table)
            .filter_expression("item_type = :t AND level_name = :l")
            .expression_attribute_values(":t", AttributeValue::S("escalation".into()))
            .expression_attribute_values(":l", AttributeValue::S("warning".into()))
            .projection_expression("notice, notified_at")
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| {
                Error::Usage(format!("scan the table: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
            })?;
        for item in out.items.unwrap_or_default() {
            let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
            let notice: Value = text("notice").and_then(|n| serde_json::from_str(&n).ok()).unwrap_or_default();
            let at = |field: &str| notice[field].as_str().and_then(|t| t.parse::<DateTime<Utc>>().ok());
            let (Some(due_at), Some(escalated_at)) = (at("due_at"), at("escalated_at")) else {
                return Err(Error::Usage(format!("an escalation record without due_at or escalated_at: {notice}")));
            };
            let notified_at = text("notified_at").and_then(|t| t.parse::<DateTime<Utc>>().ok());
            records.push(WarningRecord { due_at, escalated_at, notified_at });
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(records);
        }
    }
}

async fn count_of_type(dynamodb: &aws_sdk_dynamodb::Client, table: &str, item_type: &str) -> Result<usize, Error> {
    use aws_sdk_dynamodb::types::{AttributeValue, Select};
    let mut count = 0;
    let mut start = None;
    loop {
        let out = dynamodb
            .scan()
            .table_name(table)
            .filter_expression("item_type = :t")
            .expression_attribute_values(":t", AttributeValue::S(item_type.to_owned()))
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| {
                Error::Usage(format!("scan the table: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
            })?;
        count += out.count as usize;
        start = out.last_evaluated_key;
        if start.is_none() {
            return Ok(count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_day_opens_on_a_whole_minute_after_the_lead_and_never_tomorrow() {
        let at = |h, m, s| Utc.with_ymd_and_hms(2026, 12, 4, h, m, s).unwrap();
        assert_eq!(opening(at(8, 0, 30), Duration::from_secs(300)), Some(at(8, 6, 0)));
        assert_eq!(opening(at(8, 0, 0), Duration::from_secs(300)), Some(at(8, 6, 0)));
        assert_eq!(opening(at(23, 40, 0), Duration::from_secs(300)), None);
        let params = parameters(at(8, 6, 0));
        assert!(params.contains(&("BusinessHours".to_owned(), "fri 08:06-23:59".to_owned())), "{params:?}");
    }
}
