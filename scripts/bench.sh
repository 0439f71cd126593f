#!/usr/bin/env bash
# Runs trak's Go benchmarks: the projection (parameters/s), finalize and
# score. Usage: scripts/bench.sh [go test -bench regexp] [extra go test flags]
# Figures depend on the machine; compare them as ratios within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern=${1:-.}
shift || true
go test -run '^$' -bench "$pattern" -benchmem "$@" ./internal/philox ./internal/projection ./internal/score
