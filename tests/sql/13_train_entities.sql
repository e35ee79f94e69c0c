-- attn_train for entities: rows (text, entities_json) with character offsets; and for
-- relations: rows (text, entities_json, relations_json), head and tail indexing the row's
-- entities. A relations model has both tasks (entities + relations).
.mode list
CREATE TABLE people(name TEXT);
INSERT INTO people VALUES ('Ann'), ('Bob'), ('Cleo'), ('Dan'), ('Eve'), ('Finn');
CREATE TABLE places(name TEXT);
INSERT INTO places VALUES ('Paris'), ('Oslo'), ('Lima'), ('Rome');
CREATE TABLE ner(text TEXT, entities TEXT);
INSERT INTO ner
SELECT p.name || ' flew to ' || c.name,
       json_array(json_object('start', 0, 'end', length(p.name), 'label', 'PER'),
                  json_object('start', length(p.name) + 9, 'end', length(p.name) + 9 + length(c.name),
                              'label', 'LOC'))
FROM people p, places c;
SELECT count(*), (SELECT text || ' ' || entities FROM ner LIMIT 1) FROM ner;

SELECT epoch, metric, dev_metric BETWEEN 0 AND 1
FROM attn_train('toy-ner', 'entities', 'SELECT text, entities FROM ner',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 12, "lr": 0.02,
    "batch_size": 4, "seed": 5, "features": [{"kind": "norm", "buckets": 256, "dim": 8},
    {"kind": "suffix", "buckets": 64, "dim": 4, "affix": 2}],
    "dev": "SELECT text, entities FROM ner WHERE rowid % 6 = 0"}');
SELECT name, task, labels FROM attn_models WHERE name = 'toy-ner';
-- It finds the entities of a training sentence.
SELECT start, "end", label, entity FROM attn_entities('Cleo flew to Oslo', 'toy-ner');
-- attn_eval for entities: exact span and type (conlleval); every row is found.
.mode box
SELECT label, precision, recall, f1, support, predicted
FROM attn_eval('toy-ner', 'SELECT text, entities FROM ner');
.mode list

-- Relations: who flew where.
CREATE TABLE rel(text TEXT, entities TEXT, relations TEXT);
INSERT INTO rel SELECT text, entities, '[{"head": 0, "tail": 1, "label": "Flew_To"}]' FROM ner;
INSERT INTO rel
SELECT c.name || ' welcomed ' || p.name,
       json_array(json_object('start', 0, 'end', length(c.name), 'label', 'LOC'),
                  json_object('start', length(c.name) + 10, 'end', length(c.name) + 10 + length(p.name),
                              'label', 'PER')),
       '[]'
FROM people p, places c;
SELECT count(*) FROM attn_train('toy-rel', 'relations', 'SELECT text, entities, relations FROM rel',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 12, "lr": 0.02,
    "batch_size": 4, "seed": 5, "rel_hidden": 16, "rel_type_dim": 4, "rel_negatives": 2,
    "features": [{"kind": "norm", "buckets": 256, "dim": 8}]}');
SELECT name, task, labels FROM attn_models WHERE name = 'toy-rel';
SELECT json_extract(data, '$.relations') FROM attn_model WHERE name = 'toy-rel' AND key = 'config';
SELECT head, relation, tail FROM attn_relations('Eve flew to Lima', 'toy-rel');
SELECT attn_relation('Eve flew to Lima', 0, 3, 12, 16, 'toy-rel'),
       attn_relation('Lima welcomed Eve', 0, 4, 14, 17, 'toy-rel');
-- attn_eval for relations: strict triples.
SELECT label, precision, recall, f1, support FROM attn_eval('toy-rel', 'SELECT text, entities, relations FROM rel');

-- Relations NULL: the row gives entities only (relations unknown, not "none"): it trains the
-- tagger and adds no pair to the relation loss. '[]' would say "no pair is related".
CREATE TABLE rel_mixed AS SELECT text, entities, relations FROM rel
  UNION ALL SELECT text, entities, NULL FROM ner;
SELECT count(*) FROM attn_train('toy-rel-null', 'relations', 'SELECT * FROM rel_mixed',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 2, "seed": 5,
    "features": [{"kind": "norm", "buckets": 256, "dim": 8}]}');
-- Entities are still required on every row.
SELECT count(*) FROM attn_train('toy-rel-null', 'relations', 'SELECT text, NULL, relations FROM rel');

