#!/bin/sh
# run.sh SECONDS BIN...: runs each libFuzzer target for SECONDS seconds, FUZZ_JOBS targets at a
# time (default 1; `make fuzz` and `make test` use 2), and prints one line per target, in the
# order given: executions, coverage (cov: edges, ft: features, from libFuzzer's last status
# line) and crashes; then "fuzz: N passed, N failed" (a target passes when it did not crash).
# Called by `make fuzz` and `make test-fuzz` (part of `make test`).
#   corpus     build/fuzz/corpus/<target>: starts as a copy of tests/fuzz/corpus/<target>
#              (committed seeds, never written to) and keeps what earlier runs found
#   dictionary tests/fuzz/<target>.dict when present
#   crashes    build/fuzz/artifacts/<target>-crash-*; the log is build/fuzz/logs/<target>.log
# A target stops at its first crash. Exit status 1 when any target crashed.
# Reproduce a crash: build/fuzz/<target> build/fuzz/artifacts/<file>
# Minimise it:       build/fuzz/<target> -minimize_crash=1 -runs=20000 <file>
set -u
seconds=$1
shift
jobs=${FUZZ_JOBS:-1}
mkdir -p build/fuzz/logs build/fuzz/artifacts

# run_target BIN: fuzzes one target; writes its summary line to build/fuzz/logs/<target>.line
# and "crash" to build/fuzz/logs/<target>.crash when it crashed.
run_target() {
    name=$(basename "$1")
    corpus=build/fuzz/corpus/$name
    log=build/fuzz/logs/$name.log
    rm -f build/fuzz/logs/"$name".crash
    mkdir -p "$corpus"
    [ -d "tests/fuzz/corpus/$name" ] && cp -n tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
    dict=
    [ -f "tests/fuzz/$name.dict" ] && dict=-dict=tests/fuzz/$name.dict
    # -rss_limit_mb also sets -malloc_limit_mb: one allocation above 2 GiB is reported.
    UBSAN_OPTIONS=print_stacktrace=1 "$1" -max_total_time="$seconds" -print_final_stats=1 \
        -rss_limit_mb=2048 -timeout=30 -artifact_prefix=build/fuzz/artifacts/"$name"- \
        $dict "$corpus" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    crashes=0
    if [ $rc -ne 0 ]; then
        crashes="1: $(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1) (see $log)"
        echo crash >build/fuzz/logs/"$name".crash
    fi
    printf '%-22s %12s %8s %8s  %s\n' "$name" "${runs:-?}" "${cov:-?}" "${ft:-?}" "$crashes" \
        >build/fuzz/logs/"$name".line
}

# Groups of $jobs targets run side by side.
running=0
for bin in "$@"; do
    run_target "$bin" &
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then wait; running=0; fi
done
wait

printf '%-22s %12s %8s %8s  %s\n' target executions cov ft crashes
passed=0 failed=0
for bin in "$@"; do
    name=$(basename "$bin")
    cat build/fuzz/logs/"$name".line
    if [ -e build/fuzz/logs/"$name".crash ]; then failed=$((failed + 1)); else passed=$((passed + 1)); fi
done
echo "fuzz: $passed passed, $failed failed"
[ $failed = 0 ]
