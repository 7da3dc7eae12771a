//! `hark-local cost`: what the stack's measured work would cost on AWS at list prices, per
//! million messages stored, and what a month costs when nothing happens. The figures come
//! from [`crate::usage`]; the prices, and every assumption, are here and printed.

use std::fmt::Write as _;
use std::time::Duration;

use crate::Error;
use crate::template::Template;
use crate::usage::{LogTotals, StackUsage};
use hark_shared::adapters::aws_usage::AwsUsage;

/// AWS list prices in US East (N. Virginia), on-demand, before the free tier, as published
/// on each service's pricing page (checked December 2026). One place to change them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    pub lambda_requests_per_million: f64,
    pub lambda_gb_second_x86_64: f64,
    pub lambda_gb_second_arm64: f64,
    /// HTTP API, the first 300 million requests a month.
    pub http_api_per_million: f64,
    /// Standard queues, after the first million a month.
    pub sqs_per_million: f64,
    pub sns_publish_per_million: f64,
    pub secrets_manager_per_10k_calls: f64,
    pub secret_per_month: f64,
    /// On-demand capacity mode.
    pub dynamodb_write_units_per_million: f64,
    pub dynamodb_read_units_per_million: f64,
    pub logs_ingested_per_gb: f64,
    pub custom_metric_per_month: f64,
    pub alarm_per_month: f64,
    pub dashboard_per_month: f64,
    pub scheduler_invocations_per_million: f64,
}

pub const LIST_PRICES: Prices = Prices {
    lambda_requests_per_million: 0.20,
    lambda_gb_second_x86_64: 0.000_016_666_7,
    lambda_gb_second_arm64: 0.000_013_333_4,
    http_api_per_million: 1.00,
    sqs_per_million: 0.40,
    sns_publish_per_million: 0.50,
    secrets_manager_per_10k_calls: 0.05,
    secret_per_month: 0.40,
    dynamodb_write_units_per_million: 0.625,
    dynamodb_read_units_per_million: 0.125,
    logs_ingested_per_gb: 0.50,
    custom_metric_per_month: 0.30,
    alarm_per_month: 0.10,
    dashboard_per_month: 3.00,
    scheduler_invocations_per_million: 1.00,
};

/// CloudWatch Logs bills each event's bytes plus this much metadata.
const LOG_EVENT_OVERHEAD_BYTES: u64 = 26;
/// Lambda's SQS pollers when the queue is empty: five long polls of 20 s at a time.
const IDLE_SQS_POLLERS: f64 = 5.0;
const SQS_LONG_POLL_SECONDS: f64 = 20.0;
const SECONDS_PER_MONTH: f64 = 30.0 * 24.0 * 3600.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    X86_64,
    Arm64,
}

/// What the template deploys that the bill depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub architecture: Architecture,
    pub secrets: u32,
    pub alarms: u32,
    pub dashboards: u32,
    /// Each scheduled invocation's period.
    pub schedules: Vec<Duration>,
    pub sqs_event_sources: u32,
}

impl Deployment {
    pub fn from_template(template: &Template) -> Result<Deployment, Error> {
        let deployed = |resource_type: &str| -> Result<u32, Error> {
            let mut count = 0;
            for (_, resource) in template.resources_of_type(resource_type)? {
                let condition = resource["Condition"].as_str();
                if condition.map(|c| template.condition(c)).transpose()?.unwrap_or(true) {
                    count += 1;
                }
            }
            Ok(count)
        };
        let (mut schedules, mut sqs_event_sources) = (Vec::new(), 0);
        for (id, function) in template.resources_of_type("AWS::Serverless::Function")? {
            for (name, event) in function["Properties"]["Events"].as_object().into_iter().flatten() {
                match event["Type"].as_str().unwrap_or_default() {
                    "Schedule" | "ScheduleV2" => {
                        let props = template.resolve(&event["Properties"])?;
                        let expression = crate::template::scalar(&props["ScheduleExpression"]);
                        schedules.push(
                            crate::event_sources::parse_rate(&expression)
                                .map_err(|e| Error::Template(format!("{id}.Events.{name}: {e}")))?,
                        );
                    }
                    "SQS" => sqs_event_sources += 1,
                    _ => {}
                }
            }
        }
        let architecture = match template.parameter("Architecture") {
            Some("arm64") => Architecture::Arm64,
            _ => Architecture::X86_64,
        };
        Ok(Deployment {
            architecture,
            secrets: deployed("AWS::SecretsManager::Secret")?,
            alarms: deployed("AWS::CloudWatch::Alarm")?,
            dashboards: deployed("AWS::CloudWatch::Dashboard")?,
            schedules,
            sqs_event_sources,
        })
    }
}

