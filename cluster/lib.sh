# cluster/lib.sh: shell helpers for the cluster scripts (test.sh, demo.sh, long_work.sh).
# Source it after setting BIN (the folder with attnext-node and attnext-dq), EXT (attnext.so)
# and BASE_PORT; it makes a temporary folder $CL for the nodes' data and logs and removes it,
# with every node it started, on exit.
CL=$(mktemp -d "${TMPDIR:-/tmp}/attnext-cluster.XXXXXX")
declare -A NODE_PID
cluster_cleanup() {
    local id
    set +e   # a node already gone must not stop the others' cleanup under set -e
    for id in "${!NODE_PID[@]}"; do kill -9 "${NODE_PID[$id]}" 2>/dev/null; done
    for id in "${!NODE_PID[@]}"; do wait "${NODE_PID[$id]}" 2>/dev/null; done
    [ -n "${KEEP_CLUSTER_DIR:-}" ] || rm -rf "$CL"
}
trap cluster_cleanup EXIT
trap 'exit 130' INT TERM

addr() { echo "127.0.0.1:$((BASE_PORT + $1))"; }
SERVERS=$(addr 1),$(addr 2),$(addr 3)

# start_node ID [extra attnext-node options]: node 1 bootstraps, others join through node 1's
# address list. The node's stderr goes to $CL/nID.log.
start_node() {
    local id=$1; shift
    local join=()
    [ "$id" = 1 ] || join=(--join "$SERVERS")
    "$BIN/attnext-node" --id "$id" --address "$(addr "$id")" --dir "$CL/n$id" --ext "$EXT" \
        "${join[@]}" "$@" 2>>"$CL/n$id.log" &
    NODE_PID[$id]=$!
}

# wait_serving ID: until the node's log says it serves (or 30 s).
wait_serving() {
    local i
    for i in $(seq 300); do
        grep -q "serving on" "$CL/n$1.log" 2>/dev/null && return 0
        kill -0 "${NODE_PID[$1]}" 2>/dev/null || { cat "$CL/n$1.log"; return 1; }
        sleep 0.1
    done
    return 1
}

dq() { "$BIN/attnext-dq" -s "$SERVERS" "$@"; }
leader_id() { dq -t "${1:-30}" --leader | cut -d' ' -f1; }

# kill_node ID: SIGKILL, and reap it.
kill_node() {
    kill -9 "${NODE_PID[$1]}" 2>/dev/null || true
    wait "${NODE_PID[$1]}" 2>/dev/null || true   # 137: killed, as asked
    unset "NODE_PID[$1]"
}

now_ms() { date +%s%3N; }

# sst2_inserts N: INSERT statements (250 rows each) for docs(id, body, gold) from the first N
# SST-2 test sentences and their labels, for attnext-dq's stdin.
sst2_inserts() {
    head -n "$1" "$DATA/sst2/test.tsv" | awk -F'\t' '
        { gsub(/\047/, "\047\047", $2); row = sprintf("(%d,\047%s\047,\047%s\047)", NR, $2, $1)
          buf = (buf == "" ? "INSERT INTO docs(id, body, gold) VALUES " row : buf "," row)
          if (NR % 250 == 0) { print buf; buf = "" } }
        END { if (buf != "") print buf }'
}
