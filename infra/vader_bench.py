"""Runs a JSON-lines file through vaderSentiment (compound >= 0.05 positive, <= -0.05
negative, as its authors recommend) on one core and prints the rate as one JSON line,
plus accuracy when the lines carry a "sentiment" label. Used by infra/bench-classifier.sh."""

import json
import sys
import time

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


def label(compound):
    if compound >= 0.05:
        return "positive"
    if compound <= -0.05:
        return "negative"
    return "neutral"


def main(path, repeat):
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    texts = [row["text"] for row in rows]
    analyzer = SentimentIntensityAnalyzer()
    predicted = [label(analyzer.polarity_scores(t)["compound"]) for t in texts]
    started = time.perf_counter()
    for _ in range(repeat):
        for text in texts:
            analyzer.polarity_scores(text)
    seconds = time.perf_counter() - started
    messages = len(texts) * repeat
    gold = [row.get("sentiment") for row in rows]
    right = sum(1 for g, p in zip(gold, predicted) if g == p)
    print(json.dumps({
        "classifier": "vaderSentiment 3.3.2",
        "messages": messages,
        "seconds": seconds,
        "us_per_message": seconds * 1e6 / messages,
        "messages_per_second": messages / seconds,
        "accuracy": right / len(rows) if all(gold) else None,
    }))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1)
