//! Reads the words of a message once: valences with negation, intensity, contrast,
//! hypotheticals and sarcasm; problems reported, asked about or put right; the cues of
//! intent and urgency; and the words behind each, for the reasons an agent reads.

use super::lexicon::{Entry, LANG_EN, Lexicon, flag};
use super::privacy;
use super::tokenize::{Word, tokenize};

/// Everything the rules read off a message, collected in one pass.
#[derive(Debug, Default)]
pub struct Signals {
    pub negative: f32,
    /// The part of `negative` from feelings and judgements rather than problem events.
    pub feeling: f32,
    pub positive: f32,
    pub polite: f32,
    /// Problem events reported and not put right since.
    pub problems: u32,
    /// The problems among them that weigh (not "again", "why", "an hour").
    pub serious_problems: u32,
    /// Valence of the problems not put right (negative, or 0).
    pub unresolved: f32,
    /// Problems a later word says were put right ("it's fixed now").
    pub resolved: u32,
    /// Problem words inside a question about what may happen ("will it be cancelled?").
    pub asked_problems: u32,
    /// The most negative single reading, however the message adds up.
    pub strongest_negative: f32,
    pub sarcasm: bool,
    /// Praise under a negation ("not great", "never helpful").
    pub negated_praise: bool,
    /// Praise that has not happened ("would be nice if").
    pub hypothetical_praise: bool,
    /// "but", "however": the message turns.
    pub contrast: bool,
    /// Most of it in capitals.
    pub shouting: bool,
    /// Its only warmth is thanks ("Thanks!", "thanks for the update"): gratitude, no praise.
    pub only_thanks: bool,
    /// The thanks says what for ("thanks for the update").
    pub thanks_for: bool,
    /// Words read (mentions and links left out).
    pub words: u32,
    pub question_mark: bool,
    pub opens_with_question: bool,
    pub request: bool,
    pub feedback: bool,
    /// A suggestion named as such ("idea", "feature", "please add").
    pub suggestion: bool,
    /// Its warmth is only emoji or emoticons.
    pub only_symbols: bool,
    pub spam: u32,
    pub urls: u32,
    pub exclamations: u32,
    pub(super) triggers: Vec<(u32, String)>,
    pub(super) symbol_warmth: f32,
    pub(super) negative_words: WordList,
    pub(super) positive_words: WordList,
    pub(super) polite_word: String,
    pub(super) language: LanguageCounts,
    pub(super) privacy_hints: privacy::Hints,
}

/// Up to four distinct words behind a reading, comma-separated: one allocation at most.
#[derive(Debug, Default)]
pub struct WordList {
    words: String,
    /// Where each word starts and ends in `words`.
    spans: [(u32, u32); 4],
    count: usize,
}

impl WordList {
    pub fn push(&mut self, word: &str) {
        let seen = |&(start, end): &(u32, u32)| &self.words[start as usize..end as usize] == word;
        if self.count >= self.spans.len() || word.is_empty() || self.spans[..self.count].iter().any(seen) {
            return;
        }
        if self.count > 0 {
            self.words.push_str(", ");
        }
        let start = self.words.len();
        self.words.push_str(word);
        self.spans[self.count] = (start as u32, self.words.len() as u32);
        self.count += 1;
    }

    pub fn into_string(self) -> String {
        self.words
    }
}

/// Function words of each language seen, counted while tokenizing.
#[derive(Debug, Default)]
pub struct LanguageCounts {
    pub words: u32,
    pub latin: u32,
    pub hits: [u32; 5],
}

impl LanguageCounts {
    /// One word, with the languages whose function words include it; a word of the
    /// (English) sentiment lists counts for English when no function list claims it.
    pub fn count(&mut self, languages: u8, english_word: bool, latin: bool) {
        self.words += 1;
        self.latin += u32::from(latin);
        let languages = if languages == 0 && english_word { LANG_EN } else { languages };
        for (i, count) in self.hits.iter_mut().enumerate() {
            *count += u32::from(languages >> i & 1);
        }
    }
}

