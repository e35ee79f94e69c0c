#!/usr/bin/env bash
# cluster/test.sh BIN EXT: three attnext nodes on 127.0.0.1, 1,000 SST-2 rows, a model trained
# on the leader, one SIGKILL of the leader; every answer before and after must be the same, and
# the same as a local sqlite3 with the extension. Prints "N passed, N failed"; about 30 s.
# Part of make test when libdqlite is installed (tests/run.sh).
set -u
BIN=$1 EXT=$2
BASE_PORT=${BASE_PORT:-19300}
DATA=${ATTN_DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
pass=0 fail=0
check() {   # check NAME COMMAND...: passes when the command succeeds
    local name=$1; shift
    if "$@"; then pass=$((pass + 1)); echo "ok   $name"
    else fail=$((fail + 1)); echo "FAIL $name"; fi
}
not() { ! "$@" 2>/dev/null; }
same() { cmp -s "$1" "$2" || { diff "$1" "$2" | head -5; return 1; }; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; exit $?; }
if [ ! -f "$DATA/sst2/test.tsv" ]; then echo "no $DATA/sst2/test.tsv"; fail=1; finish; fi

for id in 1 2 3; do start_node "$id"; wait_serving "$id" || { echo "node $id did not start"; fail=1; finish; }; done
check "3 voters" test "$(dq --cluster | grep -c ' voter$')" = 3

# The client: every value type, and a result large enough to come in several batches.
check "value types" test "$(dq test "SELECT hex(x'00ff'), x'414243', 1.5, NULL, -42, 'txt', 'é'")" = "00FF|ABC|1.5||-42|txt|é"
check "100,000-row result" test "$(dq test "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
  WHERE i < 100000) SELECT i, printf('%.50c', 'x') FROM n" | awk -F'|' '$1 == NR' | wc -l)" = 100000

dq test "CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT, gold TEXT, label TEXT)"
sst2_inserts 1000 | dq test
check "1000 rows replicated" test "$(dq test 'SELECT count(*) FROM docs')" = 1000

Q_CLS="SELECT id, attn_classify(body) FROM docs ORDER BY id"
Q_ENT="SELECT d.id, e.start, e.end, e.label, e.entity FROM docs d, attn_entities(d.body) e WHERE d.id <= 200 ORDER BY 1, 2"
Q_EACH="SELECT id, label FROM attn_classify_each('SELECT id, body FROM docs ORDER BY id')"
dq test "$Q_CLS" >"$CL/cls.before"
dq test "$Q_ENT" >"$CL/ent.before"
dq test "$Q_EACH" >"$CL/each.before"

# The same rows in a local database: the cluster answers as the extension does at home.
sst2_inserts 1000 | sed 's/$/;/' >"$CL/local.sql"
sqlite3 -cmd ".load $EXT" "$CL/local.db" \
    "CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT, gold TEXT, label TEXT);" ".read $CL/local.sql" \
    "$Q_CLS" >"$CL/cls.local"
check "classify on the cluster = local" same "$CL/cls.before" "$CL/cls.local"
check "classify_each = classify" same "$CL/each.before" "$CL/cls.before"
check "entities found" test "$(wc -l <"$CL/ent.before")" -gt 0

# A model trained on the leader is rows of attn_model: it replicates like the data.
dq test "CREATE TABLE train_log AS SELECT * FROM attn_train('toy', 'classify',
  'SELECT body, CASE WHEN id % 2 THEN ''odd'' ELSE ''even'' END FROM docs WHERE id <= 200',
  '{\"dim\": 16, \"layers\": 1, \"heads\": 2, \"ffn\": 32, \"max_len\": 32, \"epochs\": 2,
    \"batch_size\": 16, \"seed\": 3, \"features\": [{\"kind\": \"norm\", \"buckets\": 256, \"dim\": 8}]}')"
# Sent as a read query, attn_train's write would bypass replication (libdqlite then aborts the
# node): attnext-node refuses it and keeps serving.
L0=$(leader_id)
check "attn_train as a query is refused" not dq test "SELECT epoch FROM attn_train('toy2', 'classify',
  'SELECT body, gold FROM docs WHERE id <= 20', '{\"dim\": 16, \"layers\": 1, \"heads\": 2, \"ffn\": 32, \"epochs\": 1}')"
sleep 0.5
check "the leader still serves" test "$(dq test "SELECT count(*) FROM attn_model WHERE name = 'toy2'")" = 0 \
    -a "$(leader_id)" = "$L0"
check "no node died" kill -0 "${NODE_PID[1]}" "${NODE_PID[2]}" "${NODE_PID[3]}"
Q_TOY="SELECT id, attn_classify_scores(body, 'toy') FROM docs WHERE id <= 50 ORDER BY id"
dq test "$Q_TOY" >"$CL/toy.before"
check "toy model trained on the leader" test "$(wc -l <"$CL/toy.before")" = 50

old=$(leader_id)
t0=$(now_ms)
kill_node "$old"
new=$(leader_id 30)
t1=$(now_ms)
echo "leader $old killed; node $new leads after $((t1 - t0)) ms"
check "a new leader within 30 s" test -n "$new" -a "$new" != "$old"

dq test "$Q_CLS" >"$CL/cls.after"
dq test "$Q_ENT" >"$CL/ent.after"
dq test "$Q_EACH" >"$CL/each.after"
dq test "$Q_TOY" >"$CL/toy.after"
check "classify after failover" same "$CL/cls.before" "$CL/cls.after"
check "entities after failover" same "$CL/ent.before" "$CL/ent.after"
check "classify_each after failover" same "$CL/each.before" "$CL/each.after"
check "trained model after failover" same "$CL/toy.before" "$CL/toy.after"

dq test "UPDATE docs SET label = attn_classify(body) WHERE id <= 100"
check "writes after failover" test "$(dq test 'SELECT count(*) FROM docs WHERE label IS NOT NULL')" = 100

# The killed node comes back with its data folder and catches up.
start_node "$old"
wait_serving "$old"
check "killed node restarts and is a voter" test "$(dq --cluster | grep -c ' voter$')" = 3
finish
