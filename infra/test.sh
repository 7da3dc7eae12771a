#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the project's Python tooling
# into .venv/, then formatting, lints, unit, handler, integration and end-to-end tests
# (against a moto server the tests start on loopback; the end-to-end tests run the
# function binaries through the local stack), a short fuzzing pass, and the SAM checks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash infra/venv.sh
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
cargo test --workspace --locked
echo "== fuzz smoke pass (infra/fuzz.sh; run longer by hand)"
bash infra/fuzz.sh 15
echo "== cfn-lint"
cfn-lint template.yaml
echo "== sam validate --lint"
sam validate --lint
echo "== sam build"
sam build
