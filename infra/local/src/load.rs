//! `hark-local load`: a burst of signed X webhooks against a running local stack, measured
//! from outside: the HTTP answers it gets, then the table, the queues and what the local X
//! API received, as anyone could read them. It attaches to the stack `hark-local run`
//! describes in its stack file, and signs as the demo brand, whose credentials the stack
//! holds unless it was started with `--credentials`.
//!
//! The burst mixes what X sends a brand: new posts (complaints, questions, praise, chatter),
//! customers' replies in each other's threads, direct messages, the brand's own replies, and
//! re-deliveries of earlier webhooks byte for byte (X retries). Each delivery carries one
//! event, so the expected result is exact: every distinct event stored once, nothing left on
//! the queues, and no post answered twice.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Error;
use crate::demo::{self, BRAND_ID};

/// What a running stack tells the tools that attach to it (`target/hark-local/stack.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackFile {
    pub http_url: String,
    /// The stack's control listener: kills and the SQS outage (`faults::serve_control`).
    pub control_url: String,
    pub dynamodb: String,
    pub aws: String,
    pub table: String,
    pub queue_url: String,
    pub dead_letter_queue_url: String,
    pub x_api: String,
    /// The local help desks, and those the stack forwards to (empty: all).
    pub help_desk: String,
    pub zendesk: String,
    pub freshdesk: String,
    pub help_desks: Vec<String>,
    /// Engines started by the stack, with their process ids.
    pub engine_pids: Vec<(String, u32)>,
}

impl StackFile {
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::Usage(e.to_string()))?;
        std::fs::write(path, json).map_err(Error::io("write the stack file"))
    }

    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Usage(format!("{}: {e} (is `hark-local run` running?)", path.display())))?;
        serde_json::from_str(&text).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
    }
}

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub webhooks: usize,
    pub concurrency: usize,
    /// Share of deliveries that repeat an earlier one byte for byte.
    pub redeliveries: f64,
    pub customers: usize,
    /// Longest to wait for the stack to finish processing after the last webhook.
    pub patience: Duration,
    /// Webhooks a second, spaced evenly (`None`: as fast as the senders go).
    pub rate: Option<f64>,
    /// What goes wrong while the webhooks are first sent.
    pub faults: crate::fault_schedule::FaultPlan,
}

/// What the burst did, as measured.
#[derive(Debug, Default, Serialize)]
pub struct LoadReport {
    pub webhooks: usize,
    pub redelivered: usize,
    pub distinct_events: usize,
    /// Webhooks answered 200, at the first attempt or one of X's retries.
    pub answered_200: usize,
    /// The last answers of those never answered 200: X gave up on them.
    pub other_answers: HashMap<u16, usize>,
    /// Attempts not answered within 10 s.
    pub timeouts: usize,
    /// Webhooks X had to send again, and those it gave up on after its last retry.
    pub retried: usize,
    pub gave_up: usize,
    /// The faults injected, in order.
    pub faults: Vec<crate::fault_schedule::Injected>,
    pub send_seconds: f64,
    pub webhook_p50_ms: f64,
    pub webhook_p99_ms: f64,
    pub webhook_max_ms: f64,
    /// From the first webhook until the queue is empty and every event is stored.
    pub processed_seconds: Option<f64>,
    pub stored_messages: usize,
    pub lost: usize,
    /// The first few events not found, to look for in the logs.
    pub lost_examples: Vec<String>,
    pub stored_twice: usize,
    pub queue_left: u64,
    pub dead_letters: u64,
    pub acknowledgements_sent: usize,
    /// Thank-yous for praise: X posts too.
    pub thanks_sent: usize,
    pub acknowledgements_not_sent: HashMap<String, usize>,
    /// Outbox records of any kind still unsettled (pending, sending, unknown) when the
    /// patience ran out: sends that had not happened, and might never.
    pub unsettled: usize,
    /// Deliveries to the help desks, by status, once every one was finished or the
    /// patience ran out.
    pub forwards: HashMap<String, usize>,
    /// Per help desk: the message received → the desk's answer to its delivery.
    pub desks: Vec<DeskDeliveries>,
    /// What the local Zendesk's and Freshdesk's rate limits saw (Freshdesk: the account's
    /// and the ticket creates').
    pub desk_rates: Vec<(String, crate::RateStats)>,
    pub x_posted: u64,
    pub x_most_replies_to_one_post: u64,
    /// Replies beyond the first to one post: posts sent twice.
    pub x_replies_twice: u64,
    /// Calls the platforms answered from an injected outage, by platform.
    pub outage_answers: Vec<(String, u64)>,
    /// Per help desk, what it received twice.
    pub desks_twice: Vec<DeskTwice>,
    pub engines_rss_mb: Vec<(String, f64)>,
}