-- embed_context: the projection reads each token's embedding beside its neighbours' (one a
-- side here); the config keeps it, an init model passes it on, and it is bounded.
SELECT count(*) FROM attn_train('toy-ner-ctx', 'entities', 'SELECT text, entities FROM ner',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 12, "lr": 0.02,
    "batch_size": 4, "seed": 5, "embed_context": 1,
    "features": [{"kind": "norm", "buckets": 256, "dim": 8}]}');
SELECT json_extract(data, '$.embed_context') FROM attn_model WHERE name = 'toy-ner-ctx' AND key = 'config';
SELECT key, shape FROM attn_model WHERE name = 'toy-ner-ctx' AND key = 'embed.proj.w';
SELECT start, "end", label, entity FROM attn_entities('Finn flew to Rome', 'toy-ner-ctx');
SELECT count(*) FROM attn_train('toy-rel-ctx', 'relations', 'SELECT text, entities, relations FROM rel',
  '{"init": "toy-ner-ctx", "epochs": 1, "seed": 5, "rel_type_dim": 4}');
SELECT json_extract(data, '$.embed_context') FROM attn_model WHERE name = 'toy-rel-ctx' AND key = 'config';
SELECT count(*) FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner',
  '{"init": "toy-ner-ctx", "embed_context": 2}');
SELECT count(*) FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner',
  '{"embed_context": 5}');

-- rel_positions: a learned bias per head for each relative distance (-2..2 here, farther ones
-- share the end columns); the config keeps it, the layers get the bias tensors, an init model
-- without them can be given them (they start at 0: the copy computes what its source did) and
-- passes its own on, a checkpoint's cannot change, and the value is bounded.
SELECT count(*) FROM attn_train('toy-ner-rel', 'entities', 'SELECT text, entities FROM ner',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 12, "lr": 0.02,
    "batch_size": 4, "seed": 5, "rel_positions": 2,
    "features": [{"kind": "norm", "buckets": 256, "dim": 8}]}');
SELECT json_extract(data, '$.rel_positions') FROM attn_model WHERE name = 'toy-ner-rel' AND key = 'config';
SELECT key, shape FROM attn_model WHERE name = 'toy-ner-rel' AND key LIKE '%rel_bias';
-- trained: the biases moved away from their zero start
SELECT dtype, data != zeroblob(length(data)) FROM attn_model
WHERE name = 'toy-ner-rel' AND key = 'layers.0.attn.rel_bias';
SELECT start, "end", label, entity FROM attn_entities('Finn flew to Rome', 'toy-ner-rel');
SELECT count(*) FROM attn_train('toy-rel-rel', 'relations', 'SELECT text, entities, relations FROM rel',
  '{"init": "toy-ner-rel", "epochs": 1, "seed": 5, "rel_type_dim": 4}');
SELECT json_extract(data, '$.rel_positions') FROM attn_model WHERE name = 'toy-rel-rel' AND key = 'config';
SELECT count(*) FROM attn_train('toy-rel-ctx-rel', 'relations', 'SELECT text, entities, relations FROM rel',
  '{"init": "toy-ner-ctx", "rel_positions": 3, "epochs": 1, "seed": 5, "rel_type_dim": 4}');
SELECT key, shape FROM attn_model WHERE name = 'toy-rel-ctx-rel' AND key LIKE '%rel_bias';
SELECT count(*) FROM attn_train('x', 'relations', 'SELECT text, entities, relations FROM rel',
  '{"init": "toy-ner-rel", "rel_positions": 3}');
SELECT count(*) FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner',
  '{"rel_positions": 257}');

-- init_labels: a tagger for other names of the same types starts from the init model's tagger
-- (tag.w, tag.b and the CRF rows of the labels it maps, here in the other order), not from
-- nothing. With lr 0 the copy is what the model is: its B-Place row is toy-ner's B-LOC row
-- (tag rows: O, B-Place, I-Place, B-Person, I-Person against O, B-PER, I-PER, B-LOC, I-LOC;
-- 16 f32 values = 64 bytes a row), and it tags toy-ner's sentence as toy-ner does, renamed.
CREATE TABLE ner_renamed AS
SELECT text, replace(replace(entities, '"PER"', '"Person"'), '"LOC"', '"Place"') AS entities FROM ner;
SELECT count(*) FROM attn_train('toy-ner-map', 'entities', 'SELECT text, entities FROM ner_renamed',
  '{"init": "toy-ner", "labels": ["Place", "Person"], "init_labels": {"Place": "LOC", "Person": "PER"},
    "epochs": 1, "lr": 0, "seed": 5}');