/// A problem event's reading, when the message says it happened.
const FUNCTION_FAILED: f32 = -1.8;
/// How much of a problem asked about counts ("is my flight delayed?").
const ASKED_WEIGHT: f32 = 0.1;
/// How much of the problems before a resolution still counts ("was broken, fixed now").
const RESOLVED_WEIGHT: f32 = 0.3;
/// Scope left (of 4) at which a negation still cancels a negative word: the next two words.
const NEGATION_REACH_FOR_BLAME: u8 = 3;
/// A problem word at least this negative weighs on its own.
const SERIOUS_PROBLEM: f32 = -1.0;
/// Unresolved problem valence beyond which any praise bait in the message is irony.
const SARCASM_PROBLEM: f32 = -1.5;

impl Signals {
    fn add_valence(&mut self, v: f32, word: &str) {
        if v < 0.0 {
            self.negative += v;
            self.strongest_negative = self.strongest_negative.min(v);
            self.negative_words.push(word);
        } else if v > 0.0 {
            self.positive += v;
            self.positive_words.push(word);
        }
    }

    /// An emoji or emoticon: a feeling, never a problem event.
    pub(super) fn add_symbol(&mut self, v: f32, symbol: &str) {
        if v > 0.0 {
            self.symbol_warmth += v;
        }
        self.add_valence(v, symbol);
        self.feeling += v.min(0.0);
    }
}

/// Reads `text` with `lexicon`.
pub fn read(lexicon: &Lexicon, text: &str) -> Signals {
    let mut s = Signals::default();
    let mut buffer = String::with_capacity(text.len() + 8);
    let words = tokenize(lexicon, text, &mut buffer, &mut s);
    Reader::new(&buffer, &words).run(lexicon, &mut s);
    s
}

/// The scopes the reading loop carries from word to word.
struct Reader<'a> {
    buffer: &'a str,
    words: &'a [Word],
    negated_for: u8,
    hypothetical_for: u8,
    intensity: f32,
    contrast_seen: bool,
    /// The clause began with "will", "is", "can"...
    possibility: bool,
    /// (index, valence, ironic when next to a problem) of the last positive word.
    last_positive: Option<(usize, f32, bool)>,
    /// Praise bait not yet read as sarcasm.
    bait: f32,
    /// Valence of the problems not yet put right.
    problem_valence: f32,
    /// Words left in which a problem is the one just put right ("solved the problem").
    resolved_for: u8,
    /// The message marks itself ironic.
    irony: bool,
}

impl<'a> Reader<'a> {
    fn new(buffer: &'a str, words: &'a [Word]) -> Self {
        Reader {
            buffer,
            words,
            negated_for: 0,
            hypothetical_for: 0,
            intensity: 1.0,
            contrast_seen: false,
            possibility: false,
            last_positive: None,
            bait: 0.0,
            problem_valence: 0.0,
            resolved_for: 0,
            irony: false,
        }
    }

