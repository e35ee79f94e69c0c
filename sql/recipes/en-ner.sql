-- en-ner: English named entities (PER, LOC, ORG, MISC), trained on CoNLL-2003 train and
-- Tweebank-NER train (tweets annotated by the CoNLL-2003 guidelines), selected on their dev
-- splits together, never tuned on test. Fine-tuned from the pretrained encoder en-base
-- (sql/recipes/en-base.sql: replaced-token detection on unlabeled_en at this architecture
-- and these features; @base, the checkpoint's file, attached: build.sh passes the one this
-- model was selected with, 46.4M tokens, commit df9e067). 'init' copies en-base's tables and
-- encoder (its tables started from the word vectors, so no 'vectors' here) and starts a fresh
-- tagger and CRF. Inputs per token: hashed norm, subword n-grams, 3-character prefix and
-- suffix, shape; the projection reads one neighbour a side (embed_context 1). The rows are the
-- text as people write it (detokenised), plus casing noise: 10% of the sentences again
-- lower-cased and 10% headline-cased (conll2003_train_cased), so that capitals are a cue, not
-- a requirement; and the 1,639 Tweebank tweets twice (about a fifth of the rows), so that
-- retweet marks, user names, links, emoji and lower-case names are not read as entities.
-- Dev (CoNLL + Tweebank): 0.9063 against 0.8986 from scratch (sql/recipes/en-ner-scratch.sql),
-- 0.9002 from the 24.7M-token checkpoint, 0.9040 from the 37.1M one; sql/recipes/curve.sh
-- runs it on every committed checkpoint. Test is only reported.
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
FROM attn_train('en-ner', 'entities',
  'SELECT text, entities FROM conll2003_train UNION ALL SELECT text, entities FROM conll2003_train_cased
   UNION ALL SELECT text, entities FROM tweebank_train UNION ALL SELECT text, entities FROM tweebank_train',
  json_object(
  'init', 'en-base',
  'epochs', 16, 'patience', 3, 'time_limit', @time_limit, 'lr', 1e-3, 'batch_size', 32,
  'warmup', 300, 'seed', 1, 'threads', 2, 'dropout_embed', 0.3, 'dropout_attn', 0.1,
  'dropout_resid', 0.2, 'word_dropout', 0.05, 'embed_lr_scale', 0.5,
  'dev', 'SELECT text, entities FROM conll2003_dev UNION ALL SELECT text, entities FROM tweebank_dev',
  'dtype', 'f16', 'language', 'en',
  'meta', json_object('description', 'English named entities (PER, LOC, ORG, MISC), CoNLL-2003 '
                      || 'and Tweebank, fine-tuned from en-base', 'recipe', 'sql/recipes/en-ner.sql')));
DETACH base;
SELECT label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('en-ner', 'SELECT text, entities FROM conll2003_test');
SELECT 'conll dev', round(f1, 4) FROM attn_eval('en-ner', 'SELECT text, entities FROM conll2003_dev') WHERE label = 'micro';
SELECT 'tweebank dev', round(f1, 4) FROM attn_eval('en-ner', 'SELECT text, entities FROM tweebank_dev') WHERE label = 'micro';
SELECT 'robust test', round(f1, 4) FROM attn_eval('en-ner', 'SELECT text, entities FROM conll2003_test_robust') WHERE label = 'micro';
SELECT 'tweebank test', round(f1, 4) FROM attn_eval('en-ner', 'SELECT text, entities FROM tweebank_test') WHERE label = 'micro';