SELECT substr(a.data, 1 + 64, 64) = substr(b.data, 1 + 3 * 64, 64),
       substr(a.data, 1 + 3 * 64, 64) = substr(b.data, 1 + 64, 64),
       substr(a.data, 1, 64) = substr(b.data, 1, 64)
FROM attn_model a, attn_model b
WHERE a.name = 'toy-ner-map' AND a.key = 'tag.w' AND b.name = 'toy-ner' AND b.key = 'tag.w';
-- the CRF's transitions too (5 x 5 f32): B-Place -> I-Place is B-LOC -> I-LOC, B-Person ->
-- B-Place is B-PER -> B-LOC
SELECT substr(a.data, 1 + 4 * (1 * 5 + 2), 4) = substr(b.data, 1 + 4 * (3 * 5 + 4), 4),
       substr(a.data, 1 + 4 * (3 * 5 + 1), 4) = substr(b.data, 1 + 4 * (1 * 5 + 3), 4)
FROM attn_model a, attn_model b
WHERE a.name = 'toy-ner-map' AND a.key = 'crf.trans' AND b.name = 'toy-ner' AND b.key = 'crf.trans';
SELECT start, "end", label, entity FROM attn_entities('Cleo flew to Oslo', 'toy-ner-map');
-- A label left out of the map starts fresh (its rows differ from every row of toy-ner's).
SELECT count(*) FROM attn_train('toy-ner-map1', 'entities', 'SELECT text, entities FROM ner_renamed',
  '{"init": "toy-ner", "labels": ["Place", "Person"], "init_labels": {"Person": "PER"},
    "epochs": 1, "lr": 0, "seed": 5}');
SELECT substr(a.data, 1 + 64, 64) = substr(b.data, 1 + 3 * 64, 64),
       substr(a.data, 1 + 3 * 64, 64) = substr(b.data, 1 + 64, 64)
FROM attn_model a, attn_model b
WHERE a.name = 'toy-ner-map1' AND a.key = 'tag.w' AND b.name = 'toy-ner' AND b.key = 'tag.w';
-- Relations from an entities model: the tagger mapped, the relation head fresh.
SELECT count(*) FROM attn_train('toy-rel-map', 'relations',
  'SELECT text, replace(replace(entities, ''"PER"'', ''"Person"''), ''"LOC"'', ''"Place"''), relations FROM rel',
  '{"init": "toy-ner", "init_labels": {"Place": "LOC", "Person": "PER"}, "epochs": 1, "lr": 0,
    "seed": 5, "rel_type_dim": 4}');
SELECT start, "end", label, entity FROM attn_entities('Cleo flew to Oslo', 'toy-rel-map');
-- Refused: no init, not an object of names, a name neither model has, an init model copied
-- whole (same task and labels), a trained task without a tagger.
SELECT count(*) FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner_renamed',
  '{"init_labels": {"Place": "LOC"}}');
SELECT count(*) FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner_renamed',
  '{"init": "toy-ner", "init_labels": ["LOC"]}');
SELECT count(*) FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner_renamed',
  '{"init": "toy-ner", "init_labels": {"Place": 3}}');
SELECT count(*) FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner_renamed',
  '{"init": "toy-ner", "labels": ["Place", "Person"], "init_labels": {"City": "LOC"}}');
SELECT count(*) FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner_renamed',
  '{"init": "toy-ner", "labels": ["Place", "Person"], "init_labels": {"Place": "City"}}');
SELECT count(*) FROM attn_train('x', 'entities', 'SELECT text, entities FROM ner',
  '{"init": "toy-ner", "init_labels": {"LOC": "LOC"}}');
SELECT count(*) FROM attn_train('x', 'classify', 'SELECT text, ''flight'' FROM ner',
  '{"init": "toy-ner", "init_labels": {"Place": "LOC"}}');
SELECT count(*) FROM attn_train('x', 'mlm', 'SELECT text FROM ner',
  '{"init": "toy-ner", "init_labels": {"Place": "LOC"}}');
