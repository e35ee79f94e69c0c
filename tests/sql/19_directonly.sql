-- Least privilege. A database file may come from someone else, and its views and triggers
-- run with the privileges of whoever opens it. So everything that reads files, runs SQL given
-- as text, writes tables or changes a limit is DIRECTONLY: SQLite refuses it inside a view or
-- a trigger of the database, whatever PRAGMA trusted_schema says; typed directly it works.
-- (attn_train and attn_eval: see 14_train_errors.) Everything else only computes from its
-- arguments and the attn_model table and is INNOCUOUS: it works from a view or a trigger even
-- with trusted_schema=OFF.
.mode list

-- attn_conll reads the file its argument names.
SELECT count(*) FROM attn_conll('small.conll');
CREATE VIEW conll_view AS SELECT count(*) AS n FROM attn_conll('small.conll');
SELECT n FROM conll_view;
CREATE TABLE log(x);
CREATE TRIGGER conll_trigger AFTER INSERT ON log BEGIN
  SELECT count(*) FROM attn_conll('small.conll');
END;
INSERT INTO log VALUES (1);
SELECT count(*) FROM log;
DROP TRIGGER conll_trigger;

-- attn_set_limit(name, value) changes a limit; reading one with attn_limit(name) is harmless.
SELECT * FROM attn_set_limit('max_text_bytes', 5000);
CREATE VIEW raise_view AS SELECT (SELECT value FROM attn_set_limit('max_text_bytes', 100000000)) AS v;
SELECT v FROM raise_view;
CREATE TRIGGER raise_trigger AFTER INSERT ON log BEGIN
  SELECT * FROM attn_set_limit('max_call_memory', 281474976710656);
END;
INSERT INTO log VALUES (2);
DROP TRIGGER raise_trigger;
SELECT attn_limit('max_text_bytes'), attn_limit('max_call_memory');
-- SQLite 3.40 does not apply DIRECTONLY to CHECK constraints, and a table-valued function
-- cannot appear in one: no schema object can reach attn_set_limit. The two-argument
-- attn_limit, once the setter, is only an error now.
CREATE TABLE notes(body TEXT CHECK (attn_limit('max_text_bytes', 3) > 0));
INSERT INTO notes VALUES ('hello');
CREATE TABLE notes2(body TEXT CHECK ((SELECT value FROM attn_set_limit('max_text_bytes', 3)) > 0));
PRAGMA integrity_check;
SELECT attn_limit('max_text_bytes'), attn_limit('max_call_memory');
-- The same holds with trusted_schema=ON: DIRECTONLY does not depend on it.
PRAGMA trusted_schema = ON;
SELECT v FROM raise_view;
SELECT n FROM conll_view;

-- The computing functions work from views and triggers under trusted_schema=OFF.
PRAGMA trusted_schema = OFF;
CREATE VIEW calm AS SELECT
  attn_classify('good', 'pos') AS c,
  instr(attn_classify_scores('good', 'pos'), '"positive":0.99') > 0 AS cs,
  attn_relation('Ann met Bob', 0, 3, 8, 11, 'every') AS r,
  instr(attn_relation_scores('Ann met Bob', 0, 3, 8, 11, 'every'), '"Work_For":0.99') > 0 AS rs,
  (SELECT count(*) FROM attn_entities('Ann met Bob', 'every')) AS e,
  (SELECT count(*) FROM attn_relations('Ann met Bob', 'every')) AS rels,
  (SELECT count(*) FROM attn_models WHERE name = 'pos') AS m,
  attn_version() AS v,
  attn_debug() LIKE 'attnext %' AS d,
  attn_limit('max_text_bytes') AS l;
SELECT * FROM calm;
CREATE TABLE labelled(body TEXT, label TEXT);
CREATE TRIGGER label_it AFTER INSERT ON labelled BEGIN
  UPDATE labelled SET label = attn_classify(NEW.body, 'pos') WHERE rowid = NEW.rowid;
END;
INSERT INTO labelled(body) VALUES ('what a day');
SELECT * FROM labelled;
