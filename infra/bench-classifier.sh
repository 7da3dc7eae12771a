#!/usr/bin/env bash
# Runs the same labelled file through Hark's default classifier and through Python's
# vaderSentiment, one core each, and prints both rates and the ratio.
#   bash infra/bench-classifier.sh [FILE]     (default: ../shared/data/airline-dev.jsonl)
set -euo pipefail
cd "$(dirname "$0")/.."
file="${1:-../shared/data/airline-dev.jsonl}"
bash infra/venv.sh
cargo build --release --locked -p hark-cli >&2
hark=$(taskset -c 0 target/release/hark bench "$file" --repeat 200)
vader=$(taskset -c 0 .venv/bin/python infra/vader_bench.py "$file" 3)
python3 - "$hark" "$vader" <<'PY'
import json, sys
hark, vader = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for r in (hark, vader):
    print(f"{r['classifier']:<22} {r['us_per_message']:8.2f} us/message  {r['messages_per_second']:>12,.0f} messages/s  ({r['messages']} messages)")
print(f"hark is {vader['us_per_message'] / hark['us_per_message']:.0f}x faster")
PY
target/release/hark eval "$file" | sed -n 1,2p