/// What one help desk received twice, as it counts it.
#[derive(Debug, Default, Clone, Serialize)]
pub struct DeskTwice {
    pub desk: String,
    /// A second ticket for one conversation (Zendesk, Freshdesk).
    pub tickets_twice: u64,
    /// An event's text added to a ticket twice (Zendesk, Freshdesk).
    pub events_twice: u64,
    /// Standard Webhooks: a delivery accepted again with the same `webhook-id`, after an
    /// answer the outbox never recorded (it was killed). The standard is at-least-once and a
    /// receiver drops these by their id, so they are reported, not failed.
    pub accepted_again: u64,
}

/// How one help desk's deliveries went.
#[derive(Debug, Default, Clone, Serialize)]
pub struct DeskDeliveries {
    pub endpoint: String,
    pub sent: usize,
    pub not_sent: usize,
    pub p50_seconds: f64,
    pub p99_seconds: f64,
    pub max_seconds: f64,
    /// The last delivery, after the last webhook was sent.
    pub last_after_burst_seconds: f64,
}

impl LoadReport {
    pub fn passed(&self) -> bool {
        (self.timeouts == 0 || !self.faults.is_empty())
            && self.gave_up == 0
            && self.faults.iter().all(|f| f.error.is_none())
            && self.lost == 0
            && self.stored_twice == 0
            && self.queue_left == 0
            && self.dead_letters == 0
            && self.unsettled == 0
            && self.x_replies_twice == 0
            && self.desks_twice.iter().all(|d| d.tickets_twice == 0 && d.events_twice == 0)
            && self.x_posted as usize == self.acknowledgements_sent + self.thanks_sent
            && self.processed_seconds.is_some()
            && self.desks.iter().all(|d| d.not_sent == 0)
            && self.desk_rates.iter().all(|(_, rate)| rate.rate_limited == 0)
    }
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "webhooks sent            {} ({} re-deliveries, {} distinct events)",
            self.webhooks, self.redelivered, self.distinct_events
        )?;
        writeln!(
            f,
            "answers                  {} × 200; {} sent again by X's retries, {} given up ({:?}); {} attempts timed out (10 s)",
            self.answered_200, self.retried, self.gave_up, self.other_answers, self.timeouts
        )?;
        if !self.faults.is_empty() {
            let faults: Vec<String> = self
                .faults
                .iter()
                .map(|f| match &f.error {
                    None => format!("{:.0} s {}", f.at_seconds, f.fault),
                    Some(e) => format!("{:.0} s {} NOT INJECTED ({e})", f.at_seconds, f.fault),
                })
                .collect();
            writeln!(f, "faults                   {}", faults.join(", "))?;
            let outages: Vec<String> = self.outage_answers.iter().map(|(p, n)| format!("{p} {n}")).collect();
            writeln!(f, "answered by outages      {}", outages.join(", "))?;
        }
        writeln!(
            f,
            "webhook latency          p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; all sent in {:.1} s",
            self.webhook_p50_ms, self.webhook_p99_ms, self.webhook_max_ms, self.send_seconds
        )?;
        match self.processed_seconds {
            Some(s) => writeln!(f, "fully processed after    {s:.1} s (queue empty, every event stored)")?,
            None => writeln!(f, "fully processed after    NOT within the patience")?,
        }
        writeln!(
            f,
            "stored                   {} messages; lost {}, stored twice {}",
            self.stored_messages, self.lost, self.stored_twice
        )?;
        if !self.lost_examples.is_empty() {
            writeln!(f, "not found                {}", self.lost_examples.join(", "))?;
        }
        writeln!(
            f,
            "queues                   {} left on the queue, {} in the dead-letter queue",
            self.queue_left, self.dead_letters
        )?;
        writeln!(
            f,
            "acknowledgements         {} sent, not sent {:?}; {} thank-yous; X received {} posts, most replies to one post {}",
            self.acknowledgements_sent,
            self.acknowledgements_not_sent,
            self.thanks_sent,
            self.x_posted,
            self.x_most_replies_to_one_post
        )?;
        writeln!(f, "unsettled                {} outbox records still pending or unknown", self.unsettled)?;
        writeln!(f, "sent twice               X {} posts", self.x_replies_twice)?;
        for d in &self.desks_twice {
            writeln!(
                f,
                "  {:<22} {} tickets twice, {} events twice, {} deliveries accepted again (same webhook-id)",
                d.desk, d.tickets_twice, d.events_twice, d.accepted_again
            )?;
        }
        writeln!(f, "help-desk deliveries     {:?}", self.forwards)?;
        for d in &self.desks {
            writeln!(
                f,
                "  {:<22} {} sent, {} not; message received → delivered p50 {:.1} s, p99 {:.1} s, max {:.1} s; last {:.0} s after the burst",
                d.endpoint, d.sent, d.not_sent, d.p50_seconds, d.p99_seconds, d.max_seconds, d.last_after_burst_seconds
            )?;
        }
        for (desk, rate) in &self.desk_rates {
            writeln!(
                f,
                "  {desk:<22} {} requests, {} answered 429, busiest minute {}",
                rate.requests, rate.rate_limited, rate.busiest_minute
            )?;
        }
        let total: f64 = self.engines_rss_mb.iter().map(|(_, mb)| mb).sum();
        let each: Vec<String> = self.engines_rss_mb.iter().map(|(n, mb)| format!("{n} {mb:.0} MB")).collect();
        writeln!(f, "engines' memory          {total:.0} MB resident ({})", each.join(", "))?;
        write!(f, "verdict                  {}", if self.passed() { "PASS" } else { "FAIL" })
    }
}

