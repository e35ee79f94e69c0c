-- zh-base: a Chinese character encoder pretrained by replaced-token detection (task rtd,
-- model/rtd.h; as en-base, sql/recipes/en-base.sql) on all of ../shared/data/unlabeled_zh
-- (Chinese Wikipedia, 39.6M characters, 35.6M tokens: one token per ideograph), streamed from
-- the decompressed file (@vocab_files, set by build.sh), for zh-ner and the models from its
-- encoder to start from ('init', 'zh-base'). zh-ner's architecture and features (dim 256, 2
-- layers, 4 heads, ffn 512, embed_context 2, max_len 128; norm + subword + shape + the two
-- character bigrams) with relative positions (rel_positions 16: TENER's point for character
-- NER); the tables start from the character and bigram vectors, as zh-ner's.
-- Chinese has no capitals, so the corruption is the lower-case one: runs of 1-3 characters
-- replaced character by character from the unigram^0.75 distribution of the text; the head
-- says which characters do not belong (the bigram features of a replaced character's
-- neighbours change too: part of what it learns is which bigrams occur).
-- Why: zh-ner (MSRA test 85.27) is far from the 92 target and more MSRA epochs made it less
-- general (zh-ner.sql); a character encoder that has read Wikipedia is what the published
-- models that reach it have.
-- Resumable like en-base: each call trains for @time_limit seconds and writes the checkpoint
-- every 15 minutes and at the end (f16, about 50 MB: the bigram tables are most of it); the
-- schedule ends at @tokens (default 71M: two passes).
.headers on
.mode list
.bail on
INSERT OR IGNORE INTO temp.sqlite_parameters(key, value)
VALUES ('@time_limit', 9000), ('@tokens', 71000000);
SELECT step, tokens, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_rtd_f1,
       CAST(tokens_per_s AS INTEGER) AS tokens_per_s, CAST(eta_seconds AS INTEGER) AS eta_s,
       round(seconds, 1) AS seconds, best AS checkpoint
FROM attn_train('zh-base', 'rtd', @vocab_files, json_object(
  'dim', 256, 'layers', 2, 'embed_context', 2, 'rel_positions', 16, 'heads', 4, 'ffn', 512, 'max_len', 128,
  'features', json('[{"kind":"norm","buckets":65536,"dim":64},
                     {"kind":"subword","buckets":100000,"dim":64},
                     {"kind":"shape","buckets":4096,"dim":16},
                     {"kind":"bigram_left","buckets":131072,"dim":48},
                     {"kind":"bigram_right","buckets":131072,"dim":48}]'),
  'tokens', @tokens, 'time_limit', @time_limit, 'report_seconds', 60,
  'checkpoint_seconds', 900, 'lr', 5e-4, 'batch_size', 32, 'warmup', 1000,
  'min_lr_ratio', 0.1, 'seed', 1, 'threads', 2, 'dropout_embed', 0.1, 'dropout_attn', 0.1,
  'dropout_resid', 0.1, 'embed_lr_scale', 0.5,
  'vectors', @vectors, 'bigram_vectors', @bigram_vectors, 'vocab_files', json(@vocab_files),
  'dtype', 'f16', 'language', 'zh',
  'meta', json_object('description', 'Chinese character encoder pretrained by replaced-token '
                      || 'detection on unlabelled Chinese; for fine-tuning',
                      'recipe', 'sql/recipes/zh-base.sql')));
