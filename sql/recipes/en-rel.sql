-- en-rel: English entities (Peop, Loc, Org, Other) and the relations between them (Work_For,
-- Kill, OrgBased_In, Live_In, Located_In), CoNLL04. As SpERT does for its final models, it
-- trains on train + dev for a fixed number of epochs; that number was chosen on dev in a
-- train-only run (dev relation F1 peaked at about 0.51 around epoch 45-50). Test is only
-- reported.
.headers on
.mode list
SELECT epoch, round(train_loss, 4) AS loss, round(seconds, 1) AS seconds
FROM attn_train('en-rel', 'relations',
  'SELECT text, entities, relations FROM conll04_train UNION ALL
   SELECT text, entities, relations FROM conll04_dev', json_object(
  'dim', 128, 'layers', 2, 'heads', 4, 'ffn', 256, 'max_len', 128,
  'features', json('[{"kind":"norm","buckets":65536,"dim":64},
                     {"kind":"subword","buckets":100000,"dim":64},
                     {"kind":"prefix","buckets":8192,"dim":16,"affix":3},
                     {"kind":"suffix","buckets":8192,"dim":16,"affix":3},
                     {"kind":"shape","buckets":1024,"dim":16}]'),
  'epochs', 50, 'lr', 2e-3, 'batch_size', 16, 'warmup', 100, 'seed', 1, 'threads', 2,
  'dropout_embed', 0.3, 'dropout_attn', 0.1, 'dropout_resid', 0.2, 'word_dropout', 0.05,
  'vectors', @vectors,
  'vocab_files', json(@vocab_files),
  'dtype', 'f16',
  'meta', json_object('description', 'English entities and relations, CoNLL04',
                      'recipe', 'sql/recipes/en-rel.sql')));
SELECT 'relations' AS task, label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('en-rel', 'SELECT text, entities, relations FROM conll04_test');
SELECT 'entities' AS task, label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('en-rel', 'SELECT text, entities FROM conll04_test', 'entities');
