//! Accuracy, macro-F1, per-class precision and recall, the confusion matrix, and the
//! angry-as-praise rate (gold negative, predicted positive): the mistake that sends
//! "thanks for the love!" to an angry customer. For sentiment also what the thank-you
//! decision would do to each class, and how well the confidence is calibrated.

pub mod sets;

use std::collections::BTreeSet;
use std::fmt::Write;

use hark_shared::domain::classify::{Classification, Intent, Sentiment};

use crate::{CliError, Row};

#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub classes: Vec<String>,
    /// confusion[gold][predicted]
    pub confusion: Vec<Vec<usize>>,
}

impl Scores {
    pub fn new(pairs: &[(String, String)]) -> Self {
        let classes: BTreeSet<&String> = pairs.iter().flat_map(|(g, p)| [g, p]).collect();
        let classes: Vec<String> = classes.into_iter().cloned().collect();
        let index = |c: &String| classes.iter().position(|x| x == c).expect("collected");
        let mut confusion = vec![vec![0; classes.len()]; classes.len()];
        for (gold, predicted) in pairs {
            confusion[index(gold)][index(predicted)] += 1;
        }
        Scores { classes, confusion }
    }

    fn total(&self) -> usize {
        self.confusion.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let right: usize = (0..self.classes.len()).map(|i| self.confusion[i][i]).sum();
        right as f64 / self.total().max(1) as f64
    }

    /// (precision, recall, f1, support) of class `i`.
    pub fn class(&self, i: usize) -> (f64, f64, f64, usize) {
        let tp = self.confusion[i][i] as f64;
        let predicted: usize = self.confusion.iter().map(|row| row[i]).sum();
        let support: usize = self.confusion[i].iter().sum();
        let precision = if predicted == 0 { 0.0 } else { tp / predicted as f64 };
        let recall = if support == 0 { 0.0 } else { tp / support as f64 };
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        (precision, recall, f1, support)
    }

    /// Mean F1 over the classes present in the gold labels.
    pub fn macro_f1(&self) -> f64 {
        let present: Vec<f64> =
            (0..self.classes.len()).filter(|i| self.class(*i).3 > 0).map(|i| self.class(i).2).collect();
        present.iter().sum::<f64>() / present.len().max(1) as f64
    }

    pub fn angry_as_praise(&self) -> Option<f64> {
        let negative = self.classes.iter().position(|c| c == "negative")?;
        let positive = self.classes.iter().position(|c| c == "positive")?;
        let support: usize = self.confusion[negative].iter().sum();
        Some(self.confusion[negative][positive] as f64 / support.max(1) as f64)
    }

    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "accuracy          {:.3}", self.accuracy());
        let _ = writeln!(out, "macro-F1          {:.3}", self.macro_f1());
        if let Some(rate) = self.angry_as_praise() {
            let _ = writeln!(out, "angry-as-praise   {:.2}%  (negative messages classified positive)", rate * 100.0);
        }
        let _ = writeln!(out, "\n{:<12} {:>9} {:>7} {:>7} {:>8}", "class", "precision", "recall", "F1", "support");
        for (i, class) in self.classes.iter().enumerate() {
            let (p, r, f, n) = self.class(i);
            let _ = writeln!(out, "{class:<12} {p:>9.3} {r:>7.3} {f:>7.3} {n:>8}");
        }
        let _ = writeln!(out, "\nconfusion (rows: gold, columns: predicted)");
        let _ = write!(out, "{:<12}", "");
        for class in &self.classes {
            let _ = write!(out, " {class:>10}");
        }
        let _ = writeln!(out);
        for (class, row) in self.classes.iter().zip(&self.confusion) {
            let _ = write!(out, "{class:<12}");
            for n in row {
                let _ = write!(out, " {n:>10}");
            }
            let _ = writeln!(out);
        }
        out
    }
}

/// What the classifier made of one labelled message.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub gold: String,
    pub sentiment: Sentiment,
    pub intent: Intent,
    pub confidence: f32,
    pub thank: bool,
    /// The source's complaint label, where it has one.
    pub complaint: Option<bool>,
}

impl Outcome {
    pub fn new(gold: &str, c: &Classification, complaint: Option<bool>) -> Self {
        Outcome {
            gold: gold.to_owned(),
            sentiment: c.sentiment,
            intent: c.intent,
            confidence: c.confidence,
            thank: c.thank.thank,
            complaint,
        }
    }

