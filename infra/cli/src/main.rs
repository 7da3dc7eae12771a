//! `hark`: the operator's tool around Hark's classifier. See `hark --help`.

mod api_keys;
mod customers;
mod eval;
mod outbox;
mod report;

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use hark_shared::domain::classify::model::{LinearModel, TrainOptions};
use hark_shared::domain::classify::{
    CareClassifier, Classifier, ClassifierConfig, Context, Sentiment, TrainedClassifier,
};
use serde::Deserialize;
use serde_json::json;

const HELP: &str = "\
hark: classify messages, evaluate and train Hark's classifier.

USAGE:
    hark classify [--config FILE] [--model FILE]   JSON lines in (stdin), JSON lines out (stdout)
    hark eval [FILE ...] [--split] [--label sentiment|intent] [--config FILE] [--model FILE]
                                                   without FILE: the airline sample and the brands set,
                                                   each in its tuning and held-out parts
                                                   (--airline FILE, --brands-source CSV)
    hark train FILE [--label sentiment|intent] [--out FILE] [--folds N] [--bucket-bits N] [--epochs N]
    hark bench FILE [--repeat N]                   per-message time of the default classifier, one core
    hark dlq redrive --from DLQ_URL --to QUEUE_URL [--max N]
                                                   move dead-lettered messages back to be processed again
    hark api-key create --name NAME [--scopes read,reply,configure] [--table TABLE]
                                                   a key for the HTTP API, printed once (stdout)
    hark api-key list [--table TABLE]              every key: id, scopes, created, revoked, name
    hark api-key revoke ID [--table TABLE]         refuse the key from now on (it stays on record)
    hark outbox failed [--table TABLE]             outbox records that failed for good, with their reasons
    hark outbox redrive [--purpose acknowledgement|agent_reply|follow_up|thanks|forward|incident_post] [--shards N] [--table TABLE]
                                                   send failed records again (every one, or one purpose)
    hark webhooks enable ENDPOINT [--table TABLE]  switch on a help-desk endpoint that answered 410 Gone
    hark customers import FILE [--table TABLE]     what customers are worth, from the CRM: CSV with the header
                                                   channel,id,handle,tier,lifetime_value,crm_id, or a JSON array;
                                                   one bad row refuses the file
    hark report --from YYYY-MM-DD --to YYYY-MM-DD [--out FILE] [--table TABLE]
                                                   the period's care KPIs as one self-contained HTML file

