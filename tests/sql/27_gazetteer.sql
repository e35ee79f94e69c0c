-- Gazetteers: name lists whose matches (B/I/O of a matched span, per list) are a feature of
-- the model. attn_train's option 'gazetteers' gives the lists; the trained model keeps them as
-- rows 'gazetteer.<list>' of attn_model, and a user extends them with plain SQL: the next call
-- uses them (README "Gazetteers").
.mode list
CREATE TABLE people(name TEXT);
INSERT INTO people VALUES ('Ann'), ('Bob'), ('Cleo'), ('Dan'), ('Eve'), ('Finn'), ('Mary Lou'),
  ('Jo Anne Lee');
CREATE TABLE places(name TEXT);
INSERT INTO places VALUES ('Paris'), ('Oslo'), ('Lima'), ('Rome'), ('Kyiv'), ('Bern'),
  ('New York'), ('Hong Kong');
CREATE TABLE names(name TEXT, label TEXT);
INSERT INTO names SELECT name, 'PER' FROM people UNION ALL SELECT name, 'LOC' FROM places;
CREATE TABLE others(name TEXT);
INSERT INTO others VALUES ('Nobody'), ('Someone'), ('Everyone'), ('Anyone'), ('No One'),
  ('Some People');
-- "A met B": who is a person and who a place is known only from the lists (the model's other
-- feature, the shape, is Xxxx for all of them).
CREATE TABLE ner(text TEXT, entities TEXT);
INSERT INTO ner
SELECT a.name || ' met ' || b.name,
       json_array(json_object('start', 0, 'end', length(a.name), 'label', a.label),
                  json_object('start', length(a.name) + 5, 'end', length(a.name) + 5 + length(b.name),
                              'label', b.label))
FROM names a, names b WHERE a.name <> b.name;
INSERT INTO ner
SELECT o.name || ' met ' || b.name,
       json_array(json_object('start', length(o.name) + 5, 'end', length(o.name) + 5 + length(b.name),
                              'label', b.label))
FROM others o, names b;
INSERT INTO ner
SELECT b.name || ' met ' || o.name, json_array(json_object('start', 0, 'end', length(b.name), 'label', b.label))
FROM others o, names b;
SELECT count(*) FROM ner;

SELECT count(*) FROM attn_train('gz', 'entities', 'SELECT text, entities FROM ner',
  json_object('dim', 16, 'layers', 1, 'heads', 2, 'ffn', 32, 'max_len', 16, 'epochs', 4,
    'lr', 0.02, 'batch_size', 8, 'seed', 5,
    'features', json('[{"kind": "shape", "buckets": 64, "dim": 4}]'),
    'gazetteers', json_object('PER', 'SELECT name FROM people', 'LOC', 'SELECT name FROM places')));
-- The config has a gazetteer feature of the lists, in the order given; the lists are rows.
SELECT json_extract(data, '$.features') FROM attn_model WHERE name = 'gz' AND key = 'config';
SELECT key, dtype, shape, typeof(data), replace(data, char(10), ', ')
FROM attn_model WHERE name = 'gz' AND key LIKE 'gazetteer.%' ORDER BY key;

-- An unknown name is no entity...
SELECT entity, label FROM attn_entities('Zed Quill met Oslo', 'gz');
-- ... until a user adds it to a list: a row of their own beside the trained one.
INSERT INTO attn_model(name, key, dtype, shape, data)
VALUES ('gz', 'gazetteer.PER.mine', 'text', '[]', 'Zed Quill' || char(10) || 'Xi');
SELECT entity, label FROM attn_entities('Zed Quill met Oslo', 'gz');
SELECT entity, label FROM attn_entities('Oslo met Zed Quill', 'gz');
-- Case does not matter: entries match on the features' norm (as do typographic quotes).
SELECT entity, label FROM attn_entities('ZED QUILL met Oslo', 'gz');
-- Appending to the trained row works as well (|| makes it text); in both lists the score drops.
SELECT round(score, 1) >= 0.9 FROM attn_entities('Oslo met Zed Quill', 'gz') WHERE label = 'PER';
UPDATE attn_model SET data = data || char(10) || 'Zed Quill' WHERE name = 'gz' AND key = 'gazetteer.LOC';
SELECT count(*) FROM attn_entities('Oslo met Zed Quill', 'gz')
WHERE entity = 'Zed Quill' AND round(score, 1) < 0.9;
-- The bulk path, attn_eval and attn_pack see the same lists; a packed copy keeps the rows.
SELECT id, entity, label FROM attn_entities_each('SELECT 1, ''Zed Quill met Rome''', 'gz');
SELECT label, support, predicted FROM attn_eval('gz', 'SELECT text, entities FROM ner')
WHERE label = 'micro';
SELECT tensors FROM attn_pack('gz', 'gz8', 'q8');
SELECT key, length(data) FROM attn_model WHERE name = 'gz8' AND key LIKE 'gazetteer.%' ORDER BY key;
SELECT entity, label FROM attn_entities('Zed Quill met Oslo', 'gz8');
-- Taking the entries out takes the name out again.
DELETE FROM attn_model WHERE name = 'gz' AND key = 'gazetteer.PER.mine';
UPDATE attn_model SET data = replace(data, char(10) || 'Zed Quill', '')
WHERE name = 'gz' AND key = 'gazetteer.LOC';
SELECT entity, label FROM attn_entities('Zed Quill met Oslo', 'gz');