/// A tiny deterministic generator: the same burst every run.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 10_000) as f64 / 10_000.0 < p
    }
}

const TEXTS: &[&str] = &[
    "@AcmeAir my flight {n} was cancelled and nobody at the gate can tell me anything",
    "@AcmeAir where is my bag? it did not arrive on flight {n}",
    "@AcmeAir how do I add a checked bag to booking {n}?",
    "@AcmeAir can I change my seat on flight {n} online?",
    "@AcmeAir the crew on flight {n} were wonderful, thank you!",
    "@AcmeAir charged twice for my upgrade on flight {n}, please refund",
    "@AcmeAir 3 hours on hold and still no answer about flight {n}",
    "@AcmeAir is the app down? can't check in for {n}",
    "@AcmeAir lovely lounge today, great coffee {n}",
    "@AcmeAir thinking about flying with you to Denver, {n} looks good",
];

/// One webhook of the burst: its body, and the distinct event it carries (None: a repeat).
struct Delivery {
    body: Vec<u8>,
    event: Option<String>,
    /// What the event is, for the report of any not found.
    kind: &'static str,
}

fn burst(options: &LoadOptions, seed: u64) -> Vec<Delivery> {
    let mut dice = Dice(seed | 1);
    let base = 1_870_000_000_000_000_000u64 + (seed % 1_000_000_000) * 1_000_000;
    let customer = |i: usize| (5_000_000 + i as u64).to_string();
    let mut posts: Vec<(String, String)> = Vec::new(); // (tweet id, author)
    let mut deliveries: Vec<Delivery> = Vec::with_capacity(options.webhooks);
    for n in 0..options.webhooks {
        if !deliveries.is_empty() && dice.chance(options.redeliveries) {
            let earlier = &deliveries[dice.below(deliveries.len())];
            deliveries.push(Delivery { body: earlier.body.clone(), event: None, kind: earlier.kind });
            continue;
        }
        let id = (base + n as u64).to_string();
        let who = customer(dice.below(options.customers));
        let text = TEXTS[dice.below(TEXTS.len())].replace("{n}", &(n % 997).to_string());
        let user = |id: &str| json!({"id_str": id, "screen_name": format!("user{id}"), "name": format!("Pat {id}"), "followers_count": 100});
        let roll = dice.below(100);
        let kind = match roll {
            0..15 => "direct message",
            15..35 if !posts.is_empty() => "reply in a thread",
            35..40 if !posts.is_empty() => "brand reply",
            _ => "post",
        };
        let body = if roll < 15 {
            json!({"for_user_id": BRAND_ID, "direct_message_events": [{
                "type": "message_create", "id": id, "created_timestamp": chrono::Utc::now().timestamp_millis().to_string(),
                "message_create": {"target": {"recipient_id": BRAND_ID}, "sender_id": who, "message_data": {"text": text}}}],
                "users": {who.clone(): {"id": who, "screen_name": format!("user{who}")}}})
        } else if roll < 35 && !posts.is_empty() {
            let (parent, parent_author) = posts[dice.below(posts.len())].clone();
            json!({"for_user_id": BRAND_ID, "tweet_create_events": [{"id_str": id, "text": text, "user": user(&who),
                "in_reply_to_status_id_str": parent, "in_reply_to_user_id_str": parent_author}]})
        } else if roll < 40 && !posts.is_empty() {
            // The brand's own reply to a customer's post: it stops that conversation's clock.
            let (parent, parent_author) = posts[dice.below(posts.len())].clone();
            json!({"for_user_id": BRAND_ID, "tweet_create_events": [{"id_str": id,
                "text": format!("@user{parent_author} We're on it, sorry for the wait ^HK"), "user": user(BRAND_ID),
                "in_reply_to_status_id_str": parent, "in_reply_to_user_id_str": parent_author}]})
        } else {
            posts.push((id.clone(), who.clone()));
            json!({"for_user_id": BRAND_ID, "tweet_create_events": [{"id_str": id, "text": text, "user": user(&who)}]})
        };
        deliveries.push(Delivery { body: body.to_string().into_bytes(), event: Some(id), kind });
    }
    deliveries
}