/// One priced line of a bill.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub service: String,
    pub quantity: String,
    pub dollars: f64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bill {
    pub lines: Vec<Line>,
}

impl Bill {
    fn add(&mut self, service: impl Into<String>, quantity: String, dollars: f64) {
        self.lines.push(Line { service: service.into(), quantity, dollars });
    }

    pub fn total(&self) -> f64 {
        self.lines.iter().map(|l| l.dollars).sum()
    }

    /// Each line times `factor` (a window scaled to a month).
    fn scaled(&self, factor: f64, per: &str) -> Bill {
        let lines = self
            .lines
            .iter()
            .map(|l| Line {
                service: l.service.clone(),
                quantity: format!("{} {per}", l.quantity),
                dollars: l.dollars * factor,
            })
            .collect();
        Bill { lines }
    }
}

/// What a stretch of measured work costs.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub seconds: f64,
    pub stack: StackUsage,
    pub logs: LogTotals,
}

/// The work measured in a window, priced: Lambda per function, each request-priced service,
/// DynamoDB's consumed units, the logs ingested, the schedules' invocations.
pub fn usage_bill(measured: &Measured, deployment: &Deployment, prices: &Prices) -> Bill {
    let mut bill = Bill::default();
    let gb_second = match deployment.architecture {
        Architecture::X86_64 => prices.lambda_gb_second_x86_64,
        Architecture::Arm64 => prices.lambda_gb_second_arm64,
    };
    let invocations: u64 = measured.stack.functions.values().map(|f| f.invocations).sum();
    bill.add(
        "Lambda requests",
        format!("{invocations} invocations"),
        invocations as f64 * prices.lambda_requests_per_million / 1e6,
    );
    for (id, function) in &measured.stack.functions {
        let seconds = (function.billed_ms + function.init_ms) as f64 / 1000.0;
        let gb_seconds = seconds * f64::from(function.memory_mb) / 1024.0;
        bill.add(
            format!("Lambda {}", id.trim_end_matches("Function")),
            format!(
                "{} invocations, {:.1} s billed + {} inits {:.1} s, {} MB: {:.2} GB-s",
                function.invocations,
                function.billed_ms as f64 / 1000.0,
                function.inits,
                function.init_ms as f64 / 1000.0,
                function.memory_mb,
                gb_seconds
            ),
            gb_seconds * gb_second,
        );
    }
    let requests = measured.stack.gateway_requests;
    bill.add(
        "API Gateway (HTTP API)",
        format!("{requests} requests"),
        requests as f64 * prices.http_api_per_million / 1e6,
    );
    let aws = &measured.logs.aws;
    let (functions_sqs, pollers_sqs) = (aws.requests_to("SQS"), measured.stack.event_sources.requests_to("SQS"));
    bill.add(
        "SQS",
        format!(
            "{} requests: {functions_sqs} by the functions, {pollers_sqs} by Lambda's pollers",
            functions_sqs + pollers_sqs
        ),
        (functions_sqs + pollers_sqs) as f64 * prices.sqs_per_million / 1e6,
    );
    let sns = aws.requests_to("SNS");
    bill.add("SNS", format!("{sns} publishes"), sns as f64 * prices.sns_publish_per_million / 1e6);
    let secrets = aws.requests_to("Secrets Manager");
    bill.add(
        "Secrets Manager calls",
        format!("{secrets} calls"),
        secrets as f64 * prices.secrets_manager_per_10k_calls / 1e4,
    );
    bill.add(
        "DynamoDB reads",
        format!("{:.1} read units consumed in {} requests", aws.read_units, aws.dynamodb_reads()),
        aws.read_units * prices.dynamodb_read_units_per_million / 1e6,
    );
    bill.add(
        "DynamoDB writes",
        format!(
            "{:.1} write units consumed in {} requests",
            aws.write_units,
            aws.requests_to("DynamoDB") - aws.dynamodb_reads()
        ),
        aws.write_units * prices.dynamodb_write_units_per_million / 1e6,
    );
    bill.add("DynamoDB Streams", "read by Lambda's event source mapping: free".into(), 0.0);
    let logs = &measured.logs;
    let bytes = logs.log_bytes + LOG_EVENT_OVERHEAD_BYTES * logs.log_events;
    bill.add(
        "CloudWatch Logs",
        format!("{} events, {:.1} MB ingested", logs.log_events, bytes as f64 / 1e6),
        bytes as f64 / 1e9 * prices.logs_ingested_per_gb,
    );
    let scheduled: f64 = deployment.schedules.iter().map(|p| measured.seconds / p.as_secs_f64().max(1.0)).sum();
    bill.add(
        "EventBridge Scheduler",
        format!("{scheduled:.0} invocations"),
        scheduled * prices.scheduler_invocations_per_million / 1e6,
    );
    bill
}

