//! `hark report` over a known week: five days of complaints, questions and praise on X and
//! Facebook, answered by people after known delays or never, an outage on the fourth day,
//! all through the real processor and escalator over DynamoDB Local; the report the real
//! binary writes must show the figures the plan implies. The file stays in
//! `target/report-sample.html` to look at (README: "The care report").

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hark_shared::adapters::dynamo::DynamoStore;
use hark_shared::domain::mention::{Author, Channel, Direction, Mention, MentionKind};
use hark_tests::*;

/// Monday 23 November 2026.
fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
}

const DAYS: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Complaint,
    Question,
    Praise,
}

/// One conversation of the plan.
#[derive(Debug, Clone)]
struct Planned {
    n: u32,
    at: DateTime<Utc>,
    channel: Channel,
    kind: Kind,
    /// Minutes until a person answers, if ever.
    answer_after: Option<i64>,
}

impl Planned {
    fn ideal_and_breach(&self) -> (i64, i64) {
        match self.channel {
            Channel::X => (15, 30),
            _ => (25, 24 * 60),
        }
    }
}

fn plan() -> Vec<Planned> {
    let mut plan = Vec::new();
    let mut n = 0;
    for day in 0..DAYS {
        let count = 6 + (day * 3) % 5;
        for i in 0..count {
            n += 1;
            let hour = 8 + (i * 37 + day * 11) % 12;
            let minute = (i * 13 + day * 7) % 60;
            let kind =
                [Kind::Complaint, Kind::Complaint, Kind::Question, Kind::Praise, Kind::Complaint, Kind::Question]
                    [((i + day) % 6) as usize];
            plan.push(Planned {
                n,
                at: start() + TimeDelta::days(day) + TimeDelta::hours(hour) + TimeDelta::minutes(minute),
                channel: if (i + day) % 3 == 0 { Channel::Facebook } else { Channel::X },
                kind,
                answer_after: if kind == Kind::Praise {
                    None
                } else {
                    [Some(5), Some(12), Some(20), Some(45), Some(90), None][((i * 7 + day) % 6) as usize]
                },
            });
        }
    }
    // An outage on Thursday evening: twelve complaints on X in four minutes, none answered.
    for i in 0..12 {
        n += 1;
        plan.push(Planned {
            n,
            at: start() + TimeDelta::days(3) + TimeDelta::hours(18) + TimeDelta::seconds(20 * i),
            channel: Channel::X,
            kind: Kind::Complaint,
            answer_after: None,
        });
    }
    plan
}

fn text(p: &Planned) -> String {
    let n = p.n;
    match p.kind {
        Kind::Complaint if p.at.format("%H").to_string() == "18" => format!("the app is down, I can't check in ({n})"),
        Kind::Complaint => format!("my flight {n} was cancelled and nobody at the desk helps"),
        Kind::Question => format!("how do I change my seat on booking {n}?"),
        Kind::Praise => format!("the crew on flight {n} were wonderful, thank you!"),
    }
}

