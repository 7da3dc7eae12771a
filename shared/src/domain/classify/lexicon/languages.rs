//! Function words of a few languages, for telling English (which the word lists are
//! written in) from the rest.

/// Common words of a few languages, for language detection. English ones include the words
/// a short care message is built from.
pub const ENGLISH: &[&str] = &[
    "the", "a", "an", "to", "and", "of", "in", "on", "for", "is", "my", "i", "you", "your", "it", "this", "that",
    "with", "be", "was", "are", "me", "we", "at", "have", "not", "but", "just", "can", "from", "will", "get", "flight",
    "what", "why", "how", "when", "thanks", "please", "no", "do", "so", "all", "our", "they", "been", "had", "has",
    "there", "would", "again", "still", "now", "an", "if", "or", "as", "by", "up", "out", "about", "im", "i'm",
    "don't", "its", "it's", "help", "any", "service", "time", "one", "day", "today", "hours", "customer", "back",
    "never", "need",
];
pub const SPANISH: &[&str] = &[
    "el", "la", "los", "las", "que", "de", "y", "en", "un", "una", "es", "por", "para", "con", "mi", "pero", "muy",
    "del", "se", "lo", "como", "más", "gracias", "vuelo", "no", "hola", "ayuda", "está", "estoy",
];
pub const FRENCH: &[&str] = &[
    "le", "la", "les", "de", "des", "et", "est", "un", "une", "je", "pour", "pas", "que", "qui", "dans", "sur", "mon",
    "avec", "merci", "vol", "très", "mais", "vous", "nous", "bonjour", "aide",
];
pub const GERMAN: &[&str] = &[
    "der", "die", "das", "und", "ist", "ich", "nicht", "mit", "ein", "eine", "zu", "den", "von", "auf", "für", "mein",
    "sie", "es", "danke", "flug", "bitte", "aber", "sehr", "hallo", "hilfe",
];
pub const PORTUGUESE: &[&str] = &[
    "o", "os", "as", "de", "e", "em", "um", "uma", "que", "não", "para", "com", "meu", "minha", "voo", "obrigado",
    "muito", "mas", "por", "olá", "ajuda",
];
