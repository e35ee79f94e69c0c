-- attn_pack(model, target, storage [, schema]) writes a model again, re-encoded in another
-- storage, into main or an attached database. The source is found as every function finds a
-- model, so it has passed the loader; the rows written are loaded back and compared with it.
.mode list
.headers on

-- Into main under another name: q4-int8 (the storage the built-ins ship in).
SELECT * FROM attn_pack('every', 'every-q4', 'q4-int8');
-- Each storage, the dtype of each tensor; f32 and f16 change nothing or almost nothing.
SELECT 'f32' AS storage, tensors, q4, q8, f16, f32, bytes_stored = bytes_f32 AS same_bytes,
       max_difference FROM attn_pack('every', 'p', 'f32')
UNION ALL SELECT 'f16', tensors, q4, q8, f16, f32, bytes_stored * 2 = bytes_f32,
       max_difference < 0.001 FROM attn_pack('every', 'p', 'f16')
UNION ALL SELECT 'q8', tensors, q4, q8, f16, f32, bytes_stored * 2 < bytes_f32,
       max_difference < 0.01 FROM attn_pack('every', 'p', 'q8')
UNION ALL SELECT 'q4', tensors, q4, q8, f16, f32, bytes_stored * 2 < bytes_f32,
       max_difference < 0.05 FROM attn_pack('every', 'p', 'q4')
UNION ALL SELECT 'q8-int8', tensors, q4, q8, f16, f32, bytes_stored * 2 < bytes_f32,
       max_difference < 0.01 FROM attn_pack('every', 'p', 'q8-int8');
.headers off
-- The packed model answers as the original does (its rows replaced at each call: one model p).
SELECT count(*) FROM attn_models WHERE name = 'p';
SELECT dtype, count(*) FROM attn_model WHERE name = 'p' GROUP BY dtype ORDER BY dtype;
SELECT attn_classify('Ann met Bob', 'every-q4') = attn_classify('Ann met Bob', 'every'),
       (SELECT group_concat(label) FROM attn_entities('Ann met Bob', 'every-q4')) =
       (SELECT group_concat(label) FROM attn_entities('Ann met Bob', 'every'));
-- The config row is copied as it is.
SELECT (SELECT data FROM attn_model WHERE name = 'p' AND key = 'config') =
       (SELECT data FROM attn_model WHERE name = 'every' AND key = 'config');

-- Into another database: ATTACH it and name it. A new file gets its attn_model table; main is
-- not touched. The source here is aux's en-ner (main has none).
ATTACH 'packed.db' AS out;
ATTACH 'aux.db' AS aux;
SELECT (SELECT count(*) FROM main.attn_model) AS main_rows_before;
SELECT name, schema, tensors, q4 + q8 + f16 + f32 = tensors FROM attn_pack('en-ner', 'en-ner', 'q8', 'out');
SELECT (SELECT count(*) FROM main.attn_model) AS main_rows_after;
SELECT name, storage FROM attn_models WHERE storage LIKE 'out.%';
-- Schema names are case-insensitive, as in SQL.
SELECT schema FROM attn_pack('every', 'every', 'f16', 'OUT');
SELECT count(DISTINCT name) FROM out.attn_model;
-- The built-in models pack as well (here into a file of its own).
SELECT name, schema, f32 FROM attn_pack('en-sentiment', 'en-sentiment', 'q4-int8', 'out');
-- Packing a model over itself, in place: 'small' is found in out and replaced there.
SELECT name, q8 FROM attn_pack('pos', 'small', 'f16', 'out');
SELECT name, q8 > 0 FROM attn_pack('small', 'small', 'q8', 'out');
SELECT count(*) FROM out.attn_model WHERE name = 'small' AND dtype = 'q8';

-- Inside a transaction the rows roll back with it.
BEGIN;
SELECT name FROM attn_pack('pos', 'pos-q8', 'q8');
SELECT count(*) FROM attn_model WHERE name = 'pos-q8';
ROLLBACK;
SELECT count(*) FROM attn_model WHERE name = 'pos-q8';

-- Errors name the function and the cause; nothing is written.
SELECT * FROM attn_pack('every', 'x');
SELECT * FROM attn_pack('every', 'x', NULL);
SELECT * FROM attn_pack(NULL, 'x', 'q8');
SELECT * FROM attn_pack('every', '', 'q8');
SELECT * FROM attn_pack('every', 'x', 3);
SELECT * FROM attn_pack('every', 'x', 'q2');
SELECT * FROM attn_pack('nosuch', 'x', 'q8');
SELECT * FROM attn_pack('every', 'x', 'q8', 'nowhere');
SELECT * FROM attn_pack('every', 'x', 'q8', 'temp');
SELECT * FROM attn_pack('every', 'x', 'q8', 7);
-- A damaged source is refused by the loader, not copied.
ATTACH 'broken.db' AS broken;
SELECT * FROM attn_pack('nan', 'x', 'q8');
SELECT * FROM attn_pack('bad-shape', 'x', 'q8', 'out');
SELECT count(*) FROM attn_model WHERE name = 'x';
SELECT count(*) FROM out.attn_model WHERE name = 'x';
-- A read-only database is not written.
ATTACH 'file:models.db?mode=ro' AS ro;
SELECT * FROM attn_pack('every', 'x', 'q8', 'ro');

-- A hostile target: an attn_model that is a view, or that has triggers (which would run its
-- maker's SQL on every row we insert), is refused.
ATTACH 'hostile.db' AS hostile;
CREATE VIEW hostile.attn_model AS SELECT 1 AS name;
SELECT * FROM attn_pack('every', 'x', 'q8', 'hostile');
DROP VIEW hostile.attn_model;
CREATE TABLE hostile.attn_model(name TEXT NOT NULL, key TEXT NOT NULL, dtype TEXT NOT NULL,
  shape TEXT NOT NULL, data BLOB, PRIMARY KEY (name, key));
CREATE TABLE hostile.log(x);
CREATE TRIGGER hostile.spy AFTER INSERT ON attn_model BEGIN INSERT INTO log VALUES (NEW.key); END;
SELECT * FROM attn_pack('every', 'x', 'q8', 'hostile');
SELECT count(*) FROM hostile.attn_model, hostile.log;

-- DIRECTONLY: attn_pack writes a table, so a view or a trigger of a database cannot call it,
-- whatever trusted_schema says.
PRAGMA trusted_schema = ON;
CREATE VIEW pack_view AS SELECT name FROM attn_pack('every', 'y', 'q8');
SELECT * FROM pack_view;
CREATE TABLE t(x);
CREATE TRIGGER pack_trigger AFTER INSERT ON t BEGIN
  SELECT * FROM attn_pack('every', 'y', 'q8');
END;
INSERT INTO t VALUES (1);
SELECT count(*) FROM attn_model WHERE name = 'y';