/// What is paid each month whatever the traffic: secrets, alarms, dashboards, and the
/// custom metric series the functions write (each a custom metric for any month it is
/// written in).
pub fn fixed_monthly(deployment: &Deployment, metric_series: usize, prices: &Prices) -> Bill {
    let mut bill = Bill::default();
    let d = deployment;
    bill.add(
        "Secrets Manager secrets",
        format!("{} secrets", d.secrets),
        f64::from(d.secrets) * prices.secret_per_month,
    );
    bill.add("CloudWatch alarms", format!("{} alarms", d.alarms), f64::from(d.alarms) * prices.alarm_per_month);
    bill.add(
        "CloudWatch dashboards",
        format!("{} dashboards (priced: an account's first three are free)", d.dashboards),
        f64::from(d.dashboards) * prices.dashboard_per_month,
    );
    bill.add(
        "CloudWatch metrics",
        format!("{metric_series} custom metric series"),
        metric_series as f64 * prices.custom_metric_per_month,
    );
    bill
}

/// A month with no messages: the idle window's work (the schedules' runs) scaled to 30
/// days, with Lambda's pollers of empty queues counted as AWS runs them (five 20 s long
/// polls per queue) rather than as the local stack's pollers do, plus the fixed costs.
pub fn idle_month(idle: &Measured, deployment: &Deployment, prices: &Prices) -> Bill {
    let mut measured = idle.clone();
    measured.stack.event_sources = Default::default();
    let factor = SECONDS_PER_MONTH / idle.seconds.max(1.0);
    // The quantities are what was watched; the dollars are that times the month.
    let per = format!("in {:.0} s watched, ×{factor:.0} for a month", idle.seconds);
    let mut bill = usage_bill(&measured, deployment, prices).scaled(factor, &per);
    let polls = f64::from(deployment.sqs_event_sources) * IDLE_SQS_POLLERS * SECONDS_PER_MONTH / SQS_LONG_POLL_SECONDS;
    bill.add(
        "SQS (Lambda's pollers)",
        format!("{polls:.0} empty long polls a month ({} queues)", deployment.sqs_event_sources),
        polls * prices.sqs_per_million / 1e6,
    );
    bill.lines.extend(fixed_monthly(deployment, idle.logs.metric_series.len(), prices).lines);
    bill
}

/// The report `hark-local cost` prints.
pub fn report(title: &str, bill: &Bill, messages: Option<u64>) -> String {
    let mut out = format!("{title}\n");
    for line in bill.lines.iter().filter(|l| l.dollars > 0.0 || l.service.contains("Streams")) {
        let _ = writeln!(out, "  {:<26} {:>12}  {}", line.service, dollars(line.dollars), line.quantity);
    }
    let _ = writeln!(out, "  {:<26} {:>12}", "total", dollars(bill.total()));
    if let Some(messages) = messages.filter(|m| *m > 0) {
        let _ = writeln!(
            out,
            "  {:<26} {:>12}  ({messages} messages stored)",
            "per million messages",
            dollars(bill.total() / messages as f64 * 1e6)
        );
    }
    out
}

