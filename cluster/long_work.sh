#!/usr/bin/env bash
# cluster/long_work.sh BIN EXT [ROWS] [CHUNK]: how long statements disturb a dqlite cluster
# (make cluster-bench). dqlite runs each node on one event loop; while the leader's loop runs a
# statement it sends no Raft heartbeats, and followers that hear none for an election timeout
# elect another leader. Three nodes, ROWS (default 100,000) SST-2 rows; then classify them all
#   A. in one statement:  INSERT INTO labels SELECT id, label FROM attn_classify_each('... docs')
#   B. in statements of CHUNK (default 1,000) rows: the same with WHERE id BETWEEN a AND b
# and count the elections won during each (libraft's trace, LIBRAFT_TRACE=1), the time, and
# whether every row got its label. Figures only; README "Running on a cluster" keeps them.
set -u
BIN=$1 EXT=$2 ROWS=${3:-100000} CHUNK=${4:-1000}
BASE_PORT=${BASE_PORT:-19500}
DATA=${ATTN_DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
export LIBRAFT_TRACE=1
for id in 1 2 3; do start_node "$id" ${NODE_OPTS:-}; wait_serving "$id" || exit 1; done

dq test "CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT, gold TEXT)"
dq test "CREATE TABLE labels(id INTEGER PRIMARY KEY, label TEXT)"
sst2_inserts 1000 | dq test
reps=$(( (ROWS + 999) / 1000 - 1 ))
dq test "INSERT INTO docs(id, body) SELECT d.id + 1000 * k.k, d.body FROM docs d,
  (WITH RECURSIVE k(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM k WHERE k < $reps) SELECT k FROM k) k
  WHERE d.id + 1000 * k.k <= $ROWS"
echo "docs: $(dq test 'SELECT count(*) FROM docs') rows; machine load $(cut -d' ' -f1-3 /proc/loadavg)"

won() { cat "$CL"/n*.log | grep -c 'convert to leader'; }

e0=$(won); t0=$(now_ms)
dq -t 900 test "INSERT INTO labels(id, label) SELECT id, label FROM attn_classify_each('SELECT id, body FROM docs')" \
    2>"$CL/a.err"; rc=$?
t1=$(now_ms); e1=$(won)
n=$(dq test "SELECT count(*) FROM labels")
echo "A. one statement over $ROWS rows: $(( (t1 - t0) / 1000 )).$(( (t1 - t0) % 1000 / 100 )) s, $((e1 - e0)) elections," \
     "exit $rc $(head -c 200 "$CL/a.err"), $n rows labelled"

dq test "DELETE FROM labels"
sleep 2
e0=$(won); t0=$(now_ms); failed=0
for ((a = 1; a <= ROWS; a += CHUNK)); do
    b=$((a + CHUNK - 1))
    dq -t 60 test "INSERT INTO labels(id, label) SELECT id, label FROM attn_classify_each('SELECT id, body FROM docs WHERE id BETWEEN $a AND $b')" \
        2>>"$CL/b.err" || failed=$((failed + 1))
done
t1=$(now_ms); e1=$(won)
n=$(dq test "SELECT count(*) FROM labels")
ms=$((t1 - t0))
echo "B. $(( (ROWS + CHUNK - 1) / CHUNK )) statements of $CHUNK rows: $((ms / 1000)).$((ms % 1000 / 100)) s" \
     "($((ROWS * 1000 / (ms > 0 ? ms : 1))) rows/s), $((e1 - e0)) elections, $failed failed, $n rows labelled"
