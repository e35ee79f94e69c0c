-- en-ner-ft: en-ner (sql/recipes/en-ner.sql: the same rows, dev selection, regularisation and
-- schedule) fine-tuned from the pretrained encoder en-base (sql/recipes/en-base.sql:
-- replaced-token detection on all of unlabeled_en at en-ner's architecture and features;
-- model/pretrain/en-base.db, attached). 'init' copies en-base's embeddings and encoder (its
-- tables started from the same word vectors, so no 'vectors' here) and starts a fresh tagger
-- and CRF. For the pretraining curve, run it on checkpoints after N tokens (the checkpoint's
-- meta.training.pretrain.tokens says N) and compare its dev F1 with en-ner's.
-- @base: the checkpoint's file (default model/pretrain/en-base.db). Test is only reported.
.headers on
.mode list
.bail on
.parameter init
INSERT OR IGNORE INTO temp.sqlite_parameters(key, value)
VALUES ('@time_limit', 7200), ('@base', 'model/pretrain/en-base.db');
ATTACH @base AS base;
SELECT json_extract(CAST(data AS TEXT), '$.meta.training.pretrain.tokens') AS pretrained_tokens,
       json_extract(CAST(data AS TEXT), '$.meta.training.dev_metric') AS pretrain_dev_rtd_f1
FROM base.attn_model WHERE name = 'en-base' AND key = 'config';
SELECT epoch, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_f1, round(seconds, 1) AS seconds, best
FROM attn_train('en-ner-ft', 'entities',
  'SELECT text, entities FROM conll2003_train UNION ALL SELECT text, entities FROM conll2003_train_cased
   UNION ALL SELECT text, entities FROM tweebank_train UNION ALL SELECT text, entities FROM tweebank_train',
  json_object(
  'init', 'en-base',
  'epochs', 16, 'patience', 3, 'time_limit', @time_limit, 'lr', 1e-3, 'batch_size', 32,
  'warmup', 300, 'seed', 1, 'threads', 2, 'dropout_embed', 0.3, 'dropout_attn', 0.1,
  'dropout_resid', 0.2, 'word_dropout', 0.05, 'embed_lr_scale', 0.5,
  'dev', 'SELECT text, entities FROM conll2003_dev UNION ALL SELECT text, entities FROM tweebank_dev',
  'dtype', 'f16', 'language', 'en',
  'meta', json_object('description', 'English named entities (PER, LOC, ORG, MISC), CoNLL-2003, '
                      || 'fine-tuned from en-base', 'recipe', 'sql/recipes/en-ner-ft.sql')));
DETACH base;
SELECT label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('en-ner-ft', 'SELECT text, entities FROM conll2003_test');
SELECT 'conll dev', round(f1, 4) FROM attn_eval('en-ner-ft', 'SELECT text, entities FROM conll2003_dev') WHERE label = 'micro';
SELECT 'tweebank dev', round(f1, 4) FROM attn_eval('en-ner-ft', 'SELECT text, entities FROM tweebank_dev') WHERE label = 'micro';