Input lines: {\"id\", \"text\", optional context: \"followers\", \"verified\", \"engagement\"
(or \"retweets\"), \"channel\", \"private\", \"previous_conversations\", \"last_sentiment\", \"tier\",
and for eval/train the label field, e.g. \"sentiment\" or \"intent\"}.
--config is a JSON ClassifierConfig (word lists, brand terms, thresholds, reference anchors).
train writes the model only with --out; with --folds N (default 5) it first reports
N-fold cross-validation.
dlq redrive uses the AWS credentials and region of the environment (AWS_PROFILE, AWS_REGION);
take the URLs from the stack's outputs (MentionsDeadLetterQueueUrl, MentionsQueueUrl).
api-key keeps only a hash of each key, in the stack's table (--table, or TABLE_NAME).
outbox, webhooks, customers and report work on the same table; --shards is the stack's DueIndexShards (default 4).";

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{path}:{line}: {message}")]
    Input { path: String, line: usize, message: String },
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// One input line.
#[derive(Debug, Deserialize)]
struct Row {
    #[serde(default)]
    id: serde_json::Value,
    text: String,
    #[serde(default)]
    followers: Option<u64>,
    #[serde(default)]
    verified: bool,
    #[serde(default)]
    engagement: Option<u64>,
    #[serde(default)]
    retweets: Option<u64>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    previous_conversations: Option<u64>,
    #[serde(default)]
    last_sentiment: Option<Sentiment>,
    #[serde(default)]
    tier: Option<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Row {
    fn context(&self) -> Context {
        Context {
            followers: self.followers,
            verified: self.verified,
            engagement: self.engagement.or(self.retweets),
            channel: self.channel.clone(),
            private: self.private,
            previous_conversations: self.previous_conversations,
            last_sentiment: self.last_sentiment,
            tier: self.tier.clone(),
        }
    }

    fn label(&self, field: &str) -> Option<String> {
        self.rest.get(field).and_then(|v| v.as_str()).map(str::to_owned)
    }
}

fn parse_rows(source: &str, reader: impl BufRead) -> Result<Vec<Row>, CliError> {
    let mut rows = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| CliError::Io(source.to_owned(), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(&line).map_err(|e| CliError::Input {
            path: source.to_owned(),
            line: n + 1,
            message: format!("not a message line ({e}); expected {{\"id\", \"text\", ...}}"),
        })?;
        rows.push(row);
    }
    Ok(rows)
}

fn read_rows(path: &Path) -> Result<Vec<Row>, CliError> {
    let file = std::fs::File::open(path).map_err(|e| CliError::Io(path.display().to_string(), e))?;
    parse_rows(&path.display().to_string(), std::io::BufReader::new(file))
}

/// Options that take no value.
const SWITCHES: &[&str] = &["split"];

struct Args {
    positional: Vec<String>,
    flags: Vec<(String, String)>,
}

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> Result<Args, CliError> {
        let mut out = Args { positional: Vec::new(), flags: Vec::new() };
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                out.flags.push(("help".into(), String::new()));
            } else if let Some(name) = arg.strip_prefix("--").filter(|n| SWITCHES.contains(n)) {
                out.flags.push((name.to_owned(), String::new()));
            } else if let Some(name) = arg.strip_prefix("--") {
                let value = args.next().ok_or_else(|| CliError::Usage(format!("--{name} needs a value")))?;
                out.flags.push((name.to_owned(), value));
            } else {
                out.positional.push(arg);
            }
        }
        Ok(out)
    }

    fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, CliError> {
        match self.flag(name) {
            Some(v) => v.parse().map_err(|_| CliError::Usage(format!("--{name} {v:?} is not a number"))),
            None => Ok(default),
        }
    }

    fn check(&self, allowed: &[&str]) -> Result<(), CliError> {
        match self.flags.iter().find(|(n, _)| !allowed.contains(&n.as_str())) {
            Some((name, _)) => Err(CliError::Usage(format!("unknown option --{name}; see hark --help"))),
            None => Ok(()),
        }
    }

    fn file(&self) -> Result<PathBuf, CliError> {
        self.positional
            .get(1)
            .map(PathBuf::from)
            .ok_or_else(|| CliError::Usage("a FILE is needed; see hark --help".into()))
    }
}

fn load_care(args: &Args) -> Result<CareClassifier, CliError> {
    let config = match args.flag("config") {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| CliError::Io(path.to_owned(), e))?;
            serde_json::from_str::<ClassifierConfig>(&text)
                .map_err(|e| CliError::Usage(format!("--config {path}: {e}")))?
        }
        None => ClassifierConfig::default(),
    };
    Ok(CareClassifier::new(config))
}

fn load_classifier(args: &Args) -> Result<Box<dyn Classifier>, CliError> {
    let care = load_care(args)?;
    match args.flag("model") {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| CliError::Io(path.to_owned(), e))?;
            let model = LinearModel::from_bytes(&bytes).map_err(|e| CliError::Usage(format!("--model {path}: {e}")))?;
            Ok(Box::new(TrainedClassifier { care, model }))
        }
        None => Ok(Box::new(care)),
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hark: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), CliError> {
    let args = Args::parse(std::env::args().skip(1))?;
    if args.flag("help").is_some() || args.positional.is_empty() {
        println!("{HELP}");
        return Ok(());
    }
    match args.positional[0].as_str() {
        "classify" => {
            args.check(&["config", "model"])?;
            classify(&args)
        }
        "eval" => {
            args.check(&["config", "model", "label", "split", "airline", "brands-source"])?;
            eval_command(&args)
        }
        "train" => {
            args.check(&["label", "out", "folds", "bucket-bits", "epochs", "config"])?;
            train(&args)
        }
        "bench" => {
            args.check(&["repeat"])?;
            bench(&args)
        }
        "dlq" => {
            args.check(&["from", "to", "max"])?;
            redrive_dead_letters(&args)
        }
        "api-key" => {
            args.check(&["name", "scopes", "table"])?;
            api_keys::run(&args)
        }
        "outbox" => {
            args.check(&["purpose", "shards", "table"])?;
            outbox::run(&args)
        }
        "webhooks" => {
            args.check(&["table"])?;
            outbox::run_webhooks(&args)
        }
        "customers" => {
            args.check(&["table"])?;
            customers::run(&args)
        }
        "report" => {
            args.check(&["from", "to", "out", "table"])?;
            report::run(&args)
        }
        other => Err(CliError::Usage(format!("unknown command {other:?}; see hark --help"))),
    }
}

