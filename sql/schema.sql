-- schema.sql: the table attnext reads models from. One model = one config row + one row per
-- tensor (+ its gazetteer rows), all with the same name. Functions look a name up in main.attn_model, then in the
-- attn_model table of each attached database in attach order, then in the built-in models.
--
--   key 'config': dtype 'json', shape '[]', data = the config JSON (TEXT or BLOB)
--   key '<tensor>' (e.g. 'layers.0.attn.qkv.w'): dtype 'f32', 'f16', 'q8' or 'q4', shape = JSON
--       array of dimensions, e.g. '[96,32]'; data = the values, row-major, little-endian:
--         f32  4 bytes a value (IEEE single)
--         f16  2 bytes a value (IEEE half)
--         q8   2-D tensors only: rows x f32 scales, then rows x cols int8 values q in
--              [-127, 127]; value = q * scale of its row (rows * 4 + rows * cols bytes).
--              attn_train's option 'dtype': 'q8' stores the embedding tables ('embed.*'
--              except 'embed.proj.w') as q8 and every other tensor as f16.
--         q4   2-D tensors only: rows x ceil(cols / 32) f32 scales (one per 32 values of a
--              row), then each row as ceil(cols / 2) bytes of 4-bit two's-complement values
--              q in [-7, 7], low nibble first; value = q * scale of its group. Option 'dtype'
--              'q4' is 'q8' with the embedding tables at least 32 wide stored as q4.
--       Every dtype is decoded to f32 when the model loads.
--   key 'gazetteer.<list>' or 'gazetteer.<list>.<part>' (a model with a gazetteer feature,
--       <list> one of its "lists"): dtype 'text', shape '[]', data = entries, one a line; a
--       user may add rows or entries (README "Gazetteers").
--
-- Every row is checked when the model loads (unknown key, wrong shape, short blob, NaN, missing
-- tensor: each is an error naming the key). Editing rows is picked up by the next statement.
CREATE TABLE IF NOT EXISTS attn_model(
  name  TEXT NOT NULL,   -- model name, e.g. 'en-ner'
  key   TEXT NOT NULL,   -- 'config', a tensor name, or 'gazetteer.<list>[.<part>]'
  dtype TEXT NOT NULL,   -- 'json', 'f32', 'f16', 'q8', 'q4', or 'text' (a gazetteer)
  shape TEXT NOT NULL,   -- JSON array, e.g. '[256,1024]'; '[]' for the config and gazetteers
  data  BLOB,            -- config text, the tensor's bytes, or a gazetteer's entries
  PRIMARY KEY (name, key)
);
