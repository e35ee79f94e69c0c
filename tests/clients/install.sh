#!/usr/bin/env bash
# tests/clients/install.sh: make install and make uninstall, as the README tells a user.
#   staged  make install DESTDIR=tmp: the files, the library folder being one the dynamic
#           linker searches by default (ld.so --help), `.load attnext` by bare name from another
#           folder (LD_LIBRARY_PATH pointing into the staging tree), the optional model ATTACHed;
#           PREFIX=/usr/local says to load by path; make uninstall leaves no file behind
#   system  (root only, and only when no attnext.so is installed already) make install, then
#           `.load attnext` from / in the sqlite3 shell and load_extension('attnext') in Python,
#           then make uninstall
# Prints "ok ...", "FAIL ..." or "skip ...: why" for each.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
failed=0
mk() { make --no-print-directory -s -C "$root" "$@"; }
say() { if [ "$1" = 0 ]; then echo "ok   install: $2"; else echo "FAIL install: $2"; failed=1; fi; }
film="SELECT attn_classify('What a wonderful, moving film.')"

mk install DESTDIR="$stage/d" >"$stage/log" 2>&1
say $? "make install DESTDIR=... ($(tail -1 "$stage/log"))"
so=$(cd "$stage/d" && find . -name attnext.so | head -1)
[ -n "$so" ] || { echo "FAIL install: no attnext.so under DESTDIR"; exit 1; }
libdir=/${so#./}
libdir=${libdir%/attnext.so}
cmp -s "$root/attnext.so" "$stage/d$libdir/attnext.so" &&
    [ "$(stat -c %a "$stage/d$libdir/attnext.so")" = 644 ]
say $? "attnext.so in LIBDIR=$libdir, mode 644"
ldso=$(ls /lib64/ld-linux-*.so.* /lib/ld-linux-*.so.* 2>/dev/null | head -1)
"$ldso" --help | grep -qxF "  $libdir (system search path)"
say $? "$libdir is a system search path of $ldso, so dlopen(\"attnext\") looks there"
out=$(cd "$stage" && LD_LIBRARY_PATH="$stage/d$libdir" sqlite3 :memory: '.load attnext' "$film" 2>&1)
[ "$out" = positive ]
say $? ".load attnext by bare name from another folder: $out"
out=$(cd "$stage" && sqlite3 :memory: ".load $stage/d$libdir/attnext" \
    "ATTACH '$stage/d/usr/share/attnext/en-semeval.db' AS s" \
    "SELECT count(*) FROM attn_models WHERE name = 'en-semeval'" 2>&1)
[ "$out" = 1 ]
say $? "the optional en-semeval.db in /usr/share/attnext ATTACHes: $out"
mk uninstall DESTDIR="$stage/d" >"$stage/log" 2>&1 && [ -z "$(find "$stage/d" -type f)" ]
say $? "make uninstall DESTDIR=... removes every file"
mk install DESTDIR="$stage/l" PREFIX=/usr/local 2>&1 | grep -q "load it by path, .load /usr/local/lib"
say $? "PREFIX=/usr/local: installs, and says to load by path"

if [ "$(id -u)" != 0 ]; then
    echo "skip install: system: needs root (make install writes $libdir)"
elif [ -e "$libdir/attnext.so" ] || [ -e /usr/share/attnext ]; then
    echo "skip install: system: $libdir/attnext.so or /usr/share/attnext exists; not touching it"
else
    mk install >"$stage/log" 2>&1
    say $? "make install"
    out=$(cd / && sqlite3 :memory: '.load attnext' "$film" 2>&1)
    [ "$out" = positive ]
    say $? "sqlite3 shell in /: .load attnext: $out"
    out=$(cd / && /usr/bin/python3 -c 'import sqlite3; c = sqlite3.connect(":memory:")
c.enable_load_extension(True); c.load_extension("attnext")
print(c.execute("'"$film"'").fetchone()[0])' 2>&1)
    [ "$out" = positive ]
    say $? "python3 in /: load_extension('attnext'): $out"
    mk uninstall >"$stage/log" 2>&1 && [ ! -e "$libdir/attnext.so" ] && [ ! -e /usr/share/attnext ]
    say $? "make uninstall"
fi
exit $failed
