-- attn_entities(text [, model]): one row per entity, in text order.
-- Columns: start, end (characters, end exclusive, as substr() counts), label, entity, score.
.mode box
SELECT start, end, label, entity FROM attn_entities('Ann met Bob in Paris.', 'en-ner');
ATTACH 'aux.db' AS aux;
SELECT start, end, label, entity FROM attn_entities('Ann met Bob in Paris.', 'en-ner');
-- 'en-ner' is the default model
SELECT start, end, label, entity FROM attn_entities('Zoë visited Kraków.');

-- The inputs are hidden columns: these two queries are the same.
SELECT count(*) AS n FROM attn_entities('a b c', 'every');
SELECT count(*) AS n FROM attn_entities WHERE text = 'a b c' AND model = 'every';
SELECT DISTINCT text, model FROM attn_entities('a b c', 'every');

.mode list
-- Offsets count characters, not bytes: substr(text, start + 1, end - start) is the entity,
-- for any text, including multi-byte characters and invalid UTF-8.
CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO docs(body) VALUES
  ('John Smith works for Acme Corp. in New York.'),
  ('Ünïcödé naïve café, emoji 👩‍👩‍👧 and 日本語のテキスト.'),
  ('tabs	and
newlines'),
  (''),
  (NULL),
  (CAST(X'41C3A9FF42E282AC20F09F8E89' AS TEXT)),
  ('e-mail a.b@example.com, URL https://example.com/x?y=1, 3.14 and 1,000,000');
SELECT 'every entity is its text span',
  count(*), sum(substr(d.body, e.start + 1, e.end - e.start) = e.entity)
FROM docs d, attn_entities(d.body, 'every') e;
SELECT 'random model too', count(*) > 0, count(*) - sum(substr(d.body, e.start + 1, e.end - e.start) = e.entity)
FROM docs d, attn_entities(d.body, 'tiny') e;
SELECT 'entities are in text order and do not overlap', count(*)
FROM docs d, attn_entities(d.body, 'tiny') a, attn_entities(d.body, 'tiny') b
WHERE a.rowid + 1 = b.rowid AND a.end > b.start;
SELECT 'labels come from the model', count(*)
FROM docs d, attn_entities(d.body, 'tiny') e WHERE e.label NOT IN ('PER', 'LOC', 'ORG');
SELECT 'scores are probabilities', count(*)
FROM docs d, attn_entities(d.body, 'tiny') e WHERE NOT (e.score > 0 AND e.score <= 1.000001);

-- A join over a table: one row per (document, entity). The 'every' model makes each token
-- an entity, so this shows the tokenizer's words.
.mode box
SELECT d.id, e.start, e.end, e.label, e.entity, round(e.score, 2) AS score
FROM docs d, attn_entities(d.body, 'every') e WHERE d.id = 1;
SELECT d.id, count(e.start) AS entities
FROM docs d LEFT JOIN attn_entities(d.body, 'every') e GROUP BY d.id ORDER BY d.id;

-- f16 weights load and give the same spans.
SELECT count(*) AS differences FROM (
  SELECT start, end, label, entity FROM attn_entities('John Smith works for Acme Corp.', 'every')
  EXCEPT
  SELECT start, end, label, entity FROM attn_entities('John Smith works for Acme Corp.', 'every16'));

-- Two cursors at once over different texts (a self-join) each keep their own rows.
SELECT a.entity AS a, b.entity AS b
FROM attn_entities('one two', 'every') a, attn_entities('three four', 'every') b;

-- NULL text: no rows.
SELECT count(*) AS n FROM attn_entities(NULL, 'every');
SELECT count(*) AS n FROM attn_entities(NULL);

-- The text argument is required.
SELECT * FROM attn_entities;
SELECT * FROM attn_entities WHERE model = 'every';
-- A model without the entities task.
SELECT * FROM attn_entities('a b', 'pos');
-- OR in WHERE on the function's columns: SQLite also plans each side of the OR alone, without
-- the text argument; those plans are priced out rather than refused (vtab_bind_args).
.mode list
SELECT 'or', count(*) FROM (SELECT 'Ann met Bob in Paris.' AS t) o, attn_entities(o.t, 'every') e
WHERE e.start > 3 OR e.label = 'PER';
SELECT 'or relations', count(*) FROM (SELECT 'Ann met Bob in Paris.' AS t) o,
  attn_relations(o.t, 'every') r WHERE r.head_end > 3 OR r.tail_end > 3;
