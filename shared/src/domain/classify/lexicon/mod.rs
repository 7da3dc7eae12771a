//! The word lists, and the one map built from them at cold start that answers, per word,
//! everything the rules ask.
//!
//! Two layers: the care lists (`care.rs`, `phrases.rs`), written for customer care, and
//! behind them a general vocabulary (`general.tsv`, from vaderSentiment's human-rated word
//! list, MIT) for the words care lists do not name. A general word never overrides a care
//! word, and its praise counts for less than its blame: in care, an unknown positive word
//! next to a complaint is more often irony than praise.

mod care;
mod languages;
mod phrases;
mod symbols;

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

pub use care::WORDS;
pub use languages::{ENGLISH, FRENCH, GERMAN, PORTUGUESE, SPANISH};
pub use phrases::{HASHTAG_PARTS, PHRASES};
pub use symbols::{EMOJI, EMOTICONS};

use super::ClassifierConfig;

/// What a word or phrase does besides carrying a valence.
pub mod flag {
    pub const NEGATOR: u32 = 1;
    pub const INTENSIFIER: u32 = 1 << 1;
    pub const DIMINISHER: u32 = 1 << 2;
    /// Thanks, please: positive only when nothing is wrong and nothing is asked.
    pub const POLITE: u32 = 1 << 3;
    /// Something went wrong (an event, not a feeling): the core of a complaint.
    pub const PROBLEM: u32 = 1 << 4;
    pub const QUESTION_OPENER: u32 = 1 << 5;
    /// "but", "however": what follows outweighs what came before.
    pub const CONTRAST: u32 = 1 << 6;
    pub const FEEDBACK: u32 = 1 << 7;
    pub const SPAM: u32 = 1 << 8;
    pub const OUTAGE: u32 = 1 << 9;
    pub const CHURN: u32 = 1 << 10;
    pub const LEGAL_SAFETY: u32 = 1 << 11;
    pub const PRESS: u32 = 1 << 12;
    pub const VIRAL: u32 = 1 << 13;
    /// Ironic when it meets a problem: "thanks for nothing", "great, another delay".
    pub const SARCASM_BAIT: u32 = 1 << 14;
    /// A request for help: a support question even without a question mark.
    pub const REQUEST: u32 = 1 << 15;
    /// "would be nice", "if you want to be helpful": praise that has not happened.
    pub const HYPOTHETICAL: u32 = 1 << 16;
    /// What a product or service is for ("work", "arrive", "load"): negated, a problem.
    pub const FUNCTION: u32 = 1 << 17;
    /// A problem put right ("solved", "fixed", "back on"): what went wrong before it is over.
    pub const RESOLVED: u32 = 1 << 18;
    /// Opens a question about what may happen ("will", "is", "can"): problem words inside
    /// it are asked about, not reported ("will my flight be cancelled?").
    pub const POSSIBILITY: u32 = 1 << 19;
    /// From the general vocabulary, not the care lists.
    pub const GENERAL: u32 = 1 << 20;
    /// Names a suggestion ("idea", "feature", "please add"), where other feedback cues only
    /// imply one ("you should", "would love"): only a named one is thanked as feedback.
    pub const SUGGESTION: u32 = 1 << 21;
}

/// How much a general-vocabulary word counts next to a care word of the same rating.
const GENERAL_NEGATIVE_WEIGHT: f32 = 1.0;
const GENERAL_POSITIVE_WEIGHT: f32 = 0.2;

/// The general vocabulary: `word<TAB>valence` lines (see general-LICENSE.txt).
const GENERAL: &str = include_str!("general.tsv");

pub const LANG_EN: u8 = 1;
pub const LANG_ES: u8 = 2;
pub const LANG_FR: u8 = 4;
pub const LANG_DE: u8 = 8;
pub const LANG_PT: u8 = 16;

/// What the lexicon knows about a word: one lookup per word answers every question.
#[derive(Debug, Clone, Copy, Default)]
pub struct Entry {
    pub valence: f32,
    pub flags: u32,
    /// In the sentiment and cue lists (not only a function word or an anchor).
    pub lexical: bool,
    /// Bit per language whose function words include it.
    pub languages: u8,
    /// Introduces an account or booking reference.
    pub anchor: bool,
    /// Some phrase starts with it: only then is the next word looked up with it.
    pub phrase_start: bool,
}

