-- gazetteers.sql: the name lists of ../shared/data/gazetteers (its README: sources, licences)
-- as tables, and the value of attn_train's option 'gazetteers' that gives a model five lists
-- of them (README "Gazetteers"). Read it from a recipe, where build.sh has set @data:
--
--   .read sql/recipes/gazetteers.sql
--   SELECT * FROM attn_train('my-ner', 'entities', '...', json_object(...,
--     'gazetteers', json((SELECT lists FROM gazetteer_option))));
--
-- Lists (tables gaz_<list>(name), one entry a row, distinct):
--   first_name  first names (US and Spanish lists)
--   surname     surnames found in two or more of 17 national lists (accents folded to ASCII
--               by the source)
--   LOC         cities of over 15,000 people (GeoNames), and countries: common and official
--               names and other spellings, not the 2-3 letter codes (matched case-folded,
--               IT and US would be the words "it" and "us")
--   MISC        demonyms (Afghan, Dutch, ...)
--   ORG         listed US companies, as listed ("Apple Inc.") and without a trailing legal
--               form ("Apple"), since text mostly names them so
-- First names and surnames are two lists, not one PER list: the files hold no full names, and
-- a lone first name matches many words ("Will", "May", "Grant"); the model learns how much a
-- first_name match followed by a surname match says.
.parameter init
INSERT OR IGNORE INTO temp.sqlite_parameters(key, value) VALUES ('@data', '../shared/data');

-- Each file's tab-separated fields: file_fields (c0 the name, c1 the second column).
.read sql/recipes/file_fields.sql

DELETE FROM field_file; INSERT INTO field_file VALUES (@data || '/gazetteers/first_names.txt', char(9));
DROP TABLE IF EXISTS gaz_first_name;
CREATE TABLE gaz_first_name AS SELECT DISTINCT c0 AS name FROM file_fields WHERE c0 <> '';

DELETE FROM field_file; INSERT INTO field_file VALUES (@data || '/gazetteers/surnames.tsv', char(9));
DROP TABLE IF EXISTS gaz_surname;
-- Only the surnames that two or more of the national lists share (21,215 of 155,684): a model
-- keeps its lists as rows, so the whole list would add 1.3 MB to a built-in model, and a name
-- found in one national list only is mostly a rare one.
CREATE TABLE gaz_surname AS SELECT DISTINCT c0 AS name FROM file_fields WHERE c0 <> '' AND instr(c1, ',') > 0;

DELETE FROM field_file; INSERT INTO field_file VALUES (@data || '/gazetteers/world_cities.tsv', char(9));
DROP TABLE IF EXISTS gaz_loc;
CREATE TABLE gaz_loc AS SELECT DISTINCT c0 AS name FROM file_fields WHERE c0 <> '';
DELETE FROM field_file; INSERT INTO field_file VALUES (@data || '/gazetteers/countries.tsv', char(9));
INSERT INTO gaz_loc SELECT DISTINCT c0 FROM file_fields
WHERE c1 IN ('common', 'official', 'alt') AND c0 <> '' AND c0 NOT IN (SELECT name FROM gaz_loc);
DROP TABLE IF EXISTS gaz_misc;
CREATE TABLE gaz_misc AS SELECT DISTINCT c0 AS name FROM file_fields WHERE c1 = 'demonym' AND c0 <> '';

-- Companies: the name as listed, and once more without a trailing legal form (one of those
-- below, after a space or ", ").
DELETE FROM field_file; INSERT INTO field_file VALUES (@data || '/gazetteers/companies.tsv', char(9));
DROP TABLE IF EXISTS gaz_org;
CREATE TABLE gaz_org AS SELECT DISTINCT c0 AS name FROM file_fields WHERE c0 <> '';
INSERT INTO gaz_org
SELECT DISTINCT rtrim(substr(o.name, 1, length(o.name) - length(f.form)), ' ,')
FROM gaz_org o, (SELECT column1 AS form FROM (VALUES
  ('Inc.'), ('Inc'), ('Corp.'), ('Corp'), ('Corporation'), ('Co.'), ('Company'), ('Ltd.'),
  ('Ltd'), ('Limited'), ('plc'), ('PLC'), ('LLC'), ('L.P.'), ('LP'), ('N.V.'), ('S.A.'),
  ('AG'), ('SE'), ('Holdings'), ('Holdings Inc.'), ('Holdings, Inc.'), ('Group'),
  ('Group, Inc.'), ('Group Inc.'), ('Trust'), ('Bancorp'), ('Bancorp, Inc.'))) AS f
WHERE (o.name LIKE '% ' || f.form OR o.name LIKE '%, ' || f.form)
  AND substr(o.name, length(o.name) - length(f.form) + 1) = f.form
  AND length(rtrim(substr(o.name, 1, length(o.name) - length(f.form)), ' ,')) > 1
EXCEPT SELECT name FROM gaz_org;

DROP TABLE IF EXISTS gazetteer_option;
CREATE TABLE gazetteer_option AS SELECT json_object(
  'first_name', 'SELECT name FROM gaz_first_name', 'surname', 'SELECT name FROM gaz_surname',
  'LOC', 'SELECT name FROM gaz_loc', 'MISC', 'SELECT name FROM gaz_misc',
  'ORG', 'SELECT name FROM gaz_org') AS lists;
SELECT 'gazetteers', (SELECT count(*) FROM gaz_first_name) AS first_name,
       (SELECT count(*) FROM gaz_surname) AS surname, (SELECT count(*) FROM gaz_loc) AS loc,
       (SELECT count(*) FROM gaz_misc) AS misc, (SELECT count(*) FROM gaz_org) AS org;
