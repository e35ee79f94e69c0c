#!/usr/bin/env bash
# cluster/demo.sh BIN EXT: make cluster-demo. Three attnext nodes on 127.0.0.1, a docs table,
# attn_classify and attn_entities through the dqlite shell (go-dqlite's, when installed) and
# attnext-dq; SIGKILL of the leader, the same answers from the new one; a model trained with
# attn_train on the leader, served after that leader is killed too. Stops its nodes and removes
# its folder on exit; fails (exit 1) if any answer differs.
set -eu
BIN=$1 EXT=$2
BASE_PORT=${BASE_PORT:-19200}
DATA=${ATTN_DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
step() { printf '\n== %s\n' "$*"; }
# show SQL: through the dqlite shell when there is one (the user's view), else attnext-dq
show() {
    echo "\$ dqlite -s $SERVERS test \"$1\""
    if command -v dqlite >/dev/null; then timeout 60 dqlite -s "$SERVERS" test "$1"; else dq test "$1"; fi
}
same() {
    if cmp -s "$1" "$2"; then echo "identical: $(wc -l <"$1") rows ($3)"
    else echo "DIFFERENT ($3):"; diff "$1" "$2" | head; exit 1; fi
}
wait_new_leader() {   # wait_new_leader OLD_ID: prints the new leader's id and the time taken
    local t0 new
    t0=$(now_ms)
    new=$(leader_id 30)
    [ -n "$new" ] && [ "$new" != "$1" ] || { echo "no new leader within 30 s"; exit 1; }
    echo "node $new leads, $(( $(now_ms) - t0 )) ms after the kill" >&2
    echo "$new"
}

step "three nodes: node 1 starts the cluster, 2 and 3 join it (ADD + ASSIGN voter)"
for id in 1 2 3; do
    echo "\$ attnext-node --id $id --address $(addr "$id") --dir \$DIR/n$id$([ "$id" = 1 ] || echo " --join $SERVERS")"
    start_node "$id"; wait_serving "$id"
done
dq --cluster

step "a docs table: 1,000 SST-2 sentences and three news lines"
dq test "CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT, gold TEXT)"
sst2_inserts 1000 | dq test
dq test "INSERT INTO docs(id, body) VALUES (1001, 'Barack Obama met Angela Merkel in Berlin on Tuesday.'),
  (1002, 'Shares of Apple fell 3% in New York after the report.'),
  (1003, 'Manchester United beat Chelsea 2-1 at Old Trafford.')"
show "SELECT count(*) FROM docs"

Q_CLS="SELECT id, attn_classify(body) FROM docs ORDER BY id"
Q_ENT="SELECT d.id, e.start, e.end, e.label, e.entity, round(e.score, 4) FROM docs d, attn_entities(d.body) e ORDER BY 1, 2"
show "SELECT id, attn_classify(body) AS label, substr(body, 1, 50) FROM docs WHERE id IN (1, 2, 3, 1001, 1002)"
show "SELECT d.id, e.entity, e.label FROM docs d, attn_entities(d.body) e WHERE d.id > 1000"
dq test "$Q_CLS" >"$CL/cls.1"; dq test "$Q_ENT" >"$CL/ent.1"

L=$(leader_id)
step "SIGKILL the leader (node $L)"
kill_node "$L"
N=$(wait_new_leader "$L")
dq test "$Q_CLS" >"$CL/cls.2"; dq test "$Q_ENT" >"$CL/ent.2"
same "$CL/cls.1" "$CL/cls.2" "attn_classify on every row, before and after"
same "$CL/ent.1" "$CL/ent.2" "attn_entities on every row, before and after"
echo "node $L restarts with its data folder and catches up"
start_node "$L"; wait_serving "$L"

step "train a small model on the leader (node $N) with attn_train on the rows' SST-2 labels: its rows replicate"
dq test "CREATE TABLE train_log AS SELECT * FROM attn_train('demo-sentiment', 'classify',
  'SELECT body, gold FROM docs WHERE id <= 1000',
  '{\"dim\": 32, \"layers\": 1, \"heads\": 2, \"ffn\": 64, \"max_len\": 32, \"epochs\": 4,
    \"batch_size\": 16, \"seed\": 7, \"features\": [{\"kind\": \"norm\", \"buckets\": 4096, \"dim\": 16}]}')"
show "SELECT epoch, round(train_loss, 4), metric FROM train_log"
Q_TOY="SELECT id, attn_classify_scores(body, 'demo-sentiment') FROM docs ORDER BY id"
show "SELECT attn_classify('a wonderful , moving film', 'demo-sentiment') AS a, attn_classify('dull , boring and far too long', 'demo-sentiment') AS b"
dq test "$Q_TOY" >"$CL/toy.1"

step "SIGKILL that leader (node $N)"
kill_node "$N"
N2=$(wait_new_leader "$N")
show "SELECT name, task, labels FROM attn_models WHERE name = 'demo-sentiment'"
dq test "$Q_TOY" >"$CL/toy.2"
same "$CL/toy.1" "$CL/toy.2" "the trained model's scores on every row, before and after (node $N2 leads)"
dq test "$Q_CLS" >"$CL/cls.3"
same "$CL/cls.1" "$CL/cls.3" "attn_classify after the second failover"
step "done: the nodes are stopped and their folder removed"