impl Entry {
    pub fn lexical(valence: f32, flags: u32) -> Self {
        Entry { valence, flags, lexical: true, ..Entry::default() }
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }
}

/// `needle` (three bytes or more) in `haystack`: compares three bytes as one integer
/// before anything else, as hashtags are read with every part of [`HASHTAG_PARTS`].
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let three = |b: &[u8]| u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
    if needle.len() < 3 || haystack.len() < needle.len() {
        return needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle);
    }
    let head = three(needle);
    (0..=haystack.len() - needle.len())
        .any(|i| three(&haystack[i..]) == head && haystack[i + 3..i + needle.len()] == needle[3..])
}

/// FNV-1a, continuing from `h`: the lexicon is read once per word of every message.
const fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h = (h ^ bytes[i] as u64).wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// One byte more of a key being hashed while a word is read.
#[inline]
pub fn fnv_step(h: u64, byte: u8) -> u64 {
    (h ^ byte as u64).wrapping_mul(0x0100_0000_01b3)
}

/// The key of a word: its 64-bit hash. Looking a word up hashes it once and compares
/// integers, not strings (two of the lexicon's words sharing a hash would be caught at
/// build time; an unknown word taking a known word's hash is a 1-in-2^50 event).
fn key(word: &str) -> u64 {
    fnv(FNV_START, word.as_bytes())
}

/// The key of the phrase "first second", without building the string.
pub fn phrase_key(first: &str, second: &str) -> u64 {
    fnv(fnv(fnv(FNV_START, first.as_bytes()), b" "), second.as_bytes())
}

/// Passes the keys' own hash through.
#[derive(Default)]
pub struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv(if self.0 == 0 { FNV_START } else { self.0 }, bytes);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Map<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// Every list merged into lookups, built once per classifier.
pub struct Lexicon {
    words: Map<u64, Entry>,
    phrases: Map<u64, Entry>,
    emoticons: Map<&'static str, f32>,
    emoji: Map<char, f32>,
}

impl Lexicon {
    pub fn new(config: &ClassifierConfig) -> Self {
        let mut words: Map<u64, Entry> = Map::default();
        for (word, valence, flags) in WORDS {
            words.insert(key(word), Entry::lexical(*valence, *flags));
        }
        for line in GENERAL.lines() {
            let Some((word, valence)) = line.split_once('\t') else { continue };
            let Ok(valence) = valence.parse::<f32>() else { continue };
            let entry = words.entry(key(word)).or_default();
            if !entry.lexical {
                let weight = if valence < 0.0 { GENERAL_NEGATIVE_WEIGHT } else { GENERAL_POSITIVE_WEIGHT };
                *entry = Entry { valence: valence * weight, flags: flag::GENERAL, lexical: true, ..*entry };
            }
        }
        for (word, valence) in &config.words {
            let entry = words.entry(key(&word.to_lowercase())).or_default();
            entry.lexical = true;
            entry.valence = valence.clamp(-4.0, 4.0);
            entry.flags &= !flag::GENERAL;
            if *valence < 0.0 {
                entry.flags |= flag::PROBLEM;
            }
        }
        for term in &config.brand_terms {
            words.insert(key(&term.trim_start_matches(['@', '#']).to_lowercase()), Entry::lexical(0.0, 0));
        }
        let mut phrases: Map<u64, Entry> = Map::default();
        for (phrase, valence, flags) in PHRASES {
            let (first, second) = phrase.split_once(' ').expect("a phrase has two words");
            phrases.insert(phrase_key(first, second), Entry::lexical(*valence, *flags));
            words.entry(key(first)).or_default().phrase_start = true;
        }
        for (list, bit) in
            [(ENGLISH, LANG_EN), (SPANISH, LANG_ES), (FRENCH, LANG_FR), (GERMAN, LANG_DE), (PORTUGUESE, LANG_PT)]
        {
            for word in list {
                words.entry(key(word)).or_default().languages |= bit;
            }
        }
        for anchor in &config.references.anchors {
            words.entry(key(&anchor.to_lowercase())).or_default().anchor = true;
        }
        Lexicon {
            words,
            phrases,
            emoticons: EMOTICONS.iter().copied().collect(),
            emoji: EMOJI.iter().copied().collect(),
        }
    }

