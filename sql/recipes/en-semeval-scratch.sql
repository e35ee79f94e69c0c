-- en-semeval-scratch: en-semeval from scratch (word vectors only, no pretrained encoder): the
-- recipe before en-semeval was fine-tuned from en-base, kept as the curve's zero point
-- (sql/recipes/curve.sh). Relation between two given nominals, SemEval-2010 Task 8 (9
-- directed types, Other as no relation). Dev: every 10th training sentence.
.headers on
.mode list
SELECT epoch, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_f1, round(seconds, 1) AS seconds, best
FROM attn_train('en-semeval-scratch', 'relations',
  'SELECT text, entities, relations FROM semeval_train WHERE rowid % 10 <> 0', json_object(
  'dim', 256, 'layers', 2, 'heads', 4, 'ffn', 512, 'max_len', 128, 'rel_hidden', 256,
  'features', json('[{"kind":"norm","buckets":65536,"dim":64},
                     {"kind":"subword","buckets":100000,"dim":64},
                     {"kind":"prefix","buckets":8192,"dim":16,"affix":3},
                     {"kind":"suffix","buckets":8192,"dim":16,"affix":3},
                     {"kind":"shape","buckets":1024,"dim":16}]'),
  'epochs', 20, 'patience', 4, 'lr', 1e-3, 'batch_size', 32, 'warmup', 200, 'seed', 1,
  'threads', 2, 'dropout_embed', 0.3, 'dropout_attn', 0.1, 'dropout_resid', 0.2,
  'word_dropout', 0.05, 'embed_lr_scale', 0.5,
  'vectors', @vectors,
  'vocab_files', json(@vocab_files),
  'dev', 'SELECT text, entities, relations FROM semeval_train WHERE rowid % 10 = 0',
  'dtype', 'f16', 'language', 'en',
  'meta', json_object('description', 'Relation between two given nominals, SemEval-2010 Task 8',
                      'recipe', 'sql/recipes/en-semeval-scratch.sql')));
.parameter set @model 'en-semeval-scratch'
.read sql/semeval_score.sql
