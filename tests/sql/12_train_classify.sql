-- attn_train(model, task, train_sql [, options_json]) trains a model on the rows of
-- train_sql and yields one row per epoch as training goes: epoch, train_loss, dev_metric
-- (NULL without a dev set), metric, seconds, best (1 when this epoch's parameters are the
-- best so far). When the last epoch is done the best parameters are saved in attn_model
-- under the model name, in one transaction, before that last row is returned.
.mode list
CREATE TABLE reviews(text TEXT, label TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
INSERT INTO reviews
SELECT CASE WHEN i % 2 THEN 'a good and great movie number ' || i
            ELSE 'a bad and awful film take ' || i END,
       CASE WHEN i % 2 THEN 'positive' ELSE 'negative' END
FROM n;

-- A tiny model: the options set the architecture and the training.
CREATE TABLE log AS
SELECT * FROM attn_train('sentiment', 'classify', 'SELECT text, label FROM reviews',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 4, "lr": 0.01,
    "batch_size": 8, "seed": 3,
    "features": [{"kind": "norm", "buckets": 256, "dim": 8}, {"kind": "shape", "buckets": 32, "dim": 4}],
    "dev": "SELECT text, label FROM reviews WHERE rowid % 4 = 0",
    "meta": {"description": "toy sentiment"}}');
SELECT epoch, metric, train_loss > 0, dev_metric BETWEEN 0 AND 1, seconds >= 0, best IN (0, 1)
FROM log;
-- It learned: the loss fell, the dev accuracy reached 1, and the best epoch was kept.
SELECT (SELECT train_loss FROM log WHERE epoch = 4) < (SELECT train_loss FROM log WHERE epoch = 1) / 2;
SELECT max(dev_metric) FROM log;
SELECT count(*) FROM log WHERE best = 1 AND epoch = 1;

-- The model is in attn_model and the other functions use it at once.
SELECT name, task, labels, params FROM attn_models WHERE name = 'sentiment';
SELECT attn_classify('what a great movie', 'sentiment'), attn_classify('an awful film', 'sentiment');
SELECT count(*), sum(dtype = 'f32'), sum(key = 'config') FROM attn_model WHERE name = 'sentiment';
-- What the run did is written into the config's meta, next to the user's meta.
SELECT json_extract(data, '$.meta.description'), json_extract(data, '$.meta.training.task'),
       json_extract(data, '$.meta.training.rows'), json_extract(data, '$.meta.training.dev_rows'),
       json_extract(data, '$.meta.training.epochs'), json_extract(data, '$.meta.training.metric'),
       json_extract(data, '$.meta.training.best_dev_metric'), json_extract(data, '$.meta.training.seed'),
       json_extract(data, '$.meta.training.date') GLOB '2[0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T*Z'
FROM attn_model WHERE name = 'sentiment' AND key = 'config';

-- attn_eval(model, sql [, task]): precision, recall, F1, support and predicted per label,
-- then the totals (classify: accuracy and macro average). ece, on the accuracy row, is the
-- expected calibration error: this toy is right on every row but far less sure than that
-- (22_calibrate fits a temperature that fixes it).
.mode box
SELECT label, precision, recall, f1, support, predicted, round(ece, 4) AS ece
FROM attn_eval('sentiment', 'SELECT text, label FROM reviews');
.mode list

-- The same seed and data give the same model, bit for bit.
SELECT count(*) FROM attn_train('again', 'classify', 'SELECT text, label FROM reviews',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 4, "lr": 0.01,
    "batch_size": 8, "seed": 3,
    "features": [{"kind": "norm", "buckets": 256, "dim": 8}, {"kind": "shape", "buckets": 32, "dim": 4}],
    "dev": "SELECT text, label FROM reviews WHERE rowid % 4 = 0",
    "meta": {"description": "toy sentiment"}}');
SELECT count(*) FROM attn_model a JOIN attn_model b ON a.key = b.key
WHERE a.name = 'sentiment' AND b.name = 'again' AND a.key <> 'config' AND a.data = b.data;

-- Fine-tuning: init starts from an existing model (its config and labels); dtype f16 stores
-- the tensors as half floats.
SELECT epoch FROM attn_train('sentiment16', 'classify', 'SELECT text, label FROM reviews',
  '{"init": "sentiment", "epochs": 2, "lr": 0.001, "dtype": "f16", "labels": ["positive", "negative"]}');
SELECT count(*), sum(dtype = 'f16') FROM attn_model WHERE name = 'sentiment16' AND key <> 'config';
SELECT json_extract(data, '$.meta.training.init') FROM attn_model WHERE name = 'sentiment16' AND key = 'config';
SELECT attn_classify('a great movie', 'sentiment16'), attn_classify('an awful film', 'sentiment16');

-- Stopping early writes nothing: a LIMIT closes the cursor before the last epoch, so the
-- existing model of that name is untouched, and a new name is not created.
CREATE TEMP TABLE before AS SELECT * FROM attn_model WHERE name = 'sentiment';
SELECT epoch FROM attn_train('sentiment', 'classify', 'SELECT text, label FROM reviews',
  '{"dim": 8, "layers": 1, "heads": 1, "ffn": 8, "max_len": 8, "epochs": 5,
    "features": [{"kind": "shape", "buckets": 8, "dim": 4}]}') LIMIT 2;
SELECT epoch FROM attn_train('never', 'classify', 'SELECT text, label FROM reviews',
  '{"dim": 8, "layers": 1, "heads": 1, "ffn": 8, "max_len": 8, "epochs": 5,
    "features": [{"kind": "shape", "buckets": 8, "dim": 4}]}') LIMIT 1;
SELECT (SELECT count(*) FROM (SELECT * FROM before EXCEPT SELECT * FROM attn_model WHERE name = 'sentiment')),
       (SELECT count(*) FROM attn_model WHERE name = 'sentiment') = (SELECT count(*) FROM before),
       (SELECT count(*) FROM attn_model WHERE name = 'never');

-- Inside a transaction the write is part of it: ROLLBACK undoes the training's write.
BEGIN;
SELECT count(*) FROM attn_train('rolled', 'classify', 'SELECT text, label FROM reviews',
  '{"dim": 8, "layers": 1, "heads": 1, "ffn": 8, "max_len": 8, "epochs": 1,
    "features": [{"kind": "shape", "buckets": 8, "dim": 4}]}');
SELECT count(*) > 0 FROM attn_model WHERE name = 'rolled';
ROLLBACK;
SELECT count(*) FROM attn_model WHERE name = 'rolled';

-- patience stops after that many epochs without dev improvement; the best is kept.
SELECT count(*) < 30 FROM attn_train('patient', 'classify', 'SELECT text, label FROM reviews',
  '{"dim": 8, "layers": 1, "heads": 1, "ffn": 8, "max_len": 8, "epochs": 30, "patience": 2,
    "lr": 0.01, "features": [{"kind": "norm", "buckets": 64, "dim": 4}],
    "dev": "SELECT text, label FROM reviews LIMIT 8"}');
