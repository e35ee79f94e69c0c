-- attn_train(model, 'mlm', 'SELECT text FROM ...') pretrains an encoder as a masked language
-- model (ERNIE-style span masking, model/mlm.h): rows are plain texts; the dev metric is the
-- masked-token accuracy. attn_train's 'init' then starts a classify / entities / relations
-- model from it: the encoder is copied, the task's heads start fresh.
.mode list
CREATE TABLE unlabeled(text TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 24)
INSERT INTO unlabeled
SELECT CASE i % 4 WHEN 0 THEN 'John Smith flew from Boston to Denver on a cold morning .'
                  WHEN 1 THEN 'the small red fox jumped over the lazy brown dog .'
                  WHEN 2 THEN 'Acme Corp hired Mary Jones as chief executive last year .'
                  ELSE 'rain fell on the quiet village all through the night .' END
FROM n;

CREATE TABLE log AS
SELECT * FROM attn_train('base', 'mlm', 'SELECT text FROM unlabeled',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "mlm_vocab": 40,
    "epochs": 60, "lr": 0.01, "batch_size": 8, "seed": 3,
    "features": [{"kind": "norm", "buckets": 256, "dim": 8}, {"kind": "shape", "buckets": 32, "dim": 4}],
    "dev": "SELECT text FROM unlabeled WHERE rowid <= 4"}');
SELECT count(*), min(metric), max(metric) FROM log;
-- It learned: the loss fell and the masked words of the dev texts are mostly found.
SELECT (SELECT avg(train_loss) FROM log WHERE epoch > 50) < (SELECT train_loss FROM log WHERE epoch = 1) / 2;
SELECT max(dev_metric) >= 0.7 FROM log;
-- The model stores its head: task mlm, vocab 40.
SELECT json_extract(data, '$.tasks'), json_extract(data, '$.mlm.vocab'),
       json_extract(data, '$.meta.training.task'), json_extract(data, '$.meta.training.metric')
FROM attn_model WHERE name = 'base' AND key = 'config';
SELECT key, shape FROM attn_model WHERE name = 'base' AND key LIKE 'mlm.%' ORDER BY key;
-- An mlm model answers no task.
SELECT attn_classify('a text', 'base');

-- Fine-tuning: same architecture and features, taken from 'base'.
CREATE TABLE reviews(text TEXT, label TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 16)
INSERT INTO reviews
SELECT CASE WHEN i % 2 THEN 'a good and great movie' ELSE 'a bad and awful film' END,
       CASE WHEN i % 2 THEN 'positive' ELSE 'negative' END
FROM n;
SELECT count(*) FROM attn_train('cls', 'classify', 'SELECT text, label FROM reviews',
  '{"init": "base", "epochs": 8, "lr": 0.01, "batch_size": 4}');
SELECT attn_classify('a good and great movie', 'cls'), attn_classify('a bad and awful film', 'cls');
SELECT json_extract(data, '$.tasks'), json_extract(data, '$.dim'), json_extract(data, '$.max_len'),
       json_array_length(data, '$.features'), json_extract(data, '$.meta.training.init')
FROM attn_model WHERE name = 'cls' AND key = 'config';
-- Every tensor of the encoder is copied: with lr 0 nothing moves, so all 19 equal base's;
-- the classify head is new and the mlm head is left behind.
SELECT count(*) FROM attn_train('cls0', 'classify', 'SELECT text, label FROM reviews',
  '{"init": "base", "epochs": 1, "lr": 0}');
SELECT count(*) FROM attn_model a JOIN attn_model b ON a.key = b.key
WHERE a.name = 'base' AND b.name = 'cls0' AND a.key != 'config' AND a.data = b.data;
SELECT group_concat(key, ' ') FROM (SELECT key FROM attn_model WHERE name = 'cls0' AND key != 'config'
  AND key NOT IN (SELECT key FROM attn_model WHERE name = 'base') ORDER BY key);
SELECT group_concat(key, ' ') FROM (SELECT key FROM attn_model WHERE name = 'base' AND key != 'config'
  AND key NOT IN (SELECT key FROM attn_model WHERE name = 'cls0') ORDER BY key);
-- max_len may differ: positions are copied as far as both reach.
SELECT count(*) FROM attn_train('cls8', 'classify', 'SELECT text, label FROM reviews',
  '{"init": "base", "epochs": 1, "max_len": 8}');
