-- attn_eval(model, sql [, task]) on models whose answers are known: 'every' tags every token
-- as its own PER entity and classifies everything 'negative'; 'pos' says 'positive'.
-- Scores are fractions; a ratio with a zero denominator is 0 (as conlleval). ece, on the micro
-- (accuracy) row only, is the expected calibration error of the predictions: 15 bins of
-- confidence, each |accuracy - mean confidence| weighted by its share of the predictions.
.mode box
-- Entities: 6 tokens predicted as PER; gold has 2 PER (both found) and 1 LOC (missed).
CREATE TABLE gold(text TEXT, entities TEXT);
INSERT INTO gold VALUES
  ('Ann met Bob', '[{"start":0,"end":3,"label":"PER"},{"start":8,"end":11,"label":"PER"}]'),
  ('Rome is big', '[{"start":0,"end":4,"label":"LOC"}]');
SELECT label, round(precision, 4) AS p, round(recall, 4) AS r, round(f1, 4) AS f1, support, predicted,
       round(ece, 4) AS ece
FROM attn_eval('every', 'SELECT text, entities FROM gold', 'entities');
-- Classification: 'every' says negative to all 4 texts, of which 1 is negative, and is sure
-- of it (probability ~1): ECE = |0.25 - 1| = 0.75.
CREATE TABLE docs(text TEXT, label TEXT);
INSERT INTO docs VALUES ('fine', 'positive'), ('great', 'positive'), ('awful', 'negative'), ('ok', 'positive');
SELECT label, round(precision, 4) AS p, round(recall, 4) AS r, round(f1, 4) AS f1, support, predicted,
       round(ece, 2) AS ece
FROM attn_eval('every', 'SELECT text, label FROM docs', 'classify');
-- The task is inferred from the columns when the model has one two-column task.
SELECT label, precision, recall, support FROM attn_eval('pos', 'SELECT text, label FROM docs');
-- Relations (3 columns): 'every' relates every ordered pair of its one-token entities as
-- Work_For, so a gold triple is found only when its spans are single tokens typed PER.
.mode list
SELECT label, round(precision, 4), recall, support, predicted FROM attn_eval('every',
  'SELECT ''Ann met Bob'', ''[{"start":0,"end":3,"label":"PER"},{"start":8,"end":11,"label":"PER"}]'',
          ''[{"head":0,"tail":1,"label":"Work_For"}]''');
-- Empty gold and empty text: no rows added, zeros everywhere.
SELECT label, precision, recall, f1, support, predicted FROM attn_eval('pos', 'SELECT '''', ''positive''');
