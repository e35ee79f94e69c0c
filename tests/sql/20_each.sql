-- The bulk path: attn_classify_each(sql [, model [, threads]]), attn_entities_each(...) and
-- attn_relations_each(...) run the query `sql` (two columns: id, text) and answer for every
-- row, on all cores, in the query's row order, exactly as the scalar path answers.
.mode list
.headers off
.nullvalue NULL

-- 300 rows of varied text (lengths 0 to ~60 words, longer than the test models' 16-token
-- window), some NULL, some not ASCII.
CREATE TABLE words(i INTEGER PRIMARY KEY, w TEXT);
INSERT INTO words(w) SELECT value FROM json_each('["Ann","met","Bob","in","Paris","the",
  "film","was","a","delight","Acme","Corp.","hired","Zoë","from","Kraków",",","terrible",
  "service","and","日本語","🎉","New","York","said","on","Monday","that","it","will","not",
  "buy","shares","of","IBM","."]');
CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);
WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < 300)
INSERT INTO docs(id, body)
SELECT id, CASE WHEN id % 37 = 0 THEN NULL
  ELSE (WITH RECURSIVE k(j, s) AS (
          SELECT 0, ''
          UNION ALL
          SELECT j + 1, s || (SELECT w FROM words WHERE i = 1 + (id * 7 + j * 13 + j * j) % 36)
                          || ' '
          FROM k WHERE j < (id * 11) % 61)
        SELECT trim(s) FROM k ORDER BY j DESC LIMIT 1) END
FROM n;
SELECT 'docs', count(*), count(body), sum(body = ''), max(length(body)) > 200 FROM docs;

-- Classification: every row, row for row, the scalar answer (label, score JSON). Both
-- differences are empty and the counts match.
CREATE TEMP TABLE bulk AS
SELECT id, label, score, scores FROM attn_classify_each('SELECT id, body FROM docs', 'tiny');
CREATE TEMP TABLE scalar AS
SELECT id, attn_classify(body, 'tiny') AS label, attn_classify_scores(body, 'tiny') AS scores
FROM docs;
SELECT 'classify rows', (SELECT count(*) FROM bulk), (SELECT count(*) FROM scalar);
SELECT 'classify bulk except scalar', count(*) FROM
  (SELECT id, label, scores FROM bulk EXCEPT SELECT id, label, scores FROM scalar);
SELECT 'classify scalar except bulk', count(*) FROM
  (SELECT id, label, scores FROM scalar EXCEPT SELECT id, label, scores FROM bulk);
-- score is the probability of the label in scores
SELECT 'classify score', count(*) FROM bulk
WHERE abs(score - json_extract(scores, '$.' || label)) > 1e-6;
-- NULL text: a row with NULL answers
SELECT 'classify NULL text', count(*), sum(label IS NULL AND score IS NULL AND scores IS NULL)
FROM bulk WHERE id % 37 = 0;

-- The output keeps the query's order (here descending, 300 rows: two chunks).
SELECT 'order kept', (SELECT group_concat(id) FROM
        attn_classify_each('SELECT id, body FROM docs ORDER BY (id * 7919) % 300', 'tiny'))
  = (SELECT group_concat(id) FROM (SELECT id FROM docs ORDER BY (id * 7919) % 300));

-- Any thread count gives the same rows: 1 (no worker thread), 2, 3, 8.
SELECT 'threads ' || t, (SELECT count(*) FROM (
    SELECT * FROM attn_classify_each('SELECT id, body FROM docs', 'tiny', t)
    EXCEPT SELECT id, label, score, scores FROM bulk))
FROM (SELECT 1 AS t UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 8);

-- The built-in default model (en-sentiment) on 40 rows: the same as attn_classify.
SELECT 'built-in classify', count(*), sum(e.label = attn_classify(d.body))
FROM attn_classify_each('SELECT id, body FROM docs WHERE id <= 40 AND body IS NOT NULL') e
JOIN docs d USING (id);

-- Entities: one row per entity, as attn_entities gives them.
CREATE TEMP TABLE bulk_e AS
SELECT * FROM attn_entities_each('SELECT id, body FROM docs', 'tiny');
CREATE TEMP TABLE scalar_e AS
SELECT d.id, e.start, e."end", e.label, e.entity, e.score
FROM docs d, attn_entities(d.body, 'tiny') e;
SELECT 'entities rows', (SELECT count(*) FROM bulk_e), (SELECT count(*) FROM scalar_e),
       (SELECT count(*) FROM bulk_e) > 100;
SELECT 'entities bulk except scalar', count(*) FROM
  (SELECT * FROM bulk_e EXCEPT SELECT * FROM scalar_e);
SELECT 'entities scalar except bulk', count(*) FROM
  (SELECT * FROM scalar_e EXCEPT SELECT * FROM bulk_e);
SELECT 'entities on 2 and 5 threads', count(*) FROM (
  SELECT * FROM attn_entities_each('SELECT id, body FROM docs', 'every', 2)
  EXCEPT SELECT * FROM attn_entities_each('SELECT id, body FROM docs', 'every', 5));