/// Where DynamoDB's write units went, by operation and by table or index, largest first:
/// the figure to work on is read off this.
pub fn write_units(aws: &AwsUsage) -> String {
    let total = aws.write_units.max(f64::MIN_POSITIVE);
    let mut out = String::from("where DynamoDB's write units went\n");
    for (heading, part) in [("by operation", 0), ("by table or index", 1)] {
        let mut by: Vec<(&str, f64)> = aws.write_units_by_part(part).into_iter().collect();
        by.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        let shares: Vec<String> =
            by.iter().map(|(name, units)| format!("{name} {units:.0} ({:.0} %)", units / total * 100.0)).collect();
        let _ = writeln!(out, "  {heading:<26} {}", shares.join(", "));
    }
    out
}

pub fn assumptions(deployment: &Deployment) -> String {
    format!(
        "assumptions\n  AWS list prices, us-east-1, on-demand, no free tier (which covers the idle month's \
         Lambda, SQS and Scheduler use entirely); {:?} functions.\n  Lambda bills each invocation's \
         duration rounded up to the millisecond and each environment's init (custom runtime), timed \
         here by the Runtime API emulator on this machine.\n  DynamoDB units are those DynamoDB Local \
         reported consumed (ReturnConsumedCapacity INDEXES on every call); a conditional write it refused \
         reports none and AWS bills it as a write. DynamoDB Local does not bill a transaction as AWS \
         does (AWS: 2 units per KB of each item; DynamoDB Local: 4 per KB, once per distinct item \
         size in the transaction), so the TransactWriteItems share is an estimate either way.\n  \
         SQS, SNS and Secrets Manager requests are every attempt the functions' SDK clients got an answer to, and the requests Lambda's SQS pollers \
         make (the local pollers long-poll 2 s at a time, Lambda 20 s).\n  CloudWatch Logs: every \
         byte the functions wrote plus 26 bytes an event; storage ($0.03/GB-month) and data transfer \
         are not counted, nor e-mail deliveries of escalations (SNS, $2 per 100,000).",
        deployment.architecture
    )
}

