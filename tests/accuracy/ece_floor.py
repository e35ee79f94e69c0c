#!/usr/bin/python3
"""ece_floor.py EXTENSION DATA_DB MODEL SPLIT: how low a relation model's ECE can be measured.

The accuracy gate scores relation calibration by ECE (15 bins, attn_eval's) over the relations a
model predicts on a test split: a few hundred on CoNLL04. With so few, ECE is noisy even for a
perfectly calibrated model: each bin's accuracy is a sample mean of a few dozen outcomes. This
script prints the model's ECE on SPLIT (a table of DATA_DB with text, entities, relations, as
load_datasets.sql makes them) and the ECE the same scores would show if they were exactly
calibrated (each prediction right with probability its score, drawn 2,000 times): the mean, the
10th and 90th percentiles, and the share of draws under 0.05. Not part of make test (a
diagnostic for the model card; Debian's /usr/bin/python3, which has numpy and can load
extensions).

  /usr/bin/python3 tests/accuracy/ece_floor.py ./attnext.so build/data.db en-rel conll04_dev
"""
import json
import sqlite3
import sys

import numpy as np

BINS = 15  # metrics.h: ATTN_ECE_BINS


def ece(scores, right):
    """attn_ece_value: bins (b/B, (b+1)/B], sum of n_b |acc_b - conf_b| over n."""
    b = np.clip(np.ceil(scores * BINS).astype(int) - 1, 0, BINS - 1)
    total = 0.0
    for k in range(BINS):
        m = b == k
        if m.any():
            total += abs(right[m].sum() - scores[m].sum())
    return total / len(scores)


def predictions(db, model, split):
    """(score, right) of every relation MODEL predicts on SPLIT; right is strict as attn_eval:
    both spans, both entity types and the label."""
    scores, right = [], []
    for text, ents, rels in db.execute(f"SELECT text, entities, relations FROM {split}"):
        ents, rels = json.loads(ents), json.loads(rels or "[]")
        span = lambda e: (e["start"], e["end"], e["label"])
        gold = {(span(ents[r["head"]]), span(ents[r["tail"]]), r["label"]) for r in rels}
        for row in db.execute(
                "SELECT head_start, head_end, head_label, tail_start, tail_end, tail_label, "
                "relation, score FROM attn_relations(?, ?)", (text, model)):
            key = ((row[0], row[1], row[2]), (row[3], row[4], row[5]), row[6])
            scores.append(row[7])
            right.append(key in gold)
    return np.array(scores), np.array(right, dtype=float)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    ext, data_db, model, split = sys.argv[1:]
    db = sqlite3.connect(data_db)
    db.enable_load_extension(True)
    db.load_extension(ext)
    s, y = predictions(db, model, split)
    if len(s) == 0:
        sys.exit(f"ece_floor.py: {model} predicts no relation on {split}")
    rng = np.random.default_rng(1)
    draws = np.array([ece(s, (rng.random(len(s)) < s).astype(float)) for _ in range(2000)])
    print(f"{model} on {split}: {len(s)} predicted relations, precision {y.mean():.4f}, "
          f"mean score {s.mean():.4f}, ECE {ece(s, y):.4f}")
    print(f"ECE if these scores were exactly calibrated: mean {draws.mean():.4f}, "
          f"10th-90th percentile {np.percentile(draws, 10):.4f}-{np.percentile(draws, 90):.4f}, "
          f"below 0.05 in {100 * (draws < 0.05).mean():.0f}% of draws")


if __name__ == "__main__":
    main()
