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

# fasttext_accuracy NAME: trains on NAME's train.tsv, prints test accuracy (fastText's P@1).
fasttext_accuracy() {
    local d=$data/$1
    awk -F'\t' '{ print "__label__" $1 " " $2 }' "$d/train.tsv" >"$work/train.txt"
    awk -F'\t' '{ print "__label__" $1 " " $2 }' "$d/test.tsv" >"$work/test.txt"
    fasttext supervised -input "$work/train.txt" -output "$work/ft" -wordNgrams 2 -epoch 25 \
        -lr 0.5 -thread 2 -verbose 0 >/dev/null
    fasttext test "$work/ft.bin" "$work/test.txt" | awk '/^P@1/ { print $2 }'
}

# attnext_accuracy MODEL TABLE
attnext_accuracy() {
    sqlite3 "$work/data.db" ".load $ext" \
        "SELECT f1 FROM attn_eval('$1', 'SELECT text, label FROM $2') WHERE label = 'accuracy'"
}

printf '%-22s %10s %10s %8s\n' "test accuracy" fastText attnext diff
for pair in "sst2 en-sentiment sst2_test" "reuters_r8 en-topic reuters_r8_test"; do
    set -- $pair
    ft=$(fasttext_accuracy "$1")
    at=$(attnext_accuracy "$2" "$3")
    awk -v n="$1 ($2)" -v f="$ft" -v a="$at" \
        'BEGIN { printf "%-22s %10.4f %10.4f %+8.4f\n", n, f, a, a - f }'
done
