#!/usr/bin/env bash
# tests/sql/run.sh EXTENSION TOOLS_DIR
#
# Runs every tests/sql/NN_name.sql through the real sqlite3 shell with the extension loaded and
# compares what the shell prints (stdout and stderr) with NN_name.expected. Each test starts
# from fresh copies of the databases built here with gen_model:
#   models.db  main: tiny (random, all tasks), every (tags every token B-PER, relates every
#              pair Work_For, classifies 'negative'), every16 (the same in f16), pos
#              (classify only, always 'positive'), ner (entities only)
#   aux.db     en-ner (tags every token LOC), every (shadowed by main's: labels bad/good)
#   broken.db  one broken model per kind of damage
#   q8.db      every8, tiny8: the weights of every and tiny, packed to q8 storage (attn_pack)
#   *.conll    the CoNLL fixtures of tests/fixtures (for attn_conll)
# The whole suite runs twice: with the SIMD level the CPU allows and with ATTN_SIMD=scalar.
# Error lines are printed by the shell as "Runtime error near line N: msg"; the line number
# is dropped so editing a test does not change every later expectation.
#
# Then tools/sql_threads (if built) runs 6 threads with a connection each over models.db, and
# (in a full run) hostile_calls.sh times interrupts of long calls and cache_forgery.sh checks
# that a forged fingerprint does not poison the model cache.
# ATTN_PRELOAD (set by tests/run.sh for sanitizer builds) is preloaded into the shell.
# UPDATE_EXPECTED=1 rewrites the .expected files from the default pass (review the diff!).
# SQL_TESTS=GLOB runs only the tests whose name matches (e.g. SQL_TESTS=20_each).
set -u
so=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tools=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gen="$tools/gen_model"

