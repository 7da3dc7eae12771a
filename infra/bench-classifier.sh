#!/usr/bin/env bash
# Runs the same labelled file through Hark's default classifier and through Python's
# vaderSentiment, on the same core, and prints both rates and the ratio. The two take
# turns, three rounds, and each reports its median round: a noisy neighbour on a shared
# machine then slows both rather than one.
#   bash infra/bench-classifier.sh [FILE]     (default: ../shared/data/airline-dev.jsonl)
set -euo pipefail
cd "$(dirname "$0")/.."
file="${1:-../shared/data/airline-dev.jsonl}"
bash infra/venv.sh
cargo build --release --locked -p hark-cli >&2
rounds=()
for _ in 1 2 3; do
  rounds+=("$(taskset -c 0 target/release/hark bench "$file" --repeat 200)")
  rounds+=("$(taskset -c 0 .venv/bin/python infra/vader_bench.py "$file" 3)")
done
python3 - "${rounds[@]}" <<'PY'
import json, statistics, sys
runs = [json.loads(r) for r in sys.argv[1:]]
def median(name):
    mine = sorted((r for r in runs if r["classifier"].startswith(name)), key=lambda r: r["us_per_message"])
    return mine[len(mine) // 2]
hark, vader = median("hark"), median("vader")
for r in (hark, vader):
    print(f"{r['classifier']:<22} {r['us_per_message']:8.2f} us/message  {r['messages_per_second']:>12,.0f} messages/s  ({r['messages']} messages, median of 3 rounds)")
print(f"hark is {vader['us_per_message'] / hark['us_per_message']:.0f}x faster")
PY
target/release/hark eval "$file" | sed -n 1,2p
