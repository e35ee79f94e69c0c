#!/usr/bin/env bash
# sql/recipes/curve.sh [REV...]: the pretraining curve (README "Pretraining"): en-ner,
# en-sentiment and en-semeval fine-tuned (sql/recipes/en-ner.sql, en-sentiment-ft.sql,
# en-semeval.sql) from the en-base
# checkpoint as committed at each git revision REV (default: every commit that changed
# model/pretrain/en-base.db), each row: the checkpoint's pretraining tokens, its dev rtd F1,
# and the fine-tuned models' best dev scores. The checkpoints are the committed versions of
# model/pretrain/en-base.db, so the curve can be re-run on any clone. Work and logs in
# build/curve/. Needs build/data.db (sql/recipes/build.sh makes it). About 20 minutes a
# checkpoint on 2 free cores.
# Each fine-tuning's log stays in build/curve/TASK-REV.log (its test scores are only reported).
set -euo pipefail
cd "$(dirname "$0")/../.."
ext=${ATTN_EXT:-./attnext.so}
mkdir -p build/curve
[ -s build/data.db ] || { echo "curve.sh: build/data.db is missing: run sql/recipes/build.sh first" >&2; exit 1; }
revs=("$@")
[ ${#revs[@]} -gt 0 ] || mapfile -t revs < <(git log --reverse --format=%h -- model/pretrain/en-base.db)
source sql/recipes/openblas_core.sh
# best_dev LOG: the largest dev score of attn_train's epoch rows (third column) in LOG.
best_dev() { awk -F'|' '$1 ~ /^[0-9]+$/ && NF >= 5 { if ($3 > b) b = $3 } END { print b }' "$1"; }
echo "rev|pretrained_tokens|dev_rtd_f1|en_ner_dev_f1|en_sentiment_dev_accuracy|en_semeval_dev_f1"
for rev in "${revs[@]}"; do
    base=build/curve/en-base-$rev.db
    [ -s "$base" ] || git show "$rev:model/pretrain/en-base.db" >"$base"
    tokens=$(sqlite3 "$base" "SELECT json_extract(CAST(data AS TEXT), '\$.meta.training.pretrain.tokens') || '|' ||
                              round(json_extract(CAST(data AS TEXT), '\$.meta.training.dev_metric'), 4)
                              FROM attn_model WHERE name = 'en-base' AND key = 'config'")
    for task in en-ner en-sentiment-ft en-semeval; do
        work=build/curve/$task-$rev.db log=build/curve/$task-$rev.log
        [ -s "$log" ] && grep -q '^trained' "$log" && continue   # done before
        rm -f "$work"; cp build/data.db "$work"
        sqlite3 -bail "$work" -cmd ".load $ext" -cmd ".parameter set @base '$base'" \
            <sql/recipes/$task.sql >"$log"
        echo "trained" >>"$log"
        rm -f "$work"
    done
    echo "$rev|$tokens|$(best_dev build/curve/en-ner-$rev.log)|$(best_dev build/curve/en-sentiment-ft-$rev.log)|$(best_dev build/curve/en-semeval-$rev.log)"
done
