-- demo.sql: what a user does after `.load ./attnext`. Run by `make demo`.
.headers on
.mode box
SELECT attn_version() AS version;
SELECT name, task, language, params, storage FROM attn_models;

CREATE TEMP TABLE docs(id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO docs(body) VALUES
  ('What a wonderful, moving film.'),
  ('The plot is dull and the acting is worse.'),
  ('EU rejects German call to boycott British lamb.'),
  ('Angela Merkel met Barack Obama in Berlin on Monday.'),
  ('Shares of IKEA’s parent rose after the “Apple” news.'),
  -- Chinese text: without a model name, the Chinese built-ins answer (zh-sentiment, zh-ner)
  ('这家酒店的服务很好，房间也很干净。'),
  ('国务院总理李强在北京会见了德国总理。');

-- A label per row, and how sure the model is (en-sentiment knows only negative and positive,
-- from movie reviews: on a neutral news sentence it is unsure, and its scores say so).
SELECT id, body, attn_classify(body) AS sentiment,
       round(max(json_extract(attn_classify_scores(body), '$.negative'),
                 json_extract(attn_classify_scores(body), '$.positive')), 2) AS p
FROM docs;
SELECT attn_classify_scores('What a wonderful, moving film.') AS scores;

-- Named entities with character offsets: substr(body, start + 1, end - start) is the entity.
SELECT d.id, e.start, e."end", e.label, e.entity, round(e.score, 3) AS score
FROM docs d, attn_entities(d.body) e;

-- Relations between the entities found (en-rel, CoNLL04's types).
SELECT head, head_label, relation, tail, tail_label, round(score, 3) AS score
FROM attn_relations('Steve Jobs founded Apple in California.');
