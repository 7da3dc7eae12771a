//! `hark-local`: Hark on this machine. See `hark-local --help`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hark_local::demo::{self, Observer};
use hark_local::{Error, LocalStack, Options, StackEvent};

const HELP: &str = "\
hark-local: Hark on this machine, from template.yaml, with the real function binaries.

USAGE:
    hark-local [run] [OPTIONS]        run the local stack; plays the demo stream first
    hark-local cold-start [--runs N]  measure each function's cold start and print a table
    hark-local load [OPTIONS]         a burst of signed webhooks against the running stack (from
                                      another terminal), measured from outside; prints a report
    hark-local escalations [OPTIONS] an outage's SLA deadlines in one second: starts its own stack whose
                                      business day opens after a burst of complaints, then measures
                                      deadline -> escalation published for each; prints a report
    hark-local listen                 one listener run over matching posts on the local X API,
                                      Mastodon, Bluesky and YouTube, through the real binary: pages, messages enqueued
                                      per second, calls per platform; then a quiet run
    hark-local cost [--idle SECONDS]  what the running stack's work since it started would cost on AWS at
                                      list prices, per million messages stored (run it after `load`);
                                      with --idle, watch the stack for SECONDS and price an idle month
    hark-local engines                start (or find) DynamoDB Local and LocalStack, print their
                                      endpoints as HARK_DYNAMODB_ENDPOINT=… and HARK_AWS_ENDPOINT=…
                                      lines, and keep them until stopped (the test command's engines)

OPTIONS:
    --no-demo               only run the stack; send webhooks yourself (README shows how)
    --http-port PORT        HTTP API listener port [default: 3000]
    --dynamodb-port PORT    DynamoDB Local's port, reused if it runs there [default: 8000]
    --aws-port PORT         LocalStack's port (SQS, SNS, Secrets Manager), reused likewise [default: 4566]
    --dynamodb-endpoint URL use this running DynamoDB Local
    --aws-endpoint URL      use this running LocalStack
    --speedup N             run schedules N times faster [default: 6 with the demo, else 1]
    --concurrency N         environments per function, where the template sets no
                            ReservedConcurrentExecutions [default: 4]
    --param NAME=VALUE      override a template parameter (repeatable)
    --set RES.PROP=VALUE    override a resource property, e.g. MentionsQueue.VisibilityTimeout=10
    --help-desks LIST       the local help desks Hark forwards to: webhook,zendesk,freshdesk [default: all]
    --credentials FILE      the credentials secret's JSON (sections x and meta; README, Deploy)
                            [default: the demo brand's]
    --bin-dir DIR           where the function binaries are [default: target/debug]
    --runs N                cold starts per function [default: 10]

LOAD OPTIONS:
    --webhooks N            webhooks in the burst [default: 10000]
    --senders N             concurrent senders [default: 16]
    --redeliveries F        share of webhooks that repeat an earlier one [default: 0.1]
    --customers N           distinct customers [default: 2000]
    --rate N                webhooks a second, evenly spaced [default: as fast as the senders go]
    --patience SECONDS      longest to wait for processing and for every help-desk delivery after
                            the last webhook [default: 900]
    --faults LIST           what goes wrong while the webhooks are sent, in turn: all, or any of
                            kill-processor, kill-outbox, kill-webhook (SIGKILL), queue-down (SQS
                            unreachable), x-429, x-5xx, desk-429, desk-5xx (the APIs' outages)
    --fault-every SECONDS   time between two faults [default: 15]
    --outage SECONDS        how long an API answers 429 or 5xx [default: 20]
    --queue-outage SECONDS  how long SQS is unreachable [default: 30]

LISTEN OPTIONS:
    --posts N               matching public posts on X [default: 1000]
    --statuses N            Mastodon mentions and as many public statuses; as many Bluesky
                            mentions and YouTube comments [default: 400]

ESCALATIONS OPTIONS:
    --conversations N       complaints in the burst, one conversation each [default: 10000]
    --senders N             concurrent senders [default: 16]
    --lead SECONDS          time to send and store them before the day opens [default: 480]
    --patience SECONDS      longest to wait for the notices after the deadline [default: 300]
    (with --bin-dir, --param, --concurrency and the engine options above)

Ctrl-C stops everything hark-local started.";

struct Cli {
    command: String,
    load: hark_local::load::LoadOptions,
    burst: hark_local::escalation_burst::BurstOptions,
    listen: hark_local::listen_bench::ListenOptions,
    demo: bool,
    speedup: Option<u32>,
    runs: usize,
    /// `cost --idle`: how long to watch an idle stack.
    idle: Option<Duration>,
    options: Options,
}

fn value<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, Error> {
    let value = value.ok_or_else(|| Error::Usage(format!("{flag} needs a value")))?;
    value.parse().map_err(|_| Error::Usage(format!("{flag} {value:?} is not valid")))
}

fn parse(args: impl Iterator<Item = String>) -> Result<Cli, Error> {
    let repo_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let repo_root = repo_root.canonicalize().unwrap_or(repo_root);
    let mut cli = Cli {
        command: "run".into(),
        load: hark_local::load::LoadOptions {
            webhooks: 10_000,
            concurrency: 16,
            redeliveries: 0.1,
            customers: 2_000,
            patience: Duration::from_secs(900),
            rate: None,
            faults: Default::default(),
        },
        burst: hark_local::escalation_burst::BurstOptions {
            conversations: 10_000,
            senders: 16,
            lead: Duration::from_secs(480),
            patience: Duration::from_secs(300),
        },
        listen: hark_local::listen_bench::ListenOptions { posts: 1000, statuses: 400 },
        demo: true,
        speedup: None,
        runs: 10,
        idle: None,
        options: Options {
            bin_dir: repo_root.join("target/debug"),
            log_dir: repo_root.join("target/hark-local/logs"),
            repo_root: repo_root.clone(),
            stack_name: "hark-local".into(),
            http_port: 3000,
            engines: hark_local::engines::EngineOptions {
                dynamodb_endpoint: None,
                aws_endpoint: None,
                dynamodb_port: 8000,
                aws_port: 4566,
                log_dir: repo_root.join("target/hark-local/logs"),
            },
            x_api_port: 0,
            graph_api_port: 0,
            parameters: Vec::new(),
            property_overrides: Vec::new(),
            secret_values: HashMap::from([("CredentialsSecret".to_owned(), demo::credentials_json())]),
            max_environments: 4,
            help_desks: Vec::new(),
            schedule_speedup: 1,
            event_sources: true,
        },
    };
    let mut args = args.peekable();
    if let Some(command) = args.next_if(|a| !a.starts_with('-')) {
        cli.command = command;
    }
    while let Some(flag) = args.next() {
        let o = &mut cli.options;
        match flag.as_str() {
            "-h" | "--help" => cli.command = "help".into(),
            "--no-demo" => cli.demo = false,
            "--http-port" => o.http_port = value(&flag, args.next())?,
            "--dynamodb-port" => o.engines.dynamodb_port = value(&flag, args.next())?,
            "--aws-port" => o.engines.aws_port = value(&flag, args.next())?,
            "--dynamodb-endpoint" => o.engines.dynamodb_endpoint = Some(value(&flag, args.next())?),
            "--aws-endpoint" => o.engines.aws_endpoint = Some(value(&flag, args.next())?),
            "--speedup" => cli.speedup = Some(value(&flag, args.next())?),
            "--runs" => cli.runs = value(&flag, args.next())?,
            "--idle" => cli.idle = Some(Duration::from_secs(value(&flag, args.next())?)),
            "--concurrency" => o.max_environments = value(&flag, args.next())?,
            "--webhooks" => cli.load.webhooks = value(&flag, args.next())?,
            "--senders" => {
                cli.load.concurrency = value(&flag, args.next())?;
                cli.burst.senders = cli.load.concurrency;
            }
            "--posts" => cli.listen.posts = value(&flag, args.next())?,
            "--statuses" => cli.listen.statuses = value(&flag, args.next())?,
            "--conversations" => cli.burst.conversations = value(&flag, args.next())?,
            "--lead" => cli.burst.lead = Duration::from_secs(value(&flag, args.next())?),
            "--redeliveries" => cli.load.redeliveries = value(&flag, args.next())?,
            "--customers" => cli.load.customers = value(&flag, args.next())?,
            "--rate" => cli.load.rate = Some(value(&flag, args.next())?),
            "--faults" => {
                let list: String = value(&flag, args.next())?;
                cli.load.faults.faults = hark_local::fault_schedule::Fault::parse_list(&list)?;
            }
            "--fault-every" => cli.load.faults.every = Duration::from_secs(value(&flag, args.next())?),
            "--outage" => {
                let lasts = Duration::from_secs(value(&flag, args.next())?);
                (cli.load.faults.rate_limit_outage, cli.load.faults.error_outage) = (lasts, lasts);
            }
            "--queue-outage" => cli.load.faults.queue_outage = Duration::from_secs(value(&flag, args.next())?),
            "--help-desks" => {
                let list: String = value(&flag, args.next())?;
                o.help_desks = list.split(',').map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()).collect();
                if let Some(unknown) =
                    o.help_desks.iter().find(|d| !["webhook", "zendesk", "freshdesk"].contains(&d.as_str()))
                {
                    return Err(Error::Usage(format!(
                        "--help-desks: {unknown:?} is not webhook, zendesk or freshdesk"
                    )));
                }
            }
            "--patience" => {
                cli.load.patience = Duration::from_secs(value(&flag, args.next())?);
                cli.burst.patience = cli.load.patience;
            }
            "--bin-dir" => o.bin_dir = value(&flag, args.next())?,
            "--set" => o.property_overrides.push(value::<String>(&flag, args.next())?.parse()?),
            "--param" => {
                let pair: String = value(&flag, args.next())?;
                let (name, v) =
                    pair.split_once('=').ok_or_else(|| Error::Usage(format!("--param {pair:?}: NAME=VALUE")))?;
                o.parameters.push((name.to_owned(), v.to_owned()));
            }
            "--credentials" => {
                let path: PathBuf = value(&flag, args.next())?;
                let json = std::fs::read_to_string(&path)
                    .map_err(|e| Error::Usage(format!("--credentials {}: {e}", path.display())))?;
                o.secret_values.insert("CredentialsSecret".into(), json);
            }
            other => return Err(Error::Usage(format!("unknown option {other}; see --help"))),
        }
    }
    Ok(cli)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = match parse(std::env::args().skip(1)) {
        Ok(cli) if cli.command == "help" => {
            println!("{HELP}");
            Ok(())
        }
        Ok(cli) if cli.command == "run" => run(cli).await,
        Ok(cli) if cli.command == "cold-start" => cold_start(cli).await,
        Ok(cli) if cli.command == "engines" => engines(cli).await,
        Ok(cli) if cli.command == "load" => load(cli).await,
        Ok(cli) if cli.command == "escalations" => escalations(cli).await,
        Ok(cli) if cli.command == "listen" => listen(cli).await,
        Ok(cli) if cli.command == "cost" => cost(cli).await,
        Ok(cli) => Err(Error::Usage(format!("unknown command {:?}; see --help", cli.command))),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hark-local: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn load(cli: Cli) -> Result<(), Error> {
    let stack = hark_local::load::StackFile::read(&hark_local::load::stack_file(&cli.options.repo_root))?;
    let load = &cli.load;
    println!(
        "Sending {} webhooks ({} senders, {:.0} % re-deliveries, {} customers) to {} ...",
        load.webhooks,
        load.concurrency,
        load.redeliveries * 100.0,
        load.customers,
        stack.http_url
    );
    let report = hark_local::load::run(&stack, load).await?;
    println!("{report}");
    if report.passed() { Ok(()) } else { Err(Error::Usage("the burst did not pass".into())) }
}

async fn cost(cli: Cli) -> Result<(), Error> {
    use hark_local::cost::{self, Deployment, LIST_PRICES, Measured};
    use hark_local::usage::{LogTotals, StackUsage};
    let root = &cli.options.repo_root;
    let stack = hark_local::load::StackFile::read(&hark_local::load::stack_file(root))?;
    let template =
        hark_local::template::Template::load(&root.join("template.yaml"), "hark-local", &cli.options.parameters)?;
    let deployment = Deployment::from_template(&template)?;
    let log_dir = &cli.options.log_dir;
    let Some(window) = cli.idle else {
        let usage = StackUsage::fetch(&stack.control_url).await?;
        let (logs, _) = LogTotals::read_logs(log_dir, &usage.log_files)?;
        let seconds = usage.seconds_since_start();
        let messages = logs.messages_stored;
        let series = logs.metric_series.len();
        let measured = Measured { seconds, stack: usage.since(&StackUsage::default()), logs };
        let bill = cost::usage_bill(&measured, &deployment, &LIST_PRICES);
        println!("{}", cost::report(&format!("since the stack started ({seconds:.0} s)"), &bill, Some(messages)));
        let fixed = cost::fixed_monthly(&deployment, series, &LIST_PRICES);
        println!("{}", cost::report("each month, whatever the traffic", &fixed, None));
        println!("{}", cost::write_units(&measured.logs.aws));
        println!("{}", cost::assumptions(&deployment));
        return Ok(());
    };
    let before = StackUsage::fetch(&stack.control_url).await?;
    let (_, offsets) = LogTotals::read_logs(log_dir, &before.log_files)?;
    println!("Watching the stack for {} s; send it nothing meanwhile ...", window.as_secs());
    tokio::select! {
        _ = tokio::time::sleep(window) => {}
        _ = stop_requested() => return Err(Error::Usage("stopped".into())),
    }
    let after = StackUsage::fetch(&stack.control_url).await?;
    let (logs, _) = LogTotals::read_logs(log_dir, &offsets)?;
    if logs.messages_stored > 0 {
        return Err(Error::Usage(format!("{} messages were stored while watching: not idle", logs.messages_stored)));
    }
    let seconds = after.seconds_since_start() - before.seconds_since_start();
    let measured = Measured { seconds, stack: after.since(&before), logs };
    let bill = cost::idle_month(&measured, &deployment, &LIST_PRICES);
    println!("{}", cost::report(&format!("an idle month (from {seconds:.0} s watched)"), &bill, None));
    println!("{}", cost::assumptions(&deployment));
    Ok(())
}

async fn escalations(mut cli: Cli) -> Result<(), Error> {
    use hark_local::escalation_burst as burst;
    let opening = burst::opening(chrono::Utc::now(), cli.burst.lead).ok_or_else(|| {
        Error::Usage("the business day would open after 23:30 UTC: run it earlier in the UTC day".into())
    })?;
    let mut parameters = burst::parameters(opening);
    parameters.append(&mut cli.options.parameters);
    cli.options.parameters = parameters;
    cli.options.secret_values.insert("CredentialsSecret".into(), burst::credentials()?);
    cli.options.http_port = 0;
    let stack = LocalStack::start(cli.options.clone()).await?;
    println!(
        "Sending {} complaints while the team is closed; the day opens at {opening} ({} binaries) ...",
        cli.burst.conversations,
        cli.options.bin_dir.display()
    );
    let outcome = tokio::select! {
        outcome = burst::run(&stack, opening, &cli.burst) => outcome,
        _ = stop_requested() => Err(Error::Usage("stopped".into())),
    };
    stack.stop().await;
    let report = outcome?;
    println!("{report}");
    if report.passed() { Ok(()) } else { Err(Error::Usage("the escalation burst did not pass".into())) }
}

async fn listen(mut cli: Cli) -> Result<(), Error> {
    use hark_local::listen_bench;
    // The listener is invoked by hand; nothing consumes the queue, so it holds what was found.
    cli.options.event_sources = false;
    cli.options.http_port = 0;
    let stack = LocalStack::start(cli.options.clone()).await?;
    let outcome = listen_bench::run(&stack, &cli.listen).await;
    stack.stop().await;
    let (full, quiet) = outcome?;
    println!("{}", listen_bench::report(&cli.listen, &full, &quiet));
    Ok(())
}

async fn engines(cli: Cli) -> Result<(), Error> {
    let (root, options) = (cli.options.repo_root.clone(), cli.options.engines.clone());
    let engines = tokio::task::spawn_blocking(move || hark_local::engines::Engines::start_or_reuse(&root, &options))
        .await
        .map_err(|e| Error::Usage(format!("starting the engines: {e}")))??;
    println!("HARK_DYNAMODB_ENDPOINT={}", engines.endpoints.dynamodb);
    println!("HARK_AWS_ENDPOINT={}", engines.endpoints.aws);
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    stop_requested().await;
    drop(engines);
    Ok(())
}

async fn stop_requested() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

async fn run(mut cli: Cli) -> Result<(), Error> {
    if cli.demo {
        let mut parameters = demo::parameters();
        parameters.append(&mut cli.options.parameters);
        cli.options.parameters = parameters;
    }
    cli.options.schedule_speedup = cli.speedup.unwrap_or(if cli.demo { 6 } else { 1 });
    // A run reads ahead as far as the schedule's period, which the speed-up shortens.
    if !cli.options.parameters.iter().any(|(name, _)| name == "EscalatorLookaheadSeconds") {
        let lookahead = (60 / cli.options.schedule_speedup).to_string();
        cli.options.parameters.push(("EscalatorLookaheadSeconds".into(), lookahead));
    }
    let stack = LocalStack::start(cli.options.clone()).await?;
    let api_key = local_api_key(&stack).await?;
    print_banner(&stack, &cli.options, &api_key);
    let stack_file = hark_local::load::stack_file(&cli.options.repo_root);
    stack.stack_file().write(&stack_file)?;
    let mut events = stack.events.subscribe();
    let printer = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            match event {
                StackEvent::Batch { function, outcome } if outcome.error.is_some() || outcome.retained > 0 => println!(
                    "  {function}: batch of {}, {} left for redelivery{}",
                    outcome.size,
                    outcome.retained,
                    outcome.error.map(|e| format!(" ({e})")).unwrap_or_default()
                ),
                StackEvent::Scheduled { function, result: Err(e) } => println!("  {function} run failed: {e}"),
                _ => {}
            }
        }
    });

    let work = async {
        let mut observer = Observer::new(&stack);
        if cli.demo {
            demo::run(&stack, &mut observer, &api_key, Duration::from_secs(240)).await?;
            println!("\nHark keeps running at {}: send your own webhooks (README), Ctrl-C to stop.", stack.http_url);
        }
        // The observer scans the whole table, and DynamoDB Local serves nothing else while
        // a scan runs: under a load burst its scans held every function's reads up for
        // seconds. Once a scan takes longer than a second, it stops watching.
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let started = std::time::Instant::now();
            if let Err(e) = observer.report().await {
                eprintln!("hark-local: {e}");
            }
            if started.elapsed() > Duration::from_secs(1) {
                println!(
                    "\nhark-local: the table has grown past what a scan can watch without slowing the stack \
                     ({:.1} s a scan); the observer stops. Function logs: {}",
                    started.elapsed().as_secs_f64(),
                    stack.log_dir.display()
                );
                break;
            }
        }
        // The stack runs on until Ctrl-C.
        std::future::pending::<()>().await;
        Ok::<(), Error>(())
    };
    let outcome = tokio::select! {
        outcome = work => outcome,
        _ = stop_requested() => Ok(()),
    };
    let engines = stack.engines_started_here();
    let engines = if engines.is_empty() { String::new() } else { format!(", {}", engines.join(", ")) };
    println!("\nStopping: functions, listeners{engines}...");
    printer.abort();
    stack.stop().await;
    outcome
}

