-- en-rel: English entities (Peop, Loc, Org, Other) and the relations between them (Work_For,
-- Kill, OrgBased_In, Live_In, Located_In), CoNLL04. Transfer: the encoder (feature tables,
-- projection, positions, layers) starts from en-ner's, trained on CoNLL-2003
-- (build/recipes/en-ner.db, so build.sh trains en-ner first); the tagger, CRF and relation head
-- start fresh, since CoNLL04's entity types are not CoNLL-2003's. Trained on train, selected on
-- dev (strict relation F1) with an exponential moving average of the parameters (ema), which
-- smooths the epoch-to-epoch swings of a dev set of 288 sentences. Test is only reported.
.headers on
.mode list
.bail on
ATTACH 'build/recipes/en-ner.db' AS ner;
SELECT epoch, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_relation_f1, round(seconds, 1) AS seconds, best
FROM attn_train('en-rel', 'relations', 'SELECT text, entities, relations FROM conll04_train',
  json_object(
  'init', 'en-ner', 'dev', 'SELECT text, entities, relations FROM conll04_dev',
  'epochs', 60, 'ema', 0.998, 'lr', 1e-3, 'batch_size', 16, 'warmup', 100, 'seed', 1,
  'threads', 2, 'dropout_embed', 0.3, 'dropout_attn', 0.1, 'dropout_resid', 0.2,
  'word_dropout', 0.05, 'embed_lr_scale', 0.5,
  'dtype', 'f16',
  'meta', json_object('description', 'English entities and relations, CoNLL04',
                      'recipe', 'sql/recipes/en-rel.sql')));
DETACH ner;
SELECT 'relations' AS task, label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('en-rel', 'SELECT text, entities, relations FROM conll04_test');
SELECT 'entities' AS task, label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('en-rel', 'SELECT text, entities FROM conll04_test', 'entities');
