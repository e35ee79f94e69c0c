#!/bin/sh
# run.sh SECONDS BIN...: runs each libFuzzer target for SECONDS seconds and prints one line per
# target: executions, coverage (cov: edges, ft: features, from libFuzzer's last status line) and
# crashes. Called by `make fuzz`.
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
status=0
mkdir -p build/fuzz/logs build/fuzz/artifacts
printf '%-22s %12s %8s %8s  %s\n' target executions cov ft crashes
for bin in "$@"; do
    name=$(basename "$bin")
    corpus=build/fuzz/corpus/$name
    log=build/fuzz/logs/$name.log
    mkdir -p "$corpus"
    [ -d "tests/fuzz/corpus/$name" ] && cp -n tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
    dict=
    [ -f "tests/fuzz/$name.dict" ] && dict=-dict=tests/fuzz/$name.dict
    # -rss_limit_mb also sets -malloc_limit_mb: one allocation above 2 GiB is reported.
    UBSAN_OPTIONS=print_stacktrace=1 "$bin" -max_total_time="$seconds" -print_final_stats=1 \
        -rss_limit_mb=2048 -timeout=30 -artifact_prefix=build/fuzz/artifacts/"$name"- \
        $dict "$corpus" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    crashes=0
    if [ $rc -ne 0 ]; then
        crashes="1: $(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1) (see $log)"
        status=1
    fi
    printf '%-22s %12s %8s %8s  %s\n' "$name" "${runs:-?}" "${cov:-?}" "${ft:-?}" "$crashes"
done
exit $status
