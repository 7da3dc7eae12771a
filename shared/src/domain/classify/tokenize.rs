//! Splits a message into lower-cased words, leaving @mentions and links out and scoring
//! emoji and emoticons on the way. One pass over the bytes for ASCII text, which is most
//! of it.

use super::lexicon::{Entry, FNV_START, Lexicon, fnv_step};
use super::signals::Signals;

/// One word of the message, lower-cased into a shared buffer.
#[derive(Debug, Clone, Copy)]
pub struct Word {
    pub start: u32,
    pub end: u32,
    pub entry: Entry,
    pub shouted: bool,
    pub hashtag: bool,
    /// The punctuation that ends the word's clause right after it (`?` when the run holds
    /// one), or 0: a boundary ends negation scope.
    pub boundary: u8,
    /// The clause the word is in ends with a question mark.
    pub in_question: bool,
    /// In double quotes: praise in "scare quotes" is irony.
    pub quoted: bool,
}

const BOUNDARIES: &[u8] = b".,!?;:";

/// What an ASCII byte is, looked up once per byte of the hot loop.
const UPPER: u8 = 1;
const LOWER: u8 = 2;
const DIGIT: u8 = 4;
/// Part of a word: a letter, a digit or an apostrophe.
const WORD: u8 = 8;
const CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = if c.is_ascii_uppercase() {
            UPPER | WORD
        } else if c.is_ascii_lowercase() {
            LOWER | WORD
        } else if c.is_ascii_digit() {
            DIGIT | WORD
        } else if c == b'\'' {
            WORD
        } else {
            0
        };
        b += 1;
    }
    table
};

/// The punctuation run starting at `bytes[at..]`, read as one boundary.
fn boundary_at(bytes: &[u8]) -> u8 {
    let run = bytes.iter().take_while(|b| BOUNDARIES.contains(b) || **b == b'\'' || **b == b'"' || **b == b')');
    let mut first = 0;
    for b in run {
        if *b == b'?' {
            return b'?';
        }
        if first == 0 && BOUNDARIES.contains(b) {
            first = *b;
        }
    }
    first
}

