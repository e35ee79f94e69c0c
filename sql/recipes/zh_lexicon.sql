-- zh_lexicon.sql: a Chinese word list as tables, for a gazetteer feature whose matches are the
-- word boundaries a character model does not see (the soft-word cue of Chinese NER: Zhao and
-- Kit 2008; what a lexicon gives Lattice LSTM, Zhang and Yang 2018). Read it from a recipe
-- after setting @zh_lexicon (build.sh sets it):
--
--   .read sql/recipes/zh_lexicon.sql
--   SELECT * FROM attn_train('zh-ner', 'entities', '...', json_object(...,
--     'gazetteers', json_object('WORD', 'SELECT name FROM zh_lex_word', ...)));
--
-- The list is jieba's dictionary (Debian package python3-jieba, MIT/Expat licence:
-- /usr/lib/python3/dist-packages/jieba/dict.txt, 349,046 lines "word frequency part-of-speech"),
-- read with the shell's readfile(). Tables (one entry a row, distinct):
--   zh_lex_word   the entries of two or more characters that jieba counts at least 5 times,
--                 except person names (part of speech nr, nrt): the general vocabulary,
--                 places and organisations among it (100,000 of 259,000 entries: 0.9 MB of
--                 a model's rows instead of 2.5; all of them gave no more: dev 0.8556 against 0.8546 at
--                 epoch 10, sql/recipes/zh-ner.sql)
--   zh_lex_name   person names (nr, nrt)
--   zh_lex_place  place names (ns)
--   zh_lex_org    organisation names (nt)
-- Entries of one character are left out: nearly every character is one, so they would mark
-- everything. sql/recipes/zh-ner.sql gives all four to attn_train's option 'gazetteers' (and
-- says what each added on dev).
.parameter init
INSERT OR IGNORE INTO temp.sqlite_parameters(key, value)
VALUES ('@zh_lexicon', '/usr/lib/python3/dist-packages/jieba/dict.txt');

-- The space-separated fields of each line: word (c0), frequency (c1), part of speech (c2).
.read sql/recipes/file_fields.sql
DELETE FROM field_file; INSERT INTO field_file VALUES (@zh_lexicon, ' ');

DROP TABLE IF EXISTS zh_lex_all;
CREATE TABLE zh_lex_all AS
SELECT c0 AS word, CAST(c1 AS INTEGER) AS freq, c2 AS pos FROM file_fields WHERE length(c0) >= 2;
-- A missing or unreadable file gives no rows: stop (the shell runs recipes with -bail) rather
-- than train without the lexicon. raise() needs a trigger.
CREATE TEMP TABLE IF NOT EXISTS zh_lex_check(n INTEGER);
CREATE TEMP TRIGGER IF NOT EXISTS zh_lex_too_few BEFORE INSERT ON zh_lex_check WHEN NEW.n < 100000
BEGIN SELECT raise(ABORT, 'zh_lexicon.sql: fewer than 100,000 entries in @zh_lexicon (install Debian''s python3-jieba)'); END;
INSERT INTO zh_lex_check SELECT count(*) FROM zh_lex_all;

DROP TABLE IF EXISTS zh_lex_word;
CREATE TABLE zh_lex_word AS SELECT DISTINCT word AS name FROM zh_lex_all
WHERE pos NOT IN ('nr', 'nrt') AND freq >= 5;
DROP TABLE IF EXISTS zh_lex_name;
CREATE TABLE zh_lex_name AS SELECT DISTINCT word AS name FROM zh_lex_all WHERE pos IN ('nr', 'nrt');
DROP TABLE IF EXISTS zh_lex_place;
CREATE TABLE zh_lex_place AS SELECT DISTINCT word AS name FROM zh_lex_all WHERE pos = 'ns';
DROP TABLE IF EXISTS zh_lex_org;
CREATE TABLE zh_lex_org AS SELECT DISTINCT word AS name FROM zh_lex_all WHERE pos = 'nt';
DROP TABLE zh_lex_all;

SELECT 'zh_lexicon', (SELECT count(*) FROM zh_lex_word) AS word, (SELECT count(*) FROM zh_lex_name) AS name,
       (SELECT count(*) FROM zh_lex_place) AS place, (SELECT count(*) FROM zh_lex_org) AS org;
