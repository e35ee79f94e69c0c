-- attn_relation(text, head_start, head_end, tail_start, tail_end [, model]): the relation
-- between two spans the user chose (character offsets, end exclusive, as attn_entities gives
-- them); 'none' when the model finds none. attn_relation_scores: every output's probability.
.mode list
-- The 'every' model relates every pair as Work_For.
SELECT attn_relation('Ann joined Acme.', 0, 3, 11, 15, 'every');
SELECT attn_relation_scores('Ann joined Acme.', 0, 3, 11, 15, 'every') ->> '$.Work_For' > 0.99;
-- The scores object has "none" first, then the model's relation labels in order.
SELECT group_concat(key, ',') FROM json_each(attn_relation_scores('Ann joined Acme.', 0, 3, 11, 15, 'every'));
-- The probabilities sum to one.
SELECT abs(sum(value) - 1) < 1e-5 FROM json_each(attn_relation_scores('Ann joined Acme.', 11, 15, 0, 3, 'tiny'));
-- The label is the most probable output of the scores, for any pair of spans.
CREATE TABLE pairs(hs, he, ts, te);
INSERT INTO pairs VALUES (0, 3, 11, 15), (11, 15, 0, 3), (4, 10, 0, 3), (0, 10, 11, 16), (1, 2, 12, 13);
SELECT count(*) FROM pairs
WHERE attn_relation('Ann joined Acme.', hs, he, ts, te, 'tiny') <>
      (SELECT key FROM json_each(attn_relation_scores('Ann joined Acme.', hs, he, ts, te, 'tiny'))
       ORDER BY value DESC LIMIT 1);
-- Spans snap outward to whole tokens: a part of "Acme" scores as all of it.
SELECT attn_relation_scores('Ann joined Acme.', 0, 3, 12, 14, 'tiny') =
       attn_relation_scores('Ann joined Acme.', 0, 3, 11, 15, 'tiny');
-- Innocuous: usable in a view under trusted_schema=OFF.
PRAGMA trusted_schema = OFF;
CREATE TEMP VIEW rv AS SELECT attn_relation('Ann joined Acme.', 0, 3, 11, 15, 'every') AS r;
SELECT r FROM rv;

-- NULL in, NULL out.
SELECT attn_relation(NULL, 0, 3, 11, 15, 'every') IS NULL, attn_relation('Ann', NULL, 3, 0, 1, 'every') IS NULL;
-- Errors: bad spans (from the engine), wrong types, a model without the relations task,
-- and the default model, the built-in 'en-rel'.
SELECT attn_relation('Ann joined Acme.', 3, 0, 11, 15, 'every');
SELECT attn_relation('Ann joined Acme.', 0, 3, 11, 99, 'every');
SELECT attn_relation('Ann joined Acme.', 3, 4, 11, 15, 'every');
SELECT attn_relation_scores('Ann joined Acme.', -1, 3, 11, 15, 'every');
SELECT attn_relation('Ann joined Acme.', 0.5, 3, 11, 15, 'every');
SELECT attn_relation('Ann joined Acme.', 0, '3', 11, 15, 'every');
SELECT attn_relation(42, 0, 3, 11, 15, 'every');
SELECT attn_relation('Ann joined Acme.', 0, 3, 11, 15, 'ner');
SELECT attn_relation('Ann joined Acme.', 0, 3, 11, 15);
SELECT attn_relation('Ann joined Acme.', 0, 3, 11);
