CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO docs(body) VALUES
  ('What a wonderful, moving film.'),
  ('The plot is dull and the acting is worse.'),
  ('Angela Merkel met Barack Obama in Berlin on Monday.'),
  ('这家酒店的服务很好，房间也很干净。'),
  ('国务院总理李强在北京会见了德国总理。');
.mode box
SELECT id, attn_classify(body) AS sentiment,
       round(json_extract(attn_classify_scores(body), '$.positive'), 3) AS p_positive
FROM docs;
SELECT d.id, e.entity, e.label, e.start, e."end", round(e.score, 3) AS score
FROM docs d, attn_entities(d.body) e;
SELECT r.head, r.relation, r.tail, round(r.score, 3) AS score
FROM (VALUES ('Steve Jobs founded Apple in California.'),
             ('Larry Page founded Google in California.'),
             ('Toronto is the largest city in Canada.')) s, attn_relations(s.column1) r;