-- NULL and empty texts give no entity rows
SELECT 'entities of NULL or empty', count(*) FROM attn_entities_each(
  'SELECT id, body FROM docs WHERE body IS NULL OR body = ''''', 'every');
-- the default model is the built-in en-ner (how many it finds in these made-up texts is not
-- the point, and differs by an entity or so between the SIMD and the scalar kernels)
SELECT 'built-in entities', count(*) > 100, count(*) = (SELECT count(*) FROM docs d,
    attn_entities(d.body) e WHERE d.id <= 30)
FROM attn_entities_each('SELECT id, body FROM docs WHERE id <= 30');

-- Relations: one row per relation, as attn_relations gives them (20 rows: the random model
-- relates most pairs of its many entities, thousands of relations).
CREATE TEMP TABLE bulk_r AS
SELECT * FROM attn_relations_each('SELECT id, body FROM docs WHERE id <= 20', 'tiny', 3);
CREATE TEMP TABLE scalar_r AS
SELECT d.id, r.head, r.head_label, r.head_start, r.head_end, r.relation, r.tail, r.tail_label,
       r.tail_start, r.tail_end, r.score
FROM docs d, attn_relations(d.body, 'tiny') r WHERE d.id <= 20;
SELECT 'relations rows', (SELECT count(*) FROM bulk_r), (SELECT count(*) FROM scalar_r);
SELECT 'relations bulk except scalar', count(*) FROM
  (SELECT * FROM bulk_r EXCEPT SELECT * FROM scalar_r);
SELECT 'relations scalar except bulk', count(*) FROM
  (SELECT * FROM scalar_r EXCEPT SELECT * FROM bulk_r);

-- The id is passed through as it is: any type.
SELECT typeof(id), quote(id), label FROM attn_classify_each('SELECT column1, column2 FROM
  (VALUES (7, ''a''), (2.5, ''b''), (''key'', ''c''), (x''00ff'', ''d''), (NULL, ''e''))', 'pos');

-- The arguments are hidden columns; threads 0 or NULL means one per online CPU.
SELECT sql, model, threads FROM attn_classify_each('SELECT 1, ''x''', 'pos', 2);
SELECT threads >= 1 FROM attn_classify_each('SELECT 1, ''x''', 'pos', 0);
SELECT threads >= 1 FROM attn_classify_each('SELECT 1, ''x''', 'pos', NULL);
SELECT count(*) FROM attn_classify_each WHERE sql = 'SELECT id, body FROM docs' AND model = 'pos';
-- A NULL query, or one without rows, gives no rows.
SELECT 'NULL sql', count(*) FROM attn_classify_each(NULL);
SELECT 'no rows', count(*) FROM attn_entities_each('SELECT id, body FROM docs WHERE 0', 'every');
-- Joined with the table it reads.
SELECT 'join', count(*) FROM docs d
JOIN attn_classify_each('SELECT id, body FROM docs', 'pos') e ON e.id = d.id
WHERE e.label = 'positive';

-- Errors name the function, and the row when a row is the cause.
SELECT * FROM attn_classify_each;
SELECT * FROM attn_classify_each('SELECT id, body FROM nowhere');
SELECT * FROM attn_classify_each('');
SELECT * FROM attn_classify_each('SELECT 1, ''a''; SELECT 2, ''b''');
SELECT * FROM attn_classify_each('SELECT id FROM docs');
SELECT * FROM attn_classify_each('DELETE FROM docs RETURNING id, body');
SELECT * FROM attn_classify_each(42);
-- (count(*): the rows before the failing one would stream out first, a chunk at a time)
SELECT count(*) FROM attn_classify_each(
  'SELECT id, CASE WHEN id = 290 THEN 42 ELSE body END FROM docs', 'tiny');
SELECT count(*) FROM attn_entities_each(
  'SELECT id, CASE WHEN id = 3 THEN x''00'' ELSE body END FROM docs', 'every');
SELECT count(*) FROM attn_classify_each(
  'SELECT id, CASE WHEN id = 260 THEN json(''{'') ELSE body END FROM docs', 'tiny');
SELECT * FROM attn_classify_each('SELECT id, body FROM docs', 'nope');
SELECT * FROM attn_classify_each('SELECT id, body FROM docs', 'ner');
SELECT * FROM attn_entities_each('SELECT id, body FROM docs', 'pos');
SELECT * FROM attn_relations_each('SELECT id, body FROM docs', 'pos');
SELECT * FROM attn_classify_each('SELECT id, body FROM docs', 7);
SELECT * FROM attn_classify_each('SELECT id, body FROM docs', 'pos', -1);
SELECT * FROM attn_classify_each('SELECT id, body FROM docs', 'pos', 65);
SELECT * FROM attn_classify_each('SELECT id, body FROM docs', 'pos', 'two');
-- the connection's limits apply to every row (attn_limit)
SELECT * FROM attn_set_limit('max_text_bytes', 100);
SELECT count(*) FROM attn_classify_each('SELECT id, body FROM docs', 'pos');
SELECT * FROM attn_set_limit('max_text_bytes', 100000000);
SELECT * FROM attn_set_limit('max_call_memory', 1000);
SELECT count(*) FROM attn_entities_each('SELECT id, body FROM docs WHERE id > 1', 'every');
SELECT * FROM attn_set_limit('max_call_memory', 1073741824);

-- DIRECTONLY: it runs SQL given as a string, so a view or trigger (say in a database file from
-- someone else) cannot use it to run queries of its choosing.
CREATE VIEW v AS SELECT * FROM attn_classify_each('SELECT id, body FROM docs', 'pos');
SELECT count(*) FROM v;

-- sqlite3_interrupt (here the shell's progress handler, which interrupts a statement that has
-- run 1000 VM steps: the query feeding the rows, not the model lookups) stops that query
-- between chunks: the statement fails, it does not end early with fewer rows.
.progress 1000 --limit 1 --quiet
SELECT count(*) FROM attn_classify_each('SELECT id, body FROM docs, words WHERE words.i <= 3',
  'tiny');
.progress 0
SELECT 'after the interrupt', count(*) FROM attn_classify_each(
  'SELECT id, body FROM docs, words WHERE words.i <= 3', 'tiny');