/// A key for this run's HTTP API (every scope: the demo imports customer values too), as
/// `hark api-key create` makes one.
async fn local_api_key(stack: &LocalStack) -> Result<String, Error> {
    use hark_shared::domain::api_key::{Scope, new_key};
    use hark_shared::ports::ApiKeyStore;
    let mut random = [0u8; 40];
    getrandom::fill(&mut random).map_err(|e| Error::Usage(format!("no randomness for the local API key: {e}")))?;
    let (key, record) =
        new_key(&random, "hark-local", &[Scope::Read, Scope::Reply, Scope::Configure], chrono::Utc::now())
            .map_err(Error::Usage)?;
    let store = hark_shared::adapters::dynamo::DynamoStore::from_config(&stack.aws, stack.resource("Table"));
    store.put_api_key(&record).await.map_err(|e| Error::Usage(format!("the local API key: {e}")))?;
    Ok(key)
}

fn print_banner(stack: &LocalStack, options: &Options, api_key: &str) {
    println!("Hark is running locally (stack {}):", stack.template.stack_name());
    println!("  webhooks     {0}/webhooks/x, {0}/webhooks/meta", stack.http_url);
    println!("  HTTP API     {}/v1 (this run's key: {api_key})", stack.http_url);
    println!(
        "  engines      DynamoDB Local {}, LocalStack {} (table {}, queue {})",
        stack.endpoints.dynamodb,
        stack.endpoints.aws,
        stack.resource("Table"),
        stack.resource("MentionsQueue")
    );
    println!("  local X API  {}", stack.x_api.base_url);
    println!("  local Graph  {}/{}", stack.graph_api.base_url, hark_local::graph_api::GRAPH_VERSION);
    println!("  local LinkedIn {}/rest", stack.linkedin_api.base_url);
    println!("  local Mastodon {} (account {})", stack.mastodon.url, hark_local::demo_channels::MASTODON_ACCOUNT);
    println!(
        "  shop app     {} (source {}, takes Hark's replies)",
        stack.source_app.url,
        hark_local::demo_channels::SOURCE
    );
    println!("  help desk    {} (Standard Webhooks endpoint {})", stack.help_desk.url, demo::HELP_DESK_ENDPOINT);
    println!("  Zendesk      {} (Tickets API, OAuth)", stack.zendesk.url);
    println!("  Freshdesk    {} (API v2, custom field {})", stack.freshdesk.url, demo::FRESHDESK_FIELD);
    println!("  logs         {}", options.log_dir.display());
    println!(
        "  escalator    every {}, sped up {}x",
        stack.template.parameter("EscalatorSchedule").unwrap_or("?"),
        options.schedule_speedup
    );
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(mut samples: Vec<f64>) -> String {
    if samples.is_empty() {
        return "-".into();
    }
    samples.sort_by(f64::total_cmp);
    format!("{:7.1} {:7.1} {:7.1}", samples[samples.len() / 2], samples[0], samples[samples.len() - 1])
}

/// Peak resident memory of a process, from /proc.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

async fn cold_start(mut cli: Cli) -> Result<(), Error> {
    cli.options.event_sources = false;
    cli.options.http_port = 0;
    // One environment per function, so each kill is followed by exactly one cold start.
    cli.options.max_environments = 1;
    let stack = LocalStack::start(cli.options.clone()).await?;
    let outcome = measure_cold_starts(&stack, &cli).await;
    stack.stop().await;
    outcome
}

async fn measure_cold_starts(stack: &LocalStack, cli: &Cli) -> Result<(), Error> {
    println!(
        "Cold starts over {} runs per function ({} binaries), milliseconds as median / min / max:\n",
        cli.runs,
        cli.options.bin_dir.display()
    );
    println!(
        "{:<18} {:>9} {:<23} {:<23} {:<23} {:>8}",
        "function", "size MB", "init (spawn->next)", "first invoke", "warm invoke", "RSS MB"
    );
    for (logical_id, binary) in [
        ("WebhookFunction", "webhook"),
        ("ProcessorFunction", "processor"),
        ("EscalatorFunction", "escalator"),
        ("OutboxFunction", "outbox"),
    ] {
        let function = stack.function(logical_id);
        let (mut init, mut first, mut warm, mut rss) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // The first environment must be up before it is replaced.
        wait_for_environment(function, 0, &cli.options).await?;
        for run in 0..cli.runs {
            let before = function.cold_starts().len();
            function.kill_environments();
            // Wait for the new environment to finish init, so idle time is not counted.
            let fresh = wait_for_environment(function, before, &cli.options).await?;
            let event = representative_event(stack, binary, run)?;
            function.invoke(event.clone()).await.map_err(|e| Error::Usage(format!("{logical_id}: {e}")))?;
            let warm_started = Instant::now();
            function
                .invoke(representative_event(stack, binary, run + 10_000)?)
                .await
                .map_err(|e| Error::Usage(format!("{logical_id}: {e}")))?;
            warm.push(millis(warm_started.elapsed()));
            let measured = *function.cold_starts().last().expect("an environment");
            init.extend(fresh.init().map(millis));
            first.extend(measured.first_invoke().map(millis));
            rss.extend(measured.pid.and_then(peak_rss_mb));
        }
        let size =
            std::fs::metadata(cli.options.bin_dir.join(binary)).map(|m| m.len() as f64 / 1e6).unwrap_or_default();
        let rss = rss.iter().copied().fold(0.0, f64::max);
        println!(
            "{logical_id:<18} {size:>9.1} {:<23} {:<23} {:<23} {rss:>8.1}",
            stats(init),
            stats(first),
            stats(warm)
        );
    }
    println!("\ninit: process spawn to its first /next request; first invoke: the cold environment's first event,");
    println!("handed over to answered; warm invoke: the next one. Against the local engines on loopback, not AWS.");
    Ok(())
}

/// The newest environment once it has asked for work, provided it is newer than `after`.
async fn wait_for_environment(
    function: &hark_local::runtime::LambdaFunction,
    after: usize,
    options: &Options,
) -> Result<hark_local::runtime::ColdStart, Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let starts = function.cold_starts();
        if let Some(start) = starts.last().filter(|s| starts.len() > after && s.first_next.is_some()) {
            return Ok(*start);
        }
        if Instant::now() > deadline {
            let id = function.logical_id();
            return Err(Error::Usage(format!("{id} did not start; see {}", options.log_dir.display())));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What each function is first asked to do in production: a CRC check, one mention, one run.
fn representative_event(stack: &LocalStack, binary: &str, run: usize) -> Result<serde_json::Value, Error> {
    Ok(match binary {
        "webhook" => serde_json::json!({
            "version": "2.0", "routeKey": "GET /webhooks/x", "rawPath": "/webhooks/x",
            "rawQueryString": format!("crc_token=bench{run}"), "queryStringParameters": {"crc_token": format!("bench{run}")},
            "headers": {"host": "127.0.0.1"}, "isBase64Encoded": false,
            "requestContext": {"accountId": "123456789012", "apiId": "local", "domainName": "127.0.0.1", "domainPrefix": "local",
                "http": {"method": "GET", "path": "/webhooks/x", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
                "requestId": format!("bench-{run}"), "routeKey": "GET /webhooks/x", "stage": "$default",
                "time": "22/Nov/2026:12:00:00 +0000", "timeEpoch": 1795348800000u64},
        }),
        "processor" => {
            let id = (1_870_000_000_000_000_000u64
                + chrono::Utc::now().timestamp_micros() as u64 % 1_000_000_000_000 * 100
                + run as u64)
                .to_string();
            let delivery = demo::tweet_delivery(&id, Some(demo::MARIA), "@AcmeAir my bag never arrived, help!", None);
            let body = delivery.to_string();
            let parsed = hark_shared::channels::x::parse(body.as_bytes()).map_err(|e| Error::Usage(e.to_string()))?;
            let mention = parsed.normalise(chrono::Utc::now(), "bench").mentions.remove(0);
            serde_json::json!({"Records": [{
                "messageId": format!("bench-{id}"), "receiptHandle": format!("bench-{id}"),
                "body": serde_json::to_string(&mention).map_err(|e| Error::Usage(e.to_string()))?,
                "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": mention.queue_group_id()},
                "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": stack.template.physical("MentionsQueue").and_then(|p| p.attributes.get("Arn")).cloned().unwrap_or_default(),
                "awsRegion": "us-east-1",
            }]})
        }
        _ => {
            serde_json::json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": {}})
        }
    })
}
