#!/usr/bin/env bash
# tests/bench/fasttext_compare.sh [EXTENSION]: the built-in classifiers against fastText, trained
# and tested on the same files, side by side. fastText is what a user would otherwise pick for
# text classification (Debian package fasttext; settings as measured in the issue:
# supervised -wordNgrams 2 -epoch 25 -lr 0.5). Installs fasttext when run as root.
# attnext's side is the built-in model evaluated with attn_eval on the same test file.
set -euo pipefail
cd "$(dirname "$0")/../.."
ext=${1:-./attnext.so}
data=${ATTN_DATA:-../shared/data}
if ! command -v fasttext >/dev/null; then
    if [ "$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fasttext >/dev/null
    else echo "needs fasttext: apt-get install fasttext" >&2; exit 1; fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sqlite3 "$work/data.db" -cmd ".load $ext" -cmd ".parameter set @data '$data'" <sql/load_datasets.sql >/dev/null

# fasttext_accuracy NAME SPLITS: trains on NAME's SPLITS (the files the built-in model trained
# on: en-sentiment uses SST-2 train + dev, en-topic Reuters train), prints test accuracy
# (fastText's P@1).
fasttext_accuracy() {
    local d=$data/$1
    for split in $2; do cat "$d/$split.tsv"; done |
        awk -F'\t' '{ print "__label__" $1 " " $2 }' >"$work/train.txt"
    awk -F'\t' '{ print "__label__" $1 " " $2 }' "$d/test.tsv" >"$work/test.txt"
    local seed
    for seed in $FT_SEEDS; do
        fasttext supervised -input "$work/train.txt" -output "$work/ft" -wordNgrams 2 -epoch 25 \
            -lr 0.5 -thread 1 -seed "$seed" -verbose 0 >/dev/null
        fasttext test "$work/ft.bin" "$work/test.txt" | awk '/^P@1/ { print $2 }'
    done | sort -n | awk '{ a[NR] = $1 } END { printf "%s %s %s\n", a[int((NR + 1) / 2)], a[1], a[NR] }'
}

# attnext_accuracy MODEL TABLE
attnext_accuracy() {
    sqlite3 "$work/data.db" ".load $ext" \
        "SELECT f1 FROM attn_eval('$1', 'SELECT text, label FROM $2') WHERE label = 'accuracy'"
}

# fastText is reproducible only with one thread (its help says so); it is run with FT_SEEDS
# (default 5 seeds) and its median is compared, its range printed beside it.
FT_SEEDS=${FT_SEEDS:-0 1 2 3 4}
printf '%-22s %10s %10s %8s  %s\n' "test accuracy" fastText attnext diff "fastText min-max"
for pair in "sst2 en-sentiment sst2_test train,dev" "reuters_r8 en-topic reuters_r8_test train"; do
    set -- $pair
    ft=$(fasttext_accuracy "$1" "${4//,/ }")
    at=$(attnext_accuracy "$2" "$3")
    awk -v n="$1 ($2)" -v f="$ft" -v a="$at" \
        'BEGIN { split(f, x, " "); printf "%-22s %10.4f %10.4f %+8.4f  %.4f-%.4f\n", n, x[1], a,
                 a - x[1], x[2], x[3] }'
done
