#!/usr/bin/env bash
# sql/recipes/build.sh MODEL...: trains the built-in models from ../shared/data (or $ATTN_DATA)
# with the recipes in sql/recipes/MODEL.sql and stores each in model/builtin/MODEL.db, the
# SQLite database that is compiled into attnext.so (ext/builtin_list.h).
#
# (en-semeval, zh-resume and zh-cluener go to model/optional/MODEL.db instead: not compiled in,
# ATTACH it.)
# A model's language is its name's prefix: zh-* read Chinese (character vectors from
# unlabeled_zh), the others English.
# Steps, each skipped when its output is newer than its inputs:
#   1. build/data.db: every dataset as tables (sql/load_datasets.sql)
#   2. build/wordvec/en64.bin, zh64.bin and zh64-32768.bin: word vectors from all the unlabelled English, and
#      character vectors from all the unlabelled Chinese (attn_wordvec_train, 2 threads, fixed
#      seed), the xz files decompressed into build/unlabeled_en and build/unlabeled_zh first;
#      build/wordvec/zhbi48.bin: vectors of the Chinese character bigrams (unit 'bigrams')
#   3. build/recipes/MODEL.db: attn_train with the recipe's fixed seed; the epoch rows and the
#      test scores go to build/recipes/MODEL.log. en-ner and en-semeval start from a pretrained
#      encoder: the en-base checkpoint each was selected with (pretraining_base below, a commit
#      of model/pretrain/en-base.db, taken from git into build/pretrain/)
#   4. model/builtin/MODEL.db: that model alone, packed by attn_pack into the ATTACHed file
#      in q4-int8 storage: the wide embedding tables (word and subword, 64 wide) as 4-bit
#      values with a scale per 32, the narrow ones (affixes, shape) and the encoder's linear
#      weights as int8 rows with a scale each (the linears then run on the int8 kernels;
#      en-rel: q8-int8, every table as int8 rows too),
#      every other tensor f16 (the recipes train and save in f16; this step decides what
#      ships), vacuumed. Each cost at most 0.3 points on any built-in's test score (README).
#   5. the packed model's temperatures fitted on its dev rows (sql/recipes/calibrate.sh)
# OPENBLAS_CORETYPE: set for the CPU (sql/recipes/openblas_core.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${ATTN_DATA:-../shared/data}
# ATTN_EXT: the extension to train with (default ./attnext.so); a copy lets the tree be rebuilt
# while a recipe runs.
ext=${ATTN_EXT:-./attnext.so}
# ZH_LEXICON: the Chinese word list zh-ner's recipe reads (sql/recipes/zh_lexicon.sql): jieba's
# dictionary from Debian's python3-jieba (make models installs it).
zh_lexicon=${ZH_LEXICON:-/usr/lib/python3/dist-packages/jieba/dict.txt}
mkdir -p build/recipes build/wordvec model/builtin

source sql/recipes/openblas_core.sh

if [ ! -s build/data.db ] || [ sql/load_datasets.sql -nt build/data.db ]; then
    echo "== loading datasets from $data"
    rm -f build/data.db
    sqlite3 build/data.db -cmd ".load $ext" -cmd ".parameter set @data '$data'" \
        <sql/load_datasets.sql >build/recipes/data.log
fi

