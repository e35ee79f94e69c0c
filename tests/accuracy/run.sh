#!/usr/bin/env bash
# tests/accuracy/run.sh EXTENSION: the accuracy gate. Evaluates every built-in model on the
# test split of its dataset with attn_eval and fails when a score falls below its floor.
# Each line also says whether the project's target (README, "Built-in models") is met. The
# floor is the target where the shipped model meets it, and otherwise the shipped model's own
# score less 0.005: a regression gate that stays honest about a target not reached yet.
# Two rows score the news-trained NER models on social media (tweets, Weibo posts): their
# targets are this project's own (no published reference trains on news and tests there).
# Not a timing test. Needs ../shared/data (or $ATTN_DATA); without it every check is named
# as not run.
set -u
ext=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
data=${ATTN_DATA:-$root/../shared/data}
passed=0 failed=0

# name | model | SQL giving the score (one number) | better: high or low | target | bound.
# Scores (high is better) fail below their floor; calibration errors (ECE: attn_eval's ece, 15
# bins, of the shipped scores, temperatures fitted on dev by sql/recipes/calibrate.sh; low is
# better, target below 0.05) fail above their ceiling: the target, or the model's own plus 0.01.
gates=$(cat <<'G'
en-ner entity F1 (CoNLL-2003 test)|en-ner|SELECT f1 FROM attn_eval('en-ner', 'SELECT text, entities FROM conll2003_test') WHERE label = 'micro'|high|0.895|0.882
en-ner entity F1 on tweets (Tweebank-NER test)|en-ner|SELECT f1 FROM attn_eval('en-ner', 'SELECT text, entities FROM tweebank_test') WHERE label = 'micro'|high|0.600|0.569
en-sentiment accuracy (SST-2 test)|en-sentiment|SELECT f1 FROM attn_eval('en-sentiment', 'SELECT text, label FROM sst2_test') WHERE label = 'accuracy'|high|0.830|0.815
en-topic accuracy (Reuters R8 test)|en-topic|SELECT f1 FROM attn_eval('en-topic', 'SELECT text, label FROM reuters_r8_test') WHERE label = 'accuracy'|high|0.975|0.968
en-rel relation F1 (CoNLL04 test)|en-rel|SELECT f1 FROM attn_eval('en-rel', 'SELECT text, entities, relations FROM conll04_test') WHERE label = 'micro'|high|0.560|0.560
en-rel entity F1 (CoNLL04 test)|en-rel|SELECT f1 FROM attn_eval('en-rel', 'SELECT text, entities FROM conll04_test', 'entities') WHERE label = 'micro'|high|0.840|0.840
en-sentiment ECE (SST-2 test)|en-sentiment|SELECT ece FROM attn_eval('en-sentiment', 'SELECT text, label FROM sst2_test') WHERE label = 'accuracy'|low|0.050|0.050
en-topic ECE (Reuters R8 test)|en-topic|SELECT ece FROM attn_eval('en-topic', 'SELECT text, label FROM reuters_r8_test') WHERE label = 'accuracy'|low|0.050|0.050
en-ner entity ECE (CoNLL-2003 test)|en-ner|SELECT ece FROM attn_eval('en-ner', 'SELECT text, entities FROM conll2003_test') WHERE label = 'micro'|low|0.050|0.050
en-rel entity ECE (CoNLL04 test)|en-rel|SELECT ece FROM attn_eval('en-rel', 'SELECT text, entities FROM conll04_test', 'entities') WHERE label = 'micro'|low|0.050|0.050
en-rel relation ECE (CoNLL04 test)|en-rel|SELECT ece FROM attn_eval('en-rel', 'SELECT text, entities, relations FROM conll04_test') WHERE label = 'micro'|low|0.050|0.079
zh-ner entity F1 (MSRA test)|zh-ner|SELECT f1 FROM attn_eval('zh-ner', 'SELECT text, entities FROM msra_test') WHERE label = 'micro'|high|0.920|0.883
zh-ner entity F1 on Weibo posts (Weibo NER test, named mentions)|zh-ner|SELECT f1 FROM attn_eval('zh-ner', 'SELECT text, entities FROM weibo_test_named') WHERE label = 'micro'|high|0.550|0.432
zh-sentiment accuracy (ChnSentiCorp test)|zh-sentiment|SELECT f1 FROM attn_eval('zh-sentiment', 'SELECT text, label FROM chnsenticorp_test') WHERE label = 'accuracy'|high|0.930|0.907
zh-resume entity F1 (Resume NER test; optional)|zh-resume|SELECT f1 FROM attn_eval('zh-resume', 'SELECT text, entities FROM resume_test') WHERE label = 'micro'|high|0.940|0.935
zh-cluener entity F1 (CLUENER2020 official dev set; optional)|zh-cluener|SELECT f1 FROM attn_eval('zh-cluener', 'SELECT text, entities FROM cluener_test') WHERE label = 'micro'|high|0.720|0.720
zh-ner entity ECE (MSRA test)|zh-ner|SELECT ece FROM attn_eval('zh-ner', 'SELECT text, entities FROM msra_test') WHERE label = 'micro'|low|0.050|0.050
zh-sentiment ECE (ChnSentiCorp test)|zh-sentiment|SELECT ece FROM attn_eval('zh-sentiment', 'SELECT text, label FROM chnsenticorp_test') WHERE label = 'accuracy'|low|0.050|0.050
G
)

