# tests/clients/client.py EXTENSION: attnext from Python's sqlite3 module, as the README shows it.
# Run with Debian's /usr/bin/python3: its sqlite3 module can load extensions (a Python built
# without --enable-loadable-sqlite-extensions has no enable_load_extension).
import sqlite3
import sys

con = sqlite3.connect(":memory:")
con.enable_load_extension(True)
con.load_extension(sys.argv[1])  # "attnext" after make install; the entry point is sqlite3_attnext_init
con.enable_load_extension(False)

print(con.execute("SELECT attn_classify(?)", ("What a wonderful, moving film.",)).fetchone()[0])
for row in con.execute('SELECT entity, label, start, "end" FROM attn_entities(?)',
                       ("Angela Merkel met Barack Obama in Berlin on Monday.",)):
    print("|".join(str(v) for v in row))
