#!/usr/bin/env bash
# Renders an HTML file (the care report) in headless Chromium and writes a PNG to look at.
#   bash infra/screenshot.sh [HTML] [PNG]
# Defaults: target/report-sample.html (written by the report test:
# cargo test -p hark-tests --test report_dynamodb) and target/report-sample.png.
# Chromium comes from Debian's packages (apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
html="${1:-target/report-sample.html}"
png="${2:-${html%.html}.png}"
[ -f "$html" ] || { echo "no $html: run cargo test -p hark-tests --test report_dynamodb first" >&2; exit 1; }
command -v chromium >/dev/null || { echo "chromium is not installed (apt-get install chromium)" >&2; exit 1; }
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
# No network: the report is self-contained, and Chromium's own background traffic is off.
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=900,1900 \
  --screenshot="$png" "file://$PWD/$html" 2>/dev/null
echo "$png"