/// Runs `work` against the stack's table (`--table`, or `TABLE_NAME`), with the AWS
/// credentials and region of the environment.
fn on_table(
    args: &Args,
    work: impl AsyncFnOnce(hark_shared::adapters::dynamo::DynamoStore) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let table = args
        .flag("table")
        .map(str::to_owned)
        .or_else(|| std::env::var("TABLE_NAME").ok())
        .ok_or_else(|| CliError::Usage("--table TABLE (the stack's TableName output) is needed".into()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io("tokio runtime".into(), e))?;
    runtime.block_on(async {
        let aws = hark_shared::config::aws().await;
        work(hark_shared::adapters::dynamo::DynamoStore::from_config(&aws, table)).await
    })
}

fn redrive_dead_letters(args: &Args) -> Result<(), CliError> {
    if args.positional.get(1).map(String::as_str) != Some("redrive") {
        return Err(CliError::Usage("hark dlq redrive --from DLQ_URL --to QUEUE_URL; see hark --help".into()));
    }
    let from = args.flag("from").ok_or_else(|| CliError::Usage("--from DLQ_URL is needed".into()))?;
    let to = args.flag("to").ok_or_else(|| CliError::Usage("--to QUEUE_URL is needed".into()))?;
    let max = args.number("max", usize::MAX)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Io("tokio runtime".into(), e))?;
    let moved = runtime.block_on(async {
        let aws = hark_shared::config::aws().await;
        hark_shared::adapters::sqs::redrive(&aws_sdk_sqs::Client::new(&aws), from, to, max).await
    });
    let moved = moved.map_err(|e| CliError::Usage(e.to_string()))?;
    println!("moved {moved} message(s) from {from} to {to}");
    Ok(())
}

/// `hark eval`: the standard sets, or the files given.
fn eval_command(args: &Args) -> Result<(), CliError> {
    let classifier = load_classifier(args)?;
    let label = args.flag("label").unwrap_or("sentiment");
    let files = &args.positional[1..];
    if label != "sentiment" {
        if files.is_empty() {
            return Err(CliError::Usage(format!("--label {label} needs a FILE; see hark --help")));
        }
        for file in files {
            let rows = read_rows(Path::new(file))?;
            let report = eval::evaluate(&rows_with_labels(&rows, label)?, label, |row| {
                let c = classifier.classify(&row.text, &row.context());
                if label == "intent" { c.intent.as_str() } else { c.sentiment.as_str() }.to_owned()
            });
            println!("== {file}");
            print!("{report}");
        }
        return Ok(());
    }
    let mut sets = Vec::new();
    if files.is_empty() {
        let sources = eval::sets::Sources::find(args.flag("airline"), args.flag("brands-source"));
        if sources.airline.exists() {
            sets.extend(eval::sets::from_rows("airline", &sources.airline, "sentiment")?.split());
        } else {
            eprintln!(
                "skipped the airline sample: {} is not here (--airline, HARK_AIRLINE_DATA)",
                sources.airline.display()
            );
        }
        if sources.brand_source.exists() {
            sets.extend(eval::sets::brands(&sources.brand_labels, &sources.brand_source)?.split());
        } else {
            eprintln!(
                "skipped the brands set: its texts, {}, are not here (--brands-source, HARK_BRANDS_SOURCE; \
                 tests/data/README.md says where to get them)",
                sources.brand_source.display()
            );
        }
        if sets.is_empty() {
            return Err(CliError::Usage("no labelled set to evaluate; give a FILE".into()));
        }
    } else {
        for file in files {
            let set = eval::sets::from_rows(file, Path::new(file), "sentiment")?;
            if args.flag("split").is_some() { sets.extend(set.split()) } else { sets.push(set) }
        }
    }
    let reports: Vec<eval::SentimentReport> = sets
        .into_iter()
        .map(|set| eval::SentimentReport {
            outcomes: set
                .examples
                .iter()
                .map(|e| eval::Outcome::new(&e.gold, &classifier.classify(&e.text, &e.context), e.complaint))
                .collect(),
            name: set.name,
        })
        .collect();
    println!("{}", eval::summary(&reports));
    for report in &reports {
        println!("{}", report.details());
    }
    Ok(())
}

fn rows_with_labels<'a>(rows: &'a [Row], label: &str) -> Result<Vec<(&'a Row, String)>, CliError> {
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            row.label(label).map(|l| (row, l)).ok_or_else(|| CliError::Input {
                path: "input".into(),
                line: i + 1,
                message: format!("no \"{label}\" label"),
            })
        })
        .collect()
}

