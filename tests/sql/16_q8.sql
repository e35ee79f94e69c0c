-- q8 storage: the embedding tables as int8 rows with one f32 scale per row, every other tensor
-- as f16 (sql/schema.sql). q8.db holds 'every8' and 'tiny8': the same weights as main's
-- 'every' and 'tiny' (f32), packed by attn_pack(name, name, 'q8', 'q8') (tests/sql/run.sh).
.mode list
.headers on
ATTACH 'q8.db' AS q8;
SELECT name, task, params, storage FROM attn_models WHERE storage = 'q8.attn_model';
-- The packed models have as many parameters as the f32 originals.
SELECT (SELECT params FROM attn_models WHERE name = 'every8') =
       (SELECT params FROM attn_models WHERE name = 'every') AS same_params;
-- Which tensor is stored how, and the bytes per dtype.
SELECT dtype, count(*) AS tensors, group_concat(key, ',') AS q8_keys
FROM (SELECT dtype, CASE WHEN dtype = 'q8' THEN key END AS key FROM q8.attn_model
      WHERE name = 'every8' AND key <> 'config' ORDER BY key)
GROUP BY dtype;
-- A q8 blob is rows x 4 bytes of scales then rows x cols bytes of values.
SELECT key, shape, length(data) AS bytes,
       length(data) = shape ->> '$[0]' * 4 + shape ->> '$[0]' * shape ->> '$[1]' AS layout_ok
FROM q8.attn_model WHERE name = 'every8' AND dtype = 'q8' ORDER BY key;
-- Against f32: the q8 model stores its tensors in under half the bytes.
SELECT (SELECT sum(length(data)) FROM q8.attn_model WHERE name = 'every8' AND key <> 'config') * 2 <
       (SELECT sum(length(data)) FROM main.attn_model WHERE name = 'every' AND key <> 'config')
       AS under_half;

.headers off
CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO docs(body) VALUES
  ('John Smith works for Acme Corp. in New York.'),
  ('Marie Curie was born in Warsaw and worked in Paris.'),
  ('Ünïcödé naïve café, emoji 👩‍👩‍👧 and 日本語のテキスト.'),
  ('e-mail a.b@example.com, URL https://example.com/x?y=1, 3.14 and 1,000,000'),
  ('');
-- The q8 model finds the same entities as the f32 one: same spans, same labels.
SELECT 'every: entities', count(*) FROM docs d, attn_entities(d.body, 'every') e;
SELECT 'every: entities differing', count(*) FROM (
  SELECT d.id, e.start, e.end, e.label FROM docs d, attn_entities(d.body, 'every') e
  EXCEPT SELECT d.id, e.start, e.end, e.label FROM docs d, attn_entities(d.body, 'every8') e);
SELECT 'every8: entities differing', count(*) FROM (
  SELECT d.id, e.start, e.end, e.label FROM docs d, attn_entities(d.body, 'every8') e
  EXCEPT SELECT d.id, e.start, e.end, e.label FROM docs d, attn_entities(d.body, 'every') e);