fn dollars(amount: f64) -> String {
    if amount >= 1.0 { format!("${amount:.2}") } else { format!("${amount:.4}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::FunctionUsage;

    fn deployment() -> Deployment {
        Deployment {
            architecture: Architecture::X86_64,
            secrets: 2,
            alarms: 8,
            dashboards: 1,
            schedules: vec![Duration::from_secs(60), Duration::from_secs(60), Duration::from_secs(120)],
            sqs_event_sources: 1,
        }
    }

    fn measured(seconds: f64) -> Measured {
        let mut aws = AwsUsage { read_units: 2_000.0, write_units: 10_000.0, ..Default::default() };
        for (op, n) in [
            ("DynamoDB.Query", 1_000),
            ("DynamoDB.PutItem", 4_000),
            ("SQS.SendMessage", 3_000),
            ("SNS.Publish", 10),
            ("Secrets Manager.GetSecretValue", 20),
        ] {
            aws.requests.insert(op.into(), n);
        }
        let processor = FunctionUsage { memory_mb: 256, invocations: 1_000, billed_ms: 40_000, inits: 4, init_ms: 400 };
        Measured {
            seconds,
            stack: StackUsage {
                functions: [("ProcessorFunction".to_owned(), processor)].into(),
                gateway_requests: 3_000,
                event_sources: AwsUsage {
                    requests: [("SQS.ReceiveMessage".into(), 500), ("SQS.DeleteMessageBatch".into(), 500)].into(),
                    ..Default::default()
                },
                ..Default::default()
            },
            logs: LogTotals {
                aws,
                messages_stored: 3_000,
                log_events: 10_000,
                log_bytes: 4_740_000,
                ..Default::default()
            },
        }
    }

    fn line<'a>(bill: &'a Bill, service: &str) -> &'a Line {
        bill.lines.iter().find(|l| l.service == service).unwrap_or_else(|| panic!("no {service} in {bill:?}"))
    }

    #[test]
    fn each_service_is_priced_from_what_was_measured() {
        let bill = usage_bill(&measured(600.0), &deployment(), &LIST_PRICES);
        let close = |service: &str, dollars: f64| {
            let got = line(&bill, service).dollars;
            assert!((got - dollars).abs() < 1e-9, "{service}: {got} != {dollars}");
        };
        // 40.4 s at a quarter GB.
        close("Lambda Processor", 10.1 * 0.000_016_666_7);
        close("Lambda requests", 1_000.0 * 0.20 / 1e6);
        close("API Gateway (HTTP API)", 3_000.0 * 1.00 / 1e6);
        close("SQS", 4_000.0 * 0.40 / 1e6);
        close("SNS", 10.0 * 0.50 / 1e6);
        close("Secrets Manager calls", 20.0 * 0.05 / 1e4);
        close("DynamoDB reads", 2_000.0 * 0.125 / 1e6);
        close("DynamoDB writes", 10_000.0 * 0.625 / 1e6);
        close("DynamoDB Streams", 0.0);
        close("CloudWatch Logs", 5.0e6 / 1e9 * 0.50);
        close("EventBridge Scheduler", 25.0 * 1.00 / 1e6);
        assert!(line(&bill, "DynamoDB writes").quantity.contains("in 4000 requests"), "{bill:?}");
        let per_million = bill.total() / 3_000.0 * 1e6;
        assert!(report("load", &bill, Some(3_000)).contains(&dollars(per_million)));
    }

    #[test]
    fn write_units_are_shown_by_operation_and_by_index_largest_first() {
        let aws = AwsUsage {
            write_units: 20.0,
            write_units_by: [
                ("TransactWriteItems:table".to_owned(), 8.0),
                ("TransactWriteItems:list-index".to_owned(), 4.0),
                ("PutItem:table".to_owned(), 6.0),
                ("UpdateItem:list-index".to_owned(), 2.0),
            ]
            .into(),
            ..Default::default()
        };
        let shown = write_units(&aws);
        assert!(shown.contains("TransactWriteItems 12 (60 %), PutItem 6 (30 %), UpdateItem 2 (10 %)"), "{shown}");
        assert!(shown.contains("table 14 (70 %), list-index 6 (30 %)"), "{shown}");
    }

    #[test]
    fn arm64_is_priced_as_arm64() {
        let arm = Deployment { architecture: Architecture::Arm64, ..deployment() };
        let bill = usage_bill(&measured(600.0), &arm, &LIST_PRICES);
        assert!((line(&bill, "Lambda Processor").dollars - 10.1 * 0.000_013_333_4).abs() < 1e-12);
    }

    #[test]
    fn an_idle_month_scales_the_window_and_polls_empty_queues_as_lambda_does() {
        let idle = measured(3_600.0);
        let bill = idle_month(&idle, &deployment(), &LIST_PRICES);
        let month = 720.0;
        let usage = usage_bill(&idle, &deployment(), &LIST_PRICES);
        let sqs_functions_only = 3_000.0 * 0.40 / 1e6 * month;
        assert!((line(&bill, "SQS").dollars - sqs_functions_only).abs() < 1e-9, "the local pollers are not counted");
        assert!(
            (line(&bill, "DynamoDB writes").dollars - line(&usage, "DynamoDB writes").dollars * month).abs() < 1e-9
        );
        // 5 pollers, 3 polls a minute each, 43,200 minutes.
        assert!((line(&bill, "SQS (Lambda's pollers)").dollars - 648_000.0 * 0.40 / 1e6).abs() < 1e-9);
        assert!((line(&bill, "Secrets Manager secrets").dollars - 0.80).abs() < 1e-9, "{bill:?}");
        assert!((line(&bill, "CloudWatch alarms").dollars - 0.80).abs() < 1e-9);
    }

    #[test]
    fn the_template_says_what_is_deployed() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let template = Template::load(&root.join("template.yaml"), "hark-local", &[]).unwrap();
        let deployed = Deployment::from_template(&template).unwrap();
        assert_eq!(deployed.architecture, Architecture::X86_64);
        assert_eq!((deployed.secrets, deployed.dashboards, deployed.sqs_event_sources), (2, 1, 1));
        assert!(deployed.alarms >= 6, "{deployed:?}");
        assert!(deployed.schedules.contains(&Duration::from_secs(60)), "{deployed:?}");
        let arm = Template::load(&root.join("template.yaml"), "hark-local", &[("Architecture".into(), "arm64".into())])
            .unwrap();
        assert_eq!(Deployment::from_template(&arm).unwrap().architecture, Architecture::Arm64);
    }
}
