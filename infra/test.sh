#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the project's Python tooling into
# .venv/ and the local engines into .engines/ (infra/engines.sh), then formatting, lints,
# unit, handler, integration and end-to-end tests (against DynamoDB Local and LocalStack on
# loopback; the end-to-end tests run the function binaries through the local stack), a
# short fuzzing pass, and the SAM checks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash infra/venv.sh
bash infra/engines.sh
export PATH="$PWD/.venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0
# Tests only ever talk to loopback; make sure no ambient AWS profile leaks in.
unset AWS_PROFILE AWS_DEFAULT_PROFILE

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
# The end-to-end tests run the real function binaries behind the local stack.
cargo build --workspace --bins --locked
# One DynamoDB Local and one LocalStack for every test binary (each would start its own).
engines_env="target/test-engines.env"
rm -f "$engines_env"
target/debug/hark-local engines --dynamodb-port 0 --aws-port 0 > "$engines_env" &
engines_pid=$!
trap 'kill "$engines_pid" 2>/dev/null; wait "$engines_pid" 2>/dev/null' EXIT
for _ in $(seq 1 600); do
  [ "$(grep -c '^HARK_' "$engines_env" 2>/dev/null)" = 2 ] && break
  kill -0 "$engines_pid" 2>/dev/null || { echo "the local engines did not start" >&2; exit 1; }
  sleep 0.1
done
set -a
# shellcheck disable=SC1090
. "$engines_env"
set +a
cargo test --workspace --locked
echo "== fuzz smoke pass (infra/fuzz.sh; run longer by hand)"
bash infra/fuzz.sh 15
echo "== cfn-lint"
cfn-lint template.yaml
echo "== sam validate --lint"
sam validate --lint
echo "== sam build"
sam build