    fn text(&self, w: &Word) -> &'a str {
        &self.buffer[w.start as usize..w.end as usize]
    }

    /// Scopes shrink with every word and end at a clause boundary.
    fn step(&mut self, w: &Word, entry: Option<&Entry>) {
        let f = entry.map_or(0, |e| e.flags);
        if f & flag::NEGATOR != 0 {
            self.negated_for = 4;
        } else {
            self.negated_for = self.negated_for.saturating_sub(1);
        }
        self.hypothetical_for = if f & flag::HYPOTHETICAL != 0 { 4 } else { self.hypothetical_for.saturating_sub(1) };
        self.resolved_for = if f & flag::RESOLVED != 0 { 3 } else { self.resolved_for.saturating_sub(1) };
        self.intensity = if f & flag::INTENSIFIER != 0 {
            1.4
        } else if f & flag::DIMINISHER != 0 {
            0.6
        } else {
            1.0
        };
        if w.boundary != 0 {
            self.negated_for = 0;
            self.hypothetical_for = 0;
        }
    }

    fn run(mut self, lexicon: &Lexicon, s: &mut Signals) {
        let words = self.words;
        let all_caps = words.iter().all(|w| w.shouted);
        s.words = words.len() as u32;
        let shouted = words.iter().filter(|w| w.shouted).count();
        s.shouting = shouted >= 3 && shouted * 2 >= words.len();
        let mut phrase = String::new();
        let mut skip_next = false;
        for (i, w) in words.iter().enumerate() {
            if skip_next {
                skip_next = false;
                continue;
            }
            let clause_start = i == 0 || words[i - 1].boundary != 0;
            if clause_start {
                self.possibility = w.entry.has(flag::POSSIBILITY);
            }
            let text_word = self.text(w);
            let mut entry = w.entry.lexical.then_some(w.entry);
            let mut matched: &str = text_word;
            if let Some(next) = words.get(i + 1).filter(|_| w.entry.phrase_start && w.boundary == 0)
                && let Some(p) = lexicon.phrase(text_word, self.text(next))
            {
                phrase.clear();
                phrase.push_str(text_word);
                phrase.push(' ');
                phrase.push_str(self.text(next));
                entry = Some(p);
                matched = phrase.as_str();
                skip_next = true;
            }
            // "Is there a way...", but not "Is the best!".
            if i == 0 && entry.is_some_and(|e| e.has(flag::QUESTION_OPENER)) {
                let first_clause_end = words.iter().find(|w| w.boundary != 0).map_or(0, |w| w.boundary);
                s.opens_with_question = !matches!(first_clause_end, b'!' | b'.');
            }
            let entry = entry.or_else(|| if w.hashtag { Lexicon::hashtag(text_word) } else { None });
            let Some(entry) = entry else {
                // Out-of-lexicon words use up negation scope.
                self.step(w, None);
                continue;
            };
            let w = if skip_next { &words[i + 1] } else { w };
            self.read_word(i, w, &entry, matched, all_caps, s);
            self.step(w, Some(&entry));
        }
        self.finish(s);
    }

    fn read_word(&mut self, i: usize, w: &Word, entry: &Entry, matched: &str, all_caps: bool, s: &mut Signals) {
        let f = entry.flags;
        // "#sarcasm", "#not", and praise in "scare quotes" say the praise is meant the other way.
        if (w.hashtag && matches!(matched, "sarcasm" | "not" | "irony"))
            || (w.quoted && (entry.valence > 0.0 || f & (flag::POLITE | flag::FUNCTION) != 0))
        {
            self.irony = true;
        }
        for bit in [flag::OUTAGE, flag::CHURN, flag::LEGAL_SAFETY, flag::PRESS, flag::VIRAL] {
            if f & bit != 0 {
                s.triggers.push((bit, matched.to_owned()));
            }
        }
        if f & flag::SPAM != 0 {
            s.spam += 1;
        }
        if f & flag::FEEDBACK != 0 {
            s.feedback = true;
        }
        s.suggestion |= f & flag::SUGGESTION != 0;
        // "help me" asks; "thanks for your help" does not.
        if f & flag::REQUEST != 0 && !(i > 0 && matches!(self.text(&self.words[i - 1]), "your" | "ur" | "the" | "for"))
        {
            s.request = true;
        }
        if f & flag::CONTRAST != 0 {
            // "nice crew but 3 hours late": what follows the "but" counts more.
            self.contrast_seen = true;
            s.contrast = true;
            s.positive *= 0.4;
            s.polite *= 0.4;
            s.negative *= 0.6;
            s.feeling *= 0.6;
            self.bait *= 0.4;
            self.problem_valence *= 0.6;
        }
        let asked = w.in_question && self.possibility;
        let negated = self.negated_for > 0 && f & flag::NEGATOR == 0;
        let mut v = entry.valence;
        let mut problem = f & flag::PROBLEM != 0;
        // "doesn't work", "never arrived", "won't load": what it is for, failing; and
        // wished for ("would be nice if it worked", "would love a reply"), not happening.
        if f & flag::FUNCTION != 0 && (negated || self.hypothetical_for > 0) {
            v = FUNCTION_FAILED;
            problem = true;
        }
        if v == 0.0 {
            return;
        }
        v *= self.intensity;
        if w.shouted && !all_caps {
            v *= 1.3;
        }
        if w.hashtag {
            v *= 1.2;
        }
        if self.contrast_seen {
            v *= 1.2;
        }
        if self.hypothetical_for > 0 && v > 0.0 {
            v *= 0.2;
            s.hypothetical_praise |= f & flag::POLITE == 0;
        }
        // "could not have been more helpful" is praise.
        let comparative = i > 0 && self.text(&self.words[i - 1]) == "more";
        if negated && f & flag::FUNCTION == 0 && !comparative {
            // "not happy" is negative; "not my problem", "no delays" are not praise. A
            // negation reaches blame only close by: "no refund for my broken tv" is broken.
            if v > 0.0 {
                s.negated_praise |= f & flag::POLITE == 0;
                v = -v * 0.9;
                problem = false;
            } else if self.negated_for >= NEGATION_REACH_FOR_BLAME {
                v = 0.0;
            }
        }
        if problem && v < 0.0 && self.resolved_for > 0 {
            // "solved the problem": the problem named is the one put right.
            v *= RESOLVED_WEIGHT;
            problem = false;
        }
        // An outage asked about is usually one the customer is in ("is the site down?").
        if problem && v < 0.0 && asked && f & flag::OUTAGE == 0 {
            v *= ASKED_WEIGHT;
            s.asked_problems += 1;
            problem = false;
        }
        if f & flag::RESOLVED != 0 && v > 0.0 && !w.in_question {
            // What went wrong before "fixed" is over.
            s.negative -= self.problem_valence * (1.0 - RESOLVED_WEIGHT);
            self.problem_valence = 0.0;
            s.resolved += s.problems;
            s.problems = 0;
            s.serious_problems = 0;
        }
        if f & flag::POLITE != 0 && v > 0.0 {
            s.thanks_for |=
                self.words.get(i + 1 + usize::from(matched.contains(' '))).is_some_and(|next| self.text(next) == "for");
            s.polite += v;
            if s.polite_word.is_empty() {
                s.polite_word = matched.to_owned();
            }
        } else {
            s.add_valence(v, matched);
            if v < 0.0 && !problem && f & flag::NEGATOR == 0 {
                s.feeling += v;
            }
        }
        if problem && v < 0.0 {
            s.problems += 1;
            s.serious_problems += u32::from(v <= SERIOUS_PROBLEM);
            self.problem_valence += v;
        }
        // Only a problem event ("delay", "tarmac"; not "again") turns praise into sarcasm.
        if problem && v <= -0.6 && !matches!(matched, "again" | "still" | "yet") {
            // "great, another delay", "love sitting on the tarmac": a positive word right
            // before a problem is sarcasm.
            if let Some((at, positive, bait)) = self.last_positive
                && bait
                && i - at <= 4
            {
                s.sarcasm = true;
                s.positive -= positive;
                s.negative -= positive;
                s.feeling -= positive;
                self.bait = (self.bait - positive).max(0.0);
                self.last_positive = None;
            }
        }
        if v > 0.0 {
            let bait = f & flag::SARCASM_BAIT != 0;
            self.last_positive = Some((i, v, bait));
            if bait && f & flag::POLITE == 0 {
                self.bait += v;
            }
        }
    }

    fn finish(self, s: &mut Signals) {
        s.unresolved = self.problem_valence;
        if self.irony && s.positive + s.polite > 0.0 {
            s.sarcasm = true;
            s.negative -= s.positive + s.polite;
            s.positive = 0.0;
            s.polite = 0.0;
        }
        // "...still not helping with my billing issue. Great service!!!": praise beside
        // problems that nothing put right is irony, wherever it stands.
        if !s.sarcasm && self.problem_valence <= SARCASM_PROBLEM && self.bait > 0.0 {
            s.sarcasm = true;
            s.positive -= self.bait;
            s.negative -= self.bait;
            s.feeling -= self.bait;
        }
        s.positive = s.positive.max(0.0);
        s.only_symbols = s.symbol_warmth > 0.0 && s.positive <= s.symbol_warmth && s.polite == 0.0;
        // Thanks after a problem is politeness (or sarcasm), and thanks with a question
        // or a request is manners: neither is praise.
        let asks = s.question_mark || s.request;
        if s.problems == 0 && s.negative > -0.5 && s.polite > 0.0 && !asks {
            s.only_thanks = s.positive == 0.0;
            s.positive += s.polite;
            let polite = std::mem::take(&mut s.polite_word);
            s.positive_words.push(&polite);
        }
        if s.exclamations >= 2 {
            let boost = 1.0 + 0.1 * s.exclamations.min(4) as f32;
            if -s.negative > s.positive {
                s.negative *= boost;
            } else {
                s.positive *= boost;
            }
        }
    }
}
