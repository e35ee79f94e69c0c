-- file_fields.sql: the fields of each line of a text file, for the recipes' list loaders
-- (gazetteers.sql, zh_lexicon.sql). Put one file's path and field separator in field_file,
-- then read file_fields:
--
--   .read sql/recipes/file_fields.sql
--   DELETE FROM field_file; INSERT INTO field_file VALUES ('list.tsv', char(9));
--   SELECT c0, c1 FROM file_fields;
--
-- Columns c0 (trimmed), c1, c2: the first three fields (NULL where a line has fewer). The file
-- is read whole with the shell's readfile() and split as one JSON array, as load_datasets.sql
-- reads TSV files; "\r" before a line end is dropped. (A view cannot read a parameter: the
-- path goes through a table.)
CREATE TEMP TABLE IF NOT EXISTS field_file(path TEXT, sep TEXT);
DROP VIEW IF EXISTS temp.file_fields;
CREATE TEMP VIEW file_fields AS
WITH raw AS (SELECT CAST(readfile(path) AS TEXT) AS body, sep FROM field_file),
     esc AS (SELECT replace(replace(replace(replace(rtrim(body, char(10)), char(13), ''), '\', '\\'),
                                    '"', '\"'), sep, '","') AS body FROM raw)
SELECT trim(json_extract(value, '$[0]')) AS c0, json_extract(value, '$[1]') AS c1,
       json_extract(value, '$[2]') AS c2
FROM esc, json_each('[["' || replace(esc.body, char(10), '"],["') || '"]]');