# The built-in models together within the extension's size budget (60 MB, decimal): the
# databases compiled into attnext.so (model/builtin/*.db, ext/builtin_list.h). Needs no data.
BUILTIN_BUDGET=60000000
builtin_bytes=$(cat "$root"/model/builtin/*.db | wc -c)
if [ "$builtin_bytes" -le "$BUILTIN_BUDGET" ]; then
    printf 'ok   built-in models: %.1f MB together (budget %.0f MB)\n' \
        "$(awk -v b="$builtin_bytes" 'BEGIN { print b / 1e6 }')" "$(awk -v b="$BUILTIN_BUDGET" 'BEGIN { print b / 1e6 }')"
    passed=$((passed + 1))
else
    echo "FAIL built-in models: $builtin_bytes bytes together, over the budget of $BUILTIN_BUDGET"
    failed=$((failed + 1))
fi

if [ ! -d "$data" ]; then
    echo "$gates" | while IFS='|' read -r name _; do echo "not run: $name (no data at $data)"; done
    echo "not run: en-ner entity F1 on the robustness set (no data at $data)"
    echo "not run: en-semeval official macro-F1 (no data at $data)"
    echo "not run: attn_train learns on TREC (no data at $data)"
    echo "accuracy: $passed passed, $failed failed"
    [ "$failed" = 0 ]; exit
fi
db=$(mktemp -d)/data.db
trap 'rm -rf "$(dirname "$db")"' EXIT
sqlite3 "$db" -cmd ".load $ext" -cmd ".parameter set @data '$data'" <"$root/sql/load_datasets.sql" >/dev/null || {
    echo "accuracy: 0 passed, 1 failed (loading the datasets)"; exit 1; }
builtins=$(sqlite3 :memory: ".load $ext" "SELECT name FROM attn_models WHERE storage = 'built-in'")

while IFS='|' read -r name model sql better target bound; do
    # a built-in, or an optional model's database (model/optional/MODEL.db), attached
    attach="SELECT 1"
    if ! echo "$builtins" | grep -qx "$model"; then
        if [ -f "$root/model/optional/$model.db" ]; then
            attach="ATTACH '$root/model/optional/$model.db' AS optional"
        else
            echo "FAIL $name: model '$model' is neither built in nor in model/optional"
            failed=$((failed + 1)); continue
        fi
    fi
    score=$(sqlite3 "$db" ".load $ext" "$attach" "$sql" 2>&1 | tail -1)
    if [ "$better" = high ]; then side=floor; cmp='>='; else side=ceiling; cmp='<='; fi
    met=$(awk -v s="$score" -v t="$target" -v b="$better" \
        'BEGIN { ok = b == "high" ? s + 0 >= t + 0 : s + 0 < t + 0; print ok ? "met" : "NOT met" }')
    if awk -v s="$score" -v f="$bound" -v b="$better" 'BEGIN { if (s !~ /^[0-9.]+(e-?[0-9]+)?$/) exit 1;
            exit !(b == "high" ? s + 0 >= f + 0 : s + 0 <= f + 0) }'; then
        printf 'ok   %s: %.4f (%s %s; target %s%s %s)\n' "$name" "$score" "$side" "$bound" \
            "$([ "$better" = low ] && echo 'below ')" "$target" "$met"
        passed=$((passed + 1))
    else
        echo "FAIL $name: $score ($side $bound, must be $cmp; target $target)"; failed=$((failed + 1))
    fi
done <<<"$gates"

# en-ner on CoNLL-2003 test as people write it (conll2003_test_robust: detokenised, typographic
# quotes and apostrophes, every 4th sentence headline-cased; sql/load_datasets.sql). Target:
# within 1.0 F1 of the plain test: met, 0.83 below it as shipped (fine-tuned from the en-base
# checkpoint of 46.4M tokens; the one before, from 37.1M, was 1.05 below), so the bound is the
# target.
ROBUST_TARGET_GAP=0.010 ROBUST_MAX_GAP=0.010
robust=$(sqlite3 "$db" ".load $ext" \
  "SELECT p.f1, r.f1 FROM attn_eval('en-ner', 'SELECT text, entities FROM conll2003_test') p,
          attn_eval('en-ner', 'SELECT text, entities FROM conll2003_test_robust') r
   WHERE p.label = 'micro' AND r.label = 'micro'" 2>&1)
if awk -v s="$robust" -v m="$ROBUST_MAX_GAP" 'BEGIN { n = split(s, f, "|");
        exit !(n == 2 && f[1] ~ /^[0-9.]+$/ && f[2] ~ /^[0-9.]+$/ && f[1] - f[2] <= m + 0) }'; then
    awk -v s="$robust" -v m="$ROBUST_MAX_GAP" -v t="$ROBUST_TARGET_GAP" 'BEGIN { split(s, f, "|");
        printf "ok   en-ner entity F1 on the robustness set: %.4f, %.4f below the plain test (at most %s; target %s %s)\n",
               f[2], f[1] - f[2], m, t, (f[1] - f[2] <= t + 0) ? "met" : "NOT met" }'
    passed=$((passed + 1))
else
    echo "FAIL en-ner entity F1 on the robustness set: plain|robust = $robust (gap at most $ROBUST_MAX_GAP)"
    failed=$((failed + 1))
fi

# SemEval-2010 Task 8, official macro-F1 through attn_relation on the two marked nominals. The
# model is trained by sql/recipes/en-semeval.sql but not compiled in: its database is attached.
semeval=$(sqlite3 "$db" ".load $ext" "ATTACH '$root/model/optional/en-semeval.db' AS semeval" \
  ".parameter set @model 'en-semeval'" ".read $root/sql/semeval_score.sql" 2>&1 | tail -1)
if awk -v s="$semeval" 'BEGIN { exit !(s ~ /^[0-9.]+$/ && s + 0 >= 0.755) }'; then
    printf 'ok   en-semeval official macro-F1 (SemEval-2010 test): %.4f (floor 0.755; target 0.800 %s)\n' \
        "$semeval" "$(awk -v s="$semeval" 'BEGIN { print (s + 0 >= 0.8) ? "met" : "NOT met" }')"
    passed=$((passed + 1))
else
    echo "FAIL en-semeval official macro-F1 (SemEval-2010 test): $semeval (floor 0.755)"; failed=$((failed + 1))
fi

# attn_train learns on real data: a small TREC question-type model (6 classes, majority class
# 27.6% of test), trained here in about a minute, must get well above chance on the test set.
trec=$(sqlite3 "$db" ".load $ext" \
  "SELECT count(*) FROM attn_train('trec-check', 'classify', 'SELECT text, label FROM trec_train',
     '{\"dim\": 64, \"layers\": 1, \"heads\": 2, \"ffn\": 128, \"max_len\": 48, \"epochs\": 4,
       \"lr\": 0.002, \"seed\": 1, \"threads\": 2,
       \"features\": [{\"kind\": \"norm\", \"buckets\": 8192, \"dim\": 32},
                      {\"kind\": \"suffix\", \"buckets\": 2048, \"dim\": 8, \"affix\": 3},
                      {\"kind\": \"shape\", \"buckets\": 512, \"dim\": 8}]}')" \
  "SELECT f1 FROM attn_eval('trec-check', 'SELECT text, label FROM trec_test') WHERE label = 'accuracy'" 2>&1 | tail -1)
if awk -v s="$trec" 'BEGIN { exit !(s ~ /^[0-9.]+$/ && s + 0 >= 0.70) }'; then
    printf 'ok   attn_train learns: TREC test accuracy %.4f after 4 epochs (floor 0.70, chance 0.28)\n' "$trec"
    passed=$((passed + 1))
else
    echo "FAIL attn_train learns: TREC test accuracy $trec (floor 0.70)"; failed=$((failed + 1))
fi

echo "accuracy: $passed passed, $failed failed"
[ "$failed" = 0 ]