# The unlabelled text: the plain files of unlabeled_en and the xz-compressed ones of
# unlabeled_en (the large Wikipedia files) and unlabeled_zh, decompressed into build/ (about
# 400 MB and 110 MB, 15 s).
for lang in en zh; do
    mkdir -p build/unlabeled_$lang
    for xz in "$data"/unlabeled_$lang/*.txt.xz; do
        [ -e "$xz" ] || continue
        out=build/unlabeled_$lang/$(basename "$xz" .xz)
        [ -s "$out" ] || { echo "== decompressing $xz"; xz -dc "$xz" >"$out.tmp" && mv "$out.tmp" "$out"; }
    done
done
shopt -s nullglob
unlabeled_en=("$data"/unlabeled_en/*.txt build/unlabeled_en/*.txt)
unlabeled_zh=("$data"/unlabeled_zh/*.txt build/unlabeled_zh/*.txt)
shopt -u nullglob

# Vectors OUT OPTIONS FILE...: trained once (English: 75.6M words, 88M tokens, about 20
# minutes on 2 threads; Chinese: 39.6M characters, 35.6M tokens, one per ideograph, about 5
# minutes; the Chinese character bigrams, 35.5M, 1.9M distinct, about 5 minutes). OPTIONS:
# the JSON members beside the common ones (dim, and the unit for bigrams). Two threads update
# the table without locks (as fastText does), so two runs differ in the last bits; the
# vectors are an input of the recipes, not a shipped artefact. The progress rows (a file
# read, a minute of training, the end) are shown as they come.
train_vectors() {
    local out=$1 options=$2; shift 2
    [ -s "$out" ] && return 0
    echo "== word vectors: $out"
    local files
    files=$(printf '"%s",' "$@")
    sqlite3 -bail :memory: -cmd ".load $ext" -cmd ".parameter set @files '[${files%,}]'" \
        -cmd ".parameter set @out '$out'" -cmd ".headers on" \
        "SELECT phase, file, tokens, words, round(progress, 3) AS progress, round(loss, 4) AS loss,
                CAST(tokens_per_s AS INTEGER) AS tokens_per_s, round(seconds, 1) AS seconds
         FROM attn_wordvec_train(@out, @files,
           '{$options, \"epochs\": 5, \"min_count\": 3, \"threads\": 2,
             \"seed\": 1, \"report_seconds\": 60, \"vocab\": \"$out.vocab\"}')" |
        tee "${out%.bin}.log"
}

# pretraining_base MODEL: the commit whose model/pretrain/<language>-base.db MODEL is fine-tuned from
# (empty: none), the one each was best with on dev (sql/recipes/curve.sh fine-tunes from every
# one; a later checkpoint replaces an earlier one only when its dev score gains more than two
# runs of the recipe on one checkpoint differ): en-ner the checkpoint of 46.4M tokens (dev
# 0.9063: 0.9040 from the one of 37.1M, 0.9002 from 24.7M, 0.8986 from scratch; the 95.4M one
# 0.9073, within the spread of 0.9063 and 0.9066 at 46.4M); en-semeval the one of 95.4M
# tokens (dev 0.5104 against 0.5016 and 0.5058 at 46.4M, 0.4883, 0.5008, 0.3851).
pretraining_base() {
    case $1 in
        en-ner) echo df9e067 ;;
        en-semeval) echo d04e8d4 ;;
    esac
}

for model in "$@"; do
    recipe=sql/recipes/$model.sql
    [ -f "$recipe" ] || { echo "no recipe $recipe" >&2; exit 1; }
    echo "== training $model ($recipe)"
    work=build/recipes/$model.db
    log=build/recipes/$model.log
    # en-base and zh-base (pretraining, resumable): the database holds only the checkpoint,
    # kept between calls in model/pretrain/ (small enough to commit, so a run can go on on
    # another machine); each call continues it for the recipe's time limit.
    case $model in
        *-base) work=model/pretrain/$model.db; mkdir -p model/pretrain ;;
        *) rm -f "$work"; cp build/data.db "$work" ;;
    esac
    # Fine-tuned models start from their language's pretrained encoder (@base: en-base or
    # zh-base), the checkpoint each was selected with on dev, taken from the git commit that
    # holds it (pretraining_base above).
    pretrained=${model%%-*}-base
    base=model/pretrain/$pretrained.db
    rev=$(pretraining_base "$model")
    if [ -n "$rev" ]; then
        base=build/pretrain/$pretrained-$rev.db
        mkdir -p build/pretrain
        [ -s "$base" ] || git show "$rev:model/pretrain/$pretrained.db" >"$base" || {
            rm -f "$base"
            echo "$model needs the $pretrained checkpoint of commit $rev (a git clone)" >&2
            exit 1; }
    fi
    start=$(date +%s)
    # @vectors and @vocab_files (the unlabelled texts whose words get vectors in a model's
    # norm table) of the model's language; Chinese: @bigram_vectors too (character bigrams,
    # 48 wide like the zh-* recipes' bigram tables).
    # The vectors' subword buckets are the recipe's subword feature's (they fill that table
    # row for row), 100,000 when it has none: one vector file per language and bucket count,
    # trained once. (zh-sentiment's 32,768, for its size budget: zh-sentiment.sql.)
    buckets=$(grep -o '"kind":"subword","buckets":[0-9]*' "$recipe" | grep -o '[0-9]*$' | head -1 ||
              true)
    buckets=${buckets:-100000}
    suffix=$([ "$buckets" = 100000 ] || echo "-$buckets")
    bigram_vectors=
    case $model in
        zh-*) vectors=build/wordvec/zh64$suffix.bin; texts=("${unlabeled_zh[@]}")
              bigram_vectors=build/wordvec/zhbi48.bin ;;
        *) vectors=build/wordvec/en64$suffix.bin; texts=("${unlabeled_en[@]}") ;;
    esac
    # Trained only for a recipe that reads them (one that starts from another model's tables,
    # 'init', does not).
    if grep -q '@bigram_vectors' "$recipe"; then
        train_vectors "$bigram_vectors" '"dim": 48, "buckets": 2000000, "unit": "bigrams"' \
            "${texts[@]}"
    fi
    if grep -q '@vectors' "$recipe"; then
        train_vectors "$vectors" "\"dim\": 64, \"buckets\": $buckets" "${texts[@]}"
    fi
    vocab_files=$(printf '"%s",' "${texts[@]}")
    sqlite3 -bail "$work" -cmd ".load $ext" -cmd ".parameter set @vectors '$vectors'" \
        -cmd ".parameter set @bigram_vectors '$bigram_vectors'" -cmd ".parameter set @base '$base'" \
        -cmd ".parameter set @data '$data'" -cmd ".parameter set @zh_lexicon '$zh_lexicon'" \
        -cmd ".parameter set @vocab_files '[${vocab_files%,}]'" \
        <"$recipe" | tee $(case $model in *-base) echo -a ;; esac) "$log"
    echo "trained in $(( $(date +%s) - start )) s" | tee -a "$log"
    # Compiled into attnext.so: model/builtin/. Trained but not compiled in (too large for the
    # extension's size budget; ATTACH the database to use it): model/optional/.
    # en-base (pretraining) stays in model/pretrain/en-base.db, where the fine-tuning
    # experiments (*-ft, run after it) attach it; it is not shipped.
    case $model in
        *-base) sqlite3 "$work" "VACUUM"; continue ;;   # the checkpoint's free pages
        en-semeval* | zh-resume | zh-cluener | *-ft) out=model/optional/$model.db ;;
        *) out=model/builtin/$model.db ;;
    esac
    # en-rel's tables (en-ner's, fine-tuned) lose 1.6 points of relation F1 as q4: its tables
    # are stored q8 instead (q8-int8; the linears are int8 either way).
    case $model in
        en-rel) storage=q8-int8 ;;
        *) storage=q4-int8 ;;
    esac
    rm -f "$out"
    sqlite3 -bail "$work" -cmd ".load $ext" -cmd ".headers on" "ATTACH '$out' AS packed" \
        "SELECT * FROM attn_pack('$model', '$model', '$storage', 'packed')" |
        tee -a build/recipes/$model.log
    sqlite3 "$out" "VACUUM"
    case $model in *-ft | en-semeval*) ;; *) sql/recipes/calibrate.sh "$model" ;; esac
    echo "wrote $out ($(stat -c %s "$out") bytes)" | tee -a build/recipes/$model.log
done
