#!/usr/bin/env bash
# Runs Hark on this machine: creates the Python virtualenv (moto) on first use, builds the
# function binaries in release mode (as `sam build` does) and hark-local, then starts the
# local stack. Arguments go to hark-local: `bash infra/local.sh --help`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash infra/venv.sh
host=$(rustc -vV | sed -n 's/^host: //p')
echo "Building the function binaries and hark-local (release; the first build takes minutes)..." >&2
cargo build --release --locked --target "$host" \
    -p hark-webhook -p hark-processor -p hark-escalator -p hark-outbox -p hark-local
exec "target/$host/release/hark-local" --bin-dir "target/$host/release" "$@"
