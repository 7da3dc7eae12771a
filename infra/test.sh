#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the project's Python tooling
# into .venv/, then formatting, lints, unit, handler and integration tests (against a
# moto server the tests start on loopback), and the SAM checks.
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
cargo test --workspace --locked
echo "== cfn-lint"
cfn-lint template.yaml
echo "== sam validate --lint"
sam validate --lint
echo "== sam build"
sam build
