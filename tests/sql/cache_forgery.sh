#!/usr/bin/env bash
# tests/sql/cache_forgery.sh EXTENSION TOOLS_DIR
#
# Issue 18, item 2: the model cache must not be keyed by something a database can forge. An
# attached database holds a model 'evil': the rows of the victim's model 'pos' with cls.b
# changed (it answers 'negative' where 'pos' answers 'positive') and the last 8 bytes of
# embed.norm (an unused bucket) solved so that the rows' 64-bit fingerprint, which keyed the
# process-wide cache before, equals that of 'pos'. After a call has loaded 'evil', the victim's
# own 'pos' must still answer from its own rows, attached or detached. Needs python3.
set -u
so=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tools=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$tools/gen_model" "$work/models.db" pos --seed 9 --tasks classify --set cls.b:1:8 >/dev/null

python3 - "$work/models.db" "$work/evil.db" <<'PY'
import sqlite3, struct, sys, math
M = (1 << 64) - 1
MUL, SEED = 0x9E3779B97F4A7C15, 0x6174746E65787431
LANE = [0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89]
MUL_INV = pow(MUL, -1, 1 << 64)

def mix(h, w):
    h = ((h ^ w) * MUL) & M
    return h ^ (h >> 29)

def unmix(y):                       # the x with g(x) = y, g(x) = x*MUL ^ (x*MUL >> 29)
    x = y ^ (y >> 29) ^ (y >> 58)
    return (x * MUL_INV) & M

def word(b, i): return struct.unpack_from('<Q', b, i)[0]

def add(h, b):                      # ext/registry.c fingerprint_add, as it was
    n = len(b); h = mix(h, n); i = 0
    if n >= 32:
        lane = [h ^ s for s in LANE]
        while i + 32 <= n:
            for l in range(4): lane[l] = mix(lane[l], word(b, i + 8 * l))
            i += 32
        for l in range(4): h = mix(h, lane[l])
    while i + 8 <= n: h = mix(h, word(b, i)); i += 8
    if i < n: h = mix(h, int.from_bytes(b[i:] + bytes(8 - n + i), 'little') ^ (0xFF << 56))
    return h

TYPE = {int: 1, float: 2, str: 3, bytes: 4}
def as_bytes(v): return v.encode() if isinstance(v, str) else bytes(v)

def states(rows):                   # state before each data value, and the final state
    h, before = SEED, []
    for r in rows:
        for c, v in enumerate(r):
            h = add(h, bytes([TYPE[type(v)]]))
            if c == 3: before.append(h)
            h = add(h, as_bytes(v))
    return before, h

src = sqlite3.connect(sys.argv[1])
rows = [list(r) for r in src.execute(
    "SELECT key, dtype, shape, data FROM attn_model WHERE name = 'pos' ORDER BY key")]
_, target_final = states(rows)
keys = [r[0] for r in rows]
evil = [list(r) for r in rows]
evil[keys.index('cls.b')][3] = struct.pack('<2f', 8.0, -8.0)    # 'negative' wins
k = keys.index('embed.norm')
victim_before, _ = states(rows)
data = bytearray(rows[k][3]); n = len(data)
assert n % 32 == 0                  # its last word is the last word of lane 3
want_after = add(victim_before[k], bytes(rows[k][3]))   # victim's state after this value
for attempt in range(1000):
    if attempt: data[n - 32:n - 24] = struct.pack('<2f', 0.001 * attempt, 0.0)  # lane 0: retry
    h_before = states([r if i != k else r[:3] + [bytes(data)] for i, r in enumerate(evil)])[0][k]
    h = mix(h_before, n); lane = [h ^ s for s in LANE]
    for i in range(0, n - 32, 32):
        for l in range(4): lane[l] = mix(lane[l], word(data, i + 8 * l))
    for l in range(3): lane[l] = mix(lane[l], word(data, n - 32 + 8 * l))
    for l in range(3): h = mix(h, lane[l])
    lane3 = unmix(want_after) ^ h                        # mix(h, lane3) = want_after
    w = unmix(lane3) ^ lane[3]                          # mix(lane[3], w) = lane3
    a, b = struct.unpack('<2f', struct.pack('<Q', w))
    if math.isfinite(a) and math.isfinite(b):
        struct.pack_into('<Q', data, n - 8, w)
        break
evil[k][3] = bytes(data)
assert add(h_before, bytes(data)) == want_after
assert states(evil)[1] == target_final and evil != rows
dst = sqlite3.connect(sys.argv[2])
dst.execute("CREATE TABLE attn_model(name TEXT NOT NULL, key TEXT NOT NULL, dtype TEXT NOT NULL, "
            "shape TEXT NOT NULL, data BLOB, PRIMARY KEY (name, key))")
dst.executemany("INSERT INTO attn_model VALUES ('evil', ?, ?, ?, ?)", evil)
dst.commit()
PY
[ $? = 0 ] || { echo "FAIL cache_forgery (could not build the forged model)"; exit 1; }

out=$(cd "$work" && LD_PRELOAD=${ATTN_PRELOAD:-} sqlite3 -batch -cmd ".load $so" models.db "
  PRAGMA trusted_schema = OFF;
  ATTACH 'evil.db' AS evil;
  SELECT 'evil', attn_classify('good', 'evil');
  SELECT 'pos attached', attn_classify('good', 'pos');
  DETACH evil;
  SELECT 'pos detached', attn_classify('good', 'pos');" 2>&1)
want="evil|negative
pos attached|positive
pos detached|positive"
if [ "$out" = "$want" ]; then echo "ok   cache_forgery"; exit 0; fi
echo "FAIL cache_forgery"; echo "$out"; exit 1
