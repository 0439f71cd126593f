#!/usr/bin/env bash
# The linear datamodeling score (trak eval lds) of trak's scores for several
# projectors and numbers of checkpoints, on data trak makes itself:
#   - shapes: the CLIP demo's captioned shapes and its small CLIP model;
#   - tuxpaint: Debian's Tux Paint stamps (real photos, scripts/tuxpaint_split.sh)
#     and small CLIP checkpoints trained on them by `trak train`;
#   - logreg: the logistic-regression demo, where the exact mode (projector
#     none) is cheap.
# Every setting of a data set is evaluated against the same subset models
# (one lds.dir), so they differ only by their scores. Prints a table: data,
# projector, k, checkpoints, LDS ± standard error, featurize seconds.
#
# Usage: scripts/lds_eval.sh [work dir]
# Environment (defaults in brackets):
#   DATA      which data sets                     [shapes tuxpaint logreg]
#   SUBSETS   subset models M                     [32]
#   CKPTS     numbers of checkpoints to score     [1 3 5]
#   MODELS    models per subset (lds.models_per_subset) [1]
#   SETTINGS  CLIP projectors, type:k[:ridge]     [rademacher:64 rademacher:256 rademacher:1024 normal:256 sjlt:256]
#             ridge: a number is finalize's --lambda, rX its --lambda-rel X;
#             none is trak's default (lambda_rel 0.01)
#             (none:0[:lambda] is the exact mode: 13 GB of features per
#             checkpoint of the small model at 480 pairs)
#   LR_SETTINGS logreg projectors, type:k[:ridge] [rademacher:16 rademacher:64 none:0:0.01]
#   TRAIN, TARGETS, EPOCHS  shapes data and training [480 24 8]
#   TUX_EPOCHS  epochs of the Tux Paint checkpoints and subset models [10]
#   LAMBDA    ridge where a setting names none      [trak's default]
#   SELF      also evaluate on train rows as targets (1) or not (0) [1]
#   SELF_TARGETS  how many train rows (the first ones)  [40]
# Commands' messages go to <work dir>/log.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(realpath -m "${1:-lds-eval}")
mkdir -p "$work"
go build -o "$work/trak" ./cmd/trak
trak="$work/trak"
data=${DATA:-shapes tuxpaint logreg}
subsets=${SUBSETS:-32}
models=${MODELS:-1}
ckpts=${CKPTS:-1 3 5}
settings=${SETTINGS:-rademacher:64 rademacher:256 rademacher:1024 normal:256 sjlt:256}
lr_settings=${LR_SETTINGS:-rademacher:16 rademacher:64 none:0:0.01}
train=${TRAIN:-480}
targets=${TARGETS:-24}
epochs=${EPOCHS:-8}
tux_epochs=${TUX_EPOCHS:-10}
lambda=${LAMBDA:-}
self=${SELF:-1}
self_targets=${SELF_TARGETS:-40}
maxc=0
for c in $ckpts; do [ "$c" -gt "$maxc" ] && maxc=$c; done
results="$work/results.tsv"
log="$work/log.txt"
[ -s "$results" ] || printf 'data\tprojector\tk\tridge\tcheckpoints\tmodels_per_subset\ttargets\tlds\tstderr\tfeaturize_s\n' > "$results"

# evaluate DATA STORE TYPE K RIDGE: featurizes checkpoints 0..maxc-1 one by one into
# STORE and, after each count listed in CKPTS, finalizes, scores and
# evaluates the held-out targets (experiment cN) and, with SELF=1, the
# first train rows (experiment trainN); the recipe flags come from the
# caller ($recipe), the train CSV from $train_csv.
evaluate() {
	local name=$1 store=$2 type=$3 k=$4 ridge=$5
	local spent=0 c ridge_flags=() ridge_name="lambda_rel 0.01"
	case $ridge in
	"") ;;
	r*) ridge_flags=(--lambda-rel "${ridge#r}"); ridge_name="lambda_rel ${ridge#r}" ;;
	*) ridge_flags=(--lambda "$ridge"); ridge_name="lambda $ridge" ;;
	esac
	local sets=("held-out:$targets_path")
	if [ "$self" = 1 ]; then
		# Beside the train CSV: its image paths may be relative to its folder.
		local self_csv
		self_csv=$(dirname "$train_csv")/lds-train-targets.csv
		head -n $((self_targets + 1)) "$train_csv" > "$self_csv"
		sets+=("train:$self_csv")
	fi
	for ((c = 1; c <= maxc; c++)); do
		local t0 t1
		t0=$(date +%s.%N)
		"$trak" featurize "${common[@]}" --save-dir "$store" --checkpoint "${ckpt_paths[c - 1]}" --model-id $((c - 1)) \
			--projector-type "$type" --projector-dim "$k" --quiet >> "$log" 2>&1
		t1=$(date +%s.%N)
		spent=$(awk -v a="$spent" -v b="$t0" -v e="$t1" 'BEGIN { print a + e - b }')
		case " $ckpts " in *" $c "*) ;; *) continue ;; esac
		"$trak" finalize --save-dir "$store" "${ridge_flags[@]}" --quiet >> "$log" 2>&1
		local set
		for set in "${sets[@]}"; do
			local which=${set%%:*} path=${set#*:} exp line
			exp=$([ "$which" = train ] && echo "train$c" || echo "c$c")
			"$trak" score --save-dir "$store" --targets "$path" --exp "$exp" --quiet >> "$log" 2>&1
			line=$("$trak" eval lds --save-dir "$store" --exp "$exp" --lds-dir "$work/$name-subsets" --lds-subsets "$subsets" --lds-models-per-subset "$models" "${recipe[@]}" --quiet 2>> "$log")
			echo "$name $type k=$k $ridge_name checkpoints=$c $which targets: $line"
			awk -v d="$name" -v t="$type" -v k="$k" -v c="$c" -v s="$spent" -v l="$ridge_name" -v m="$models" -v w="$which" \
				'{ if (t == "none") k = "all"; printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\n", d, t, k, l, c, m, w, $2, $4, s }' <<< "$line" >> "$results"
		done
	done
}

