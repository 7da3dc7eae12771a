//! A compact linear model a company trains on its own labelled history (`hark train`):
//! hashed word unigrams and bigrams, character 3–5-grams, and the care lexicon's own
//! signals as features; multinomial logistic regression fitted with AdaGrad and balanced
//! class weights (a rare class counts as much as a common one, which is what macro-F1
//! rewards). No framework: a few hundred lines, and predicting is a sparse dot product.
//!
//! File format: `HARKLM1\n`, a little-endian u32 header length, a JSON header (label,
//! classes, buckets), then `buckets × classes` f32 weights and `classes` f32 biases, LE.

use serde::{Deserialize, Serialize};

use super::{CareClassifier, Signals};

const MAGIC: &[u8; 8] = b"HARKLM1\n";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelHeader {
    /// What the model predicts: "sentiment" or "intent".
    pub label: String,
    pub classes: Vec<String>,
    /// log2 of the number of hash buckets.
    pub bucket_bits: u32,
    pub trained_examples: usize,
}

#[derive(Debug, Clone)]
pub struct LinearModel {
    pub header: ModelHeader,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not a Hark model file (bad magic)")]
    BadMagic,
    #[error("model file is truncated or its header is invalid: {0}")]
    Corrupt(String),
    #[error("training needs at least two classes with examples, got {0:?}")]
    TooFewClasses(Vec<String>),
}

#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    pub bucket_bits: u32,
    pub epochs: usize,
    pub learning_rate: f32,
    pub l2: f32,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { bucket_bits: 17, epochs: 6, learning_rate: 0.4, l2: 1e-6, seed: 0x4841_524b }
    }
}

/// Sparse features of one message: (bucket, value), L2-normalised, plus the lexicon's
/// reading of it (`signals`, which the classifier has already computed when it predicts).
pub fn features(text: &str, signals: &Signals, bucket_bits: u32) -> Vec<(u32, f32)> {
    let mask = (1u64 << bucket_bits) - 1;
    let bucket = |kind: u8, s: &str| -> u32 {
        let h = s
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64 ^ u64::from(kind), |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        (h & mask) as u32
    };
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(256);
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            if w.starts_with('@') {
                "@user".to_owned()
            } else if w.starts_with("http") {
                "http".to_owned()
            } else {
                w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '?' && c != '!').to_lowercase()
            }
        })
        .filter(|w| !w.is_empty())
        .collect();
    let mut previous = "<s>";
    let mut pair = String::with_capacity(32);
    for w in &words {
        out.push((bucket(1, w), 1.0));
        pair.clear();
        pair.push_str(previous);
        pair.push(' ');
        pair.push_str(w);
        out.push((bucket(2, &pair), 1.0));
        previous = w;
        if w.starts_with('@') || w == "http" {
            continue;
        }
        let padded: Vec<char> = std::iter::once('<').chain(w.chars()).chain(std::iter::once('>')).collect();
        let mut gram = String::with_capacity(24);
        for n in 3..=5 {
            for window in padded.windows(n) {
                gram.clear();
                gram.extend(window);
                out.push((bucket(3, &gram), 0.5));
            }
        }
    }
    let norm = out.iter().map(|(_, v)| v * v).sum::<f32>().sqrt().max(1.0);
    for (_, v) in &mut out {
        *v /= norm;
    }
    // The lexicon's reading, unnormalised so it keeps its weight against many n-grams.
    let s = signals;
    let dense = [
        ("neg", (-s.negative / 4.0).min(2.0)),
        ("pos", (s.positive / 4.0).min(2.0)),
        ("polite", (s.polite / 4.0).min(1.0)),
        ("problems", (s.problems as f32 / 3.0).min(1.5)),
        ("sarcasm", f32::from(u8::from(s.sarcasm))),
        ("qmark", f32::from(u8::from(s.question_mark))),
        ("opens_question", f32::from(u8::from(s.opens_with_question))),
        ("request", f32::from(u8::from(s.request))),
        ("feedback", f32::from(u8::from(s.feedback))),
        ("spam", (s.spam as f32).min(2.0)),
        ("urls", (s.urls as f32).min(2.0)),
        ("exclaim", (s.exclamations as f32 / 3.0).min(1.0)),
    ];
    for (name, value) in dense {
        if value != 0.0 {
            out.push((bucket(4, name), value));
        }
    }
    out
}

/// A small deterministic generator for shuffling: the same data gives the same model.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

impl LinearModel {
    /// Fits on `(text, label)` pairs; classes are the distinct labels, sorted.
    pub fn train(
        label: &str,
        examples: &[(String, String)],
        lexicon: &CareClassifier,
        options: TrainOptions,
    ) -> Result<Self, ModelError> {
        let mut classes: Vec<String> = examples.iter().map(|(_, l)| l.clone()).collect();
        classes.sort();
        classes.dedup();
        if classes.len() < 2 {
            return Err(ModelError::TooFewClasses(classes));
        }
        let k = classes.len();
        let rows: Vec<(Vec<(u32, f32)>, usize)> = examples
            .iter()
            .map(|(text, l)| {
                let x = features(text, &lexicon.signals(text), options.bucket_bits);
                (x, classes.binary_search(l).expect("a known class"))
            })
            .collect();
        let mut counts = vec![0usize; k];
        for (_, y) in &rows {
            counts[*y] += 1;
        }
        let class_weight: Vec<f32> =
            counts.iter().map(|c| rows.len() as f32 / (k as f32 * (*c).max(1) as f32)).collect();

        let buckets = 1usize << options.bucket_bits;
        let mut weights = vec![0f32; buckets * k];
        let mut bias = vec![0f32; k];
        let mut grad_sq = vec![1e-6f32; buckets * k];
        let mut bias_sq = vec![1e-6f32; k];
        let mut order: Vec<usize> = (0..rows.len()).collect();
        let mut rng = XorShift(options.seed | 1);
        let mut probs = vec![0f32; k];
        for _ in 0..options.epochs {
            for i in (1..order.len()).rev() {
                order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
            }
            for &r in &order {
                let (x, y) = &rows[r];
                scores(&weights, &bias, x, k, &mut probs);
                softmax(&mut probs);
                for c in 0..k {
                    let g = (probs[c] - if c == *y { 1.0 } else { 0.0 }) * class_weight[*y];
                    if g == 0.0 {
                        continue;
                    }
                    for (index, value) in x {
                        let at = *index as usize * k + c;
                        let grad = g * value + options.l2 * weights[at];
                        grad_sq[at] += grad * grad;
                        weights[at] -= options.learning_rate * grad / grad_sq[at].sqrt();
                    }
                    bias_sq[c] += g * g;
                    bias[c] -= options.learning_rate * g / bias_sq[c].sqrt();
                }
            }
        }
        let header = ModelHeader {
            label: label.to_owned(),
            classes,
            bucket_bits: options.bucket_bits,
            trained_examples: examples.len(),
        };
        Ok(LinearModel { header, weights, bias })
    }