    pub fn word(&self, word: &str) -> Entry {
        self.by_key(key(word))
    }

    /// A word by its key, hashed by the caller while it read the word ([`fnv_step`]).
    pub fn by_key(&self, key: u64) -> Entry {
        self.words.get(&key).copied().unwrap_or_default()
    }

    pub fn phrase(&self, first: &str, second: &str) -> Option<Entry> {
        self.phrases.get(&phrase_key(first, second)).copied()
    }

    pub fn emoticon(&self, token: &str) -> Option<f32> {
        self.emoticons.get(token).copied()
    }

    pub fn emoji(&self, c: char) -> Option<f32> {
        self.emoji.get(&c).copied()
    }

    pub fn is_emoji(&self, c: char) -> bool {
        self.emoji.contains_key(&c)
    }

    /// A run-together hashtag read through the pieces it contains (#jetbluefail, #nothappy).
    pub fn hashtag(word: &str) -> Option<Entry> {
        let negated = word.starts_with("not") || word.starts_with("no");
        let bytes = word.as_bytes();
        let (part, valence) = HASHTAG_PARTS.iter().find(|(part, _)| contains(bytes, part.as_bytes()))?;
        let flags = if *valence < 0.0 { flag::PROBLEM } else { flag::SARCASM_BAIT };
        // #notimpressed, #nolove: the piece is praise, the tag is not.
        let valence = if negated && *valence > 0.0 && !part.starts_with("no") { -valence } else { *valence };
        Some(Entry::lexical(valence, flags))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn every_listed_word_and_phrase_has_a_key_of_its_own() {
        let general = GENERAL.lines().filter_map(|line| line.split_once('\t')).map(|(word, _)| word);
        let mut seen: HashMap<u64, &str> = HashMap::new();
        let words = WORDS.iter().map(|w| w.0).chain(general).chain(ENGLISH.iter().copied());
        for word in words.chain(PHRASES.iter().map(|p| p.0)) {
            let key = match word.split_once(' ') {
                Some((first, second)) => phrase_key(first, second),
                None => key(word),
            };
            if let Some(other) = seen.insert(key, word) {
                assert_eq!(other, word, "{other:?} and {word:?} share a key");
            }
        }
    }

    #[test]
    fn no_care_word_or_phrase_is_listed_twice() {
        for list in [WORDS, PHRASES] {
            let mut names: Vec<&str> = list.iter().map(|w| w.0).collect();
            names.sort_unstable();
            let twice: Vec<_> = names.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
            assert!(twice.is_empty(), "listed twice: {twice:?}");
        }
    }

    #[test]
    fn care_words_outrank_the_general_vocabulary() {
        let lexicon = Lexicon::new(&ClassifierConfig::default());
        // VADER rates "help" +1.7 and "delay" is a care word; "abysmal" comes from both.
        assert_eq!(lexicon.word("help").valence, 0.0);
        assert!(lexicon.word("delayed").has(flag::PROBLEM));
        let general = lexicon.word("abandon");
        assert!(general.has(flag::GENERAL) && general.valence < -1.0, "{general:?}");
        // General praise counts for less than its rating.
        let praise = lexicon.word("adorable");
        assert!(praise.has(flag::GENERAL) && praise.valence > 0.0 && praise.valence < 1.0, "{praise:?}");
        assert_eq!(lexicon.word("united").valence, 0.0, "an airline, not a feeling");
        assert!(GENERAL.lines().count() > 7000);
    }

    #[test]
    fn hashtags_are_read_through_their_pieces() {
        assert!(Lexicon::hashtag("jetbluefail").unwrap().valence < 0.0);
        assert!(Lexicon::hashtag("nothappy").unwrap().valence < 0.0);
        assert!(Lexicon::hashtag("notimpressed").unwrap().valence < 0.0);
        assert!(Lexicon::hashtag("happyholidays").unwrap().valence > 0.0);
        assert!(Lexicon::hashtag("travel").is_none());
        assert!(contains(b"abcdef", b"cde") && !contains(b"abcdef", b"cdx") && !contains(b"ab", b"abc"));
    }
}