# evaluate_all DATA SETTINGS: evaluate each type:k[:ridge] of SETTINGS in a
# fresh store, removed afterwards (the exact mode's are large).
evaluate_all() {
	local name=$1 s type k lam
	for s in $2; do
		IFS=: read -r type k lam <<< "$s"
		[ "$k" -gt 0 ] || k=1
		rm -rf "$work/$name-store-$type-$k"
		evaluate "$name" "$work/$name-store-$type-$k" "$type" "$k" "${lam:-$lambda}"
		rm -rf "$work/$name-store-$type-$k"
	done
}

for d in $data; do
	case $d in
	shapes)
		# Made once: the data set's fingerprint includes its files' times, so
		# making it again would orphan the subset models trained on it.
		if [ ! -f "$work/shapes/ckpt$((maxc - 1)).safetensors" ]; then
			"$trak" demo --dir "$work/shapes" --train "$train" --targets "$targets" --checkpoints "$maxc" --epochs "$epochs" --quiet > "$work/shapes-demo.txt"
		fi
		grep -E '^checkpoint' "$work/shapes-demo.txt" || true
		ckpt_paths=()
		for ((c = 0; c < maxc; c++)); do ckpt_paths+=("$work/shapes/ckpt$c.safetensors"); done
		targets_path=$work/shapes/targets/shapes.csv
		train_csv=$work/shapes/train/shapes.csv
		common=(--task clip --train-data "$work/shapes/train/shapes.csv" --model-config small --sim-batch-size 100)
		# The demo's own training recipe (internal/demo/clip.go), so that the
		# subset models are trained as its checkpoints were.
		recipe=(--lds-epochs "$epochs" --lds-batch-size 32 --lds-lr 2e-3 --lds-weight-decay 0.1 --lds-warmup 15 --lds-grad-clip-norm 0.1)
		evaluate_all shapes "$settings"
		;;
	tuxpaint)
		scripts/tuxpaint_split.sh "$work/tuxpaint"
		ckpt_paths=()
		for ((c = 0; c < maxc; c++)); do
			# Checkpoints are kept between runs of the script (same split, seed and epochs).
			ckpt=$work/tuxpaint/ckpt$c/epoch_$tux_epochs.safetensors
			if [ ! -f "$ckpt" ]; then
				"$trak" train --data "$work/tuxpaint/train.csv" --model-config small --out "$work/tuxpaint/ckpt$c" \
					--epochs "$tux_epochs" --seed "$c" --quiet 2> "$work/tuxpaint/train$c.log"
			fi
			echo "checkpoint $c: $(grep 'mean loss' "$work/tuxpaint/train$c.log" | tail -n 1)"
			ckpt_paths+=("$ckpt")
		done
		targets_path=$work/tuxpaint/targets.csv
		train_csv=$work/tuxpaint/train.csv
		common=(--config configs/tuxpaint.yaml --train-data "$work/tuxpaint/train.csv")
		# trak train's defaults, the recipe of the checkpoints above.
		recipe=(--lds-epochs "$tux_epochs" --lds-batch-size 32 --lds-lr 2e-3 --lds-weight-decay 0.1 --lds-warmup 15 --lds-grad-clip-norm 0.1)
		evaluate_all tuxpaint "$settings"
		;;
	logreg)
		if [ ! -f "$work/logreg/ckpt$((maxc - 1)).npy" ]; then
			"$trak" demo --task logreg --dir "$work/logreg" --checkpoints "$maxc" --quiet > "$work/logreg-demo.txt"
		fi
		ckpt_paths=()
		for ((c = 0; c < maxc; c++)); do ckpt_paths+=("$work/logreg/ckpt$c.npy"); done
		targets_path=$work/logreg/targets.csv
		train_csv=$work/logreg/train.csv
		common=(--task logreg --train-data "$work/logreg/train.csv")
		# internal/demo/logreg.go's recipe: 300 full-batch steps of 0.5, L2 1e-3.
		recipe=(--lds-epochs 300 --lds-lr 0.5 --lds-weight-decay 1e-3)
		evaluate_all logreg "$lr_settings"
		;;
	*)
		echo "unknown data set $d: use shapes, tuxpaint or logreg" >&2
		exit 2
		;;
	esac
done
echo
column -t -s $'\t' "$results"
echo "results: $results"
