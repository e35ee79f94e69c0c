#!/usr/bin/env bash
# tests/run.sh MODE BUILD_DIR EXTENSION
# Runs every suite against one build (MODE rel = release, san = ASan+UBSan; check = make
# check's quick loop: the release build's unit and SQL tests only, no valgrind) and closes with
# one line "N passed, N failed" summing all suites. Each suite prints its own
# "<suite>: N passed, N failed" line; a suite that crashes counts as one failure.
set -u
mode=$1 build=$2 ext=$3
here=$(cd "$(dirname "$0")" && pwd)
total_pass=0 total_fail=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

if [ "$mode" = san ]; then
    # The sqlite3 shell is not instrumented: preload the ASan runtime so the extension can load.
    export ATTN_PRELOAD="$(gcc -print-file-name=libasan.so)"
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

# count_suite NAME STATUS OUTPUT_FILE: adds the suite's closing counts to the totals.
count_suite() {
    local name=$1 status=$2 out=$3 line p f
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
    if [ -z "$line" ]; then
        echo "[$mode] $name: crashed or printed no counts (exit $status)"; tail -20 "$out"
        total_fail=$((total_fail + 1)); return
    fi
    p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
    f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
    if [ "$status" != 0 ] && [ "$f" = 0 ]; then f=1; fi
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    if [ "$f" != 0 ]; then grep -vE '^\s*$' "$out" | tail -40; fi
    grep -i 'not run' "$out" | sed "s/^/[$mode] $name: /" || true
    echo "[$mode] $name: $p passed, $f failed"
}

for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    ( cd "$here/.." && "$t" ) >"$log/$name" 2>&1
    count_suite "$name" $? "$log/$name"
done

if [ "$mode" = rel ] && [ -x "$here/ref/run.sh" ]; then
    "$here/ref/run.sh" "$build" >"$log/ref" 2>&1
    count_suite "numpy reference" $? "$log/ref"
fi

if [ -x "$here/sql/run.sh" ]; then
    [ "$mode" = rel ] && export ATTN_VALGRIND=1
    # check: the numbered SQL tests, not the timed hostile_calls / cache_forgery scripts.
    [ "$mode" = check ] && export SQL_TESTS=${SQL_TESTS:-[0-9]*}
    "$here/sql/run.sh" "$ext" "build/rel/tools" >"$log/sql" 2>&1
    count_suite "sql" $? "$log/sql"
fi

# 8 threads, one connection each, on one database while models are retrained
# (tests/tools/sql_threads.c; make test-tsan runs it under ThreadSanitizer too).
if [ "$mode" != check ] && [ -x build/rel/tools/sql_threads ]; then
    "$here/tools/threads.sh" "$mode" build/rel/tools/sql_threads "$ext" build/rel/tools/gen_model \
        >"$log/threads" 2>&1
    count_suite "threads" $? "$log/threads"
    grep -E 'threads x' "$log/threads" | sed "s/^/[$mode] /"
fi

# SIGKILL of a sqlite3 shell running attn_train, at several points (tests/sql/kill_train.sh).
if [ "$mode" != check ]; then
    "$here/sql/kill_train.sh" "$ext" >"$log/kill_train" 2>&1
    count_suite "kill_train" $? "$log/kill_train"
fi

# The README's clients (sqlite3 shell, Python, C, Node) and make install (tests/clients/).
if [ "$mode" = rel ]; then
    "$here/clients/run.sh" "$ext" >"$log/clients" 2>&1
    count_suite "clients" $? "$log/clients"
    grep -E '^(ok|FAIL|skip) ' "$log/clients" | sed "s/^/[$mode] clients: /"
fi

# Three attnext nodes in a dqlite cluster, one failover (cluster/test.sh); release build only,
# since the node program is not instrumented. Needs libdqlite-dev (make deps installs it).
if [ "$mode" = rel ]; then
    if [ -x "$build/cluster/attnext-node" ] && [ -x "$build/cluster/attnext-dq" ]; then
        "$here/../cluster/test.sh" "$build/cluster" "$ext" >"$log/cluster" 2>&1
        count_suite "cluster" $? "$log/cluster"
        grep -E 'leads after' "$log/cluster" | sed "s/^/[$mode] cluster: /"
    else
        echo "[$mode] cluster: not run (libdqlite-dev not installed: make deps)"
    fi
fi

# The accuracy gate (built-in models on their test sets): once, with the release build.
if [ "$mode" = rel ] && [ -x "$here/accuracy/run.sh" ]; then
    "$here/accuracy/run.sh" "$ext" >"$log/accuracy" 2>&1
    count_suite "accuracy" $? "$log/accuracy"
    grep -E '^(ok|FAIL) ' "$log/accuracy" | sed "s/^/[$mode] accuracy: /"
fi

echo "[$mode] all suites: $total_pass passed, $total_fail failed"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
