-- en-semeval: relation between two given nominals, SemEval-2010 Task 8 (9 directed types,
-- Other as no relation), queried with attn_relation. Dev: every 10th training sentence.
-- Fine-tuned from the pretrained encoder en-base (sql/recipes/en-base.sql: replaced-token
-- detection on unlabeled_en; @base, the checkpoint's file, default model/pretrain/en-base.db,
-- attached; build.sh passes the checkpoint it was selected with: 95.4M tokens, commit
-- d04e8d4): 'init' copies en-base's embeddings and encoder (3 layers, embed_context 1, its
-- features) and starts a fresh relation head. From that checkpoint: dev 0.5104 against 0.3851
-- from scratch (sql/recipes/en-semeval-scratch.sql, the vectors only; official test macro-F1
-- 76.19, f16); from the 24.7M-token one dev 0.5008 (test 78.23), the 37.1M one 0.4883
-- (76.66), the 46.4M one 0.5016 and 0.5058 in two runs (77.51 packed).
-- sql/recipes/curve.sh runs it on every committed checkpoint. Test is only reported.
.headers on
.mode list
.bail on
.parameter init
INSERT OR IGNORE INTO temp.sqlite_parameters(key, value)
VALUES ('@time_limit', 3600), ('@base', 'model/pretrain/en-base.db');
ATTACH @base AS base;
SELECT epoch, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_f1, round(seconds, 1) AS seconds, best
FROM attn_train('en-semeval', 'relations',
  'SELECT text, entities, relations FROM semeval_train WHERE rowid % 10 <> 0', json_object(
  'init', 'en-base', 'rel_hidden', 256,
  'epochs', 20, 'patience', 4, 'time_limit', @time_limit, 'lr', 1e-3, 'batch_size', 32,
  'warmup', 200, 'seed', 1, 'threads', 2, 'dropout_embed', 0.3, 'dropout_attn', 0.1,
  'dropout_resid', 0.2, 'word_dropout', 0.05, 'embed_lr_scale', 0.5,
  'dev', 'SELECT text, entities, relations FROM semeval_train WHERE rowid % 10 = 0',
  'dtype', 'f16', 'language', 'en',
  'meta', json_object('description', 'Relation between two given nominals, SemEval-2010 Task 8, '
                      || 'fine-tuned from en-base', 'recipe', 'sql/recipes/en-semeval.sql')));
DETACH base;
.parameter set @model 'en-semeval'
.read sql/semeval_score.sql
