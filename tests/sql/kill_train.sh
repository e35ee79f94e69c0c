#!/usr/bin/env bash
# tests/sql/kill_train.sh EXTENSION
#
# SIGKILL of a sqlite3 shell process running attn_train, at several points; afterwards the
# database must pass PRAGMA integrity_check, model 'm' must be exactly the model it was before
# (rows byte-identical, same answers on probe texts, loadable), and no other model may exist.
# The database: 2000 training rows (an epoch takes 50-200 ms) and model 'm' (a 6.4 MB
# embedding table, so writing a model takes a while too). Kill points:
#   early      a random moment within the first epoch (about 0-1 s after start)
#   epoch 1    as soon as the shell printed the first epoch row (between epochs)
#   epoch 2    a random moment (under 500 ms) after the second epoch row of forty
#   journal    (journal_mode DELETE) as soon as the rollback journal appears: inside the
#              transaction that writes 'm' (the first write of the shell's loop); 'm' is old
#   writing    (journal_mode DELETE) a random moment 0-300 ms after the journal appeared, so
#              anywhere in or just after writing 'm' (a model written by parts, in more than
#              one transaction, is caught here: 'm' would be neither old nor new)
#   wal        (journal_mode WAL) a random moment while 'm' is retrained and written again
#              and again
# In the last two 'm' must be the old model or exactly the new one (training is deterministic
# for a seed; the config may differ only in its training date).
# Prints "kill_train: N passed, N failed". ATTN_PRELOAD (sanitizer builds) is preloaded.
set -u
so=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
preload=${ATTN_PRELOAD:-}
passed=0 failed=0

sq() { LD_PRELOAD=$preload sqlite3 -batch -cmd ".load $so" "$@"; }

OPTS='"dim": 32, "layers": 1, "heads": 2, "ffn": 64, "max_len": 32, "threads": 1,
      "features": [{"kind": "norm", "buckets": 50000, "dim": 32}]'
# train NAME SEED EPOCHS [LIMIT]: the SQL of one attn_train run printing one row per epoch.
train() {
    echo "SELECT epoch FROM attn_train('$1', 'classify',
          'SELECT text, label FROM tr ${4:+LIMIT $4}', '{$OPTS, \"seed\": $2, \"epochs\": $3}');"
}

setup() {
    sq "$1" >/dev/null <<EOF
CREATE TABLE tr(text, label);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO tr SELECT CASE WHEN i % 2 THEN 'good fine movie number ' || i || ' was a joy'
    ELSE 'bad poor film number ' || i || ' was a pain to sit through' END,
    CASE WHEN i % 2 THEN 'pos' ELSE 'neg' END FROM n;
CREATE TABLE probe(text);
INSERT INTO probe VALUES ('a good fine movie'), ('bad poor film'), ('number 17'), ('');
$(train m 7 1 200)
EOF
}