    /// The most likely class and its probability.
    pub fn predict(&self, text: &str, lexicon: &CareClassifier) -> (&str, f32) {
        self.predict_with(text, &lexicon.signals(text))
    }

    /// As [`predict`](Self::predict), reusing the lexicon signals the caller already has.
    pub fn predict_with(&self, text: &str, signals: &Signals) -> (&str, f32) {
        let k = self.header.classes.len();
        let x = features(text, signals, self.header.bucket_bits);
        let mut probs = vec![0f32; k];
        scores(&self.weights, &self.bias, &x, k, &mut probs);
        softmax(&mut probs);
        let (best, p) = probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("two classes or more");
        (&self.header.classes[best], *p)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header).expect("header serialises");
        let mut out = Vec::with_capacity(12 + header.len() + 4 * (self.weights.len() + self.bias.len()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        for w in self.weights.iter().chain(&self.bias) {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(ModelError::BadMagic)?;
        let corrupt = |why: &str| ModelError::Corrupt(why.to_owned());
        let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(|| corrupt("no header length"))?;
        let len = u32::from_le_bytes(*len) as usize;
        let header_bytes = rest.get(..len).ok_or_else(|| corrupt("header"))?;
        let header: ModelHeader =
            serde_json::from_slice(header_bytes).map_err(|e| ModelError::Corrupt(e.to_string()))?;
        let k = header.classes.len();
        if k < 2 || header.bucket_bits == 0 || header.bucket_bits > 24 {
            return Err(corrupt("classes or bucket count out of range"));
        }
        let expected = ((1usize << header.bucket_bits) * k + k) * 4;
        let body = &rest[len..];
        if body.len() != expected {
            return Err(ModelError::Corrupt(format!("{} weight bytes, expected {expected}", body.len())));
        }
        let mut floats: Vec<f32> =
            body.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("four bytes"))).collect();
        let bias = floats.split_off(floats.len() - k);
        Ok(LinearModel { header, weights: floats, bias })
    }
}

fn scores(weights: &[f32], bias: &[f32], x: &[(u32, f32)], k: usize, out: &mut [f32]) {
    out.copy_from_slice(bias);
    for (index, value) in x {
        let row = &weights[*index as usize * k..*index as usize * k + k];
        for (o, w) in out.iter_mut().zip(row) {
            *o += w * value;
        }
    }
}

fn softmax(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::MIN, f32::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    for x in v.iter_mut() {
        *x /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Vec<(String, String)> {
        let mut rows = Vec::new();
        for i in 0..30 {
            rows.push((format!("the parcel {i} arrived broken and late"), "negative".to_owned()));
            rows.push((format!("lovely quick delivery of order {i}, thank you"), "positive".to_owned()));
            rows.push((format!("what time does store {i} open on sunday"), "neutral".to_owned()));
        }
        rows
    }

    #[test]
    fn learns_separable_classes_and_round_trips_through_bytes() {
        let lexicon = CareClassifier::default();
        let options = TrainOptions { bucket_bits: 12, ..TrainOptions::default() };
        let model = LinearModel::train("sentiment", &data(), &lexicon, options).unwrap();
        assert_eq!(model.header.classes, vec!["negative", "neutral", "positive"]);
        assert_eq!(model.predict("my parcel came broken", &lexicon).0, "negative");
        assert_eq!(model.predict("what time do you open", &lexicon).0, "neutral");
        let loaded = LinearModel::from_bytes(&model.to_bytes()).unwrap();
        assert_eq!(loaded.header, model.header);
        assert_eq!(
            loaded.predict("lovely delivery, thanks", &lexicon),
            model.predict("lovely delivery, thanks", &lexicon)
        );
    }

    #[test]
    fn bad_files_and_bad_data_are_refused() {
        assert!(matches!(LinearModel::from_bytes(b"nope"), Err(ModelError::BadMagic)));
        let lexicon = CareClassifier::default();
        let options = TrainOptions { bucket_bits: 10, ..TrainOptions::default() };
        let mut bytes = LinearModel::train("sentiment", &data(), &lexicon, options).unwrap().to_bytes();
        bytes.truncate(bytes.len() - 3);
        assert!(matches!(LinearModel::from_bytes(&bytes), Err(ModelError::Corrupt(_))));
        let one_class = vec![("a".to_owned(), "x".to_owned())];
        assert!(matches!(
            LinearModel::train("intent", &one_class, &lexicon, options),
            Err(ModelError::TooFewClasses(_))
        ));
    }
}