    fn right(&self) -> bool {
        self.gold == self.sentiment.as_str()
    }
}

/// A set's sentiment outcomes, and everything `hark eval` says of them.
pub struct SentimentReport {
    pub name: String,
    pub outcomes: Vec<Outcome>,
}

/// Confidence bins of the reliability table: [0.3, 0.4), ..., [0.9, 1.0].
const BINS: [f32; 7] = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

impl SentimentReport {
    pub fn scores(&self) -> Scores {
        let pairs: Vec<(String, String)> =
            self.outcomes.iter().map(|o| (o.gold.clone(), o.sentiment.as_str().to_owned())).collect();
        Scores::new(&pairs)
    }

    /// (share, count) of the messages labelled `gold` for which `hit` holds.
    pub fn rate(&self, gold: &str, hit: impl Fn(&Outcome) -> bool) -> (f64, usize) {
        let of: Vec<&Outcome> = self.outcomes.iter().filter(|o| o.gold == gold).collect();
        let hits = of.iter().filter(|o| hit(o)).count();
        (hits as f64 / of.len().max(1) as f64, hits)
    }

    /// Negative messages labelled positive.
    pub fn negative_as_positive(&self) -> f64 {
        self.rate("negative", |o| o.sentiment == Sentiment::Positive).0
    }

    /// Negative messages given the intent praise.
    pub fn negative_as_praise(&self) -> f64 {
        self.rate("negative", |o| o.intent == Intent::Praise).0
    }

    /// Share of `gold` messages the thank-you decision would thank.
    pub fn thanked(&self, gold: &str) -> f64 {
        self.rate(gold, |o| o.thank).0
    }

    /// (bin start, messages, mean confidence, share right) for the messages whose label is
    /// `label` (every label when None).
    fn reliability(&self, label: Option<Sentiment>) -> Vec<(f32, usize, f64, f64)> {
        BINS.iter()
            .enumerate()
            .map(|(i, start)| {
                let end = BINS.get(i + 1).copied().unwrap_or(1.01);
                let bin: Vec<&Outcome> = self
                    .outcomes
                    .iter()
                    .filter(|o| label.is_none_or(|l| o.sentiment == l))
                    .filter(|o| (i == 0 || o.confidence >= *start) && o.confidence < end)
                    .collect();
                let n = bin.len().max(1) as f64;
                let mean = bin.iter().map(|o| f64::from(o.confidence)).sum::<f64>() / n;
                let right = bin.iter().filter(|o| o.right()).count() as f64 / n;
                (*start, bin.len(), mean, right)
            })
            .collect()
    }

    /// Expected calibration error: how far, on average over messages, the confidence is
    /// from how often such labels were right.
    pub fn calibration_error(&self) -> f64 {
        let total = self.outcomes.len().max(1) as f64;
        self.reliability(None).iter().map(|(_, n, mean, right)| *n as f64 / total * (mean - right).abs()).sum()
    }

