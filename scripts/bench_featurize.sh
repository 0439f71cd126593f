#!/usr/bin/env bash
# End-to-end featurize of a randomly initialised ViT-B-32 (trak train
# --epochs 0) on Tux Paint stamps, as a user runs it: model load, the
# embedding table, per-example gradients of f with its negatives, the
# projection and the store on disk. Prints seconds per train example (the
# whole command's wall time over the number of pairs, load included) and
# peak resident memory for each projector setting.
#
# Usage: [BASELINE=<git revision>] scripts/bench_featurize.sh [pairs] [settings...]
#   pairs     train pairs to featurize (default 32)
#   settings  "type:k:batch" (default: sjlt:4096:16 rademacher:2048:16)
#   BASELINE  also build trak at that revision and run the same settings with
#             it (those it supports), for a ratio measured in the same run
# Needs tuxpaint-stamps-default (apt-get install tuxpaint-stamps-default).
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-32}
shift || true
settings=("$@")
[ ${#settings[@]} -gt 0 ] || settings=(sjlt:4096:16 rademacher:2048:16)
stamps=/usr/share/tuxpaint/stamps
[ -d "$stamps" ] || { echo "install the stamps first: apt-get install tuxpaint-stamps-default" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

go build -o "$work/trak" ./cmd/trak
bins=("$work/trak")
if [ -n "${BASELINE:-}" ]; then
	git worktree add -q --detach "$work/base" "$BASELINE"
	(cd "$work/base" && go build -o "$work/trak-$BASELINE" ./cmd/trak)
	git worktree remove --force "$work/base"
	bins+=("$work/trak-$BASELINE")
fi
echo "filepath,title" > "$work/train.csv"
n=0
while read -r png && [ "$n" -lt "$pairs" ]; do
	txt="${png%.png}.txt"
	[ -f "$txt" ] || continue
	caption=$(head -n1 "$txt" | tr -d '\r",')
	[ -n "$caption" ] || continue
	printf '%s,"%s"\n' "$png" "$caption" >> "$work/train.csv"
	n=$((n + 1))
done < <(find "$stamps" -name '*.png' | sort)
n=$(($(wc -l < "$work/train.csv") - 1))
"$work/trak" train --data "$work/train.csv" --model-config ViT-B-32 --out "$work/ckpt" --epochs 0 --batch-size 2 --quiet
"$work/trak" doctor | grep -iE '^(cpu|cores|gemm|blas)' || true
echo "ViT-B-32 (random weights), $n Tux Paint pairs, sim_batch_size 300, GOMAXPROCS=${GOMAXPROCS:-all cores}"
printf '%-16s %-12s %6s %6s %12s %14s\n' binary projector k batch "s/example" "peak RSS MB"
for s in "${settings[@]}"; do
	IFS=: read -r type k batch <<< "$s"
	for bin in "${bins[@]}"; do
		rm -rf "$work/store"
		start=$(date +%s.%N)
		if ! /usr/bin/time -f '%M' -o "$work/rss" "$bin" featurize --quiet --task clip --model-config ViT-B-32 \
			--checkpoint "$work/ckpt/epoch_0.safetensors" --train-data "$work/train.csv" --save-dir "$work/store" \
			--projector-type "$type" --projector-dim "$k" --batch-size "$batch" --sim-batch-size 300 2> "$work/err"; then
			printf '%-16s %-12s %6d %6d %12s\n' "$(basename "$bin")" "$type" "$k" "$batch" "failed: $(head -c 80 "$work/err")"
			continue
		fi
		end=$(date +%s.%N)
		awk -v bin="$(basename "$bin")" -v t="$type" -v k="$k" -v b="$batch" -v s="$start" -v e="$end" -v n="$n" -v rss="$(cat "$work/rss")" \
			'BEGIN { printf "%-16s %-12s %6d %6d %12.3f %14.0f\n", bin, t, k, b, (e - s) / n, rss / 1024 }'
	done
done