SELECT json_extract(data, '$.max_len') FROM attn_model WHERE name = 'cls8' AND key = 'config';
SELECT shape FROM attn_model WHERE name = 'cls8' AND key = 'pos';

-- Errors: the architecture and features must be the init model's.
SELECT * FROM attn_train('x', 'classify', 'SELECT text, label FROM reviews', '{"init": "base", "dim": 32}');
SELECT * FROM attn_train('x', 'classify', 'SELECT text, label FROM reviews', '{"init": "base", "heads": 4}');
SELECT * FROM attn_train('x', 'classify', 'SELECT text, label FROM reviews', '{"init": "base", "attn_scale": "none"}');
SELECT * FROM attn_train('x', 'classify', 'SELECT text, label FROM reviews',
  '{"init": "base", "features": [{"kind": "norm", "buckets": 256, "dim": 8}]}');
SELECT * FROM attn_train('x', 'classify', 'SELECT text, label FROM reviews',
  '{"init": "base", "features": [{"kind": "norm", "buckets": 512, "dim": 8}, {"kind": "shape", "buckets": 32, "dim": 4}]}');
SELECT * FROM attn_train('x', 'classify', 'SELECT text, label FROM reviews',
  '{"init": "base", "vectors": "nowhere.bin"}');
-- A classify model is not a pretrained encoder: structural options clash with it as before.
SELECT * FROM attn_train('x', 'classify', 'SELECT text, label FROM reviews', '{"init": "cls", "dim": 16}');

-- Transfer: a model trained for another task gives its encoder the same way (en-rel starts
-- from en-ner's). An entities model from the classify model 'cls', with lr 0: the 19 encoder
-- tensors equal cls's; the CRF tagger is new and the classify head is left behind.
CREATE TABLE people(text TEXT, entities TEXT);
INSERT INTO people VALUES
  ('John Smith flew to Boston', '[{"start":0,"end":10,"label":"PER"},{"start":19,"end":25,"label":"LOC"}]'),
  ('Mary Jones stayed in Denver', '[{"start":0,"end":10,"label":"PER"},{"start":21,"end":27,"label":"LOC"}]');
SELECT count(*) FROM attn_train('tagger0', 'entities', 'SELECT text, entities FROM people',
  '{"init": "cls", "epochs": 1, "lr": 0}');
SELECT json_extract(data, '$.tasks'), json_extract(data, '$.dim'), json_extract(data, '$.meta.training.init')
FROM attn_model WHERE name = 'tagger0' AND key = 'config';
SELECT count(*) FROM attn_model a JOIN attn_model b ON a.key = b.key
WHERE a.name = 'cls' AND b.name = 'tagger0' AND a.key != 'config' AND a.data = b.data;
SELECT group_concat(key, ' ') FROM (SELECT key FROM attn_model WHERE name = 'tagger0' AND key != 'config'
  AND key NOT IN (SELECT key FROM attn_model WHERE name = 'cls') ORDER BY key);
SELECT group_concat(key, ' ') FROM (SELECT key FROM attn_model WHERE name = 'cls' AND key != 'config'
  AND key NOT IN (SELECT key FROM attn_model WHERE name = 'tagger0') ORDER BY key);
-- It learns the new task from there.
SELECT count(*) FROM attn_train('tagger', 'entities', 'SELECT text, entities FROM people',
  '{"init": "cls", "epochs": 40, "lr": 0.01, "batch_size": 2}');
SELECT group_concat(entity || '/' || label, ' ') FROM attn_entities('John Smith flew to Boston', 'tagger');
-- Its architecture is the init model's, as with an mlm init.
SELECT * FROM attn_train('x', 'entities', 'SELECT text, entities FROM people', '{"init": "cls", "layers": 2}');
-- Where the init model has the task, it is fine-tuned as it is: its heads are kept.
SELECT * FROM attn_train('x', 'classify', 'SELECT text, label FROM reviews', '{"init": "cls", "ffn": 64}');
-- mlm rows are one column; mlm has no labels; mlm_vocab is bounded.
SELECT * FROM attn_train('x', 'mlm', 'SELECT text, 1 FROM unlabeled');
SELECT * FROM attn_train('x', 'mlm', 'SELECT text FROM unlabeled', '{"labels": ["a"]}');
SELECT * FROM attn_train('x', 'mlm', 'SELECT text FROM unlabeled', '{"mlm_vocab": 0}');
SELECT count(*) FROM attn_model WHERE name = 'x';