/// What a step of the simulated week does.
enum Step<'a> {
    Customer(&'a Planned),
    Answer(&'a Planned),
    Escalate,
}

#[tokio::test]
async fn the_report_of_a_known_week_shows_what_happened() {
    let aws = aws_config().await;
    let table = create_table(&aws).await;
    let x_api = LocalXApi::start(0).await.unwrap();
    let graph = graph_api().await;
    let clock = TestClock::at(start());
    let processor = meta_processor(&aws, &table, &x_api, &graph, clock.clone());
    let (topic, _inbox) = create_topic_with_inbox(&aws).await;
    let escalator = hark_escalator::Escalator {
        store: DynamoStore::from_config(&aws, &table),
        notifier: hark_shared::adapters::sns::SnsNotifier::from_config(&aws, &topic),
        clock: Box::new(clock.clone()),
        ladder: hark_shared::domain::sla::Ladder::new(30, 0).unwrap(),
        due_shards: 4,
        page_size: 250,
        concurrency: 8,
        lookahead: chrono::TimeDelta::zero(),
        care: Default::default(),
    };
    let plan = plan();
    let mut steps: Vec<(DateTime<Utc>, Step<'_>)> = Vec::new();
    for p in &plan {
        steps.push((p.at, Step::Customer(p)));
        if let Some(after) = p.answer_after {
            steps.push((p.at + TimeDelta::minutes(after), Step::Answer(p)));
        }
        if p.kind != Kind::Praise {
            let (ideal, breach) = p.ideal_and_breach();
            steps.push((p.at + TimeDelta::minutes(ideal + 1), Step::Escalate));
            steps.push((p.at + TimeDelta::minutes(breach + 1), Step::Escalate));
        }
    }
    steps.sort_by_key(|(at, _)| *at);
    let post = graph.page_post(PAGE, "Winter timetable");
    let mut comment_ids = std::collections::HashMap::new();
    for (at, step) in &steps {
        clock.set(*at);
        match step {
            Step::Customer(p) => {
                let m = match p.channel {
                    Channel::X => {
                        mention(&format!("71{:04}", p.n), &format!("81{:04}", p.n), &format!("@acme {}", text(p)), *at)
                    }
                    _ => {
                        let from = (format!("62000000{:05}", p.n), format!("Customer {}", p.n));
                        let event = graph.comment(PAGE, &post, (&from.0, &from.1), &text(p));
                        let mut m = meta_mentions(&[event]).remove(0);
                        (m.created_at, m.received_at) = (*at, *at);
                        comment_ids.insert(p.n, m.message_id.clone());
                        m
                    }
                };
                process_batch(&processor, &[m]).await;
            }
            Step::Answer(p) => {
                let answer = match p.channel {
                    Channel::X => Mention {
                        direction: Direction::Outbound,
                        kind: MentionKind::Reply,
                        parent_id: Some(format!("71{:04}", p.n)),
                        customer_id: format!("81{:04}", p.n),
                        author: Author {
                            id: BRAND.into(),
                            handle: Some("acme".into()),
                            name: None,
                            followers: None,
                            verified: false,
                        },
                        ..mention(
                            &format!("72{:04}", p.n),
                            &format!("81{:04}", p.n),
                            "We're on it, sorry for the wait.",
                            *at,
                        )
                    },
                    _ => {
                        let event = graph.person_comments(PAGE, &comment_ids[&p.n], "We're on it, sorry for the wait.");
                        let mut m = meta_mentions(&[event]).remove(0);
                        (m.created_at, m.received_at) = (*at, *at);
                        m
                    }
                };
                process_batch(&processor, &[answer]).await;
            }
            Step::Escalate => {
                escalator.run().await.unwrap();
            }
        }
    }

    // What the plan implies, counted here, independently of the KPI code.
    let asked: Vec<&Planned> = plan.iter().filter(|p| p.kind != Kind::Praise).collect();
    let answered = asked.iter().filter(|p| p.answer_after.is_some()).count();
    let breached = asked.iter().filter(|p| p.answer_after.is_none_or(|a| a > p.ideal_and_breach().1)).count();
    let warned = asked.iter().filter(|p| p.answer_after.is_none_or(|a| a > p.ideal_and_breach().0)).count();
    let mut delays: Vec<i64> = asked.iter().filter_map(|p| p.answer_after).collect();
    delays.sort();
    let median = delays[delays.len().div_ceil(2) - 1];
    let percent = |part: usize, whole: usize| format!("{:.0}%", part as f64 * 100.0 / whole as f64);

    let out = repo_root().join("target/report-sample.html");
    let run = hark(&["report", "--from", "2026-11-23", "--to", "2026-11-27", "--out", out.to_str().unwrap()], &table);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let html = std::fs::read_to_string(&out).unwrap();
    let cards = [
        ("Conversations", plan.len().to_string()),
        ("Response rate", percent(answered, asked.len())),
        ("First response", format!("{median} min")),
        ("SLA compliance", percent(asked.len() - breached, asked.len())),
        ("Escalations", (warned + breached).to_string()),
        ("Backlog", (asked.len() - answered).to_string()),
    ];
    for (title, figure) in cards {
        let card = format!("<h2>{title}</h2><b>{figure}</b>");
        assert!(html.contains(&card), "{card} missing from the report");
    }
    assert!(html.contains("<td>inc-20261126-1800</td>"), "Thursday's outage is listed");
    assert_eq!(html.matches("<svg").count(), 3);
    for day in ["23 Nov", "27 Nov"] {
        assert!(html.contains(day), "{day} on the axis");
    }
    // A bad period is refused before anything is read.
    let refused = hark(&["report", "--from", "2026-11-27", "--to", "2026-11-23"], &table);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("before --from"));
}
