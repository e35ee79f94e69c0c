#!/usr/bin/env bash
# tests/bench/pretrain_speed.sh EXTENSION BENCH_ENCODER TEXT_FILE [OUT_DIR]
#
# Training tokens per second of the pretraining objectives against an inference forward of
# the same encoder, on 2 threads, for the shapes of en-rel (dim 128, 2 layers, ffn 256) and
# en-ner (dim 256, 3 layers, ffn 512, embed_context 1), both with en-ner's features and
# max_len 128, batch 32:
#   rtd       attn_train(.., 'rtd', files): replaced-token detection (model/rtd.h), the
#             tokens_per_s of its progress rows (training only: the pool and dev reading are
#             outside it)
#   mlm       attn_train(.., 'mlm', rows): masked LM with mlm_vocab 8192 (en-base's old
#             recipe), tokens of an epoch / its seconds (no dev set)
#   forward   bench_encoder batch: attn_encode of 64 sequences of 128 tokens, 2 threads
# TEXT_FILE: unlabelled text, one document a line (a few MB is enough).
set -euo pipefail
so=$1 bench=$2 text=$3 out=${4:-$(mktemp -d)}
db=$out/speed.db
rm -f "$db"
FEATURES='[{"kind":"norm","buckets":65536,"dim":64},{"kind":"subword","buckets":100000,"dim":64},
           {"kind":"prefix","buckets":16384,"dim":24,"affix":3},
           {"kind":"suffix","buckets":16384,"dim":24,"affix":3},{"kind":"shape","buckets":4096,"dim":24}]'
sq() { sqlite3 -batch -bail -cmd ".load $so" "$db" "$@"; }
sq "CREATE TABLE unl AS SELECT value AS text FROM json_each('[\"' ||
      replace(replace(replace(rtrim(CAST(readfile('$text') AS TEXT), char(10)), '\\', '\\\\'),
              '\"', '\\\"'), char(10), '\",\"') || '\"]') LIMIT 3000"
for shape in "en-rel 128 2 256 0" "en-ner 256 3 512 1"; do
    set -- $shape
    name=$1 arch="\"dim\": $2, \"layers\": $3, \"heads\": 4, \"ffn\": $4, \"embed_context\": $5,
      \"max_len\": 128, \"batch_size\": 32, \"threads\": 2, \"features\": $FEATURES"
    rtd=$(sq "SELECT CAST(tokens_per_s AS INTEGER) FROM attn_train('rtd-$name', 'rtd', '[\"$text\"]',
              '{$arch, \"steps\": 40, \"report_seconds\": 3600, \"pool_tokens\": 200000,
                \"dev_examples\": 0, \"dev_share\": 0, \"dtype\": \"f32\"}')")
    mlm=$(sq "SELECT CAST(tokens / seconds AS INTEGER) FROM attn_train('mlm-$name', 'mlm',
              'SELECT text FROM unl LIMIT 400', '{$arch, \"epochs\": 1, \"mlm_vocab\": 8192}')")
    fwd=$("$bench" batch "$db" "rtd-$name" 64 128 2 10 | sed -E 's/.*median_ms=([0-9.]+).*/\1/')
    fwd=$(awk -v ms="$fwd" 'BEGIN { printf "%d", 64 * 128 / (ms / 1000) }')
    echo "$name rtd_tokens_per_s=$rtd mlm_tokens_per_s=$mlm forward_tokens_per_s=$fwd"
done