fn classify(args: &Args) -> Result<(), CliError> {
    let classifier = load_classifier(args)?;
    let stdin = std::io::stdin();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = line.map_err(|e| CliError::Io("stdin".into(), e))?;
        if line.trim().is_empty() {
            continue;
        }
        // A bad line gets an error line of its own; the rest of the stream goes on.
        let answer = match serde_json::from_str::<Row>(&line) {
            Ok(row) => {
                let c = classifier.classify(&row.text, &row.context());
                json!({
                    "id": row.id, "sentiment": c.sentiment, "score": (f64::from(c.score) * 1000.0).round() / 1000.0,
                    "confidence": (f64::from(c.confidence) * 1000.0).round() / 1000.0, "thank": c.thank,
                    "intent": c.intent, "urgency": c.urgency, "privacy": c.privacy, "priority": c.priority,
                    "language": c.language.code, "language_confidence": (f64::from(c.language.confidence) * 100.0).round() / 100.0,
                    "reasons": c.reasons,
                })
            }
            Err(e) => json!({"line": n + 1, "error": format!("not a message line: {e}")}),
        };
        writeln!(out, "{answer}").map_err(|e| CliError::Io("stdout".into(), e))?;
    }
    out.flush().map_err(|e| CliError::Io("stdout".into(), e))
}

fn train(args: &Args) -> Result<(), CliError> {
    let label = args.flag("label").unwrap_or("sentiment");
    let care = load_care(args)?;
    let rows = read_rows(&args.file()?)?;
    let examples: Vec<(String, String)> =
        rows_with_labels(&rows, label)?.into_iter().map(|(row, l)| (row.text.clone(), l)).collect();
    let defaults = TrainOptions::default();
    let options = TrainOptions {
        bucket_bits: args.number("bucket-bits", defaults.bucket_bits)?,
        epochs: args.number("epochs", defaults.epochs)?,
        ..defaults
    };
    if !(8..=24).contains(&options.bucket_bits) {
        return Err(CliError::Usage("--bucket-bits must be 8..=24".into()));
    }
    let folds: usize = args.number("folds", 5)?;
    if folds >= 2 {
        let started = Instant::now();
        let care = &care;
        let report = eval::cross_validate(&examples, folds, |train| {
            let model = LinearModel::train(label, train, care, options).map_err(|e| CliError::Usage(e.to_string()))?;
            Ok(move |text: &str| model.predict(text, care).0.to_owned())
        })?;
        println!(
            "{folds}-fold cross-validation of `{label}` on {} examples ({:.1}s):",
            examples.len(),
            started.elapsed().as_secs_f64()
        );
        print!("{report}");
    }
    if let Some(out) = args.flag("out") {
        let model = LinearModel::train(label, &examples, &care, options).map_err(|e| CliError::Usage(e.to_string()))?;
        std::fs::write(out, model.to_bytes()).map_err(|e| CliError::Io(out.to_owned(), e))?;
        println!(
            "model for `{label}` ({} classes, {} examples) written to {out}",
            model.header.classes.len(),
            examples.len()
        );
    }
    Ok(())
}

fn bench(args: &Args) -> Result<(), CliError> {
    let rows = read_rows(&args.file()?)?;
    let repeat: usize = args.number("repeat", 50)?;
    let classifier = CareClassifier::default();
    let contexts: Vec<Context> = rows.iter().map(Row::context).collect();
    // Warm up, then time whole passes over the file.
    for (row, context) in rows.iter().zip(&contexts) {
        std::hint::black_box(classifier.classify(&row.text, context));
    }
    // Each pass over the file is timed; the median pass is reported, so a noisy
    // neighbour on a shared machine moves the figure less.
    let mut passes: Vec<f64> = (0..repeat.max(1))
        .map(|_| {
            let started = Instant::now();
            for (row, context) in rows.iter().zip(&contexts) {
                std::hint::black_box(classifier.classify(std::hint::black_box(&row.text), context));
            }
            started.elapsed().as_secs_f64()
        })
        .collect();
    passes.sort_by(f64::total_cmp);
    let median = passes[passes.len() / 2];
    let us = median * 1e6 / rows.len() as f64;
    println!(
        "{}",
        json!({"classifier": "hark", "messages": rows.len() * passes.len(), "passes": passes.len(),
               "us_per_message": us, "messages_per_second": 1e6 / us})
    );
    Ok(())
}
