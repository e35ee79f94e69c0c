-- attn_train and attn_eval errors: each names the function, and the option, the row or the
-- label at fault. A failed run writes nothing.
.mode list
CREATE TABLE r(text TEXT, label TEXT);
INSERT INTO r VALUES ('good day', 'pos'), ('bad day', 'neg'), ('good night', 'pos'), ('bad night', 'neg');
CREATE TABLE e(text TEXT, ents TEXT);
INSERT INTO e VALUES ('Ann met Bob', '[{"start":0,"end":3,"label":"PER"},{"start":8,"end":11,"label":"PER"}]'),
                     ('Bob left', '[{"start":0,"end":3,"label":"PER"}]'),
                     ('Ann saw Rome', '[{"start":0,"end":3,"label":"PER"},{"start":8,"end":12}]');
-- The model every options object below would make, small and quick.
CREATE TABLE opt(o TEXT);
INSERT INTO opt VALUES ('{"dim": 8, "layers": 1, "heads": 1, "ffn": 8, "max_len": 8, "epochs": 1,
  "features": [{"kind": "shape", "buckets": 8, "dim": 4}]}');
CREATE TEMP TABLE before AS SELECT * FROM attn_model WHERE name = 'pos';

-- Arguments.
SELECT * FROM attn_train('m', 'classify');
SELECT * FROM attn_train('m', 'sentiment', 'SELECT text, label FROM r');
SELECT * FROM attn_train(NULL, 'classify', 'SELECT text, label FROM r');
SELECT * FROM attn_train('m', 'classify', 42);
-- Options: unknown keys, wrong types, out of range, bad JSON.
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"epochz": 3}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"epochs": 0}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"epochs": 1.5}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"lr": "fast"}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"dropout_attn": 1}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"schedule": "step"}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"dtype": "f64"}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"labels": []}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"labels": {"tags": ["x"]}}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"labels": {"entities": ["PER"]}}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"meta": [1]}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"epochs": 1, "epochs": 2}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '[]');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"dim": 8,');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"vectors": "v.bin"}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"vectors": "no/such.atwv", "vocab_files": ["x.txt"]}');
-- A model with a subword feature takes the vectors as its subword table: no vocab_files needed.
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"vectors": "no/such.atwv", "features": [{"kind": "subword", "buckets": 100, "dim": 8}]}');
-- The config is checked by the engine, which names the key.
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"dim": 10, "heads": 3}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"features": [{"kind": "colour", "buckets": 8, "dim": 4}]}');
-- init: the model must exist; its architecture (and, with the task, its labels) is kept. A
-- model without the task gives its encoder (21_mlm), whose architecture must match too; so
-- does one with the task when option 'labels' names other labels (the heads start fresh).
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"init": "nope"}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"init": "ner", "heads": 3}');
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"init": "pos", "dim": 16}');
SELECT count(*), max(epoch) FROM attn_train('m2', 'classify', 'SELECT text, label FROM r', '{"init": "pos", "labels": ["pos", "neg"], "epochs": 2}');
SELECT labels FROM attn_models WHERE name = 'm2';
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', '{"init": "pos", "epochs": 1}');

-- The rows: SQL errors, shapes, types, and malformed annotations name the row.
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM nowhere', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r; SELECT 1', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'classify', '', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'classify', 'SELECT text FROM r', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r WHERE 0', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'classify', 'SELECT text, NULL FROM r', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'classify', 'SELECT 7, label FROM r', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'entities', 'SELECT text, ents FROM e', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'entities', 'SELECT text, ''[{"start":0,"end":3,"label":"PER"]'' FROM e', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'entities', 'SELECT text, ''{}'' FROM e', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'entities', 'SELECT text, ''[{"start":-1,"end":3,"label":"PER"}]'' FROM e', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'entities', 'SELECT text, ''[{"start":4,"end":2,"label":"PER"}]'' FROM e', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'entities', 'SELECT text, ''[{"start":0,"end":3,"label":"PER"},{"start":1,"end":5,"label":"PER"}]'' FROM e', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'entities', 'SELECT text, ''[]'' FROM e', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'relations', 'SELECT text, ents, ''[{"head":0,"tail":5,"label":"Knows"}]'' FROM e LIMIT 1', (SELECT o FROM opt));
SELECT * FROM attn_train('m', 'relations', 'SELECT text, ents, ''[{"head":0,"tail":1}]'' FROM e LIMIT 1', (SELECT o FROM opt));
-- Labels: explicit labels reject others; the dev set may only use the training labels.
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', json_set((SELECT o FROM opt), '$.labels', json('["pos"]')));
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', json_set((SELECT o FROM opt), '$.dev', 'SELECT ''so so'', ''neutral'''));
SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r', json_set((SELECT o FROM opt), '$.dev', 'SELECT text FROM r'));
-- Nothing was written by any of these, and the model 'pos' is as it was.
SELECT count(*) FROM attn_model WHERE name = 'm';
SELECT count(*) FROM (SELECT * FROM before EXCEPT SELECT * FROM attn_model WHERE name = 'pos');

-- DIRECTONLY: attn_train and attn_eval run SQL given as text, so they refuse to run from a
-- view or a trigger (which someone else may have written), whatever trusted_schema says.
CREATE VIEW tv AS SELECT * FROM attn_train('m', 'classify', 'SELECT text, label FROM r');
SELECT * FROM tv;
CREATE VIEW ev AS SELECT * FROM attn_eval('pos', 'SELECT text, label FROM r');
SELECT * FROM ev;
CREATE TABLE t(x);
CREATE TRIGGER tt AFTER INSERT ON t BEGIN
  SELECT epoch FROM attn_train('m', 'classify', 'SELECT text, label FROM r');
END;
INSERT INTO t VALUES (1);

-- attn_eval errors.
SELECT * FROM attn_eval('pos');
SELECT * FROM attn_eval('nope', 'SELECT text, label FROM r');
SELECT * FROM attn_eval('pos', 'SELECT text, label, 3 FROM r');
SELECT * FROM attn_eval('pos', 'SELECT text FROM r');
SELECT * FROM attn_eval('tiny', 'SELECT text, label FROM r');
SELECT * FROM attn_eval('pos', 'SELECT text, label FROM r', 'entities');
SELECT * FROM attn_eval('pos', 'SELECT text, label FROM r', 'tags');
SELECT * FROM attn_eval('pos', 'SELECT text, label FROM r');
SELECT * FROM attn_eval('ner', 'SELECT text, ''[{"start":0,"end":3}]'' FROM e');
