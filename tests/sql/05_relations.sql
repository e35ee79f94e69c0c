-- attn_relations(text [, model]): the entities of the text and the relations between them,
-- one row per related ordered pair (pairs the model predicts as "no relation" are omitted).
-- Columns: head, head_label, head_start, head_end, relation, tail, tail_label, tail_start,
-- tail_end, score.
.mode box
-- The 'every' model tags every token and relates every pair as Work_For.
SELECT head, head_label, head_start, head_end, relation, tail, tail_label, tail_start, tail_end,
       round(score, 2) AS score
FROM attn_relations('Ann joined Acme.', 'every');

.mode list
-- 4 tokens, so 4 * 3 ordered pairs.
SELECT count(*) FROM attn_relations('Ann joined Acme.', 'every');

-- Invariants on a random model over a table of texts.
CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO docs(body) VALUES
  ('John Smith works for Acme Corp. in New York.'),
  ('Marie Curie was born in Warsaw and worked in Paris.'),
  ('Ünïcödé naïve café, emoji 👩‍👩‍👧 and 日本語のテキスト.'),
  (''),
  (NULL);
SELECT 'the random model finds some', count(*) > 0 FROM docs d, attn_relations(d.body, 'tiny') r;
SELECT 'spans are the text', count(*) FROM docs d, attn_relations(d.body, 'tiny') r
WHERE substr(d.body, r.head_start + 1, r.head_end - r.head_start) <> r.head
   OR substr(d.body, r.tail_start + 1, r.tail_end - r.tail_start) <> r.tail;
SELECT 'head and tail differ', count(*) FROM docs d, attn_relations(d.body, 'tiny') r
WHERE r.head_start = r.tail_start;
SELECT 'heads and tails are entities', count(*) FROM docs d, attn_relations(d.body, 'tiny') r
WHERE NOT EXISTS (SELECT 1 FROM attn_entities(d.body, 'tiny') e
                  WHERE e.start = r.head_start AND e.end = r.head_end AND e.label = r.head_label)
   OR NOT EXISTS (SELECT 1 FROM attn_entities(d.body, 'tiny') e
                  WHERE e.start = r.tail_start AND e.end = r.tail_end AND e.label = r.tail_label);
SELECT 'labels come from the model', count(*) FROM docs d, attn_relations(d.body, 'tiny') r
WHERE r.relation NOT IN ('Work_For', 'Located_In') OR r.head_label NOT IN ('PER', 'LOC', 'ORG')
   OR r.tail_label NOT IN ('PER', 'LOC', 'ORG') OR NOT (r.score > 0 AND r.score <= 1.000001);
SELECT 'every pair of the every model', count(*) = 2 * (
  SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) AS n FROM docs d, attn_entities(d.body, 'every') e GROUP BY d.id))
FROM docs d, attn_relations(d.body, 'every') r;

-- NULL text: no rows. The text is required. A model without the relations task:
SELECT count(*) FROM attn_relations(NULL, 'every');
SELECT * FROM attn_relations;
SELECT * FROM attn_relations('Ann joined Acme.', 'ner');
-- The default model is the built-in 'en-rel':
SELECT * FROM attn_relations('Ann joined Acme.');