pub fn tokenize(lexicon: &Lexicon, text: &str, buffer: &mut String, signals: &mut Signals) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::with_capacity(32);
    let ascii = text.is_ascii();
    let raws: &mut dyn Iterator<Item = &str> =
        if ascii { &mut text.split_ascii_whitespace() } else { &mut text.split_whitespace() };
    for raw in raws {
        match raw.as_bytes()[0] {
            b'@' => continue,
            b'h' | b'w' if raw.starts_with("http://") || raw.starts_with("https://") || raw.starts_with("www.") => {
                signals.urls += 1;
                continue;
            }
            _ => {}
        }
        if raw.len() <= 4 && !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            let mut lower = [0u8; 4];
            for (l, b) in lower.iter_mut().zip(raw.bytes()) {
                *l = b.to_ascii_lowercase();
            }
            if let Ok(lower) = std::str::from_utf8(&lower[..raw.len()])
                && let Some(v) = lexicon.emoticon(lower)
            {
                signals.add_symbol(v, raw);
                continue;
            }
        }
        // "thanks ?" or "delayed !!": punctuation on its own ends the word before it.
        if !raw.as_bytes()[0].is_ascii_alphanumeric()
            && !raw.bytes().any(|b| b.is_ascii_alphanumeric())
            && let Some(last) = words.last_mut()
            && last.boundary == 0
        {
            last.boundary = boundary_at(raw.as_bytes());
        }
        let hashtag = raw.starts_with('#');
        if ascii || raw.is_ascii() {
            let bytes = raw.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if !bytes[i].is_ascii_alphanumeric() {
                    match bytes[i] {
                        b'!' => signals.exclamations += 1,
                        b'?' => signals.question_mark = true,
                        b'@' => signals.privacy_hints.at_sign = true,
                        _ => {}
                    }
                    i += 1;
                    continue;
                }
                // One pass: the word's extent, its letters' case and digits, and its key.
                let start = buffer.len();
                let (mut upper, mut lower, mut digits) = (0usize, 0usize, 0u32);
                let mut key = FNV_START;
                let mut j = i;
                while let Some(&b) = bytes.get(j) {
                    let class = CLASS[usize::from(b)];
                    if class & WORD == 0 {
                        break;
                    }
                    upper += usize::from(class & UPPER != 0);
                    lower += usize::from(class & LOWER != 0);
                    digits += u32::from(class & DIGIT != 0);
                    key = fnv_step(key, b | if class & UPPER != 0 { 0x20 } else { 0 });
                    j += 1;
                }
                signals.privacy_hints.digits += digits;
                buffer.push_str(&raw[i..j]);
                buffer[start..].make_ascii_lowercase();
                let quoted = (i > 0 && bytes[i - 1] == b'"') || bytes.get(j) == Some(&b'"');
                let word = Token {
                    start,
                    quoted,
                    entry: lexicon.by_key(key),
                    alphabetic: upper + lower > 0,
                    latin: true,
                    shouted: j - i >= 3 && lower == 0 && upper > 0,
                    hashtag,
                    boundary: boundary_at(&bytes[j..]),
                };
                word.push(buffer.len(), &mut words, signals);
                i = j;
            }
            continue;
        }
        signals.exclamations += raw.bytes().filter(|b| *b == b'!').count() as u32;
        signals.question_mark |= raw.contains('?');
        signals.privacy_hints.at_sign |= raw.contains('@');
        signals.privacy_hints.digits += raw.bytes().filter(u8::is_ascii_digit).count() as u32;
        let mut rest = raw;
        while !rest.is_empty() {
            let start = rest.find(|c: char| c.is_alphanumeric() || lexicon.is_emoji(c));
            let Some(start) = start else { break };
            rest = &rest[start..];
            let first = rest.chars().next().expect("non-empty");
            if let Some(v) = lexicon.emoji(first) {
                signals.add_symbol(v, &first.to_string());
                rest = &rest[first.len_utf8()..];
                continue;
            }
            let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’')).unwrap_or(rest.len());
            let piece = &rest[..end];
            rest = &rest[end..];
            let boundary = boundary_at(rest.as_bytes());
            let alphabetic = piece.chars().any(char::is_alphabetic);
            let shouted = piece.len() >= 3 && piece.chars().all(|c| !c.is_lowercase()) && alphabetic;
            let latin = piece.chars().all(|c| c.is_ascii() || ('\u{00c0}'..='\u{024f}').contains(&c));
            let start = buffer.len();
            for c in piece.chars() {
                match c {
                    '’' => buffer.push('\''),
                    c => buffer.extend(c.to_lowercase()),
                }
            }
            let entry = lexicon.word(&buffer[start..]);
            let before = &raw[..raw.len() - rest.len() - piece.len()];
            let quoted = rest.starts_with(['"', '”', '“']) || before.ends_with(['"', '“', '”']);
            Token { start, entry, alphabetic, latin, shouted, hashtag, boundary, quoted }.push(
                buffer.len(),
                &mut words,
                signals,
            );
        }
    }
    // Which clauses are questions: a clause runs to the next boundary.
    let mut in_question = false;
    for w in words.iter_mut().rev() {
        if w.boundary != 0 {
            in_question = w.boundary == b'?';
        }
        w.in_question = in_question;
    }
    words
}

/// A word as it is read, before it joins the message's words.
struct Token {
    /// Where it starts in the lower-cased buffer; it ends at the buffer's end.
    start: usize,
    entry: Entry,
    alphabetic: bool,
    latin: bool,
    shouted: bool,
    hashtag: bool,
    boundary: u8,
    quoted: bool,
}

impl Token {
    /// Records it: language counts, reference anchors.
    fn push(self, end: usize, words: &mut Vec<Word>, signals: &mut Signals) {
        if self.alphabetic {
            signals.language.count(self.entry.languages, self.entry.lexical, self.latin);
        }
        signals.privacy_hints.reference_anchor |= self.entry.anchor && !self.hashtag;
        words.push(Word {
            start: self.start as u32,
            end: end as u32,
            entry: self.entry,
            shouted: self.shouted,
            hashtag: self.hashtag,
            boundary: self.boundary,
            in_question: false,
            quoted: self.quoted,
        });
    }
}
