#!/usr/bin/env bash
# tests/clients/run.sh EXTENSION: the README's ways of loading attnext, each run from a scratch
# folder (not the source tree) and compared with what it should print:
#   shell   example.sql through the sqlite3 shell        = example.expected (the README pastes it)
#   python  client.py with Debian's /usr/bin/python3     = clients.expected
#   c       client.c, sqlite3_load_extension()           = clients.expected
#   node    client.js with better-sqlite3 12.x           = clients.expected; better-sqlite3 is
#           installed from npm into build/node (once; it compiles its own SQLite, a few minutes),
#           and the check is skipped, saying why, without node 20+, npm or the npm registry
#   install install.sh: make install into a DESTDIR, and into the system when run as root
# Prints "ok NAME", "FAIL NAME" (with a diff) or "skip NAME: why", then "clients: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
so=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0

# check NAME EXPECTED_FILE COMMAND...: runs COMMAND in $work, compares its stdout+stderr.
check() {
    local name=$1 expected=$2; shift 2
    if (cd "$work" && "$@") >"$work/out" 2>&1 && diff -u "$expected" "$work/out" >"$work/diff" 2>&1; then
        echo "ok   $name"; passed=$((passed + 1))
    else
        echo "FAIL $name"; cat "$work/diff" 2>/dev/null; tail -20 "$work/out"; failed=$((failed + 1))
    fi
}

check shell "$here/example.expected" sh -c "sqlite3 -batch :memory: -cmd '.load $so' <'$here/example.sql'"
check python "$here/clients.expected" /usr/bin/python3 "$here/client.py" "$so"
if cc -Wall -Wextra -Werror -o "$work/client" "$here/client.c" -lsqlite3 2>"$work/cc.log"; then
    check c "$here/clients.expected" "$work/client" "$so"
else
    echo "FAIL c (does not compile)"; cat "$work/cc.log"; failed=$((failed + 1))
fi

# Node: better-sqlite3 12.x (13.x wants Node 22) in build/node, never in the source tree.
node_dir=$root/build/node
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "skip node: node and npm are not installed"
elif [ "$node_major" -lt 20 ]; then
    echo "skip node: better-sqlite3 12.x needs Node 20 or newer, this is $(node --version)"
elif [ ! -d "$node_dir/node_modules/better-sqlite3" ] &&
     ! timeout 60 npm view better-sqlite3@12 version >/dev/null 2>&1; then
    echo "skip node: the npm registry is not reachable, so better-sqlite3 cannot be installed"
else
    if [ ! -d "$node_dir/node_modules/better-sqlite3" ]; then
        mkdir -p "$node_dir"
        timeout 1200 npm install --prefix "$node_dir" --no-audit --no-fund better-sqlite3@12 \
            >"$work/npm.log" 2>&1 || { tail -20 "$work/npm.log"; rm -rf "$node_dir/node_modules"; }
    fi
    check node "$here/clients.expected" env NODE_PATH="$node_dir/node_modules" node "$here/client.js" "$so"
fi

# make install / uninstall, staged and (as root) for real.
"$here/install.sh" >"$work/install" 2>&1
status=$?
cat "$work/install"
passed=$((passed + $(grep -c '^ok' "$work/install")))
failed=$((failed + $(grep -c '^FAIL' "$work/install")))
if [ "$status" != 0 ] && ! grep -q '^FAIL' "$work/install"; then
    echo "FAIL install (exit $status)"; failed=$((failed + 1))
fi

echo "clients: $passed passed, $failed failed"
[ "$failed" = 0 ]
