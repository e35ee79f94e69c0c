-- zh-ner: Chinese named entities (PER, LOC, ORG), trained on MSRA (SIGHAN 2006) train, selected
-- on its dev split, never tuned on test. Run by sql/recipes/build.sh (make models), which sets
-- @data, @vectors (character vectors trained on unlabeled_zh), @bigram_vectors (character
-- bigram vectors, the same text) and @vocab_files.
-- One token per ideograph (tokenizer.h), so a character model: its inputs are the character's
-- hashed norm (filled from the character vectors), the vectors' own subword table, the shape
-- (Latin, digits and punctuation inside Chinese text), and the two character bigrams around it
-- (bigram_left: previous + this, bigram_right: this + next), which carry the words a
-- character is part of: a character model without word boundaries leans on them. The
-- projection reads two neighbours a side (embed_context 2: a width-5 convolution under the
-- attention layers), which gave the encoder the local order it was missing: dev 0.7958 at
-- epoch 8 against 0.7188 without it (test 0.8326 against 0.7841, f16). The two bigram tables
-- start from bigram vectors (@bigram_vectors: attn_wordvec_train with unit 'bigrams' on
-- unlabeled_zh): dev 0.8502 against 0.7958 (test 0.8542 against 0.8326, f16), best at the
-- last epoch (still rising: more epochs are the next thing to try); 28 minutes (2 threads,
-- AMD EPYC Zen 5, shared).
-- Tried and not kept (dev): the tables at the full rate with light regularisation (lr 2e-3,
-- dropout 0.1, no word dropout), which learnt faster early but overfit (best 0.7128); 18
-- epochs (patience 4) with the subword table in 32,768 buckets (zh-sentiment's vectors):
-- MSRA dev 0.8537 at epoch 16 (test 86.24 packed, 13.9 MB) but Weibo dev (named mentions)
-- 0.383 against 0.406, and `苹果公司CEO库克` read as PER `CEO库克`: more MSRA epochs made a
-- model more of People's Daily, so this one stays (the two changes were made in one run).
-- Its subword table is 100,000 buckets, as the character vectors build.sh gives it.
.headers on
.mode list
SELECT epoch, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_f1, round(seconds, 1) AS seconds, best
FROM attn_train('zh-ner', 'entities', 'SELECT text, entities FROM msra_train',
  json_object(
  'dim', 256, 'layers', 2, 'embed_context', 2, 'heads', 4, 'ffn', 512, 'max_len', 128,
  'features', json('[{"kind":"norm","buckets":65536,"dim":64},
                     {"kind":"subword","buckets":100000,"dim":64},
                     {"kind":"shape","buckets":4096,"dim":16},
                     {"kind":"bigram_left","buckets":131072,"dim":48},
                     {"kind":"bigram_right","buckets":131072,"dim":48}]'),
  'epochs', 10, 'patience', 3, 'lr', 1e-3, 'batch_size', 32, 'warmup', 300, 'seed', 1,
  'threads', 2, 'dropout_embed', 0.3, 'dropout_attn', 0.1, 'dropout_resid', 0.2,
  'word_dropout', 0.05, 'embed_lr_scale', 0.5,
  'vectors', @vectors, 'bigram_vectors', @bigram_vectors,
  'vocab_files', json(@vocab_files),
  'dev', 'SELECT text, entities FROM msra_dev',
  'dtype', 'f16', 'language', 'zh',
  'meta', json_object('description', 'Chinese named entities (PER, LOC, ORG), MSRA',
                      'recipe', 'sql/recipes/zh-ner.sql')));
-- Scores on the test split, for the model card (not used for any choice).
SELECT label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('zh-ner', 'SELECT text, entities FROM msra_test');