# state DB: integrity, the model names, a hash of m's rows (the config without its training
# date) and its answers on the probe texts. The same text means the same model.
STATE_SQL="PRAGMA integrity_check;
SELECT 'names: ' || group_concat(name, ',') FROM (SELECT DISTINCT name FROM attn_model ORDER BY 1);
SELECT 'rows: ' || count(*) || ' ' || sha3_query('SELECT key, dtype, shape, CASE key WHEN ''config''
    THEN json_remove(data, ''$.meta.training.date'') ELSE data END FROM attn_model
    WHERE name = ''m'' ORDER BY key') FROM attn_model WHERE name = 'm';
SELECT 'answers: ' || group_concat(attn_classify_scores(text, 'm'), ' ') FROM probe;"
state() { sq "$1" "$STATE_SQL" 2>&1; }
# exact DB: all rows of m byte for byte (with the date).
exact() { sq "$1" "SELECT sha3_query('SELECT * FROM attn_model WHERE name = ''m'' ORDER BY key')"; }

ok()   { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

# check WHAT DB ALLOWED...: the state of DB is one of the ALLOWED states.
check() {
    local what=$1 db=$2 now; shift 2
    now=$(state "$db")
    for s in "$@"; do
        if [ "$now" = "$s" ]; then ok "$what"; return 0; fi
    done
    fail "$what"; echo "$now" | head -5; echo "expected:"; echo "$1" | head -5
    return 1
}

# random_delay MAX_MS: sleeps a random time in [0, MAX_MS) ms.
random_delay() { sleep "$(printf '0.%03d' $((RANDOM % $1)))"; }

# run_and_kill DB SQL WHEN: starts the shell on SQL, waits as WHEN says, then SIGKILL.
#   WHEN: "delay MS" | "row N [MS]" (Nth output line, then a random delay < MS) | "journal"
run_and_kill() {
    local db=$1 sql=$2 out="$work/out" pid n
    : >"$out"
    echo "$sql" | LD_PRELOAD=$preload stdbuf -oL sqlite3 -batch -cmd ".load $so" "$db" >"$out" 2>&1 &
    pid=$!
    set -- $3
    case $1 in
    delay)   random_delay "$2" ;;
    row)     while [ "$(wc -l <"$out")" -lt "$2" ] && kill -0 $pid 2>/dev/null; do sleep 0.01; done
             [ -n "${3:-}" ] && random_delay "$3" ;;
    journal) while [ ! -e "$db-journal" ] && kill -0 $pid 2>/dev/null; do :; done
             [ -n "${2:-}" ] && random_delay "$2" ;;
    esac
    if ! kill -0 $pid 2>/dev/null; then
        wait $pid; echo "(the shell ended before the kill: $(tail -1 "$out"))"; return 1
    fi
    kill -KILL $pid
    wait $pid 2>/dev/null
    return 0
}

setup "$work/orig.db" || { echo "kill_train: 0 passed, 1 failed (setup)"; exit 1; }
old=$(state "$work/orig.db")
old_exact=$(exact "$work/orig.db")
case $old in
ok*"names: m"*"rows: "*"answers: {"*) ok "old model made" ;;
*) fail "old model made"; echo "$old" ;;
esac
# The model a completed one-epoch retraining with seed 9 on 8 rows writes (for the wal case).
cp "$work/orig.db" "$work/new.db"
sq "$work/new.db" "$(train m 9 1 8)" >/dev/null
new=$(state "$work/new.db")
[ "$new" != "$old" ] && ok "retrained model differs" || fail "retrained model differs"

# kill_case NAME WHEN SQL JOURNAL_MODE [new]: one kill from a fresh copy; 'm' must be the old
# model (byte for byte), or with "new" the old or the new one.
kill_case() {
    local db="$work/k.db" hot=""
    rm -f "$db"*; cp "$work/orig.db" "$db"
    sq "$db" "PRAGMA journal_mode = $4" >/dev/null
    if run_and_kill "$db" "$3" "$2"; then
        [ -e "$db-journal" ] && hot=" (a hot journal of $(stat -c %s "$db-journal") bytes was left)"
        ok "$1: killed$hot"
    else fail "$1: killed"; fi
    if [ "${5:-}" = new ]; then
        check "$1: database intact, 'm' old or new" "$db" "$old" "$new"
    elif check "$1: database and model 'm' intact" "$db" "$old"; then
        if [ "$(exact "$db")" = "$old_exact" ]; then ok "$1: rows byte-identical"
        else fail "$1: rows byte-identical"; fi
    fi
}

# Enough epochs that each kill lands while it still trains: since the feature tables are
# updated by row, an epoch here takes 50-200 ms, and 8 epochs sometimes ended within the 500 ms
# after the second row.
kill_case "early" "delay 1000" "$(train m 8 40)" delete
kill_case "epoch 1" "row 1" "$(train m 8 8)" delete
kill_case "epoch 2" "row 2 500" "$(train m 8 40)" delete
loop=$(for i in $(seq 40); do train m 9 1 8; done)
kill_case "journal" "journal" "$loop" delete
for i in 1 2 3 4 5 6; do kill_case "writing $i" "journal 300" "$loop" delete new; done
for i in 1 2 3; do kill_case "wal $i" "delay 999" "$loop" wal new; done

echo "kill_train: $passed passed, $failed failed"
[ "$failed" = 0 ]
