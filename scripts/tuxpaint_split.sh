#!/usr/bin/env bash
# Writes the train/target split of Debian's Tux Paint stamps that the
# scripts use: every stamp with a caption (a .txt beside its .png) in path
# order, every 20th held out as a target. Creates <dir>/train.csv and
# <dir>/targets.csv (filepath,title) and prints their sizes.
# Usage: scripts/tuxpaint_split.sh <dir>   (needs tuxpaint-stamps-default)
set -euo pipefail
stamps=/usr/share/tuxpaint/stamps
[ -d "$stamps" ] || { echo "install the stamps first: apt-get install tuxpaint-stamps-default" >&2; exit 1; }
dir=${1:?usage: scripts/tuxpaint_split.sh <dir>}
mkdir -p "$dir"
echo "filepath,title" > "$dir/train.csv"
echo "filepath,title" > "$dir/targets.csv"
i=0
find "$stamps" -name '*.png' | LC_ALL=C sort | while read -r png; do
	txt="${png%.png}.txt"
	[ -f "$txt" ] || continue
	caption=$(head -n1 "$txt" | tr -d '\r"' | tr ',' ' ')
	[ -n "$caption" ] || continue
	if [ $((i % 20)) -eq 0 ]; then f=targets.csv; else f=train.csv; fi
	printf '%s,"%s"\n' "$png" "$caption" >> "$dir/$f"
	i=$((i + 1))
done
echo "train pairs: $(($(wc -l < "$dir/train.csv") - 1)), targets: $(($(wc -l < "$dir/targets.csv") - 1))"
