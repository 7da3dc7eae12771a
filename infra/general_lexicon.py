"""Writes shared/src/domain/classify/lexicon/general.tsv, the classifier's general
vocabulary, from the word list of vaderSentiment 3.3.2 (C.J. Hutto, MIT licence; the
notice is kept beside the file). Each word's valence is the mean of ten human ratings on
a -4..+4 scale, the scale Hark's own lists use.

Kept: single words (letters and apostrophes). Left out: emoticons and phrases (Hark reads
those itself), and the words below, which in customer care are names, addresses or
politeness rather than sentiment ("@united", "customer care", "help", "please").

    .venv/bin/python infra/general_lexicon.py
"""

import pathlib
import re

import vaderSentiment

NOT_SENTIMENT_IN_CARE = {
    # brands, places, codes and names that VADER reads as words
    "united", "spirit", "virgin", "delta", "frontier", "mia", "rob", "ill", "advantage",
    # the vocabulary of support itself
    "support", "care", "help", "please", "credit", "number", "solution", "priority",
    "chance", "promise", "important", "apology", "dear", "certainly", "sure", "kind",
    "save", "saved", "free", "gift", "reward", "rewards", "benefit", "benefits",
    "interest", "share", "fan", "join", "joined", "special", "matter", "true", "want",
    "hope", "like", "likes", "liked", "pretty", "well", "yes", "yeah", "yep", "ok",
    "okay", "god", "pray", "bless",
    # laughter: as often at the brand as with it
    "lol", "lmao", "lmfao", "rofl", "haha", "hahaha", "hah", "heh", "hehe", "jk", "xd",
    # slang whose VADER reading is the literal one
    "dead", "ass",
}

source = pathlib.Path(vaderSentiment.__file__).with_name("vader_lexicon.txt")
target = pathlib.Path(__file__).resolve().parent.parent / "shared/src/domain/classify/lexicon/general.tsv"
rows = []
for line in source.read_text(encoding="utf-8").splitlines():
    word, mean, *_ = line.split("\t")
    if re.fullmatch(r"[a-z][a-z']+", word) and word not in NOT_SENTIMENT_IN_CARE:
        rows.append(f"{word}\t{float(mean):.1f}")
target.write_text("\n".join(sorted(set(rows))) + "\n", encoding="utf-8")
print(f"{len(rows)} words written to {target}")
