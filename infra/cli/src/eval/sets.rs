//! The labelled sets `hark eval` reports on, and the split that keeps tuning honest.
//!
//! Every set is cut in two by a seeded hash of each message's id: a tuning part, the only
//! one anyone looks at while changing rules, and a held-out part that is only reported.
//! The cut depends on the id alone, so it does not move when a file is reordered or grows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hark_shared::domain::classify::Context;

use crate::{CliError, Row, read_rows};

/// Changing it would reshuffle every held-out part: never do.
const SPLIT_SEED: &str = "hark-eval-split-1:";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Tuning,
    HeldOut,
}

impl Part {
    pub fn of(id: &str) -> Part {
        let hash = SPLIT_SEED
            .bytes()
            .chain(id.bytes())
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        if hash % 2 == 0 { Part::Tuning } else { Part::HeldOut }
    }

    pub fn name(self) -> &'static str {
        match self {
            Part::Tuning => "tuning",
            Part::HeldOut => "held-out",
        }
    }
}

/// One labelled message.
#[derive(Debug, Clone)]
pub struct Example {
    pub id: String,
    pub text: String,
    pub context: Context,
    pub gold: String,
    /// The source's own complaint label, where it has one (the brands set).
    pub complaint: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct LabelledSet {
    pub name: String,
    pub examples: Vec<Example>,
}

impl LabelledSet {
    /// The set's tuning and held-out parts, in that order.
    pub fn split(self) -> [LabelledSet; 2] {
        let (tuning, held_out): (Vec<Example>, Vec<Example>) =
            self.examples.into_iter().partition(|e| Part::of(&e.id) == Part::Tuning);
        [
            LabelledSet { name: format!("{} {}", self.name, Part::Tuning.name()), examples: tuning },
            LabelledSet { name: format!("{} {}", self.name, Part::HeldOut.name()), examples: held_out },
        ]
    }
}

fn id_of(row: &Row) -> String {
    match &row.id {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A JSON-lines file whose lines carry `label`.
pub fn from_rows(name: &str, path: &Path, label: &str) -> Result<LabelledSet, CliError> {
    let rows = read_rows(path)?;
    let examples = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let gold = row.label(label).ok_or_else(|| CliError::Input {
                path: path.display().to_string(),
                line: i + 1,
                message: format!("no \"{label}\" label"),
            })?;
            Ok(Example { id: id_of(row), text: row.text.clone(), context: row.context(), gold, complaint: None })
        })
        .collect::<Result<_, CliError>>()?;
    Ok(LabelledSet { name: name.to_owned(), examples })
}

/// The brand-directed set: our labels (`tests/data/brands-sentiment.jsonl`: id, domain,
/// sentiment) joined by id with the texts of the public source's CSV (id, text,
/// complaint 0/1, domain), which this repository does not hold (tests/data/README.md).
pub fn brands(labels: &Path, source: &Path) -> Result<LabelledSet, CliError> {
    let io = |path: &Path, e: std::io::Error| CliError::Io(path.display().to_string(), e);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(source)
        .map_err(|e| CliError::Usage(format!("{}: {e}", source.display())))?;
    let mut texts: HashMap<String, (String, Option<bool>)> = HashMap::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| CliError::Input {
            path: source.display().to_string(),
            line: i + 1,
            message: format!("not a CSV record: {e}"),
        })?;
        let (Some(id), Some(text)) = (record.get(0), record.get(1)) else {
            return Err(CliError::Input {
                path: source.display().to_string(),
                line: i + 1,
                message: "expected id,text,complaint,domain".into(),
            });
        };
        let complaint = record.get(2).and_then(|c| match c.trim() {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        });
        texts.insert(id.to_owned(), (text.to_owned(), complaint));
    }
    let file = std::fs::read_to_string(labels).map_err(|e| io(labels, e))?;
    let mut examples = Vec::new();
    for (i, line) in file.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |message: String| CliError::Input { path: labels.display().to_string(), line: i + 1, message };
        let label: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
        let (Some(id), Some(gold)) = (label["id"].as_str(), label["sentiment"].as_str()) else {
            return Err(bad("expected {\"id\", \"sentiment\"}".into()));
        };
        let (text, complaint) = texts.get(id).cloned().ok_or_else(|| {
            bad(format!("id {id} is not in {}: is it the source file the labels were made from?", source.display()))
        })?;
        examples.push(Example {
            id: id.to_owned(),
            text,
            context: Context::default(),
            gold: gold.to_owned(),
            complaint,
        });
    }
    Ok(LabelledSet { name: "brands".into(), examples })
}

/// Where the standard sets are: a flag, an environment variable, or beside the repository.
pub struct Sources {
    pub airline: PathBuf,
    pub brand_labels: PathBuf,
    pub brand_source: PathBuf,
}

impl Sources {
    pub fn find(airline: Option<&str>, brand_source: Option<&str>) -> Sources {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let pick = |flag: Option<&str>, var: &str, default: PathBuf| {
            flag.map(PathBuf::from).or_else(|| std::env::var_os(var).map(PathBuf::from)).unwrap_or(default)
        };
        Sources {
            airline: pick(airline, "HARK_AIRLINE_DATA", repo.join("../shared/data/airline-dev.jsonl")),
            brand_labels: repo.join("tests/data/brands-sentiment.jsonl"),
            brand_source: pick(
                brand_source,
                "HARK_BRANDS_SOURCE",
                repo.join("../complaints-social-media/complaints-data.csv"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_depends_on_the_id_alone_and_halves_the_data() {
        assert_eq!(Part::of("569992825997279232"), Part::of("569992825997279232"));
        let tuning = (0..10_000).filter(|i| Part::of(&i.to_string()) == Part::Tuning).count();
        assert!((4_800..5_200).contains(&tuning), "{tuning}");
    }

    #[test]
    fn brand_labels_join_the_source_by_id() {
        let dir = std::env::temp_dir().join(format!("hark-brands-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = dir.join("source.csv");
        std::fs::write(&source, "1,\"@acme my order, again, is late\",1,retail\n2,@acme thanks!,0,retail\n").unwrap();
        let labels = dir.join("labels.jsonl");
        std::fs::write(
            &labels,
            "{\"id\": \"2\", \"domain\": \"retail\", \"sentiment\": \"positive\"}\n{\"id\": \"1\", \"domain\": \"retail\", \"sentiment\": \"negative\"}\n",
        )
        .unwrap();
        let set = brands(&labels, &source).unwrap();
        assert_eq!(set.examples.len(), 2);
        assert_eq!(set.examples[1].text, "@acme my order, again, is late");
        assert_eq!((set.examples[1].gold.as_str(), set.examples[1].complaint), ("negative", Some(true)));
        std::fs::write(&labels, "{\"id\": \"3\", \"sentiment\": \"neutral\"}\n").unwrap();
        let error = brands(&labels, &source).unwrap_err().to_string();
        assert!(error.contains("id 3 is not in"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
