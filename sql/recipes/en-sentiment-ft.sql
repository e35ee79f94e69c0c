-- en-sentiment-ft: sentence sentiment (negative, positive) on SST-2, fine-tuned from the
-- pretrained encoder en-base (sql/recipes/en-base.sql, model/pretrain/en-base.db, attached):
-- attn_train's 'init' copies its embeddings and encoder (architecture and features are
-- en-base's: norm + subword + prefix/suffix + shape, dim 256, 3 layers) and starts a fresh
-- classify head. No 'vectors' here: the pretrained tables already hold them (and more).
-- Selected on SST-2 dev, test only reported. max_len 64 (SST-2 sentences are short): the
-- first 64 learned positions of en-base are kept.
.headers on
.mode list
.bail on
.parameter init
-- The time limit in seconds (build.sh sets none; override with .parameter set @time_limit N).
-- @base: the checkpoint's file (default model/pretrain/en-base.db).
INSERT OR IGNORE INTO temp.sqlite_parameters(key, value)
VALUES ('@time_limit', 1800), ('@base', 'model/pretrain/en-base.db');
ATTACH @base AS base;
SELECT epoch, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_accuracy, round(seconds, 1) AS seconds, best
FROM attn_train('en-sentiment-ft', 'classify', 'SELECT text, label FROM sst2_train', json_object(
  'init', 'en-base', 'max_len', 64,
  'labels', json('["negative", "positive"]'),
  'epochs', 20, 'patience', 6, 'time_limit', @time_limit, 'lr', 1e-3, 'batch_size', 32, 'warmup', 100, 'seed', 1,
  'threads', 2, 'dropout_embed', 0.3, 'dropout_attn', 0.1, 'dropout_resid', 0.3,
  'word_dropout', 0.1, 'embed_lr_scale', 0.3,
  'dev', 'SELECT text, label FROM sst2_dev',
  'dtype', 'f16',
  'meta', json_object('description', 'Sentence sentiment (negative, positive), SST-2, '
                      || 'fine-tuned from en-base',
                      'recipe', 'sql/recipes/en-sentiment-ft.sql')));
DETACH base;
SELECT label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('en-sentiment-ft', 'SELECT text, label FROM sst2_test');
