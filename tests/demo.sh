#!/usr/bin/env bash
# tests/demo.sh EXTENSION TOOLS_DIR: runs sql/demo.sql with the extension loaded.
# With built-in models it runs on them. A build without trained built-ins (before the training
# issue lands) has none, so the demo puts random-weight models under the default names into a
# scratch database and says so loudly: it then shows the SQL surface, not real answers.
set -eu
ext=$1 tools=$2
db=build/demo.db
rm -f "$db"
n_builtin=$(sqlite3 :memory: ".load $ext" "SELECT count(*) FROM attn_models WHERE storage = 'built-in'")
if [ "$n_builtin" = 0 ]; then
    echo "NOTE: this build has no trained built-in models yet; using RANDOM-WEIGHT models named"
    echo "      en-sentiment / en-ner / en-rel in $db. Labels below are arbitrary."
    "$tools/gen_model" "$db" en-sentiment --tasks classify --seed 1
    "$tools/gen_model" "$db" en-ner --tasks entities --entity-labels PER,LOC,ORG,MISC --seed 2
    "$tools/gen_model" "$db" en-rel --tasks entities,relations --seed 3 \
        --entity-labels Peop,Loc,Org,Other --relation-labels Work_For,Live_In,OrgBased_In,Located_In,Kill
fi
sqlite3 "$db" ".load $ext" ".read sql/demo.sql"