    pub fn details(&self) -> String {
        let mut out = format!("== {} ({} messages)\n", self.name, self.outcomes.len());
        out.push_str(&self.scores().report());
        let (complaint_positive, n) = {
            let complaints: Vec<&Outcome> = self.outcomes.iter().filter(|o| o.complaint == Some(true)).collect();
            let positive = complaints.iter().filter(|o| o.sentiment == Sentiment::Positive).count();
            let thanked = complaints.iter().filter(|o| o.thank).count();
            ((positive, thanked), complaints.len())
        };
        if n > 0 {
            let _ = writeln!(
                out,
                "\nthe source's own complaint label ({n} complaints): {} read positive, {} thanked",
                complaint_positive.0, complaint_positive.1
            );
        }
        let _ = writeln!(out, "\nreliability: how often a label given with this confidence was right");
        let _ =
            writeln!(out, "{:<11} {:>16} {:>16} {:>16} {:>16}", "confidence", "all", "negative", "neutral", "positive");
        let tables: Vec<Vec<(f32, usize, f64, f64)>> =
            [None, Some(Sentiment::Negative), Some(Sentiment::Neutral), Some(Sentiment::Positive)]
                .into_iter()
                .map(|label| self.reliability(label))
                .collect();
        for (i, start) in BINS.iter().enumerate() {
            let end = BINS.get(i + 1).copied().unwrap_or(1.0);
            let range = if i == 0 { format!("< {end:.1}") } else { format!("{start:.1}–{end:.1}") };
            let _ = write!(out, "{range:<11}");
            for table in &tables {
                let (_, n, _, right) = table[i];
                let cell = if n == 0 { "–".to_owned() } else { format!("{right:.2} of {n}") };
                let _ = write!(out, " {cell:>16}");
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "expected calibration error {:.3}", self.calibration_error());
        out
    }
}

/// One line per set: the figures the targets are about.
pub fn summary(reports: &[SentimentReport]) -> String {
    let mut out = String::new();
    let width = reports.iter().map(|r| r.name.chars().count()).max().unwrap_or(0).max(18);
    let _ = writeln!(
        out,
        "{:<width$} {:>8} {:>8} {:>8} {:>8} {:>10} {:>26} {:>6}",
        "set", "messages", "accuracy", "macro-F1", "neg→pos", "neg→praise", "thanked: neg / neu / pos", "ECE"
    );
    for r in reports {
        let scores = r.scores();
        let thanked = format!(
            "{:.2}% / {:.1}% / {:.1}%",
            r.thanked("negative") * 100.0,
            r.thanked("neutral") * 100.0,
            r.thanked("positive") * 100.0
        );
        let _ = writeln!(
            out,
            "{:<width$} {:>8} {:>8.3} {:>8.3} {:>7.2}% {:>9.2}% {:>26} {:>6.3}",
            r.name,
            r.outcomes.len(),
            scores.accuracy(),
            scores.macro_f1(),
            r.negative_as_positive() * 100.0,
            r.negative_as_praise() * 100.0,
            thanked,
            r.calibration_error()
        );
    }
    out.push_str(
        "\nneg→pos: negative messages labelled positive; neg→praise: negative messages given the intent\n\
         praise; thanked: share of each gold class the thank-you decision would thank; ECE: expected\n\
         calibration error of the confidence (0 is perfect).\n",
    );
    out
}

pub fn evaluate(rows: &[(&Row, String)], _label: &str, mut predict: impl FnMut(&Row) -> String) -> String {
    let pairs: Vec<(String, String)> = rows.iter().map(|(row, gold)| (gold.clone(), predict(row))).collect();
    format!("{} messages\n{}", pairs.len(), Scores::new(&pairs).report())
}

/// Stratified-by-position k-fold: example i is in fold i mod k, so every fold sees the
/// file's mix; each fold is predicted by a model trained on the others.
pub fn cross_validate<P: Fn(&str) -> String>(
    examples: &[(String, String)],
    folds: usize,
    mut train: impl FnMut(&[(String, String)]) -> Result<P, CliError>,
) -> Result<String, CliError> {
    let mut pooled = Vec::new();
    let mut out = String::new();
    let mut f1s = Vec::new();
    for fold in 0..folds {
        let (test, rest): (Vec<_>, Vec<_>) = examples.iter().enumerate().partition(|(i, _)| i % folds == fold);
        let training: Vec<(String, String)> = rest.into_iter().map(|(_, e)| e.clone()).collect();
        let predict = train(&training)?;
        let pairs: Vec<(String, String)> = test.iter().map(|(_, (text, gold))| (gold.clone(), predict(text))).collect();
        let scores = Scores::new(&pairs);
        f1s.push(scores.macro_f1());
        let _ =
            writeln!(out, "fold {}: accuracy {:.3}, macro-F1 {:.3}", fold + 1, scores.accuracy(), scores.macro_f1());
        pooled.extend(pairs);
    }
    let mean = f1s.iter().sum::<f64>() / f1s.len() as f64;
    let _ = writeln!(out, "mean macro-F1 over folds {mean:.3}\n\npooled over all folds:");
    out.push_str(&Scores::new(&pooled).report());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(g, p)| (g.to_string(), p.to_string())).collect()
    }

    #[test]
    fn metrics_match_a_hand_computed_example() {
        // gold negative x4 (3 right, 1 as positive), neutral x2 (1 right, 1 as negative), positive x2 right.
        let s = Scores::new(&pairs(&[
            ("negative", "negative"),
            ("negative", "negative"),
            ("negative", "negative"),
            ("negative", "positive"),
            ("neutral", "neutral"),
            ("neutral", "negative"),
            ("positive", "positive"),
            ("positive", "positive"),
        ]));
        assert_eq!(s.accuracy(), 6.0 / 8.0);
        let (p, r, _, n) = s.class(0);
        assert_eq!((p, r, n), (0.75, 0.75, 4));
        let (p, r, f, _) = s.class(2);
        assert_eq!((p, r), (2.0 / 3.0, 1.0));
        assert!((f - 0.8).abs() < 1e-9);
        // F1: negative 0.75, neutral 2/3, positive 0.8.
        assert!((s.macro_f1() - (0.75 + 2.0 / 3.0 + 0.8) / 3.0).abs() < 1e-9);
        assert_eq!(s.angry_as_praise(), Some(0.25));
        assert!(s.report().contains("angry-as-praise   25.00%"));
    }

    fn scores_on(path: &std::path::Path, label: &str) -> Scores {
        use hark_shared::domain::classify::{CareClassifier, Classifier};
        let classifier = CareClassifier::default();
        let rows = crate::read_rows(path).unwrap();
        let pairs: Vec<(String, String)> = rows
            .iter()
            .map(|row| {
                let c = classifier.classify(&row.text, &row.context());
                let predicted = if label == "intent" { c.intent.as_str() } else { c.sentiment.as_str() };
                (row.label(label).unwrap(), predicted.to_owned())
            })
            .collect();
        Scores::new(&pairs)
    }

    #[test]
    fn the_intent_set_stays_above_its_floor() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/intent-set.jsonl");
        let scores = scores_on(&path, "intent");
        assert!(scores.accuracy() >= 0.78 && scores.macro_f1() >= 0.78, "{}", scores.report());
    }

    fn report_on(set: sets::LabelledSet) -> SentimentReport {
        use hark_shared::domain::classify::{CareClassifier, Classifier};
        let classifier = CareClassifier::default();
        let outcomes = set
            .examples
            .iter()
            .map(|e| Outcome::new(&e.gold, &classifier.classify(&e.text, &e.context), e.complaint))
            .collect();
        SentimentReport { name: set.name, outcomes }
    }

    /// Floors under the standard sets, both parts, where the data is on this machine
    /// (../shared/data beside the repository; the brands texts by HARK_BRANDS_SOURCE or
    /// beside it): a rule change that gives back what was won fails here.
    #[test]
    fn the_standard_sets_stay_above_their_floors() {
        let sources = sets::Sources::find(None, None);
        let mut reports = Vec::new();
        // (set, accuracy, macro-F1, negative read positive, negatives thanked, positives thanked)
        let mut floors = Vec::new();
        if sources.airline.exists() {
            for part in sets::from_rows("airline", &sources.airline, "sentiment").unwrap().split() {
                reports.push(report_on(part));
                floors.push((0.77, 0.70, 0.025, 0.01, 0.40));
            }
        } else {
            eprintln!("skipped the airline sample: {} is not on this machine", sources.airline.display());
        }
        if sources.brand_source.exists() {
            for part in sets::brands(&sources.brand_labels, &sources.brand_source).unwrap().split() {
                reports.push(report_on(part));
                floors.push((0.74, 0.66, 0.03, 0.01, 0.35));
            }
        } else {
            eprintln!("skipped the brands set: {} is not on this machine", sources.brand_source.display());
        }
        for (report, (accuracy, f1, negative_positive, thanked_negative, thanked_positive)) in
            reports.iter().zip(floors)
        {
            let scores = report.scores();
            let said = format!("{}\n{}", summary(std::slice::from_ref(report)), report.details());
            assert!(scores.accuracy() >= accuracy && scores.macro_f1() >= f1, "{said}");
            assert!(report.negative_as_positive() <= negative_positive, "{said}");
            assert!(report.thanked("negative") <= thanked_negative, "{said}");
            assert!(report.thanked("positive") >= thanked_positive, "{said}");
            assert!(report.calibration_error() <= 0.06, "{said}");
        }
    }

    #[test]
    fn cross_validation_trains_on_the_other_folds_only() {
        let data = pairs(&[("a", "x"), ("b", "y"), ("c", "x"), ("d", "y")]);
        let mut seen = Vec::new();
        cross_validate(&data, 2, |train| {
            seen.push(train.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>());
            Ok(|_: &str| "x".to_owned())
        })
        .unwrap();
        assert_eq!(seen, vec![vec!["b".to_owned(), "d".to_owned()], vec!["a".to_owned(), "c".to_owned()]]);
    }
}
