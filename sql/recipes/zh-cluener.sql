-- zh-cluener: Chinese fine-grained entities, the ten types of CLUENER2020 (name, organization,
-- address, company, government, book, game, movie, position, scene), news headlines and
-- sentences with Latin names and numbers among the characters. Trained on its train split
-- (9,674 sentences), selected on dev (every 10th official training sentence), scored on the
-- official dev set (its test split here; the official test labels are not public). The encoder
-- and tables start from zh-ner's (build.sh trains it first), the tagging head fresh for the
-- ten labels. An optional model (model/optional/zh-cluener.db): ATTACH it to use it.
.headers on
.mode list
.bail on
ATTACH 'build/recipes/zh-ner.db' AS ner;
SELECT epoch, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_f1, round(seconds, 1) AS seconds, best
FROM attn_train('zh-cluener', 'entities', 'SELECT text, entities FROM cluener_train',
  json_object(
  'init', 'zh-ner',
  'labels', json('["name", "organization", "address", "company", "government", "book", "game", "movie", "position", "scene"]'),
  'dev', 'SELECT text, entities FROM cluener_dev',
  'epochs', 20, 'patience', 5, 'ema', 0.998, 'lr', 1e-3, 'batch_size', 16, 'warmup', 100,
  'seed', 1, 'threads', 2, 'dropout_embed', 0.3, 'dropout_attn', 0.1, 'dropout_resid', 0.2,
  'word_dropout', 0.05, 'embed_lr_scale', 0.5,
  'dtype', 'f16',
  'meta', json_object('description', 'Chinese fine-grained entities (10 types), CLUENER2020',
                      'recipe', 'sql/recipes/zh-cluener.sql')));
DETACH ner;
SELECT label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('zh-cluener', 'SELECT text, entities FROM cluener_test');
