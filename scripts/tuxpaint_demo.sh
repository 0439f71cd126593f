#!/usr/bin/env bash
# TRAK on Debian's Tux Paint stamps (real photos with one-line captions):
# every 20th stamp is held out as a target, two small CLIP checkpoints are
# trained on the rest, then featurize, finalize, score and a sanity figure:
# the share of each target's top-10 proponents from the same stamp category
# (animals, food, vehicles, ...), against the share expected by chance.
# Usage: scripts/tuxpaint_demo.sh [work dir]   (needs tuxpaint-stamps-default)
set -euo pipefail
cd "$(dirname "$0")/.."
stamps=/usr/share/tuxpaint/stamps
work=$(realpath -m "${1:-tuxpaint-demo}")
mkdir -p "$work"
go build -o "$work/trak" ./cmd/trak
trak="$work/trak"
start=$(date +%s)

scripts/tuxpaint_split.sh "$work"

# trak train's defaults are the demo's recipe (batch 32, lr 2e-3, 15 warm-up
# steps, gradient norm clipped to 0.1). trak train warns when a run's last
# epoch is not clearly below chance; TRAK over such a checkpoint is noise,
# so the script stops there instead of scoring with it.
for seed in 0 1; do
	"$trak" train --data "$work/train.csv" --model-config configs/clip/small.json --out "$work/ckpt$seed" \
		--epochs 10 --seed $seed --quiet 2> "$work/train$seed.log" || { cat "$work/train$seed.log" >&2; exit 1; }
	tail -n 3 "$work/train$seed.log"
	if grep -q "did not learn" "$work/train$seed.log"; then
		grep -A2 WARNING "$work/train$seed.log" >&2
		echo "checkpoint $seed did not learn (log: $work/train$seed.log); stopping" >&2
		exit 1
	fi
	"$trak" featurize --config configs/tuxpaint.yaml --save-dir "$work/store" --train-data "$work/train.csv" \
		--checkpoint "$work/ckpt$seed/epoch_10.safetensors" --model-id $seed --quiet
done
"$trak" finalize --config configs/tuxpaint.yaml --save-dir "$work/store"
"$trak" score --config configs/tuxpaint.yaml --save-dir "$work/store" --targets "$work/targets.csv" --quiet
"$trak" top --config configs/tuxpaint.yaml --save-dir "$work/store" -k 10 > "$work/top.tsv"

# Category = the folder under stamps/ (column 2 is the target image, 6 the train image).
awk -F'\t' -v root="$stamps/" '
	function cat(p) { sub(root, "", p); split(p, a, "/"); return a[1] }
	FNR == NR { if (FNR > 1) { c = cat($1); n[c]++; total++ } next }
	{ same += (cat($2) == cat($6)); count++; tc[cat($2)]++ }
	END {
		for (c in tc) chance += tc[c] * n[c] / total
		printf "top-10 proponents from the target'\''s stamp category: %.1f%% (chance %.1f%%)\n", 100 * same / count, 100 * chance / count
	}' <(cut -d, -f1 "$work/train.csv") "$work/top.tsv"
echo "total time: $(( $(date +%s) - start )) s; results in $work"
