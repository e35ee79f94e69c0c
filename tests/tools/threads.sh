#!/usr/bin/env bash
# tests/tools/threads.sh MODE SQL_THREADS EXTENSION GEN_MODEL [THREADS] [ROUNDS]
# Runs tests/tools/sql_threads (8 threads by default) on a fresh database holding the gen_model
# models it needs ('tiny', 'every'). MODE tsan: the tool and the extension are ThreadSanitizer
# builds (make test-tsan) and any TSan report is a failure; MODE san: ATTN_PRELOAD is set by
# tests/run.sh, nothing to do here (the tool itself is not instrumented). Prints the tool's
# output and closes with "threads (MODE): N passed, N failed".
set -u
mode=$1 tool=$2 ext=$3 gen=$4 threads=${5:-8} rounds=${6:-4}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db=$work/threads.db
if ! "$gen" "$db" tiny --seed 5 --scale 0.3 >"$work/gen" 2>&1 ||
   ! "$gen" "$db" every --seed 8 --set tag.b:1:8 --set rel.out.b:1:8 --set cls.b:0:8 >>"$work/gen" 2>&1; then
    cat "$work/gen"; echo "threads ($mode): 0 passed, 1 failed (gen_model)"; exit 1
fi
# halt_on_error=0: every report is printed; exitcode 66 when there was one.
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 ${TSAN_OPTIONS:-}"
LD_PRELOAD=${ATTN_PRELOAD:-} "$tool" "$ext" "$db" "$threads" "$rounds" >"$work/out" 2>&1
status=$?
races=$(grep -c 'WARNING: ThreadSanitizer' "$work/out")
line=$(grep -E '^sql_threads: [0-9]+ passed, [0-9]+ failed' "$work/out" | tail -1)
grep -v -E '^sql_threads: [0-9]+ passed' "$work/out" | head -80
p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
[ -z "$line" ] && p=0 f=1
[ "$races" != 0 ] && { echo "threads ($mode): $races ThreadSanitizer reports"; f=$((f + races)); }
[ "$status" != 0 ] && [ "$f" = 0 ] && { echo "threads ($mode): exit status $status"; f=1; }
echo "threads ($mode): $p passed, $f failed"
[ "$f" = 0 ]
