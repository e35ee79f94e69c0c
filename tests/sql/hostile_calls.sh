#!/usr/bin/env bash
# tests/sql/hostile_calls.sh EXTENSION TOOLS_DIR
#
# Long calls stop and stay bounded (issue 18, item 5): each call below runs for seconds, is
# sent SIGINT (the sqlite3 shell then calls sqlite3_interrupt) after START_S and must be gone
# within STOP_MS; and the relation list counts under max_call_memory. Prints one line per
# check and "hostile_calls: N passed, N failed".
set -u
so=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tools=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
preload=${ATTN_PRELOAD:-}
START_S=${START_S:-1}
# 100 ms is the aim; the slack is for a machine shared with training runs, and under
# AddressSanitizer (ATTN_PRELOAD) for the exit of a process holding a gigabyte (measured to
# the shell's exit, not to the call's return).
STOP_MS=${STOP_MS:-$([ -n "$preload" ] && echo 1500 || echo 300)}
BOUND_MS=$([ -n "$preload" ] && echo 90000 || echo 30000)
passed=0 failed=0

check() {   # check NAME CONDITION-STATUS DETAIL
    if [ "$2" = 0 ]; then echo "ok   $1 ($3)"; passed=$((passed + 1))
    else echo "FAIL $1 ($3)"; failed=$((failed + 1)); fi
}

# A model that tags every token as an entity and relates every pair: the worst case.
"$tools/gen_model" "$work/h.db" every --seed 8 --set tag.b:1:8 --set rel.out.b:1:8 \
    --set cls.b:0:8 >/dev/null

# stops NAME SQL: runs SQL, interrupts it after START_S, checks it ends within STOP_MS.
stops() {
    local name=$1 sql=$2
    LD_PRELOAD=$preload sqlite3 -batch -cmd ".load $so" "$work/h.db" "$sql" \
        >"$work/out" 2>&1 &
    local pid=$!
    sleep "$START_S"
    if ! kill -0 "$pid" 2>/dev/null; then
        check "$name stops on interrupt" 1 "finished before the interrupt: $(head -c 200 "$work/out")"
        return
    fi
    local t0 t1
    t0=$(date +%s%N)
    kill -INT "$pid"
    wait "$pid"
    t1=$(date +%s%N)
    local ms=$(( (t1 - t0) / 1000000 ))
    grep -q "interrupted" "$work/out"
    local said=$?
    [ "$ms" -le "$STOP_MS" ] && [ "$said" = 0 ]
    check "$name stops on interrupt" $? "${ms} ms: $(head -c 120 "$work/out" | tr '\n' ' ')"
}

words() { echo "replace(printf('%.*c', $1, 'x'), 'x', '$2 ')"; }
stops "attn_relations, every token an entity, 2M tokens" \
    "SELECT count(*) FROM attn_relations($(words 2000000 a), 'every')"
# 600,000 tokens: within max_call_memory (0.75 GB of working memory; 10 MB of text would be
# refused before its encoding starts, as quickly as the tokenizer reads it: a race with
# START_S, not a long call).
stops "attn_relations en-rel, 2.2 MB" \
    "SELECT count(*) FROM attn_relations($(words 100000 'Ann met Bob in Paris.'), 'en-rel')"
stops "attn_entities en-ner, 50 MB" \
    "SELECT count(*) FROM attn_entities($(words 2500000 'Ann met Bob in Paris.'), 'en-ner')"
stops "attn_classify en-sentiment, 50 MB" \
    "SELECT attn_classify($(words 2500000 'What a lovely film.'), 'en-sentiment')"
stops "attn_relation en-rel, 50 MB" \
    "SELECT attn_relation($(words 2500000 'Ann met Bob in Paris.'), 0, 3, 8, 11, 'en-rel')"
stops "attn_eval en-sentiment, 300k rows" \
    "SELECT count(*) FROM attn_eval('en-sentiment', 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL
       SELECT i + 1 FROM n WHERE i < 300000) SELECT ''What a lovely film, truly.'', ''positive'' FROM n')"
# attn_wordvec_train: once while it reads a 60 MB file, once while it trains (a small file,
# a thousand epochs); neither leaves a file behind.
LD_PRELOAD=$preload sqlite3 -batch -cmd ".load $so" "$work/h.db" ".once $work/big.txt" \
    "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1500000)
     SELECT 'the cat saw the dog ' || (i % 1000) || ' times and ran' FROM n" >/dev/null 2>&1
head -c 100000 "$work/big.txt" >"$work/small.txt"
stops "attn_wordvec_train reading 60 MB" \
    "SELECT count(*) FROM attn_wordvec_train('$work/v.atwv', '[\"$work/big.txt\"]')"
stops "attn_wordvec_train, 1000 epochs" \
    "SELECT count(*) FROM attn_wordvec_train('$work/v.atwv', '[\"$work/small.txt\"]',
       '{\"dim\": 32, \"buckets\": 10000, \"epochs\": 1000, \"min_count\": 1, \"subsample\": 0}')"
left=$(ls "$work" | grep -c '^v\.atwv')
check "attn_wordvec_train interrupted leaves no file" "$([ "$left" = 0 ]; echo $?)" "$left left"

# A model whose gazetteer lists are near ATTN_GAZ_MAX_BYTES (8M entries, about 2 s of
# tokenising when it loads) stops while it loads.
LD_PRELOAD=$preload sqlite3 -batch -cmd ".load $so" "$work/h.db" \
    "SELECT count(*) FROM attn_train('gaz', 'entities', 'SELECT ''Ann met Bob'', ''[]''',
       json_object('dim', 8, 'layers', 1, 'heads', 1, 'ffn', 8, 'epochs', 1, 'labels', json('[\"PER\"]'),
                   'gazetteers', json_object('PER', json_array('Ann'))))" \
    "INSERT INTO attn_model VALUES ('gaz', 'gazetteer.PER.big', 'text', '[]',
       replace(printf('%.*c', 8000000, 'x'), 'x', 'Ann' || char(10)))" >/dev/null 2>&1
stops "a model with 32 MB of gazetteer lists, loading" \
    "SELECT count(*) FROM attn_entities('Ann met Bob', 'gaz')"

# Relations count under max_call_memory: 40k entities, 1.2M related pairs, 16 MB allowed.
out=$(LD_PRELOAD=$preload sqlite3 -batch -cmd ".load $so" "$work/h.db" \
    "SELECT * FROM attn_set_limit('max_call_memory', 16000000);
     SELECT count(*) FROM attn_relations($(words 40000 a), 'every');" 2>&1)
echo "$out" | grep -q "relations need [0-9]* bytes of working memory, above the limit of 16000000 (attn_limit('max_call_memory'))"
check "relations count under max_call_memory" $? "$(echo "$out" | tail -1 | head -c 200)"

# Candidates are bounded: 2 x ATTN_REL_MAX_NEIGHBOURS (16) pairs an entity at most, so every
# token an entity, 200k tokens, runs in seconds, not hours (once 46 s, O(E^2)).
t0=$(date +%s%N)
out=$(LD_PRELOAD=$preload sqlite3 -batch -cmd ".load $so" "$work/h.db" \
    "SELECT count(*) <= 200000 * 32 FROM attn_relations($(words 200000 a), 'every')" 2>&1)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$out" = 1 ] && [ "$ms" -le "$BOUND_MS" ]
check "relation candidates bounded" $? "$ms ms, $out"

echo "hostile_calls: $passed passed, $failed failed"
[ "$failed" = 0 ]
