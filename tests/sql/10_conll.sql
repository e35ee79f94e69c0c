-- attn_conll(path [, options_json]): a CoNLL column file as rows, one per sentence:
-- text (tokens joined), entities (JSON, character offsets), line (of the first token),
-- doc (1-based; each -DOCSTART- after the first sentence starts the next document).
.mode list
.headers on
SELECT * FROM attn_conll('small.conll');
.headers off

-- The offsets are characters of text: substr() gives the entity back.
SELECT c.line, e.value ->> 'label', substr(c.text, (e.value ->> 'start') + 1,
       (e.value ->> 'end') - (e.value ->> 'start'))
FROM attn_conll('small.conll') c, json_each(c.entities) e;

-- Character-level CJK is joined without spaces; IOBES tags with the scheme declared.
SELECT * FROM attn_conll('small_iobes.conll', '{"scheme": "iobes"}');
-- join "space" always puts one space between tokens; the offsets follow.
SELECT text, entities FROM attn_conll('small_iobes.conll', '{"join": "space"}') LIMIT 1;
-- Columns: the tag from another column (column 3 is the chunk tag here).
SELECT text, entities FROM attn_conll('small.conll', '{"tag_column": 3}') LIMIT 1;
SELECT text FROM attn_conll('small.conll', '{"token_column": 2}') WHERE line = 3;

-- Counting: the usual aggregate queries work on the stream.
SELECT count(*), sum(json_array_length(entities)), max(doc) FROM attn_conll('small.conll');

-- A NULL path gives no rows.
SELECT count(*) FROM attn_conll(NULL);

-- Errors name the line (and stop the statement), the file, or the option.
SELECT * FROM attn_conll('bad_tag.conll');
SELECT count(*) FROM attn_conll('bad_tag.conll', '{"lenient": true}');
SELECT * FROM attn_conll('no/such/file.conll');
SELECT * FROM attn_conll('small.conll', '{"colour": 1}');
SELECT * FROM attn_conll('small.conll', '{"scheme": "bio"}');
SELECT * FROM attn_conll('small.conll', '{"tag_column": 0}');
SELECT * FROM attn_conll('small.conll', '[1]');
SELECT * FROM attn_conll('small.conll', '{"lenient": 1');
SELECT * FROM attn_conll(42);
SELECT * FROM attn_conll;
-- IOB1 rejects IOBES prefixes.
SELECT * FROM attn_conll('small_iobes.conll', '{"scheme": "iob1"}');

-- DIRECTONLY: it reads files, so it cannot be used from a view or a trigger.
CREATE VIEW v AS SELECT * FROM attn_conll('small.conll');
SELECT count(*) FROM v;
CREATE TABLE log(x);
CREATE TRIGGER tr AFTER INSERT ON log BEGIN
  INSERT INTO log SELECT text FROM attn_conll('small.conll') WHERE NEW.x = 'go';
END;
INSERT INTO log VALUES ('go');

-- "join": "detok" joins the tokens as people write them ("Canada." rather than "Canada ."),
-- the entity offsets following the text.
SELECT text, entities FROM attn_conll('small.conll', '{"join": "detok"}');
SELECT * FROM attn_conll('small.conll', '{"join": "glue"}');

-- attn_detok: the same rules for tokens in a JSON array (CoNLL04 is loaded with it).
SELECT attn_detok('["\"", "We", "do", "n''t", "know", ",", "\"", "said", "the", "Commission",
                   "''s", "spokesman", "(", "Reuters", ")", "in", "Canada", "."]');
SELECT attn_detok('["Canada", ".", "Café", "!"]', 'offsets');
SELECT attn_detok(NULL) IS NULL, attn_detok('[]') = '';
SELECT attn_detok('["a", 1]');
SELECT attn_detok('{"a": "b"}');
SELECT attn_detok('["a"', 'offsets');
SELECT attn_detok('["a"]', 'starts');
SELECT attn_detok(7);
