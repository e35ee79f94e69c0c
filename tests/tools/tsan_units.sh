#!/usr/bin/env bash
# tests/tools/tsan_units.sh TEST...
# Runs unit tests built with -fsanitize=thread (make test-tsan: the thread pool, the word
# vectors on it) once at the default SIMD level and once with ATTN_SIMD=scalar, whose plain
# loads and stores TSan sees (it does not instrument the AVX kernels' vector accesses). Any
# ThreadSanitizer report fails, except those tests/tools/tsan.supp names: the word vectors'
# Hogwild updates, unlocked by design (model/wordvec.h). Prints each test's counts and closes
# with "tsan units: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 suppressions=$here/tsan.supp ${TSAN_OPTIONS:-}"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
pass=0 fail=0
for t in "$@"; do
    for simd in default scalar; do
        if [ "$simd" = scalar ]; then ATTN_SIMD=scalar "$t" >"$out" 2>&1; else "$t" >"$out" 2>&1; fi
        status=$?
        races=$(grep -c 'WARNING: ThreadSanitizer' "$out")
        line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
        p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
        f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
        [ -z "$line" ] && p=0 f=1
        f=$((f + races))
        [ "$status" != 0 ] && [ "$f" = 0 ] && f=1
        [ "$f" != 0 ] && grep -v -E '[0-9]+ passed, [0-9]+ failed' "$out" | head -80
        [ "$races" != 0 ] && echo "$races ThreadSanitizer reports"
        echo "tsan $(basename "$t") ($simd): $p passed, $f failed"
        pass=$((pass + p)) fail=$((fail + f))
    done
done
echo "tsan units: $pass passed, $fail failed"
[ "$fail" = 0 ]
