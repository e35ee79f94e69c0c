-- en-base: an English encoder pretrained by replaced-token detection (task rtd, model/rtd.h:
-- whole names replaced by other names of the same length, lower-case phrases by words drawn
-- from the unigram^0.75 distribution; a per-token "replaced?" head, the loss over every
-- token) on all of ../shared/data/unlabeled_en (75.6M words, 88M tokens), streamed from the
-- files (@vocab_files, set by build.sh: the plain files, then the decompressed Wikipedia
-- ones), for fine-tuning with attn_train's 'init'. en-ner's architecture and features (dim
-- 256, 3 layers, 4 heads, ffn 512, embed_context 1, max_len 128; norm + subword +
-- prefix/suffix + shape), so that sql/recipes/en-ner.sql can start from it ('init',
-- 'en-base'); its tables start from the word vectors like en-ner's.
--
-- Resumable: each call trains for @time_limit seconds (default 9000: a 3-hour session with
-- room to spare) and writes the checkpoint (the model and its position in the stream, f16,
-- about 27 MB) every 15 minutes and at the end; the next call, here or on another machine
-- with the same files, continues from it (sql/recipes/build.sh keeps model/pretrain/en-base.db
-- between calls; commit that file to carry the run over). The schedule ends at @tokens
-- (default 176M: two passes over the files, about 4 hours at the 12,000 tokens/s of the first
-- run with 2 free cores, AMD EPYC Zen 5; 7.5 hours at 6,700 on shared ones); a call after that
-- trains nothing. A progress row a minute: tokens so far, loss,
-- tokens/s and the time left (ETA); dev_metric (F1 of "replaced" on held-out lines, 0.2% of
-- them by hash, at most 512) on the checkpoint rows (best = 1).
-- Replaces the masked-LM recipe: 26 minutes over 15% of the 11M words then gave nothing
-- measurable when fine-tuned (a full softmax over 8192 words costs 30-95% more a token than
-- this head; see README, "Pretraining").
.headers on
.mode list
.bail on
INSERT OR IGNORE INTO temp.sqlite_parameters(key, value)
VALUES ('@time_limit', 9000), ('@tokens', 176000000);
SELECT step, tokens, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_rtd_f1,
       CAST(tokens_per_s AS INTEGER) AS tokens_per_s, CAST(eta_seconds AS INTEGER) AS eta_s,
       round(seconds, 1) AS seconds, best AS checkpoint
FROM attn_train('en-base', 'rtd', @vocab_files, json_object(
  'dim', 256, 'layers', 3, 'embed_context', 1, 'heads', 4, 'ffn', 512, 'max_len', 128,
  'features', json('[{"kind":"norm","buckets":65536,"dim":64},
                     {"kind":"subword","buckets":100000,"dim":64},
                     {"kind":"prefix","buckets":16384,"dim":24,"affix":3},
                     {"kind":"suffix","buckets":16384,"dim":24,"affix":3},
                     {"kind":"shape","buckets":4096,"dim":24}]'),
  'tokens', @tokens, 'time_limit', @time_limit, 'report_seconds', 60,
  'checkpoint_seconds', 900, 'lr', 5e-4, 'batch_size', 32, 'warmup', 1000,
  'min_lr_ratio', 0.1, 'seed', 1, 'threads', 2, 'dropout_embed', 0.1, 'dropout_attn', 0.1,
  'dropout_resid', 0.1, 'embed_lr_scale', 0.5,
  'vectors', @vectors, 'vocab_files', json(@vocab_files),
  'dtype', 'f16', 'language', 'en',
  'meta', json_object('description', 'English encoder pretrained by replaced-token detection '
                      || '(entity-span and unigram replacements) on unlabelled English; for '
                      || 'fine-tuning', 'recipe', 'sql/recipes/en-base.sql')));
