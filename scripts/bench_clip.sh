#!/usr/bin/env bash
# trak's CPU speed beside its anchors, measured in one run on this machine:
#   1. float32 GEMM: trak's kernels (internal/gemm, each one this CPU runs)
#      and gonum's pure-Go blas32, against numpy on the installed BLAS;
#   2. the CLIP model alone (forward + backward + per-example parameter
#      gradients, no projection) for a tiny model and a randomly
#      initialised ViT-B-32, against PyTorch's per-example modes on the same
#      architecture (scripts/reference/bench_torch.py);
#   3. featurize end to end, as a user runs it (scripts/bench_featurize.sh).
# Peak resident memory is printed beside each Go figure.
#
# The anchors need Debian's python3-torch and python3-numpy. Debian's torch
# calls whatever libblas.so.3 is installed: reference BLAS unless
# libopenblas0-pthread is installed (apt-get install libopenblas0-pthread),
# which makes it several times slower than it really is. The anchors run with
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset so that OpenBLAS picks its best
# kernels for this CPU; the library and kernel family they used are printed.
#
# Usage: scripts/bench_clip.sh [threads] [sections]
#   threads   default: all cores
#   sections  any of gemm, model, featurize (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
shift || true
sections=${*:-gemm model featurize}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
anchor() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" /usr/bin/python3 "$@"; }
have_torch() { /usr/bin/python3 -c 'import torch' 2>/dev/null; }
have_numpy() { /usr/bin/python3 -c 'import numpy' 2>/dev/null; }
peak() { /usr/bin/time -f "  peak RSS %M KB" "$@"; }
echo "$(nproc) CPUs, benchmarks on $threads threads, $(date -u +%FT%TZ)"

if [[ " $sections " == *" gemm "* ]]; then
	echo "== GEMM (GFLOP/s): trak's kernels and gonum"
	go test -c -o "$out/gemm.test" ./internal/gemm
	GOMAXPROCS=$threads "$out/gemm.test" -test.run '^$' -test.bench 'Sgemm|Gonum1024' -test.benchtime 2s 2>&1 | grep -E '^Benchmark'
	if have_numpy; then
		echo "== GEMM anchor: numpy $(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)')"
		anchor scripts/reference/bench_gemm.py
	else
		echo "== numpy not installed (apt-get install python3-numpy): no GEMM anchor"
	fi
fi

if [[ " $sections " == *" model "* ]]; then
	echo "== trak model alone: forward + backward + per-example parameter gradients (examples/s)"
	go test -c -o "$out/clip.test" ./internal/clip
	# tiny-gelu is the model bench_torch.py times as "tiny-gelu".
	for bench in 'PerExampleGradients/tiny-gelu/:2s' 'PerExampleGradients/ViT-B-32/B=(8|16)$:2x'; do
		GOMAXPROCS=$threads peak "$out/clip.test" -test.run '^$' -test.bench "${bench%:*}" -test.benchtime "${bench##*:}" 2>&1 |
			grep -E 'Benchmark|peak RSS'
	done
	if have_torch; then
		echo "== PyTorch anchor, same architectures and per-example work"
		anchor scripts/reference/bench_torch.py --threads "$threads" --vit-b-32 --examples 8 --batches 1,8
	else
		echo "== PyTorch not installed (apt-get install python3-torch libopenblas0-pthread): no model anchor"
	fi
fi

if [[ " $sections " == *" featurize "* ]]; then
	echo "== trak featurize end to end"
	GOMAXPROCS=$threads scripts/bench_featurize.sh 32
fi
