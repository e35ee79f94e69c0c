#!/bin/sh
# scale.sh: make bench-scale. attn_classify_each over 10^5, 10^6 and 10^7 rows of one table
# in one statement each (a fresh process per size: its peak RSS is that size's), with the
# answers checked against attn_classify on every 9973rd row; sqlite3_interrupt of an
# INSERT ... SELECT over all of them; attn_entities_each and the forms users write on fewer rows.
#
#   tests/bench/scale.sh BENCH_SCALE SO
#
# The table (build/scale/docs.db, ~1.3 GB for 10^7 rows) is made once and kept. Environment:
# SCALE_SIZES (default "100000 1000000 10000000"), SCALE_ENTITIES (default 100000),
# SCALE_FORMS (default 100000). Exit status 1 if RSS grew more than 10% over the smallest
# size, or any answer differed, or the interrupt took a second or more or harmed the database.
set -eu
BIN=${1:?usage: scale.sh BENCH_SCALE SO}
SO=${2:?usage: scale.sh BENCH_SCALE SO}
SIZES=${SCALE_SIZES:-100000 1000000 10000000}
DATA=${ATTN_DATA:-../shared/data}
DB=build/scale/docs.db
mkdir -p build/scale
max=0
for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
have=$(sqlite3 "$DB" "SELECT count(*) FROM docs" 2>/dev/null || echo 0)
if [ "$have" -lt "$max" ]; then
    rm -f "$DB"
    "$BIN" "$DB" "$SO" gen "$max" "$DATA"
fi
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$BIN" "$DB" "$SO" interrupt "$max" 3 || status=1
"$BIN" "$DB" "$SO" entities "${SCALE_ENTITIES:-100000}" || status=1
"$BIN" "$DB" "$SO" forms "${SCALE_FORMS:-100000}" || status=1
for n in $SIZES; do
    "$BIN" "$DB" "$SO" classify "$n" | tee -a "$out" || status=1
done
# Peak RSS flat: every size within +10% of the smallest.
awk '/^classify_each/ { for (i = 1; i <= NF; i++) if ($i == "RSS") rss = $(i + 1)
                         if (first == "") first = rss
                         if (rss > first * 1.10) bad = 1
                         printf "%s%s MB", (n++ ? ", " : "peak RSS: "), rss }
     END { printf " (%s)\n", bad ? "GREW more than 10%" : "flat: within +10% of the smallest"; exit bad }' "$out" ||
    status=1
exit $status
