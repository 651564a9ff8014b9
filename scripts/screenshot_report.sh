#!/bin/sh
# Screenshot of a run's report in headless Chromium, to look at it without a desktop browser.
# Usage: scripts/screenshot_report.sh [REPORT_HTML] [OUTPUT_PNG] [HEIGHT]
#   defaults: ./home/reports/index.html (what `make run` writes), ./report.png, 3200 pixels.
# Needs Chromium: `apt-get install chromium` (Debian/Ubuntu) or CHROMIUM=/path/to/chrome.
set -eu
report=${1:-home/reports/index.html}
output=${2:-report.png}
height=${3:-3200}
chromium=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
[ -n "$chromium" ] || { echo "screenshot_report: error: no Chromium found (set CHROMIUM=...)" >&2; exit 2; }
[ -f "$report" ] || { echo "screenshot_report: error: $report does not exist (run \`colorization report\`)" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# No network, no first-run or background services: the report is one self-contained file.
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1280,"$height" \
  --screenshot="$(realpath "$output")" "file://$(realpath "$report")" 2>/dev/null
echo "Wrote $output"
