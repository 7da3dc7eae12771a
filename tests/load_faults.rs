//! The load tool's fault schedules against a whole local stack (the real function binaries
//! behind the Runtime API emulator, the local engines, X and help desks): a burst sent while
//! functions are SIGKILLed, SQS is unreachable and the platforms' and desks' APIs answer 429
//! and 5xx, judged from outside as `hark-local load --faults` judges it. Needs the debug
//! binaries (`cargo build --bins`).

use std::time::Duration;

use hark_local::cost::{Deployment, LIST_PRICES, Measured, report as report_bill, usage_bill};
use hark_local::fault_schedule::{Fault, FaultPlan};
use hark_local::load::{LoadOptions, run};
use hark_local::usage::{LogTotals, StackUsage};
use hark_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_through_kills_and_outages_loses_nothing_and_sends_nothing_twice() {
    // A killed batch is back on the queue in 10 s rather than the template's minutes.
    let stack = local_stack(&[("EscalatorLookaheadSeconds", "10")], &["MentionsQueue.VisibilityTimeout=10"], 6).await;
    let faults = "queue-down,kill-processor,x-429,kill-outbox,desk-5xx,kill-webhook,desk-429,x-5xx";
    let options = LoadOptions {
        webhooks: 120,
        concurrency: 4,
        redeliveries: 0.1,
        customers: 40,
        patience: Duration::from_secs(600),
        rate: Some(10.0),
        faults: FaultPlan {
            faults: Fault::parse_list(faults).unwrap(),
            every: Duration::from_millis(1500),
            // 429s long enough to overlap the desks' and X's traffic, which follows
            // processing; 5xxs short enough that a second attempt, 5 s on, finds them over
            // (a third waits the schedule's 5 minutes).
            rate_limit_outage: Duration::from_secs(30),
            error_outage: Duration::from_secs(3),
            queue_outage: Duration::from_secs(4),
        },
    };
    let report = run(&stack.stack_file(), &options).await.expect("the load tool runs");
    println!("{report}");

    // Sending takes 12 s: at least the first six faults happen during it, each as asked.
    assert!(report.faults.len() >= 6, "{:?}", report.faults);
    assert!(report.faults.iter().all(|f| f.error.is_none()), "{:?}", report.faults);
    // SQS was unreachable: the webhook answered 5xx and X's retries carried those in.
    assert!(report.retried > 0, "{report}");
    let answered_by_outages =
        |platform: &str| report.outage_answers.iter().filter(|(p, _)| p == platform).map(|(_, n)| n).sum::<u64>();
    assert!(answered_by_outages("X") > 0, "{report}");
    assert!(["webhook", "zendesk", "freshdesk"].iter().map(|d| answered_by_outages(d)).sum::<u64>() > 0, "{report}");
    // Nothing lost, stored twice, left on a queue or sent twice; every forward delivered.
    assert!(report.passed(), "{report}");
    assert!(report.desks.iter().all(|d| d.sent > 0), "{report}");

    // What it cost, as `hark-local cost` reads it: the stack's meters and the functions' logs.
    let usage = StackUsage::fetch(&stack.control_url).await.expect("the control listener answers");
    let (logs, _) = LogTotals::read_logs(&stack.log_dir, &usage.log_files).expect("the logs read");
    let processor = usage.functions["ProcessorFunction"];
    assert!(processor.invocations > 0 && processor.billed_ms > 0 && processor.init_ms > 0, "{usage:?}");
    assert!(usage.gateway_requests >= 120, "every webhook and X's retries went through the gateway: {usage:?}");
    assert!(usage.event_sources.requests_to("SQS") > 0, "Lambda's pollers' requests are counted: {usage:?}");
    // Every function asked DynamoDB, which said what each call consumed when asked.
    assert!(
        logs.aws.requests_to("DynamoDB") > 0 && logs.aws.write_units > 0.0 && logs.aws.read_units > 0.0,
        "{logs:?}"
    );
    assert!(logs.aws.requests_to("SQS") > 0 && logs.aws.requests_to("Secrets Manager") > 0, "{logs:?}");
    // A killed processor may store a message and die before its metrics line: never more.
    assert!(logs.messages_stored > 0 && logs.messages_stored <= report.stored_messages as u64, "{logs:?} {report}");
    let deployment = Deployment::from_template(&stack.template).unwrap();
    let measured = Measured { seconds: usage.seconds_since_start(), stack: usage.since(&Default::default()), logs };
    let bill = usage_bill(&measured, &deployment, &LIST_PRICES);
    println!("{}", report_bill("the burst", &bill, Some(measured.logs.messages_stored)));
    let per_million = bill.total() / measured.logs.messages_stored as f64 * 1e6;
    assert!(per_million.is_finite() && per_million > 0.0, "{bill:?}");
    stack.stop().await;
}
