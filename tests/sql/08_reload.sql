-- Models live in the attn_model table; a change to the rows is seen by the next statement.
.mode list
SELECT attn_classify('hello', 'every');

-- Rename a label in the config:
UPDATE attn_model SET data = replace(data, '"negative"', '"unhappy"')
WHERE name = 'every' AND key = 'config';
SELECT attn_classify('hello', 'every');
SELECT json_extract(labels, '$.classify') FROM attn_models WHERE name = 'every';

-- Replace a tensor with another model's:
UPDATE attn_model SET data = (SELECT data FROM attn_model WHERE name = 'pos' AND key = 'cls.b')
WHERE name = 'every' AND key = 'cls.b';
SELECT attn_classify('hello', 'every');

-- Break it, then repair it:
UPDATE attn_model SET shape = '[3]' WHERE name = 'every' AND key = 'cls.b';
SELECT attn_classify('hello', 'every');
UPDATE attn_model SET shape = '[2]' WHERE name = 'every' AND key = 'cls.b';
SELECT attn_classify('hello', 'every');

-- Inside a transaction, this connection's uncommitted edits are seen too; a rollback undoes them.
BEGIN;
UPDATE attn_model SET data = replace(data, '"positive"', '"glad"') WHERE name = 'every' AND key = 'config';
SELECT attn_classify('hello', 'every');
ROLLBACK;
SELECT attn_classify('hello', 'every');

-- Labelling a table reads the model once for the statement, not once per row; each old copy
-- is freed when nothing uses it: one model ('every') is loaded in the process here.
CREATE TABLE docs(body TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
INSERT INTO docs SELECT 'document ' || i FROM n;
ALTER TABLE docs ADD COLUMN label TEXT;
UPDATE docs SET label = attn_classify(body, 'every');
SELECT label, count(*) FROM docs GROUP BY label;
SELECT attn_debug() LIKE '%models: 1 loaded in this process%';

-- A model added to an attached database after a lookup failed is found by the next statement;
-- a model removed is not found any more.
SELECT attn_classify('hello', 'later');
ATTACH 'aux.db' AS aux;
INSERT INTO aux.attn_model SELECT 'later', key, dtype, shape, data FROM main.attn_model WHERE name = 'pos';
SELECT attn_classify('hello', 'later');
DELETE FROM aux.attn_model WHERE name = 'later';
SELECT attn_classify('hello', 'later');

-- Shadowing: a model created in main hides the attached one from the next statement on.
DELETE FROM main.attn_model WHERE name = 'every';
SELECT attn_classify('hello', 'every');
DETACH aux;
SELECT attn_classify('hello', 'every');
