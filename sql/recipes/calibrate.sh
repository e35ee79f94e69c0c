#!/usr/bin/env bash
# sql/recipes/calibrate.sh MODEL...: fits the temperature of each packed model's heads
# (attn_calibrate) on its dev rows, in the model's own database (model/builtin/MODEL.db, or
# model/optional/), so that the shipped scores are calibrated as shipped (packing moves them a
# little). Run by build.sh after packing; re-runnable on its own. Needs build/data.db (build.sh
# makes it). Prints attn_calibrate's row per head and appends it to build/recipes/MODEL.log.
set -euo pipefail
cd "$(dirname "$0")/../.."
ext=${ATTN_EXT:-./attnext.so}
mkdir -p build/recipes
for model in "$@"; do
    # The held-out rows each model was selected or calibrated on (never a test split).
    case $model in
        en-ner) dev="SELECT text, entities FROM data.conll2003_dev" ;;
        en-rel) dev="SELECT text, entities, relations FROM data.conll04_dev" ;;
        # en-sentiment trains on SST-2 train and the even rows of dev; the odd rows are held out.
        en-sentiment) dev="SELECT text, label FROM data.sst2_dev WHERE rowid % 2 = 1" ;;
        en-topic) dev="SELECT text, label FROM data.reuters_r8_train WHERE rowid % 10 = 0" ;;
        zh-ner) dev="SELECT text, entities FROM data.msra_dev" ;;
        zh-resume) dev="SELECT text, entities FROM data.resume_dev" ;;
        zh-cluener) dev="SELECT text, entities FROM data.cluener_dev" ;;
        zh-sentiment) dev="SELECT text, label FROM data.chnsenticorp_dev" ;;
        *) echo "calibrate.sh: no dev rows known for $model" >&2; exit 1 ;;
    esac
    db=model/builtin/$model.db
    [ -f "$db" ] || db=model/optional/$model.db
    echo "== calibrating $model ($db)"
    sqlite3 -bail "$db" -cmd ".load $ext" -cmd "ATTACH 'build/data.db' AS data" -cmd ".headers on" \
        "SELECT task, temperature, round(nll_before, 4) AS nll_before, round(nll_after, 4) AS nll_after,
                round(ece_before, 4) AS ece_before, round(ece_after, 4) AS ece_after, n
         FROM attn_calibrate('$model', '$dev')" | tee -a "build/recipes/$model.log"
    sqlite3 "$db" "VACUUM"
done