/// When X sends a webhook again that was not answered 200 within its wait: "up to three
/// times over a five-minute period" (Account Activity API, enterprise retries), counted here
/// from the first attempt.
pub(crate) const X_RETRIES: [Duration; 3] =
    [Duration::from_secs(20), Duration::from_secs(120), Duration::from_secs(300)];

/// How one webhook went, over all its attempts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer {
    /// The last attempt's status (`None`: no answer within 10 s).
    pub status: Option<u16>,
    /// The first attempt's round trip.
    pub first_ms: f64,
    pub attempts: u32,
    pub timeouts: u32,
}

/// Posts each body to the stack's X webhook, signed as X signs, from `concurrency` senders;
/// a webhook not answered 200 is sent again at each of `retries` after its first attempt
/// until one is.
pub(crate) async fn send_signed(
    http_url: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
    rate: Option<f64>,
    retries: &'static [Duration],
    first_attempts_done: Option<tokio::sync::watch::Sender<bool>>,
) -> Result<Vec<Answer>, Error> {
    let start = tokio::time::Instant::now();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(concurrency)
        .build()
        .map_err(|e| Error::Usage(e.to_string()))?;
    let url = Arc::new(format!("{http_url}/webhooks/x"));
    let post = |http: reqwest::Client, url: Arc<String>, body: Vec<u8>| async move {
        let signature = hark_shared::channels::x::sign(demo::CONSUMER_SECRET, &body);
        let sent = Instant::now();
        let result = http
            .post(url.as_str())
            .header("content-type", "application/json")
            .header("x-twitter-webhooks-signature", signature)
            .body(body)
            .send()
            .await;
        (result.ok().map(|r| r.status().as_u16()), sent.elapsed().as_secs_f64() * 1000.0)
    };
    let next = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (http, url, bodies, next) = (http.clone(), url.clone(), bodies.clone(), next.clone());
            tokio::spawn(async move {
                let mut webhooks = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { return webhooks };
                    if let Some(rate) = rate.filter(|r| *r > 0.0) {
                        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
                    }
                    let first = tokio::time::Instant::now();
                    let (status, first_ms) = post(http.clone(), url.clone(), body.clone()).await;
                    let mut answer = Answer { status, first_ms, attempts: 1, timeouts: u32::from(status.is_none()) };
                    if status == Some(200) || retries.is_empty() {
                        webhooks.push(tokio::spawn(async move { answer }));
                        continue;
                    }
                    // X's retries come later; the sender goes on with the next webhook.
                    let (http, url, body) = (http.clone(), url.clone(), body.clone());
                    webhooks.push(tokio::spawn(async move {
                        for after in retries {
                            tokio::time::sleep_until(first + *after).await;
                            let (status, _) = post(http.clone(), url.clone(), body.clone()).await;
                            answer.status = status;
                            answer.attempts += 1;
                            answer.timeouts += u32::from(status.is_none());
                            if status == Some(200) {
                                break;
                            }
                        }
                        answer
                    }));
                }
            })
        })
        .collect();
    let mut webhooks = Vec::new();
    for sender in senders {
        webhooks.extend(sender.await.map_err(|e| Error::Usage(e.to_string()))?);
    }
    if let Some(done) = first_attempts_done {
        let _ = done.send(true);
    }
    let mut answers = Vec::new();
    for webhook in webhooks {
        answers.push(webhook.await.map_err(|e| Error::Usage(e.to_string()))?);
    }
    Ok(answers)
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Sends the burst and measures what became of it.
pub async fn run(stack: &StackFile, options: &LoadOptions) -> Result<LoadReport, Error> {
    let seed = chrono::Utc::now().timestamp_micros() as u64;
    let deliveries = Arc::new(burst(options, seed));
    let expected: HashSet<String> = deliveries.iter().filter_map(|d| d.event.clone()).collect();
    let kinds: HashMap<&str, &str> = deliveries.iter().filter_map(|d| Some((d.event.as_deref()?, d.kind))).collect();
    let mut report = LoadReport {
        webhooks: deliveries.len(),
        redelivered: deliveries.iter().filter(|d| d.event.is_none()).count(),
        distinct_events: expected.len(),
        ..LoadReport::default()
    };
    let started = Instant::now();
    let bodies = Arc::new(deliveries.iter().map(|d| d.body.clone()).collect::<Vec<_>>());
    let (sending_done, sending) = tokio::sync::watch::channel(false);
    let schedule = (!options.faults.faults.is_empty())
        .then(|| tokio::spawn(crate::fault_schedule::run(stack.clone(), options.faults.clone(), sending)));
    let mut latencies = Vec::new();
    let answers =
        send_signed(&stack.http_url, bodies, options.concurrency, options.rate, &X_RETRIES, Some(sending_done)).await?;
    for answer in answers {
        latencies.push(answer.first_ms);
        report.timeouts += answer.timeouts as usize;
        report.retried += usize::from(answer.attempts > 1);
        match answer.status {
            Some(200) => report.answered_200 += 1,
            other => {
                report.gave_up += 1;
                *report.other_answers.entry(other.unwrap_or(0)).or_default() += 1;
            }
        }
    }
    if let Some(schedule) = schedule {
        report.faults = schedule.await.map_err(|e| Error::Usage(e.to_string()))?;
    }
    report.send_seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    report.webhook_p50_ms = percentile(&latencies, 0.5);
    report.webhook_p99_ms = percentile(&latencies, 0.99);
    report.webhook_max_ms = latencies.last().copied().unwrap_or(0.0);

    let endpoints = crate::engines::Endpoints { dynamodb: stack.dynamodb.clone(), aws: stack.aws.clone() };
    let aws = crate::aws_config(&endpoints).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let deadline = Instant::now() + options.patience;
    // DynamoDB Local serves nothing else while it scans: the wait between looks grows with
    // the scan's cost, so the tool never becomes the stack's bottleneck.
    let mut pause = Duration::from_secs(1);
    let stored = loop {
        tokio::time::sleep(pause).await;
        let out_of_time = Instant::now() > deadline;
        if out_of_time || queue_depth(&sqs, &stack.queue_url).await? == 0 {
            let scanned = Instant::now();
            let stored = messages_by_id(&dynamodb, &stack.table).await?;
            pause = (scanned.elapsed() * 5).max(Duration::from_secs(1));
            if expected.iter().all(|id| stored.contains_key(id)) {
                report.processed_seconds = Some(started.elapsed().as_secs_f64());
                break stored;
            }
            if out_of_time {
                break stored;
            }
        }
    };
    report.stored_messages = stored.len();
    let mut lost: Vec<&String> = expected.iter().filter(|id| !stored.contains_key(*id)).collect();
    lost.sort();
    report.lost = lost.len();
    report.lost_examples = lost.into_iter().take(10).map(|id| format!("{id} ({})", kinds[id.as_str()])).collect();
    report.stored_twice = stored.values().filter(|&&n| n > 1).count();
    report.queue_left = queue_depth(&sqs, &stack.queue_url).await?;
    report.dead_letters = queue_depth(&sqs, &stack.dead_letter_queue_url).await?;
    // The acknowledgements the burst asked for, and every forward: finished unless still on
    // their way when the patience runs out.
    let sent_by = chrono::Utc::now() - chrono::TimeDelta::from_std(started.elapsed()).unwrap_or_default()
        + chrono::TimeDelta::milliseconds((report.send_seconds * 1000.0) as i64);
    let records = loop {
        tokio::time::sleep(pause).await;
        let scanned = Instant::now();
        let records = outbox_records(&dynamodb, &stack.table).await?;
        pause = (scanned.elapsed() * 5).max(Duration::from_secs(2));
        let unfinished = records.iter().any(|r| !["sent", "failed", "cancelled"].contains(&r.status.as_str()));
        if !unfinished || Instant::now() > deadline {
            break records;
        }
    };
    report.unsettled = records.iter().filter(|r| !["sent", "failed", "cancelled"].contains(&r.status.as_str())).count();
    for r in &records {
        match (r.purpose.as_str(), r.status.as_str()) {
            ("acknowledgement", "sent") => report.acknowledgements_sent += 1,
            ("thanks", "sent") => report.thanks_sent += 1,
            ("acknowledgement", status) => *report.acknowledgements_not_sent.entry(status.to_owned()).or_default() += 1,
            (purpose, status) => *report.forwards.entry(format!("{purpose} {status}")).or_default() += 1,
        }
    }
    report.desks = desk_deliveries(&records, sent_by);
    let stats: Value = reqwest::Client::new()
        .get(format!("{}/_local/stats", stack.x_api))
        .send()
        .await
        .map_err(|e| Error::Usage(format!("local X API: {e}")))?
        .json()
        .await
        .map_err(|e| Error::Usage(format!("local X API: {e}")))?;
    report.x_posted = stats["posted"].as_u64().unwrap_or(0);
    report.x_most_replies_to_one_post = stats["most_replies_to_one_post"].as_u64().unwrap_or(0);
    report.x_replies_twice = stats["replies_twice"].as_u64().unwrap_or(0);
    report.outage_answers.push(("X".into(), stats["outage_answers"].as_u64().unwrap_or(0)));
    desk_stats(stack, &mut report).await;
    report.engines_rss_mb =
        stack.engine_pids.iter().map(|(name, pid)| (name.clone(), resident_mb(*pid).unwrap_or(0.0))).collect();
    Ok(report)
}

