#!/usr/bin/env bash
# Benchmarks the CLIP model on this machine: forward (Encode) and
# forward + backward + per-example parameter gradients, for the tiny test
# model and a randomly initialised ViT-B-32, at batch sizes 1, 8 and 16; then
# featurize's whole per-example work (f against 300 negatives and the
# projection, at batch 4, 8 and 16 for ViT-B-32); with peak resident memory. If Debian's PyTorch is installed (apt-get install
# python3-torch), the same measurements from the independent PyTorch
# reference follow, for a side-by-side ratio measured in the same run.
#
# Usage: scripts/bench_clip.sh [threads]   (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

go test -c -o "$out/clip.test" ./internal/clip
echo "== trak (Go, GOMAXPROCS=$threads)"
for bench in 'Encode/tiny/' 'PerExampleGradients/tiny/' 'Encode/ViT-B-32/' 'PerExampleGradients/ViT-B-32/'; do
	GOMAXPROCS=$threads /usr/bin/time -f "peak RSS %M KB" "$out/clip.test" -test.run '^$' -test.bench "$bench" -test.benchtime 2x 2>&1 |
		grep -E 'Benchmark|peak RSS'
done

echo "== trak featurize per example: model + f with 300 negatives + projection (GOMAXPROCS=$threads)"
go test -c -o "$out/cliptask.test" ./internal/tasks/clip
GOMAXPROCS=$threads /usr/bin/time -f "peak RSS %M KB" "$out/cliptask.test" -test.run '^$' -test.bench Featurize -test.benchtime 1x 2>&1 |
	grep -E 'Benchmark|peak RSS'

if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	echo "== PyTorch reference (torch $( /usr/bin/python3 -c 'import torch; print(torch.__version__)'), $threads threads)"
	/usr/bin/python3 scripts/reference/bench_torch.py --threads "$threads" --vit-b-32
else
	echo "== PyTorch not installed (apt-get install python3-torch): skipping the side-by-side"
fi
