-- attn_calibrate(model, dev_sql [, task]) fits the temperature T of a model's head on held-out
-- rows (the rows attn_eval reads) by minimising the negative log-likelihood, and writes it into
-- the model's config ("temperature" in the head's section). Probabilities become
-- softmax(logits / T) (entities: CRF marginals of potentials / T); labels never change.
-- It yields one row per head: task, temperature, nll_before, nll_after, ece_before, ece_after,
-- n (examples: texts, predicted entities, predicted relations).
.mode list
CREATE TABLE reviews(text TEXT, label TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
INSERT INTO reviews
SELECT CASE WHEN i % 2 THEN 'a good and great movie number ' || i
            ELSE 'a bad and awful film take ' || i END,
       CASE WHEN i % 2 THEN 'positive' ELSE 'negative' END
FROM n;
SELECT count(*) FROM attn_train('toy', 'classify', 'SELECT text, label FROM reviews',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 4, "lr": 0.01,
    "batch_size": 8, "seed": 3,
    "features": [{"kind": "norm", "buckets": 256, "dim": 8}, {"kind": "shape", "buckets": 32, "dim": 4}]}');
-- Before: right on every row and sure of it (a fresh model has no temperature in its config).
SELECT json_extract(data, '$.classify.temperature') FROM attn_model WHERE name = 'toy' AND key = 'config';
CREATE TABLE before AS SELECT text, attn_classify(text, 'toy') AS label,
       attn_classify_scores(text, 'toy') AS scores FROM reviews;
SELECT round(accuracy.ece, 4) FROM attn_eval('toy', 'SELECT text, label FROM reviews') AS accuracy
WHERE label = 'accuracy';

-- Calibrate on dev rows where 1 label in 5 is wrong (the toy is right on 80% of them), so the
-- right confidence is about 0.8. The toy is surer than that, so T > 1 softens it.
CREATE TABLE dev AS
SELECT text, CASE WHEN rowid % 10 <> 0 THEN label WHEN label = 'positive' THEN 'negative'
                  ELSE 'positive' END AS label
FROM reviews WHERE rowid % 2 = 0;
CREATE TABLE fit AS SELECT * FROM attn_calibrate('toy', 'SELECT text, label FROM dev');
SELECT task, n, temperature BETWEEN 1.05 AND 20, nll_after < nll_before,
       ece_after <= ece_before FROM fit;
-- The temperature is in the config row and attn_models shows it.
SELECT json_extract(data, '$.classify.temperature') = (SELECT temperature FROM fit)
FROM attn_model WHERE name = 'toy' AND key = 'config';
SELECT json_extract(config, '$.classify.temperature') = (SELECT temperature FROM fit)
FROM attn_models WHERE name = 'toy';
-- The next statement uses it: every label is the same, every score is different (less sure).
SELECT count(*), sum(b.label = attn_classify(b.text, 'toy')),
       sum(b.scores <> attn_classify_scores(b.text, 'toy')),
       sum(max(json_extract(attn_classify_scores(b.text, 'toy'), '$.positive'),
               json_extract(attn_classify_scores(b.text, 'toy'), '$.negative')) <
           max(json_extract(b.scores, '$.positive'), json_extract(b.scores, '$.negative')))
FROM before b;
-- The bulk path gives the same tempered scores, row for row.
SELECT count(*) FROM attn_classify_each('SELECT rowid, text FROM reviews', 'toy') e
JOIN reviews r ON r.rowid = e.id
WHERE e.scores = attn_classify_scores(r.text, 'toy') AND e.label = attn_classify(r.text, 'toy');
-- attn_eval on the same rows agrees: the ECE is the one attn_calibrate reported after.
SELECT abs(ece - (SELECT ece_after FROM fit)) < 1e-4
FROM attn_eval('toy', 'SELECT text, label FROM dev') WHERE label = 'accuracy';
-- Calibrating again starts from the fitted temperature: nothing left to gain.
SELECT task, abs(temperature - (SELECT temperature FROM fit)) / temperature < 0.01,
       nll_before - nll_after < 1e-3
FROM attn_calibrate('toy', 'SELECT text, label FROM dev', 'classify');

-- No rows: nothing to fit; the temperature stays as it is.
SELECT task, n, temperature = (SELECT temperature FROM fit), nll_before, nll_after
FROM attn_calibrate('toy', 'SELECT text, label FROM dev WHERE 0');

-- Entities: the entity head of a model trained on relation rows; without a task, relation
-- rows fit both heads (entities: n = predicted entities; relations: n = predicted relations).
CREATE TABLE people(name TEXT);
INSERT INTO people VALUES ('Ann'), ('Bob'), ('Cleo'), ('Dan'), ('Eve'), ('Finn');
CREATE TABLE firms(name TEXT);
INSERT INTO firms VALUES ('Acme'), ('Initech'), ('Globex');
CREATE TABLE rel(text TEXT, entities TEXT, relations TEXT);
INSERT INTO rel
SELECT p.name || ' works for ' || f.name,
       json_array(json_object('start', 0, 'end', length(p.name), 'label', 'PER'),
                  json_object('start', length(p.name) + 11, 'end', length(p.name) + 11 + length(f.name),
                              'label', 'ORG')),
       '[{"head":0,"tail":1,"label":"Work_For"}]'
FROM people p, firms f;
SELECT count(*) FROM attn_train('toy-rel', 'relations', 'SELECT text, entities, relations FROM rel',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 6, "lr": 0.02,
    "batch_size": 4, "seed": 5, "rel_hidden": 8, "rel_type_dim": 4,
    "features": [{"kind": "norm", "buckets": 256, "dim": 8}, {"kind": "shape", "buckets": 32, "dim": 4}]}');
CREATE TABLE ents_before AS SELECT r.text, e.start, e."end", e.label, e.score
FROM rel r, attn_entities(r.text, 'toy-rel') e;
CREATE TABLE fit2 AS SELECT * FROM attn_calibrate('toy-rel', 'SELECT text, entities, relations FROM rel');
SELECT task, n > 0, temperature BETWEEN 0.01 AND 100, nll_after <= nll_before, ece_after <= ece_before
FROM fit2;
SELECT json_extract(data, '$.entities.temperature') = (SELECT temperature FROM fit2 WHERE task = 'entities'),
       coalesce(json_extract(data, '$.relations.temperature'), 1) = (SELECT temperature FROM fit2 WHERE task = 'relations')
FROM attn_model WHERE name = 'toy-rel' AND key = 'config';
-- The relation head was fitted with the entity temperature just fitted (a relation's score
-- includes its entities'): fitting it alone again, with that temperature now in the config,
-- finds the same temperature, and the NLL it starts from is the one the first fit ended at.
SELECT temperature = (SELECT temperature FROM fit2 WHERE task = 'relations'),
       abs(nll_before - (SELECT nll_after FROM fit2 WHERE task = 'relations')) < 1e-12
FROM attn_calibrate('toy-rel', 'SELECT text, entities, relations FROM rel', 'relations');
-- The same entities, with new scores.
SELECT count(*), sum(a.score <> b.score) > 0 FROM ents_before a JOIN
  (SELECT r.text, e.start, e."end", e.label, e.score FROM rel r, attn_entities(r.text, 'toy-rel') e) b
  USING (text, start, "end", label);
SELECT count(*) FROM rel r, attn_entities(r.text, 'toy-rel');
SELECT count(*) FROM attn_entities_each('SELECT rowid, text FROM rel', 'toy-rel') e
JOIN rel r ON r.rowid = e.id JOIN attn_entities(r.text, 'toy-rel') s
  ON s.start = e.start AND s."end" = e."end" AND s.label = e.label AND s.score = e.score;
-- attn_relations' scores and attn_relation_scores are tempered too: a relation's score is its
-- label's probability (attn_relation_scores) times the scores of its two entities.
SELECT count(*) FROM rel r, attn_relations(r.text, 'toy-rel') x,
     attn_entities(r.text, 'toy-rel') h, attn_entities(r.text, 'toy-rel') t
WHERE h.start = x.head_start AND t.start = x.tail_start
  AND abs(x.score - h.score * t.score * json_extract(attn_relation_scores(r.text, x.head_start,
          x.head_end, x.tail_start, x.tail_end, 'toy-rel'), '$.' || x.relation)) < 1e-6;

-- A model in an attached database is written there.
ATTACH ':memory:' AS side;
CREATE TABLE side.attn_model AS SELECT * FROM main.attn_model WHERE name = 'toy';
DELETE FROM main.attn_model WHERE name = 'toy';
UPDATE side.attn_model SET data = json_remove(data, '$.classify.temperature') WHERE key = 'config';
SELECT task, temperature > 1 FROM attn_calibrate('toy', 'SELECT text, label FROM dev');
SELECT json_extract(data, '$.classify.temperature') > 1 FROM side.attn_model WHERE name = 'toy' AND key = 'config';

-- Errors.
SELECT * FROM attn_calibrate('nope', 'SELECT text, label FROM reviews');
SELECT * FROM attn_calibrate('en-sentiment', 'SELECT text, label FROM reviews');
SELECT * FROM attn_calibrate('toy', 'DELETE FROM reviews RETURNING text, label');
SELECT count(*) FROM reviews;
SELECT * FROM attn_calibrate('toy', 'SELECT text, label FROM reviews', 'sentiment');
SELECT * FROM attn_calibrate('toy', 'SELECT text, label FROM reviews', 'entities');
SELECT * FROM attn_calibrate('toy', 'SELECT text, label, 1, 2 FROM reviews');
SELECT * FROM attn_calibrate('toy');
SELECT * FROM attn_calibrate('toy', NULL);
-- It writes a table, so a view or trigger may not call it.
CREATE VIEW v AS SELECT * FROM attn_calibrate('toy', 'SELECT text, label FROM reviews');
SELECT * FROM v;