pub(crate) async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, Error> {
    use aws_sdk_sqs::types::QueueAttributeName as Name;
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(Name::ApproximateNumberOfMessages)
        .attribute_names(Name::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(Name::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| Error::Aws(format!("GetQueueAttributes: {}", aws_sdk_sqs::error::DisplayErrorContext(e))))?;
    Ok(out.attributes.unwrap_or_default().values().filter_map(|v| v.parse::<u64>().ok()).sum())
}

/// Every item of one type (the load tool's own scan; Hark never scans).
async fn scan(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    item_type: &str,
    attribute: &str,
) -> Result<Vec<String>, Error> {
    Ok(scan_pairs(dynamodb, table, item_type, [attribute, attribute]).await?.into_iter().map(|(a, _)| a).collect())
}

/// Two string attributes of every item of a type, read together.
async fn scan_pairs(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    item_type: &str,
    [first, second]: [&str; 2],
) -> Result<Vec<(String, String)>, Error> {
    let items = scan_fields(dynamodb, table, item_type, &[first, second]).await?;
    Ok(items.iter().filter_map(|item| Some((item.get(first)?.clone(), item.get(second)?.clone()))).collect())
}

/// String attributes of every item of a type, by name (an attribute an item lacks is absent).
async fn scan_fields(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    item_type: &str,
    fields: &[&str],
) -> Result<Vec<HashMap<String, String>>, Error> {
    // A path may be named once only.
    let mut unique: Vec<&str> = fields.to_vec();
    unique.dedup();
    let names: HashMap<String, String> =
        unique.iter().enumerate().map(|(i, f)| (format!("#f{i}"), f.to_string())).collect();
    let projection = (0..unique.len()).map(|i| format!("#f{i}")).collect::<Vec<_>>().join(", ");
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = dynamodb
            .scan()
            .table_name(table)
            .filter_expression("item_type = :t")
            .expression_attribute_values(":t", AttributeValue::S(item_type.to_owned()))
            .projection_expression(&projection)
            .set_expression_attribute_names(Some(names.clone()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| Error::Aws(format!("Scan: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e))))?;
        items.extend(out.items().iter().map(|item| {
            item.iter().filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone()))).collect::<HashMap<_, _>>()
        }));
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(items),
        }
    }
}

