#!/usr/bin/env bash
# Coverage-guided fuzzing of the webhook edge and the classifier: the X signature check,
# the CRC token check, X's, Meta's, LinkedIn's and signed sources' delivery parsers and
# normalisers (LinkedIn's challenge and signature readings too), the listener's X search and
# Mastodon parsers with the cursors they move, the help desks' answers (Zendesk's events,
# Freshdesk's rule bodies), the API's request bodies, queries and cursors, and the classifier
# on any text (fuzz/fuzz_targets/). libFuzzer comes from the libfuzzer-sys
# crate; the targets are built on the stable toolchain with LLVM's SanitizerCoverage, as
# cargo-fuzz builds them, into target/fuzz. Each target runs for the given time from its
# seeds (fuzz/seeds/) plus what earlier runs found (target/fuzz/corpus/).
#
# Usage: bash infra/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 60 s, every target)
# Prints executions and crashes per target; exits non-zero if any target crashed (the input
# that did it is kept in target/fuzz/artifacts/<target>/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(x_verify x_crc x_normalise meta_normalise linkedin generic listening classify helpdesk_answers api_requests)
fi

host=$(rustc -vV | sed -n 's/^host: //p')
# Instrument only the fuzzed code: --target keeps RUSTFLAGS off build scripts and proc macros.
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
work="$PWD/target/fuzz"
echo "Building the fuzz targets (instrumented, release)..." >&2
cargo build --manifest-path fuzz/Cargo.toml --release --locked --target "$host" --target-dir "$work" --bins

failed=0
printf '%-14s %14s %10s %8s %s\n' target executions exec/s crashes seconds
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  artifacts="$work/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  log="$work/$target.log"
  status=0
  "$work/$host/release/$target" "$corpus" "fuzz/seeds/$target" \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  crashes=0
  if [ "$status" -ne 0 ]; then
    crashes=1
    failed=1
    echo "--- $target crashed; its log: $log" >&2
    tail -n 30 "$log" >&2
  fi
  printf '%-14s %14s %10s %8s %s\n' "$target" "${runs:-?}" "${rate:-?}" "$crashes" "$seconds"
done
exit "$failed"
