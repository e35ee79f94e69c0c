-- en-ner-scratch: en-ner from scratch (the word vectors, no pretrained encoder): the recipe
-- before en-ner was fine-tuned from en-base (sql/recipes/en-ner.sql), kept as the pretraining
-- curve's zero point. English named entities (PER, LOC, ORG, MISC), trained on CoNLL-2003 train and
-- Tweebank-NER train (tweets annotated by the CoNLL-2003 guidelines), selected on their dev
-- splits together, never tuned on test. Run by sql/recipes/build.sh (make models), which
-- sets @data (the datasets folder) and @vectors (word vectors trained on unlabeled_en).
-- Inputs per token: hashed norm (filled from the word vectors), subword n-grams (the word
-- vectors' own table), 3-character prefix and suffix, and shape; the projection reads one
-- neighbour a side (embed_context 1). 16 epochs. The rows are the text as people write it
-- (detokenised), plus casing noise: 10% of the sentences again lower-cased and 10%
-- headline-cased (conll2003_train_cased), so that capitals are a cue, not a requirement; and
-- the 1,639 Tweebank tweets twice (about a fifth of the rows), so that retweet marks, user
-- names, links, emoji and lower-case names are not read as entities (news alone: Tweebank
-- test F1 27.4; with them 52.0). Against the previous recipe (news only, 5% casing noise, no
-- embed_context): CoNLL dev 0.9265 against 0.9150.
-- Tried and not kept (dev): the same with gazetteer lists (sql/recipes/gazetteers.sql):
-- CoNLL + Tweebank dev 0.8975 against 0.8986 (CoNLL dev 0.9218, Tweebank dev 0.5269 against
-- 0.4851), stopped by patience at epoch 11.
.headers on
.mode list
SELECT epoch, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_f1, round(seconds, 1) AS seconds, best
FROM attn_train('en-ner-scratch', 'entities',
  'SELECT text, entities FROM conll2003_train UNION ALL SELECT text, entities FROM conll2003_train_cased
   UNION ALL SELECT text, entities FROM tweebank_train UNION ALL SELECT text, entities FROM tweebank_train',
  json_object(
  'dim', 256, 'layers', 3, 'embed_context', 1, 'heads', 4, 'ffn', 512, 'max_len', 128,
  'features', json('[{"kind":"norm","buckets":65536,"dim":64},
                     {"kind":"subword","buckets":100000,"dim":64},
                     {"kind":"prefix","buckets":16384,"dim":24,"affix":3},
                     {"kind":"suffix","buckets":16384,"dim":24,"affix":3},
                     {"kind":"shape","buckets":4096,"dim":24}]'),
  'epochs', 16, 'patience', 3, 'lr', 1e-3, 'batch_size', 32, 'warmup', 300, 'seed', 1,
  'threads', 2, 'dropout_embed', 0.3, 'dropout_attn', 0.1, 'dropout_resid', 0.2,
  'word_dropout', 0.05, 'embed_lr_scale', 0.5,
  'vectors', @vectors,
  'vocab_files', json(@vocab_files),
  'dev', 'SELECT text, entities FROM conll2003_dev UNION ALL SELECT text, entities FROM tweebank_dev',
  'dtype', 'f16', 'language', 'en',
  'meta', json_object('description', 'English named entities (PER, LOC, ORG, MISC), CoNLL-2003',
                      'recipe', 'sql/recipes/en-ner-scratch.sql')));
-- Scores on the test split, for the model card (not used for any choice).
SELECT label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('en-ner-scratch', 'SELECT text, entities FROM conll2003_test');
SELECT 'conll dev', round(f1, 4) FROM attn_eval('en-ner-scratch', 'SELECT text, entities FROM conll2003_dev') WHERE label = 'micro';
SELECT 'tweebank dev', round(f1, 4) FROM attn_eval('en-ner-scratch', 'SELECT text, entities FROM tweebank_dev') WHERE label = 'micro';
SELECT 'robust test', round(f1, 4) FROM attn_eval('en-ner-scratch', 'SELECT text, entities FROM conll2003_test_robust') WHERE label = 'micro';
SELECT 'tweebank test', round(f1, 4) FROM attn_eval('en-ner-scratch', 'SELECT text, entities FROM tweebank_test') WHERE label = 'micro';
