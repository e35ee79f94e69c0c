-- attn_train(name, 'rtd', files_json [, options_json]) pretrains an encoder by replaced-token
-- detection on text files (one document a line), streamed, never loaded into tables. It
-- yields a progress row every report_seconds and writes the model with its position in the
-- stream (the checkpoint) every checkpoint_seconds and when the call ends; a call on the same
-- name continues from the checkpoint. Option 'steps' ends a call after that many steps.
.mode list
.headers off

.once news.txt
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 799)
SELECT CASE i % 4 WHEN 0 THEN 'Shares of Acme Corp rose in New York after John Smith spoke ' || i
                  WHEN 1 THEN 'the minister met Mary Jones in Paris on a cold day ' || i
                  WHEN 2 THEN 'rain fell on the quiet village of Little Hampton all night ' || i
                  ELSE 'a small red fox ran over the hill near Lake Geneva ' || i END FROM n;
.once more.txt
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 399)
SELECT 'the United Nations said on Monday that talks in Vienna would go on ' || i FROM n;

.headers on
-- One call of 8 steps (report_seconds is long: one row, at the end, with the checkpoint).
SELECT epoch, train_loss > 0 AS loss_ok, dev_metric BETWEEN 0 AND 1 AS dev_ok, metric, best,
       tokens > 0 AS tokens_ok, tokens_per_s > 0 AS speed_ok, eta_seconds >= 0 AS eta_ok, step
FROM attn_train('a', 'rtd', '["news.txt", "more.txt"]',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "threads": 1, "seed": 3,
    "batch_size": 8, "tokens": 100000, "steps": 8, "report_seconds": 3600, "block_tokens": 3000,
    "pool_tokens": 2000, "dev_share": 0.05, "dev_examples": 40, "rewarm_steps": 0,
    "dtype": "f32"}');
-- The same in two calls of 4 steps: the second continues where the first stopped.
SELECT step FROM attn_train('b', 'rtd', '["news.txt", "more.txt"]',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "threads": 1, "seed": 3,
    "batch_size": 8, "tokens": 100000, "steps": 4, "report_seconds": 3600, "block_tokens": 3000,
    "pool_tokens": 2000, "dev_share": 0.05, "dev_examples": 40, "rewarm_steps": 0,
    "dtype": "f32"}');
SELECT step FROM attn_train('b', 'rtd', '["news.txt", "more.txt"]',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "threads": 1, "seed": 3,
    "batch_size": 8, "tokens": 100000, "steps": 4, "report_seconds": 3600, "block_tokens": 3000,
    "pool_tokens": 2000, "dev_share": 0.05, "dev_examples": 40, "rewarm_steps": 0,
    "dtype": "f32"}');
-- The checkpoint: the position in the stream, in the config's meta.
SELECT json_extract(CAST(data AS TEXT), '$.meta.training.pretrain') AS position
FROM attn_model WHERE name = 'b' AND key = 'config';
-- Both runs trained on the same examples in the same order (same position); the parameters
-- differ only because the AdamW moments restart at a resume (not stored): close, not equal.
SELECT json_extract(CAST(a.data AS TEXT), '$.meta.training.pretrain') =
       json_extract(CAST(b.data AS TEXT), '$.meta.training.pretrain') AS same_position,
       abs(json_extract(CAST(a.data AS TEXT), '$.meta.training.dev_metric') -
           json_extract(CAST(b.data AS TEXT), '$.meta.training.dev_metric')) < 0.1 AS dev_close
FROM attn_model a, attn_model b
WHERE a.name = 'a' AND a.key = 'config' AND b.name = 'b' AND b.key = 'config';
-- A checkpoint is a model like any other (its encoder initialises a fine-tuning run, option
-- 'init'); the f16 default keeps it small.
SELECT name, task, params > 0 AS has_params FROM attn_models WHERE name IN ('a', 'b');
-- With the budget reached a call trains nothing and says so at once.
SELECT step, train_loss IS NULL AS no_steps FROM attn_train('a', 'rtd', '["news.txt", "more.txt"]',
  '{"dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "threads": 1, "seed": 3,
    "batch_size": 8, "tokens": 500, "report_seconds": 3600, "block_tokens": 3000,
    "pool_tokens": 2000, "dev_share": 0.05, "dev_examples": 40}');
.headers off

-- Errors.
SELECT * FROM attn_train('c', 'rtd', 'SELECT 1', '{}');
SELECT * FROM attn_train('c', 'rtd', '[]', '{}');
SELECT * FROM attn_train('c', 'rtd', '["no-such-file.txt"]', '{"pool_tokens": 10}');
SELECT * FROM attn_train('c', 'rtd', '["news.txt"]', '{"epochs": 3}');
SELECT * FROM attn_train('c', 'rtd', '["news.txt"]', '{"dev": "SELECT 1"}');
SELECT * FROM attn_train('c', 'rtd', '["news.txt"]', '{"labels": ["X"]}');
SELECT * FROM attn_train('c', 'classify', 'SELECT 1, 2', '{"tokens": 1000}');
SELECT * FROM attn_train('c', 'rtd', '["news.txt"]', '{"tokens": 0}');
-- continuing a checkpoint on other files, or with another architecture
SELECT * FROM attn_train('b', 'rtd', '["news.txt"]', '{"steps": 1}');
SELECT * FROM attn_train('b', 'rtd', '["news.txt", "more.txt"]', '{"dim": 32, "steps": 1}');
SELECT * FROM attn_train('b', 'rtd', '["news.txt", "more.txt"]', '{"init": "a", "steps": 1}');
