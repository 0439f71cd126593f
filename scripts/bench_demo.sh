#!/usr/bin/env bash
# Times `trak demo` (CLIP, default sizes) and reports its peak memory, next
# to the logistic-regression demo, in one run on this machine.
# Usage: scripts/bench_demo.sh [workers]
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${1:-$(nproc)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/trak" ./cmd/trak
for task in clip logreg; do
	/usr/bin/time -f "$task demo: %e s wall, %U s user, peak RSS %M KB" \
		"$out/trak" demo --task "$task" --dir "$out/$task" --workers "$workers" --quiet > "$out/$task.log"
	grep -E "top-10|total time" "$out/$task.log"
done
