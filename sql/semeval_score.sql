-- semeval_score.sql: the official SemEval-2010 Task 8 score of a relation model on semeval_test
-- (tables from sql/load_datasets.sql), through attn_relation on the two marked nominals.
-- Set @model first (default 'en-semeval'). The model was trained with both nominals as
-- entities and each relation given with its direction (head = the relation's first argument),
-- Other as no relation. For each sentence both orders are asked; the more probable non-'none'
-- answer wins and gives the direction; none in both orders predicts Other.
-- Official metric (scorer v1.2, "(9+1)-way with directionality taken into account"): per
-- relation type, precision = right type and direction / predicted as that type, recall = right
-- type and direction / gold of that type; macro-F1 over the 9 types, Other excluded.
.parameter init
INSERT OR IGNORE INTO temp.sqlite_parameters(key, value) VALUES ('@model', 'en-semeval');
WITH spans AS (
  SELECT rowid AS id, text, label AS gold,
         json_extract(entities, '$[0].start') AS s1, json_extract(entities, '$[0].end') AS e1,
         json_extract(entities, '$[1].start') AS s2, json_extract(entities, '$[1].end') AS e2
  FROM semeval_test),
asked AS (
  SELECT id, gold,
         attn_relation_scores(text, s1, e1, s2, e2, @model) AS fwd,
         attn_relation_scores(text, s2, e2, s1, e1, @model) AS bwd
  FROM spans),
best AS (   -- the most probable real relation in each order
  SELECT id, gold,
    (SELECT key FROM json_each(fwd) WHERE key <> 'none' ORDER BY value DESC LIMIT 1) AS f_label,
    (SELECT max(value) FROM json_each(fwd) WHERE key <> 'none') AS f_p,
    json_extract(fwd, '$.none') AS f_none,
    (SELECT key FROM json_each(bwd) WHERE key <> 'none' ORDER BY value DESC LIMIT 1) AS b_label,
    (SELECT max(value) FROM json_each(bwd) WHERE key <> 'none') AS b_p,
    json_extract(bwd, '$.none') AS b_none
  FROM asked),
predicted AS (
  SELECT id, gold,
    CASE WHEN f_p > f_none AND (f_p >= b_p OR b_p <= b_none) THEN f_label || '(e1,e2)'
         WHEN b_p > b_none THEN b_label || '(e2,e1)'
         ELSE 'Other' END AS pred
  FROM best),
typed AS (
  SELECT gold, pred,
    CASE WHEN gold = 'Other' THEN 'Other' ELSE substr(gold, 1, instr(gold, '(') - 1) END AS gold_type,
    CASE WHEN pred = 'Other' THEN 'Other' ELSE substr(pred, 1, instr(pred, '(') - 1) END AS pred_type
  FROM predicted),
per_type AS (
  SELECT t.type,
    (SELECT count(*) FROM typed WHERE gold_type = t.type AND pred = gold) AS correct,
    (SELECT count(*) FROM typed WHERE pred_type = t.type) AS n_pred,
    (SELECT count(*) FROM typed WHERE gold_type = t.type) AS n_gold
  FROM (SELECT DISTINCT gold_type AS type FROM typed WHERE gold_type <> 'Other') t),
scored AS (
  SELECT type, CASE WHEN n_pred = 0 THEN 0.0 ELSE 1.0 * correct / n_pred END AS p,
               CASE WHEN n_gold = 0 THEN 0.0 ELSE 1.0 * correct / n_gold END AS r
  FROM per_type)
SELECT avg(CASE WHEN p + r = 0 THEN 0.0 ELSE 2 * p * r / (p + r) END) AS official_macro_f1
FROM scored;