build_dbs() {
    local d=$1 g="$gen"
    mkdir -p "$d"
    "$g" "$d/models.db" tiny --seed 5 --scale 0.3 &&
    "$g" "$d/models.db" every --seed 8 --set tag.b:1:8 --set rel.out.b:1:8 --set cls.b:0:8 &&
    "$g" "$d/models.db" every16 --seed 8 --set tag.b:1:8 --set rel.out.b:1:8 --set cls.b:0:8 \
        --dtype f16 &&
    "$g" "$d/models.db" pos --seed 9 --tasks classify --set cls.b:1:8 &&
    "$g" "$d/models.db" ner --seed 10 --tasks entities --entity-labels PER,LOC &&
    "$g" "$d/aux.db" en-ner --seed 11 --tasks entities --entity-labels PER,LOC --set tag.b:3:8 &&
    "$g" "$d/aux.db" every --seed 12 --classify-labels bad,good --set cls.b:1:8 &&
    "$g" "$d/broken.db" no-tensor --break missing:tag.w &&
    "$g" "$d/broken.db" bad-shape --break shape:tag.w &&
    "$g" "$d/broken.db" short --break truncate:crf.trans &&
    "$g" "$d/broken.db" nan --break nan:cls.b &&
    "$g" "$d/broken.db" bad-config --break config &&
    "$g" "$d/broken.db" good --seed 13 &&
    "$g" "$d/f32.db" every8 --seed 8 --set tag.b:1:8 --set rel.out.b:1:8 --set cls.b:0:8 &&
    "$g" "$d/f32.db" tiny8 --seed 5 --scale 0.3 &&
    LD_PRELOAD=$preload sqlite3 -batch -bail -cmd ".load $so" "$d/f32.db" \
        "ATTACH '$d/q8.db' AS q8" "SELECT name FROM attn_pack('every8', 'every8', 'q8', 'q8')" \
        "SELECT name FROM attn_pack('tiny8', 'tiny8', 'q8', 'q8')" &&
    rm "$d/f32.db" &&
    cp "$here"/../fixtures/*.conll "$d"/
}

preload=${ATTN_PRELOAD:-}
if ! build_dbs "$work/template" >"$work/gen.log" 2>&1; then
    cat "$work/gen.log"
    echo "sql: 0 passed, 1 failed (gen_model)"
    exit 1
fi

passed=0 failed=0

# run_one TEST.sql SIMD: prints the normalised output of the test.
run_one() {
    local t=$1 simd=$2 dir="$work/run"
    rm -rf "$dir" && cp -r "$work/template" "$dir"
    (
        cd "$dir" &&
        if [ -n "$simd" ]; then export ATTN_SIMD=$simd; fi &&
        LD_PRELOAD=$preload $wrap sqlite3 -batch -cmd ".load $so" models.db <"$t" 2>&1
    ) | sed -E 's/^(Runtime|Parse) error near line [0-9]+: /Error: /'
}

# With ATTN_VALGRIND=1 (tests/run.sh sets it for the release build when valgrind is there) a
# third pass runs every test under memcheck: any error or definitely-lost block is printed by
# valgrind into the output and so fails the comparison.
passes="default scalar"
[ "${ATTN_VALGRIND:-0}" = 1 ] && command -v valgrind >/dev/null && passes="$passes valgrind"
for pass in $passes; do
    simd="" wrap=""
    [ "$pass" = scalar ] && simd=scalar
    [ "$pass" = valgrind ] && wrap="valgrind -q --error-exitcode=97 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite"
    for t in "$here"/${SQL_TESTS:-[0-9]*}.sql; do
        name=$(basename "$t" .sql)
        expected="$here/$name.expected"
        run_one "$t" "$simd" >"$work/out"
        if [ "${UPDATE_EXPECTED:-0}" = 1 ] && [ "$pass" = default ]; then
            cp "$work/out" "$expected"
        fi
        if diff -u "$expected" "$work/out" >"$work/diff" 2>&1; then
            echo "ok   $name ($pass)"
            passed=$((passed + 1))
        else
            echo "FAIL $name ($pass)"
            head -40 "$work/diff"
            failed=$((failed + 1))
        fi
    done
done
# Every SQL name the extension registers is used by some test (01_load lists them).
names=$(LD_PRELOAD=$preload sqlite3 -batch -cmd ".load $so" :memory: \
    "SELECT DISTINCT name FROM pragma_function_list WHERE name LIKE 'attn%'
     UNION SELECT name FROM pragma_module_list WHERE name LIKE 'attn%'" 2>&1)
untested=""
for n in $names; do
    grep -lq "$n" "$here"/[0-9]*.sql || untested="$untested $n"
done
if [ -n "$names" ] && [ -z "$untested" ]; then
    echo "ok   every registered name has a test"
    passed=$((passed + 1))
else
    echo "FAIL registered names without a test:${untested:- (none registered: $names)}"
    failed=$((failed + 1))
fi

# record NAME STATUS: counts one scripted check; on failure shows the end of $work/out.
record() {
    if [ "$2" = 0 ]; then
        echo "ok   $1"
        passed=$((passed + 1))
    else
        echo "FAIL $1"
        tail -20 "$work/out"
        failed=$((failed + 1))
    fi
}

# Many threads, one connection each, sharing the models (tests/tools/sql_threads.c).
if [ -x "$tools/sql_threads" ]; then
    rm -rf "$work/run" && cp -r "$work/template" "$work/run"
    LD_PRELOAD=$preload "$tools/sql_threads" "$so" "$work/run/models.db" 6 3 >"$work/out" 2>&1 &&
        grep -q ' 0 failed' "$work/out"
    record threads $?
fi

# attn_train interrupted by sqlite3_interrupt or SIGKILL (tests/tools/interrupt_train.c).
if [ -x "$tools/interrupt_train" ]; then
    rm -rf "$work/run" && mkdir -p "$work/run"
    LD_PRELOAD=$preload "$tools/interrupt_train" "$so" "$work/run/interrupt.db" >"$work/out" 2>&1 &&
        grep -q ' 0 failed' "$work/out"
    record interrupt_train $?
fi

if [ -z "${SQL_TESTS:-}" ]; then
    # Long calls stop on sqlite3_interrupt and stay within their bounds (hostile_calls.sh).
    ATTN_PRELOAD=$preload "$here/hostile_calls.sh" "$so" "$tools" >"$work/out" 2>&1
    record hostile_calls $?
    # A forged 64-bit fingerprint must not poison the model cache (cache_forgery.sh).
    if command -v python3 >/dev/null; then
        ATTN_PRELOAD=$preload "$here/cache_forgery.sh" "$so" "$tools" >"$work/out" 2>&1
        record cache_forgery $?
    fi
fi

echo "sql: $passed passed, $failed failed"
[ "$failed" = 0 ]
