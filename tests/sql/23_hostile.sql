-- A database someone else made. Opening or attaching it must not let its schema crash,
-- hang or mislead the calls of whoever opens it (README "Security model"). Every query below
-- once misbehaved (issue 18): each shows what it does now.
.mode list
PRAGMA trusted_schema = OFF;

-- attn_model must be an ordinary table. A view could call attn_models or attn_classify
-- (endless recursion), repeat rows (a recursive CTE) or yield a gigabyte zeroblob from a
-- 4 KB file; a virtual table or a generated column could do the same.
ATTACH 'evil.db' AS evil;
CREATE VIEW evil.attn_model(name, key, dtype, shape, data) AS
  SELECT name, 'config', 'json', '[]', config FROM attn_models;
SELECT attn_classify('I loved it');
SELECT count(*) FROM attn_models;
SELECT attn_classify('I loved it', 'pos');
DROP VIEW evil.attn_model;
CREATE VIEW evil.attn_model(name, key, dtype, shape, data) AS
  WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)
  SELECT 'en-sentiment', 'config', 'json', '[]', zeroblob(900000000) FROM n;
SELECT attn_classify('I loved it');
SELECT count(*) FROM attn_entities('Ann met Bob', 'every');
DROP VIEW evil.attn_model;
CREATE TABLE evil.attn_model(name TEXT, key TEXT, dtype TEXT, shape TEXT,
  data BLOB GENERATED ALWAYS AS (zeroblob(900000000)) VIRTUAL);
INSERT INTO evil.attn_model(name, key, dtype, shape) VALUES ('x', 'config', 'json', '[]');
SELECT attn_classify('I loved it', 'x');
SELECT name FROM attn_models WHERE name = 'x';
DETACH evil;
-- Detached, it is out of sight: everything works again.
SELECT attn_classify('I loved it', 'pos');

-- The SQL of attn_train and attn_eval only reads: anything else is refused before it runs.
CREATE TABLE r(text TEXT, label TEXT);
INSERT INTO r VALUES ('good day', 'pos'), ('bad day', 'neg');
CREATE TEMP TABLE models_before AS SELECT count(*) AS n FROM attn_model;
SELECT * FROM attn_train('m', 'classify', 'DELETE FROM attn_model RETURNING key, name');
SELECT * FROM attn_train('m', 'classify', 'UPDATE r SET label = ''x'' RETURNING text, label');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r',
  '{"dev": "DELETE FROM attn_model RETURNING key, name"}');
SELECT * FROM attn_eval('pos', 'DELETE FROM r RETURNING text, label');
SELECT (SELECT n FROM models_before) = (SELECT count(*) FROM attn_model), count(*) FROM r;

-- attn_conll reads regular files only, and stops at the first over-long line: /dev/zero
-- once never ended, a FIFO without a writer blocked in open (tests/unit/test_conll.c).
SELECT count(*) FROM attn_conll('/dev/zero');
SELECT count(*) FROM attn_conll('.');
SELECT count(*) FROM attn_conll('small.conll' || char(0) || '/etc/passwd');

-- Names: a NUL byte no longer cuts a name short, an empty name is refused, and an SQL NULL
-- model is "not given": the function's default model (attn_train and attn_eval have none).
SELECT attn_classify('good', 'pos' || char(0) || 'x');
SELECT attn_classify('good', '');
SELECT attn_classify('good', NULL) = attn_classify('good');
SELECT count(*) FROM attn_entities('Ann met Bob', NULL);
SELECT * FROM attn_train('', 'classify', 'SELECT text, label FROM r');
SELECT * FROM attn_train('m' || char(0) || 'x', 'classify', 'SELECT text, label FROM r');
SELECT * FROM attn_eval(NULL, 'SELECT text, label FROM r');

-- A relation label "none" would give the scores' JSON two "none" keys: it is reserved.
SELECT * FROM attn_train('m', 'relations',
  'SELECT ''Ann met Bob'', ''[{"start":0,"end":3,"label":"PER"},{"start":8,"end":11,"label":"PER"}]'', ''[{"head":0,"tail":1,"label":"none"}]''',
  '{"dim": 8, "layers": 1, "heads": 1, "ffn": 8, "max_len": 8, "epochs": 1, "features": [{"kind": "shape", "buckets": 8, "dim": 4}]}');

-- Inside a transaction the functions see what the transaction sees: an edit, its rollback to
-- a savepoint, a dropped attn_model (once served until COMMIT).
SELECT attn_classify('good', 'pos');
BEGIN;
SAVEPOINT s;
UPDATE attn_model SET data = json_set(data, '$.classify.labels', json('["bad", "fine"]'))
  WHERE name = 'pos' AND key = 'config';
SELECT attn_classify('good', 'pos');
ROLLBACK TO s;
SELECT attn_classify('good', 'pos');
SELECT count(*) FROM attn_entities('Ann met Bob', 'every');
DROP TABLE attn_model;
SELECT attn_classify('good', 'pos');
SELECT count(*) FROM attn_entities('Ann met Bob', 'every');
ROLLBACK;
SELECT attn_classify('good', 'pos');

-- attn_train reads back what it wrote as a lookup would, before it replaces the old model: a
-- meta of 600 KB takes the config over the loader's 1 MiB (ATTN_MAX_CONFIG_BYTES).
CREATE TEMP TABLE pos_before AS SELECT * FROM attn_model WHERE name = 'pos';
SELECT count(*) FROM attn_train('pos', 'classify', 'SELECT text, label FROM r',
  json_object('dim', 8, 'layers', 1, 'heads', 1, 'ffn', 8, 'max_len', 8, 'epochs', 1,
              'features', json('[{"kind": "shape", "buckets": 8, "dim": 4}]'),
              'meta', json_object('notes', printf('%.*c', 600000, 'x'),
                                  'more', printf('%.*c', 600000, 'y'))));
SELECT count(*) FROM (SELECT * FROM attn_model WHERE name = 'pos' EXCEPT SELECT * FROM pos_before);
SELECT attn_classify('good', 'pos');

-- attn_models shows a config only up to the loader's 1 MiB: a table of huge configs (once 50
-- of 100 MB, 5.4 GB for one listing) is listed without them.
ATTACH 'big.db' AS big;
CREATE TABLE big.attn_model(name TEXT NOT NULL, key TEXT NOT NULL, dtype TEXT NOT NULL,
  shape TEXT NOT NULL, data BLOB, PRIMARY KEY (name, key));
INSERT INTO big.attn_model VALUES ('huge', 'config', 'json', '[]', printf('%.*c', 2000000, ' '));
SELECT name, task, config IS NULL, storage FROM attn_models WHERE name = 'huge';
SELECT attn_classify('good', 'huge');
DETACH big;
