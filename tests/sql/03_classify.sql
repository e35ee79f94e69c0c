-- attn_classify(text [, model]) returns the most probable label;
-- attn_classify_scores(text [, model]) returns every label's probability as a JSON object.
.mode list
.headers off

-- Models built to always answer one label:
SELECT attn_classify('What a wonderful day!', 'pos');
SELECT attn_classify('What a wonderful day!', 'every');
SELECT attn_classify_scores('What a wonderful day!', 'pos') LIKE '{"negative":%,"positive":%}';

-- A random model: the label is one of its labels, the scores are probabilities in label order
-- that sum to 1, and the label is the one with the highest score.
CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO docs(body) VALUES
  ('The film was a delight from start to finish.'),
  ('Terrible service; we waited an hour and left.'),
  (''),
  ('   '),
  ('Ünïcödé text, emoji 🎉 and 日本語 too.'),
  ('one');
SELECT count(*) FROM docs WHERE attn_classify(body, 'tiny') NOT IN ('negative', 'positive');
SELECT group_concat(key, ',') FROM (SELECT j.key FROM json_each(attn_classify_scores('a b c', 'tiny')) j);
SELECT count(*) FROM docs
WHERE abs((SELECT sum(value) FROM json_each(attn_classify_scores(body, 'tiny'))) - 1.0) > 1e-5;
SELECT count(*) FROM docs
WHERE (SELECT value FROM json_each(attn_classify_scores(body, 'tiny')) WHERE key = 'negative') < 0
   OR (SELECT value FROM json_each(attn_classify_scores(body, 'tiny')) WHERE key = 'positive') < 0;
SELECT count(*) FROM docs
WHERE attn_classify(body, 'tiny') <> (SELECT key FROM json_each(attn_classify_scores(body, 'tiny'))
                                      ORDER BY value DESC LIMIT 1);

-- The same text gives the same answer (the f16 copy of a model answers like the f32 one).
SELECT count(*) FROM docs WHERE attn_classify_scores(body, 'tiny') <> attn_classify_scores(body, 'tiny');
SELECT count(*) FROM docs WHERE attn_classify(body, 'every16') <> attn_classify(body, 'every');

-- Labelling a table in one statement.
ALTER TABLE docs ADD COLUMN label TEXT;
UPDATE docs SET label = attn_classify(body, 'pos');
SELECT id, label FROM docs ORDER BY id;

-- NULL text gives NULL.
.nullvalue NULL
SELECT attn_classify(NULL, 'tiny'), attn_classify_scores(NULL, 'tiny'), attn_classify(NULL);

-- The default model is the built-in 'en-sentiment' (README, "Built-in models").
SELECT attn_classify('What a wonderful, moving film.'), attn_classify('The plot is dull and the acting is worse.');
SELECT json_extract(attn_classify_scores('What a wonderful, moving film.'), '$.positive') > 0.9;

-- A model without the classify task.
SELECT attn_classify('What a wonderful day!', 'ner');
SELECT attn_classify_scores('What a wonderful day!', 'ner');
