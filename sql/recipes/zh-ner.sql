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
-- A lexicon (2026-12-07): jieba's dictionary (sql/recipes/zh_lexicon.sql) as a gazetteer feature
-- of four lists: WORD (100,700 words of the general vocabulary), NAME (78,317 person names),
-- PLACE (17,485) and ORG (4,710). Each token carries, per list, whether it begins or continues
-- a matched word (longest match from the left): the word boundaries and name cues a character
-- model does not see. With the subword table in 32,768 buckets (room in the size budget for
-- the lists) and 12 epochs: dev 0.8652 at epoch 12, the last (still rising), against 0.8502;
-- test 88.70 against 85.42 (f16); Weibo dev (named mentions, a genre the lists know less:
-- 9% of its person names are in NAME against 51% of MSRA dev's) 0.388 against 0.406. The
-- other lexicons measured (dev; test f16; Weibo dev): WORD alone, all 259,148 words, 10 epochs
-- 0.8525 (85.64; 0.384); the four lists with all words, 10 epochs 0.8556 (88.48; 0.372); WORD,
-- PLACE and ORG without NAME, 12 epochs 0.8505 (86.86; 0.354). The boundaries alone add little
-- beside the bigram vectors; the name list is what pays. 28 minutes (1 thread beside another
-- run, AMD EPYC Zen 5; the recipe's 2 threads sum the gradients in another order).
.read sql/recipes/zh_lexicon.sql
.headers on
.mode list
SELECT epoch, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_f1, round(seconds, 1) AS seconds, best
FROM attn_train('zh-ner', 'entities', 'SELECT text, entities FROM msra_train',
  json_object(
  'dim', 256, 'layers', 2, 'embed_context', 2, 'heads', 4, 'ffn', 512, 'max_len', 128,
  'features', json('[{"kind":"norm","buckets":65536,"dim":64},
                     {"kind":"subword","buckets":32768,"dim":64},
                     {"kind":"shape","buckets":4096,"dim":16},
                     {"kind":"bigram_left","buckets":131072,"dim":48},
                     {"kind":"bigram_right","buckets":131072,"dim":48}]'),
  'epochs', 12, 'patience', 3, 'lr', 1e-3, 'batch_size', 32, 'warmup', 300, 'seed', 1,
  'threads', 2, 'dropout_embed', 0.3, 'dropout_attn', 0.1, 'dropout_resid', 0.2,
  'word_dropout', 0.05, 'embed_lr_scale', 0.5,
  'gazetteers', json_object('WORD', 'SELECT name FROM zh_lex_word', 'NAME', 'SELECT name FROM zh_lex_name',
                            'PLACE', 'SELECT name FROM zh_lex_place', 'ORG', 'SELECT name FROM zh_lex_org'),
  'vectors', @vectors, 'bigram_vectors', @bigram_vectors,
  'vocab_files', json(@vocab_files),
  'dev', 'SELECT text, entities FROM msra_dev',
  'dtype', 'f16', 'language', 'zh',
  'meta', json_object('description', 'Chinese named entities (PER, LOC, ORG), MSRA',
                      'recipe', 'sql/recipes/zh-ner.sql')));
-- Scores on the test split, for the model card (not used for any choice).
SELECT label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('zh-ner', 'SELECT text, entities FROM msra_test');
-- Outside news, for the model card: Weibo posts' named mentions (dev).
SELECT 'weibo_dev_named' AS split, label, round(precision, 4) AS precision, round(recall, 4) AS recall,
       round(f1, 4) AS f1, support
FROM attn_eval('zh-ner', 'SELECT text, entities FROM weibo_dev_named');
