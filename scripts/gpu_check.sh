#!/usr/bin/env bash
# Runs on the GPU machine (no Go needed), with bin/ built by
# scripts/build_cuda.sh: the driver and device, trak-cuda's self-test (the
# projection kernel against the CPU definition bit for bit, cuBLAS SGEMM
# against the CPU, GFLOP/s and GB/s), and the --device hand-off of plain
# trak. Writes the report to ${OUT:-.}/gpu_report.txt as well as stdout.
set -uo pipefail
cd "$(dirname "$0")/.."
report="${OUT:-.}/gpu_report.txt"
{
	echo "== nvidia-smi"; nvidia-smi || echo "(no nvidia-smi)"
	echo "== trak doctor (CPU binary; finds trak-cuda next to it)"; bin/trak doctor
	echo "== trak-cuda doctor"; bin/trak-cuda doctor; echo "exit status $?"
	echo "== hand-off: trak demo --task logreg --device cuda (runs in trak-cuda)"
	bin/trak demo --task logreg --device cuda --quiet --dir "$(mktemp -d)" | tail -3; echo "exit status $?"
} 2>&1 | tee "$report"
