-- The default model follows the text: a call that names no model runs the built-in of the
-- task for the text's script (Chinese text: zh-*, other text: en-*); attn_models shows each
-- model's language (the config's "language"). A model in the database with a default's name
-- takes its place, as any name does.
.headers off
.mode list
SELECT 'built-in', name, language FROM attn_models WHERE storage = 'built-in' ORDER BY name;
-- a model's declared language, and none
INSERT INTO attn_model SELECT 'ner-zh', key, dtype, shape,
  CASE WHEN key = 'config' THEN json_set(data, '$.language', 'zh') ELSE data END
FROM attn_model WHERE name = 'ner';
SELECT 'declared', name, quote(language) FROM attn_models WHERE name IN ('ner', 'ner-zh') ORDER BY name;
-- a bad language in a config: the model does not load, and says why
INSERT INTO attn_model SELECT 'ner-bad', key, dtype, shape,
  CASE WHEN key = 'config' THEN json_set(data, '$.language', 'en_US') ELSE data END
FROM attn_model WHERE name = 'ner';
SELECT * FROM attn_entities('Ann met Bob.', 'ner-bad');
-- Chinese text without a model name: the zh-ner of this database ('every': tags B-PER)
INSERT INTO attn_model SELECT 'zh-ner', key, dtype, shape, data FROM attn_model WHERE name = 'every';
SELECT 'zh text', count(*) > 0, min(label) FROM attn_entities('国务院总理李强在北京会见了德国总理。');
-- English text, and text mostly in Latin letters with a Chinese name: en-ner (built-in)
SELECT 'en text', count(*) = (SELECT count(*) FROM attn_entities('Ann met Bob in Paris.', 'en-ner'))
FROM attn_entities('Ann met Bob in Paris.');
SELECT 'mixed text', count(*) = (SELECT count(*) FROM attn_entities('李强 met Olaf Scholz in Berlin.', 'en-ner'))
FROM attn_entities('李强 met Olaf Scholz in Berlin.');
-- a name given explicitly is used whatever the text
SELECT 'named', count(*) = (SELECT count(*) FROM attn_entities('国务院总理李强。', 'en-ner'))
FROM attn_entities('国务院总理李强。', 'en-ner');
-- relations have no Chinese model: en-rel for every text
SELECT 'relations', count(*) >= 0 FROM attn_relations('国务院总理李强在北京会见了德国总理。');
-- The bulk functions choose per row, as the scalar ones do: Chinese rows run zh-ner (here the
-- database's), the others en-ner; the hidden model column says which.
CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO docs VALUES (1, 'Ann met Bob in Paris.'), (2, '国务院总理李强在北京会见了德国总理。'),
  (3, NULL), (4, '李强 met Olaf Scholz in Berlin.'), (5, '北京'), (6, '');
CREATE TEMP TABLE bulk_e AS SELECT id, start, "end", label, entity, model FROM attn_entities_each('SELECT id, body FROM docs');
CREATE TEMP TABLE scalar_e AS SELECT d.id, e.start, e."end", e.label, e.entity FROM docs d, attn_entities(d.body) e;
SELECT 'entities each', count(*) > 0, (SELECT count(*) FROM (SELECT id, start, "end", label, entity FROM bulk_e
  EXCEPT SELECT * FROM scalar_e)), (SELECT count(*) FROM (SELECT * FROM scalar_e
  EXCEPT SELECT id, start, "end", label, entity FROM bulk_e)) FROM bulk_e;
SELECT 'entities each model', id, model FROM bulk_e GROUP BY id ORDER BY id;
-- classify: each row's label is the one its own model gives ('pos', here the Chinese default,
-- always says positive)
INSERT INTO attn_model SELECT 'zh-sentiment', key, dtype, shape, data FROM attn_model WHERE name = 'pos';
SELECT 'classify each', c.id, c.label, c.label = attn_classify(d.body), c.model
FROM attn_classify_each('SELECT id, body FROM docs') c JOIN docs d USING (id) ORDER BY c.id;
-- a Chinese default that cannot classify (here the database's zh-sentiment is a tagger) fails
-- on the first chunk with Chinese rows, naming it
DELETE FROM attn_model WHERE name = 'zh-sentiment';
INSERT INTO attn_model SELECT 'zh-sentiment', key, dtype, shape, data FROM attn_model WHERE name = 'ner';
SELECT count(*) FROM attn_classify_each('SELECT id, body FROM docs WHERE id = 1');
SELECT count(*) FROM attn_classify_each('SELECT id, body FROM docs');
-- attn_train's option 'language' declares it; a model trained from another keeps its language
CREATE TABLE r(text TEXT, label TEXT);
INSERT INTO r VALUES ('好极了', 'pos'), ('太差了', 'neg'), ('很好', 'pos'), ('很差', 'neg');
SELECT count(*) FROM attn_train('zh-tiny', 'classify', 'SELECT text, label FROM r',
  '{"language": "zh", "epochs": 1, "dim": 8, "heads": 2, "ffn": 8, "layers": 1}');
SELECT count(*) FROM attn_train('zh-tiny2', 'classify', 'SELECT text, label FROM r',
  '{"init": "zh-tiny", "labels": ["neg", "pos"], "epochs": 1}');
SELECT 'trained', name, language FROM attn_models WHERE name LIKE 'zh-tiny%' ORDER BY name;
SELECT count(*) FROM attn_train('x', 'classify', 'SELECT text, label FROM r', '{"language": "zh\", \"dim\": 9"}');
SELECT count(*) FROM attn_train('x', 'classify', 'SELECT text, label FROM r', '{"language": "z"}');
-- The built-in Chinese models on the README's example (the answers of the shipped models),
-- once this database's models of those names are gone
DELETE FROM attn_model WHERE name IN ('zh-ner', 'zh-sentiment');
SELECT 'zh-ner', start, "end", label, entity FROM attn_entities('国务院总理李强在北京会见了德国总理。', 'zh-ner');
SELECT 'zh-sentiment', attn_classify('这家酒店的服务很好，房间也很干净。', 'zh-sentiment'),
  attn_classify('房间太小，服务态度很差，不会再来了。', 'zh-sentiment');
