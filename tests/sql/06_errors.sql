-- Errors name the function, the model and what is wrong.
.mode list

-- Arguments must be TEXT (NULL text is fine: it gives NULL or no rows).
SELECT attn_classify(42, 'tiny');
SELECT attn_classify(4.2, 'tiny');
SELECT attn_classify(X'00', 'tiny');
SELECT attn_classify_scores(42);
SELECT attn_classify('text', 42);
-- An SQL NULL model is "not given": the default model (en-sentiment here: 'negative').
SELECT attn_classify('text', NULL);
SELECT * FROM attn_entities(42, 'tiny');
SELECT * FROM attn_entities('text', X'01');
SELECT * FROM attn_relations(1.5, 'tiny');
SELECT attn_classify(NULL, 42);

-- Unknown models.
SELECT attn_classify('text', 'nope');
SELECT * FROM attn_entities('text', 'nope');
SELECT * FROM attn_relations('text', '');
SELECT attn_classify('text', printf('%.*c', 300, 'x'));

-- Too long a text (the limit is ATTN_SQL_MAX_TEXT_BYTES, 100 000 000 bytes).
SELECT attn_classify(printf('%.*c', 100000001, 'x'), 'tiny');

-- Broken models: every row is checked when the model loads.
ATTACH 'broken.db' AS broken;
SELECT attn_classify('text', 'good');
SELECT attn_classify('text', 'no-tensor');
SELECT attn_classify('text', 'bad-shape');
SELECT * FROM attn_entities('text', 'short');
SELECT attn_classify('text', 'nan');
SELECT * FROM attn_relations('text', 'bad-config');

-- Damage done with SQL is found the same way.
UPDATE broken.attn_model SET data = substr(data, 1, length(data) - 4)
WHERE name = 'good' AND key = 'tag.b';
SELECT * FROM attn_entities('text', 'good');
UPDATE broken.attn_model SET data = zeroblob(28) WHERE name = 'good' AND key = 'tag.b';
UPDATE broken.attn_model SET shape = '[9,32]' WHERE name = 'good' AND key = 'tag.w';
SELECT * FROM attn_entities('text', 'good');
UPDATE broken.attn_model SET shape = '[7,32]', dtype = 'f64' WHERE name = 'good' AND key = 'tag.w';
SELECT * FROM attn_entities('text', 'good');
UPDATE broken.attn_model SET dtype = 'f32' WHERE name = 'good' AND key = 'tag.w';
SELECT count(*) >= 0 FROM attn_entities('text', 'good');
INSERT INTO broken.attn_model VALUES ('good', 'extra.w', 'f32', '[1]', zeroblob(4));
SELECT * FROM attn_entities('text', 'good');
DELETE FROM broken.attn_model WHERE name = 'good' AND key = 'extra.w';
UPDATE broken.attn_model SET data = '{"format": 1}' WHERE name = 'good' AND key = 'config';
SELECT * FROM attn_entities('text', 'good');
UPDATE broken.attn_model SET data = '[1, 2' WHERE name = 'good' AND key = 'config';
SELECT * FROM attn_entities('text', 'good');
UPDATE broken.attn_model SET dtype = 'f32' WHERE name = 'good' AND key = 'config';
SELECT * FROM attn_entities('text', 'good');
DELETE FROM broken.attn_model WHERE name = 'good' AND key = 'config';
SELECT * FROM attn_entities('text', 'good');

-- A table named attn_model without the expected columns.
ATTACH ':memory:' AS odd;
CREATE TABLE odd.attn_model(name TEXT, stuff BLOB);
INSERT INTO odd.attn_model VALUES ('m', 'x');
SELECT attn_classify('text', 'm');
