#!/usr/bin/env bash
# tests/accuracy/run.sh EXTENSION: the accuracy gate. Evaluates every built-in model on the
# test split of its dataset with attn_eval (or the SemEval official score in SQL) and fails
# when a score is below the threshold the project promises (README, "Built-in models").
# This is a regression gate on accuracy, not a timing test. Needs ../shared/data (or
# $ATTN_DATA); without it every check is named as not run.
set -u
ext=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data=${ATTN_DATA:-$root/../shared/data}
passed=0 failed=0

# name | model | SQL giving the score (one number) | threshold
gates=$(cat <<'G'
en-ner entity F1 (CoNLL-2003 test)|en-ner|SELECT f1 FROM attn_eval('en-ner', 'SELECT text, entities FROM conll2003_test') WHERE label = 'micro'|0.850
en-sentiment accuracy (SST-2 test)|en-sentiment|SELECT f1 FROM attn_eval('en-sentiment', 'SELECT text, label FROM sst2_test') WHERE label = 'accuracy'|0.805
en-topic accuracy (Reuters R8 test)|en-topic|SELECT f1 FROM attn_eval('en-topic', 'SELECT text, label FROM reuters_r8_test') WHERE label = 'accuracy'|0.960
en-rel relation F1 (CoNLL04 test)|en-rel|SELECT f1 FROM attn_eval('en-rel', 'SELECT text, entities, relations FROM conll04_test') WHERE label = 'micro'|0.500
en-rel entity F1 (CoNLL04 test)|en-rel|SELECT f1 FROM attn_eval('en-rel', 'SELECT text, entities FROM conll04_test', 'entities') WHERE label = 'micro'|0.800
G
)

if [ ! -d "$data" ]; then
    echo "$gates" | while IFS='|' read -r name _; do echo "not run: $name (no data at $data)"; done
    echo "accuracy: 0 passed, 0 failed"
    exit 0
fi
db=$(mktemp -d)/data.db
trap 'rm -rf "$(dirname "$db")"' EXIT
sqlite3 "$db" -cmd ".load $ext" -cmd ".parameter set @data '$data'" <"$root/sql/load_datasets.sql" >/dev/null || {
    echo "accuracy: 0 passed, 1 failed (loading the datasets)"; exit 1; }
builtins=$(sqlite3 :memory: ".load $ext" "SELECT name FROM attn_models WHERE storage = 'built-in'")

while IFS='|' read -r name model sql threshold; do
    if ! echo "$builtins" | grep -qx "$model"; then
        echo "FAIL $name: built-in model '$model' is missing"; failed=$((failed + 1)); continue
    fi
    score=$(sqlite3 "$db" ".load $ext" "$sql" 2>&1)
    if awk -v s="$score" -v t="$threshold" 'BEGIN { exit !(s + 0 >= t + 0 && s ~ /^[0-9.]+$/) }'; then
        printf 'ok   %s: %.4f (threshold %s)\n' "$name" "$score" "$threshold"; passed=$((passed + 1))
    else
        echo "FAIL $name: $score (threshold $threshold)"; failed=$((failed + 1))
    fi
done <<<"$gates"
echo "accuracy: $passed passed, $failed failed"
[ "$failed" = 0 ]
