#!/usr/bin/env bash
# Renders a trak demo report in headless Chromium and saves a screenshot,
# to check that the page shows what it should.
# Usage: scripts/screenshot_report.sh [report.html] [out.png]
# Needs Debian's chromium (apt-get install chromium).
set -euo pipefail
report=$(realpath "${1:-trak-demo/report.html}")
out=${2:-report_screenshot.png}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="$profile" --window-size=1300,1100 \
	--screenshot="$(realpath -m "$out")" "file://$report" 2>/dev/null
echo "screenshot: $out"
