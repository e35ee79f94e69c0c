-- en-rel-ft: English entities and relations (CoNLL04), fine-tuned from the pretrained encoder
-- en-base (sql/recipes/en-base.sql, model/pretrain/en-base.db, attached): en-base's
-- architecture and features (en-ner's: dim 256, 3 layers, embed_context 1), en-rel's
-- hyperparameters, except that
-- 'init' copies en-base's embeddings and encoder instead of 'vectors', and that it trains on
-- train only and selects the epoch on dev (relation F1) within a time limit.
-- Test is only reported.
.headers on
.mode list
.bail on
.parameter init
-- The time limit in seconds (build.sh sets none; override with .parameter set @time_limit N).
-- @base: the checkpoint's file (default model/pretrain/en-base.db).
INSERT OR IGNORE INTO temp.sqlite_parameters(key, value)
VALUES ('@time_limit', 1800), ('@base', 'model/pretrain/en-base.db');
ATTACH @base AS base;
SELECT epoch, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_relation_f1, round(seconds, 1) AS seconds, best
FROM attn_train('en-rel-ft', 'relations', 'SELECT text, entities, relations FROM conll04_train',
  json_object(
  'init', 'en-base', 'dev', 'SELECT text, entities, relations FROM conll04_dev',
  'epochs', 40, 'patience', 10, 'time_limit', @time_limit, 'lr', 1e-3, 'batch_size', 16, 'warmup', 100, 'seed', 1, 'threads', 2,
  'dropout_embed', 0.3, 'dropout_attn', 0.1, 'dropout_resid', 0.2, 'word_dropout', 0.05,
  'dtype', 'f16',
  'meta', json_object('description', 'English entities and relations, CoNLL04, fine-tuned '
                      || 'from en-base', 'recipe', 'sql/recipes/en-rel-ft.sql')));
DETACH base;
SELECT 'dev entities' AS task, label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('en-rel-ft', 'SELECT text, entities FROM conll04_dev', 'entities') WHERE label IN ('micro', 'macro');
SELECT 'relations' AS task, label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('en-rel-ft', 'SELECT text, entities, relations FROM conll04_test');
SELECT 'entities' AS task, label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('en-rel-ft', 'SELECT text, entities FROM conll04_test', 'entities');