-- A model fine-tuned from gz's encoder for other labels keeps its lists (rows included).
SELECT count(*) FROM attn_train('gz-lp', 'entities', 'SELECT text, entities FROM ner LIMIT 8',
  json_object('init', 'gz', 'labels', json_array('LOC', 'PER'), 'epochs', 1));
SELECT key FROM attn_model WHERE name = 'gz-lp' AND key LIKE 'gazetteer.%' ORDER BY key;

-- Lists as arrays; a gazetteer item in 'features' gets the lists (its width is kept).
SELECT count(*) FROM attn_train('gz2', 'entities', 'SELECT text, entities FROM ner LIMIT 8',
  json_object('dim', 8, 'layers', 1, 'heads', 1, 'ffn', 8, 'max_len', 16, 'epochs', 1,
    'features', json('[{"kind": "norm", "buckets": 16, "dim": 2}, {"kind": "gazetteer", "dim": 5}]'),
    'gazetteers', json_object('ORG', json_array('Acme Corp', 'Initech'), 'MISC', json_array())));
SELECT json_extract(data, '$.features[1]') FROM attn_model WHERE name = 'gz2' AND key = 'config';
SELECT key, quote(data) FROM attn_model WHERE name = 'gz2' AND key LIKE 'gazetteer.%' ORDER BY key;

-- Option errors.
SELECT * FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner', '{"gazetteers": []}');
SELECT * FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner', '{"gazetteers": {}}');
SELECT * FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner',
  '{"gazetteers": {"PER LIST": "SELECT 1"}}');
SELECT * FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner',
  '{"gazetteers": {"PER": 5}}');
SELECT * FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner',
  '{"gazetteers": {"PER": ["Ann", 5]}}');
SELECT * FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner',
  '{"gazetteers": {"PER": "SELECT nope FROM people"}}');
SELECT * FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner',
  '{"gazetteers": {"PER": "DELETE FROM people RETURNING name"}}');
SELECT count(*) FROM people;
SELECT * FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner',
  '{"gazetteers": {"PER": ["Ann"]}, "features": [{"kind": "gazetteer", "dim": 4, "lists": ["LOC"]}]}');
SELECT * FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner',
  '{"gazetteers": {"PER": ["Ann"]}, "init": "gz"}');
SELECT count(*) FROM attn_model WHERE name = 'x';

-- Rows the loader refuses, naming the row: a list the config does not have, a wrong dtype.
INSERT INTO attn_model VALUES ('gz', 'gazetteer.ORG', 'text', '[]', 'Acme');
SELECT count(*) FROM attn_entities('Ann met Oslo', 'gz');
UPDATE attn_model SET key = 'gazetteer.PER.x', dtype = 'json' WHERE name = 'gz' AND key = 'gazetteer.ORG';
SELECT count(*) FROM attn_entities('Ann met Oslo', 'gz');
DELETE FROM attn_model WHERE name = 'gz' AND key = 'gazetteer.PER.x';
-- A model without a gazetteer feature has no such rows.
INSERT INTO attn_model VALUES ('ner', 'gazetteer.PER', 'text', '[]', 'Ann');
SELECT count(*) FROM attn_entities('Ann met Oslo', 'ner');
DELETE FROM attn_model WHERE name = 'ner' AND key = 'gazetteer.PER';
-- Hostile sizes: the lists of one model hold at most 32 MiB (ATTN_GAZ_MAX_BYTES).
INSERT INTO attn_model VALUES ('gz', 'gazetteer.LOC.huge', 'text', '[]', zeroblob(33554433));
SELECT count(*) FROM attn_entities('Ann met Oslo', 'gz');
DELETE FROM attn_model WHERE name = 'gz' AND key = 'gazetteer.LOC.huge';
SELECT entity, label FROM attn_entities('Ann met Oslo', 'gz');
