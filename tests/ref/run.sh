#!/usr/bin/env bash
# tests/ref/run.sh BUILD_DIR: builds dump_forward against BUILD_DIR/model/*.o, dumps random
# models and the C engine's outputs, and checks them against the numpy reference
# (check_forward.py). Prints the per-quantity max errors and "ref: N passed, N failed".
set -u
build=${1:?usage: tests/ref/run.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CC=${CC:-cc}

objs=$(ls "$build"/model/*.o 2>/dev/null)
if [ -z "$objs" ]; then
    echo "ref: 0 passed, 1 failed (no objects in $build/model)"; exit 1
fi
if ! $CC -std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -iquote "$root/model" \
        -I/usr/include/x86_64-linux-gnu/openblas-pthread \
        -o "$tmp/dump_forward" "$here/dump_forward.c" $objs \
        -lopenblas -lutf8proc -lm -lpthread; then
    echo "ref: 0 passed, 1 failed (dump_forward does not build)"; exit 1
fi
if ! "$tmp/dump_forward" "$tmp/dump"; then
    echo "ref: 0 passed, 1 failed (dump_forward failed)"; exit 1
fi
/usr/bin/python3 "$here/check_forward.py" "$tmp/dump"