-- The random model too (small weights: its decisions have margins far above q8's error).
SELECT 'tiny: entities', count(*) > 0 FROM docs d, attn_entities(d.body, 'tiny') e;
SELECT 'tiny vs tiny8: entities differing', count(*) FROM (
  SELECT d.id, e.start, e.end, e.label FROM docs d, attn_entities(d.body, 'tiny') e
  EXCEPT SELECT d.id, e.start, e.end, e.label FROM docs d, attn_entities(d.body, 'tiny8') e);
SELECT 'tiny8 vs tiny: entities differing', count(*) FROM (
  SELECT d.id, e.start, e.end, e.label FROM docs d, attn_entities(d.body, 'tiny8') e
  EXCEPT SELECT d.id, e.start, e.end, e.label FROM docs d, attn_entities(d.body, 'tiny') e);
-- Entity scores, class probabilities and relations move by little.
SELECT 'tiny8: entity scores off by > 0.01', count(*)
FROM docs d, attn_entities(d.body, 'tiny') a, attn_entities(d.body, 'tiny8') b
WHERE a.start = b.start AND a.end = b.end AND abs(a.score - b.score) > 0.01;
SELECT 'tiny8: class probabilities off by > 0.01', count(*)
FROM docs d, json_each(attn_classify_scores(d.body, 'tiny')) a,
     json_each(attn_classify_scores(d.body, 'tiny8')) b
WHERE a.key = b.key AND abs(a.value - b.value) > 0.01;
SELECT 'every8: relations differing', count(*) FROM (
  SELECT d.id, r.head_start, r.tail_start, r.relation FROM docs d, attn_relations(d.body, 'every') r
  EXCEPT SELECT d.id, r.head_start, r.tail_start, r.relation FROM docs d, attn_relations(d.body, 'every8') r);
SELECT 'every8: classify', attn_classify('What a wonderful day!', 'every8');

-- attn_train's dtype 'q8' writes the same storage.
CREATE TABLE reviews(text TEXT, label TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 16)
INSERT INTO reviews
SELECT CASE WHEN i % 2 THEN 'a good movie ' || i ELSE 'a bad film ' || i END,
       CASE WHEN i % 2 THEN 'positive' ELSE 'negative' END
FROM n;
SELECT max(epoch) FROM attn_train('small8', 'classify', 'SELECT text, label FROM reviews',
  '{"dim": 8, "layers": 1, "heads": 1, "ffn": 8, "max_len": 8, "epochs": 2, "seed": 1,
    "features": [{"kind": "norm", "buckets": 64, "dim": 4}, {"kind": "shape", "buckets": 16, "dim": 4}],
    "dtype": "q8"}');
SELECT key, dtype FROM attn_model WHERE name = 'small8' AND key LIKE 'embed.%' ORDER BY key;
SELECT count(*), sum(dtype = 'f16') FROM attn_model WHERE name = 'small8' AND key NOT LIKE 'embed.%' AND key <> 'config';
SELECT attn_classify('a good movie', 'small8') IN ('positive', 'negative');

-- The loader checks q8 rows like any other: a -128 value, a negative scale, a short blob,
-- q8 on a 1-D tensor.
CREATE TEMP TABLE saved AS SELECT * FROM q8.attn_model WHERE name = 'tiny8';
UPDATE q8.attn_model SET data = substr(data, 1, length(data) - 1) || X'80'
WHERE name = 'tiny8' AND key = 'embed.shape';
SELECT attn_classify('x', 'tiny8');
UPDATE q8.attn_model SET data = X'000080BF' || substr(data, 5)
WHERE name = 'tiny8' AND key = 'embed.norm';
SELECT attn_classify('x', 'tiny8');
UPDATE q8.attn_model SET data = (SELECT data FROM saved WHERE key = 'embed.norm')
WHERE name = 'tiny8' AND key = 'embed.norm';
UPDATE q8.attn_model SET data = (SELECT substr(data, 1, 1199) FROM saved WHERE key = 'embed.shape')
WHERE name = 'tiny8' AND key = 'embed.shape';
SELECT attn_classify('x', 'tiny8');
UPDATE q8.attn_model SET data = (SELECT data FROM saved WHERE key = 'embed.shape')
WHERE name = 'tiny8' AND key = 'embed.shape';
UPDATE q8.attn_model SET dtype = 'q8' WHERE name = 'tiny8' AND key = 'cls.b';
SELECT attn_classify('x', 'tiny8');
UPDATE q8.attn_model SET dtype = 'f16' WHERE name = 'tiny8' AND key = 'cls.b';
SELECT attn_classify_scores('a b c', 'tiny8') = (SELECT attn_classify_scores('a b c', 'tiny8'));
SELECT count(*) FROM (SELECT * FROM saved EXCEPT SELECT * FROM q8.attn_model WHERE name = 'tiny8');

-- q4 storage (attn_train's dtype 'q4', attn_pack's storage 'q4'): embedding tables at least 32
-- wide as 4-bit values with an f32 scale per 32 values of a row, narrower ones q8, the rest f16.
SELECT max(epoch) FROM attn_train('small4', 'classify', 'SELECT text, label FROM reviews',
  '{"dim": 8, "layers": 1, "heads": 1, "ffn": 8, "max_len": 8, "epochs": 2, "seed": 1,
    "features": [{"kind": "norm", "buckets": 64, "dim": 40}, {"kind": "shape", "buckets": 16, "dim": 4}],
    "dtype": "q4"}');
SELECT key, dtype, shape, length(data) FROM attn_model
WHERE name = 'small4' AND key IN ('embed.norm', 'embed.shape', 'embed.proj.w') ORDER BY key;
-- 64 rows x (2 scales x 4 bytes + 20 bytes of nibbles) = 1792.
SELECT length(data) = 64 * (2 * 4 + 40 / 2) FROM attn_model WHERE name = 'small4' AND key = 'embed.norm';
SELECT attn_classify('a good movie', 'small4') IN ('positive', 'negative');
-- A -8 nibble and a NaN scale are refused, naming the tensor.
CREATE TEMP TABLE saved4 AS SELECT * FROM attn_model WHERE name = 'small4';
UPDATE attn_model SET data = substr(data, 1, length(data) - 1) || X'80'
WHERE name = 'small4' AND key = 'embed.norm';
SELECT attn_classify('x', 'small4');
UPDATE attn_model SET data = X'0000C07F' || substr((SELECT data FROM saved4 WHERE key = 'embed.norm'), 5)
WHERE name = 'small4' AND key = 'embed.norm';
SELECT attn_classify('x', 'small4');
