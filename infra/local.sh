#!/usr/bin/env bash
# Runs Hark on this machine: installs the tooling and the local engines on first use, builds
# the function binaries and hark-local, then starts the local stack. Arguments go to
# hark-local: `bash infra/local.sh --help`.
#
# Local runs use the dev profile, the one the test command builds: after `bash infra/test.sh`
# there is nothing left to compile. The cold start bench (`bash infra/local.sh cold-start`)
# measures what Lambda runs, so it builds the release profile that `sam build` ships.
set -euo pipefail
cd "$(dirname "$0")/.."

bash infra/venv.sh
bash infra/engines.sh
if [[ "${1:-}" == "cold-start" ]]; then
  host=$(rustc -vV | sed -n 's/^host: //p')
  echo "Building the function binaries (release, as sam build does; the first build takes minutes)..." >&2
  cargo build --release --locked --target "$host" \
      -p hark-webhook -p hark-processor -p hark-escalator -p hark-outbox -p hark-listener -p hark-api -p hark-local
  exec "target/$host/release/hark-local" --bin-dir "target/$host/release" "$@"
fi
echo "Building the function binaries and hark-local (dev profile, shared with the test command)..." >&2
cargo build --workspace --bins --locked
exec target/debug/hark-local --bin-dir target/debug "$@"