async fn messages_by_id(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<HashMap<String, usize>, Error> {
    let mut counts = HashMap::new();
    for id in scan(dynamodb, table, "message", "message_id").await? {
        *counts.entry(id).or_default() += 1;
    }
    Ok(counts)
}

/// What the report reads of an outbox record.
struct OutboxRecord {
    purpose: String,
    status: String,
    /// `OUTBOX#fwd#{endpoint}.{event}` for a forward.
    sk: String,
    created_at: Option<chrono::DateTime<chrono::Utc>>,
    finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

async fn outbox_records(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<OutboxRecord>, Error> {
    let fields = ["purpose", "status", "sk", "created_at", "finished_at"];
    let items = scan_fields(dynamodb, table, "outbox", &fields).await?;
    let time = |item: &HashMap<String, String>, name: &str| {
        chrono::DateTime::parse_from_rfc3339(item.get(name)?).ok().map(|t| t.with_timezone(&chrono::Utc))
    };
    Ok(items
        .iter()
        .map(|item| OutboxRecord {
            purpose: item.get("purpose").cloned().unwrap_or_default(),
            status: item.get("status").cloned().unwrap_or_default(),
            sk: item.get("sk").cloned().unwrap_or_default(),
            created_at: time(item, "created_at"),
            finished_at: time(item, "finished_at"),
        })
        .collect())
}

/// Per endpoint: how many were delivered, and how long after their message was received.
fn desk_deliveries(records: &[OutboxRecord], sent_by: chrono::DateTime<chrono::Utc>) -> Vec<DeskDeliveries> {
    let mut by_desk: std::collections::BTreeMap<String, (Vec<f64>, usize, f64)> = Default::default();
    for r in records.iter().filter(|r| r.purpose == "forward") {
        // Broadcasts (`all.`) become one record per endpoint; those are counted.
        let Some(endpoint) = r.sk.strip_prefix("OUTBOX#fwd#").and_then(|rest| rest.split_once('.')).map(|(e, _)| e)
        else {
            continue;
        };
        if endpoint == "all" {
            continue;
        }
        let entry = by_desk.entry(endpoint.to_owned()).or_default();
        match (r.status.as_str(), r.created_at, r.finished_at) {
            ("sent", Some(created), Some(finished)) => {
                entry.0.push((finished - created).num_milliseconds() as f64 / 1000.0);
                entry.2 = entry.2.max((finished - sent_by).num_milliseconds() as f64 / 1000.0);
            }
            _ => entry.1 += 1,
        }
    }
    by_desk
        .into_iter()
        .map(|(endpoint, (mut took, not_sent, last))| {
            took.sort_by(f64::total_cmp);
            DeskDeliveries {
                endpoint,
                sent: took.len(),
                not_sent,
                p50_seconds: percentile(&took, 0.5),
                p99_seconds: percentile(&took, 0.99),
                max_seconds: took.last().copied().unwrap_or(0.0),
                last_after_burst_seconds: last,
            }
        })
        .collect()
}

/// What each help desk in use counted, read once from its `/_local/stats`: its rate limits
/// (Zendesk's; Freshdesk's, and its ticket creates'), what it received twice, and its calls
/// answered by outages.
async fn desk_stats(stack: &StackFile, report: &mut LoadReport) {
    let http = reqwest::Client::new();
    for (desk, url) in crate::fault_schedule::desks(stack) {
        let Ok(answer) = http.get(format!("{url}/_local/stats")).send().await else { continue };
        let Ok(stats) = answer.json::<Value>().await else { continue };
        for (key, name) in [("rate", desk.to_owned()), ("creates", format!("{desk} ticket creates"))] {
            if let Ok(rate) = serde_json::from_value::<crate::RateStats>(stats[key].clone()) {
                report.desk_rates.push((name, rate));
            }
        }
        let count = |key: &str| stats[key].as_u64().unwrap_or(0);
        report.outage_answers.push((desk.to_owned(), count("outage_answers")));
        report.desks_twice.push(DeskTwice {
            desk: desk.to_owned(),
            tickets_twice: count("tickets_twice"),
            events_twice: count("events_twice"),
            accepted_again: count("accepted_again"),
        });
    }
}

fn resident_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The stack file's place for a repository checkout.
pub fn stack_file(repo_root: &Path) -> std::path::PathBuf {
    repo_root.join("target/hark-local/stack.json")
}
