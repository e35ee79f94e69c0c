-- attn_wordvec_train(out_path, files_json [, options_json]) trains subword word vectors on
-- text files (one document a line) and writes them to out_path, the file attn_train's option
-- 'vectors' reads. It yields a row as each file is read, one every report_seconds while it
-- trains, and a last one once the file is written.
.mode list
.headers off

-- Two small corpora, written with the shell's .once: animals and colours, never mixed.
.once animals.txt
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 599)
SELECT CASE i % 3 WHEN 0 THEN 'the cat chased the dog across the farm'
                  WHEN 1 THEN 'a dog and a cat and a horse on the farm'
                  ELSE 'the horse saw the cat and the dog' END FROM n;
.once colours.txt
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 599)
SELECT CASE i % 2 WHEN 0 THEN 'red and blue and green paint' ELSE 'green paint over red and blue' END FROM n;

.headers on
-- One thread and a fixed seed: the same vectors every run. report_seconds is long here, so
-- this small run shows no 'train' row.
SELECT phase, file, tokens, words, progress, loss BETWEEN 0.01 AND 0.69 AS loss_ok,
       tokens_per_s > 0 AS speed_ok, seconds >= 0 AS time_ok
FROM attn_wordvec_train('v.atwv', '["animals.txt", "colours.txt"]',
  '{"dim": 16, "buckets": 4096, "epochs": 5, "min_count": 2, "threads": 1, "subsample": 0,
    "seed": 1, "report_seconds": 3600, "vocab": "v.vocab"}');
.headers off
-- The vocabulary file: "word<TAB>count", most frequent first.
.shell head -3 v.vocab; true
.shell ls v.* | sort; true
-- The vectors initialise a model's subword table (attn_train's option 'vectors').
CREATE TABLE r(text TEXT, label TEXT);
INSERT INTO r VALUES ('the cat and the dog', 'animal'), ('red and blue paint', 'colour');
SELECT count(*) FROM attn_train('wv', 'classify', 'SELECT text, label FROM r',
  '{"vectors": "v.atwv", "features": [{"kind": "subword", "buckets": 4096, "dim": 16}],
    "dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 1}');
SELECT count(*) FROM attn_models WHERE name = 'wv';
-- Training again replaces the file; with two threads the bits differ, the shape does not.
SELECT phase, tokens FROM attn_wordvec_train('v.atwv', '["animals.txt"]',
  '{"dim": 16, "buckets": 4096, "epochs": 2, "min_count": 2, "threads": 2, "report_seconds": 3600}')
WHERE phase = 'done';

-- Errors name the function and the cause; no file is left behind.
SELECT * FROM attn_wordvec_train('w.atwv');
SELECT * FROM attn_wordvec_train(NULL, '["animals.txt"]');
SELECT * FROM attn_wordvec_train('', '["animals.txt"]');
SELECT * FROM attn_wordvec_train('w.atwv', 5);
SELECT * FROM attn_wordvec_train('w.atwv', '[]');
SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt", 3]');
SELECT * FROM attn_wordvec_train('w.atwv', '{"file": "animals.txt"}');
SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt"');
SELECT * FROM attn_wordvec_train('w.atwv', '["no-such.txt"]');
SELECT * FROM attn_wordvec_train('w.atwv', '["."]');
SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt"]', '[1]');
SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt"]', '{"dims": 16}');
SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt"]', '{"dim": 0}');
SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt"]', '{"dim": 1.5}');
SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt"]', '{"dim": 100000}');
SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt"]', '{"threads": 65}');
SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt"]', '{"lr": 0}');
SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt"]', '{"report_seconds": 0}');
SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt"]', '{"vocab": ""}');
-- (min_count is checked once the files are read, after their rows.)
SELECT count(*) FROM attn_wordvec_train('w.atwv', '["animals.txt"]', '{"min_count": 100000, "dim": 8, "buckets": 64}');
SELECT * FROM attn_wordvec_train('.', '["animals.txt"]');
SELECT * FROM attn_wordvec_train('no/such/dir/w.atwv', '["animals.txt"]');
SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt"]', '{"vocab": "no/such/dir/w.vocab"}');
-- A cursor closed before the end (LIMIT) writes nothing either.
SELECT phase FROM attn_wordvec_train('w.atwv', '["animals.txt", "colours.txt"]',
  '{"dim": 8, "buckets": 64, "min_count": 1}') LIMIT 1;
.shell ls | grep -c '^w\.' ; true

-- DIRECTONLY: it reads and writes files, so a view or a trigger of a database cannot call it,
-- whatever trusted_schema says.
PRAGMA trusted_schema = ON;
CREATE VIEW wv_view AS SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt"]');
SELECT count(*) FROM wv_view;
CREATE TABLE t(x);
CREATE TRIGGER wv_trigger AFTER INSERT ON t BEGIN
  SELECT * FROM attn_wordvec_train('w.atwv', '["animals.txt"]');
END;
INSERT INTO t VALUES (1);
.shell ls | grep -c '^w\.' ; true

-- unit 'bigrams': vectors of every two consecutive tokens (one token per ideograph in Chinese)
-- for the bigram_left / bigram_right tables: attn_train's option 'bigram_vectors', with the
-- texts whose bigrams get vectors in 'vocab_files'.
.once chinese.txt
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 299)
SELECT CASE i % 3 WHEN 0 THEN '中国人民银行在北京发布报告' WHEN 1 THEN '北京大学的学生在上海工作'
                  ELSE '上海银行和中国银行发布新闻' END FROM n;
SELECT phase, tokens, words FROM attn_wordvec_train('bi.atwv', '["chinese.txt"]',
  '{"dim": 8, "buckets": 4096, "epochs": 2, "min_count": 2, "threads": 1, "seed": 1,
    "report_seconds": 3600, "unit": "bigrams"}') WHERE phase <> 'train';
CREATE TABLE zr(text TEXT, label TEXT);
INSERT INTO zr VALUES ('中国银行发布报告', 'bank'), ('北京大学的学生', 'school');
SELECT count(*) FROM attn_train('zbi', 'classify', 'SELECT text, label FROM zr',
  '{"bigram_vectors": "bi.atwv", "vocab_files": ["chinese.txt"],
    "features": [{"kind": "bigram_left", "buckets": 512, "dim": 8},
                 {"kind": "bigram_right", "buckets": 512, "dim": 8}],
    "dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 1}');
SELECT count(*) FROM attn_models WHERE name = 'zbi';
-- Each kind of vectors is refused where the other belongs; the needs are named.
SELECT count(*) FROM attn_train('zbi2', 'classify', 'SELECT text, label FROM zr',
  '{"vectors": "bi.atwv", "features": [{"kind": "subword", "buckets": 4096, "dim": 8}],
    "dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 1}');
SELECT count(*) FROM attn_train('zbi2', 'classify', 'SELECT text, label FROM zr',
  '{"bigram_vectors": "v.atwv", "vocab_files": ["chinese.txt"],
    "features": [{"kind": "bigram_left", "buckets": 512, "dim": 16}],
    "dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 1}');
SELECT count(*) FROM attn_train('zbi2', 'classify', 'SELECT text, label FROM zr',
  '{"bigram_vectors": "bi.atwv",
    "features": [{"kind": "bigram_left", "buckets": 512, "dim": 8}],
    "dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 1}');
SELECT count(*) FROM attn_train('zbi2', 'classify', 'SELECT text, label FROM zr',
  '{"bigram_vectors": "bi.atwv", "vocab_files": ["chinese.txt"],
    "features": [{"kind": "bigram_left", "buckets": 512, "dim": 4}],
    "dim": 16, "layers": 1, "heads": 2, "ffn": 32, "max_len": 16, "epochs": 1}');
SELECT count(*) FROM attn_train('zbi2', 'classify', 'SELECT text, label FROM zr',
  '{"bigram_vectors": "bi.atwv", "vocab_files": ["chinese.txt"], "init": "zbi"}');
SELECT * FROM attn_wordvec_train('w.atwv', '["chinese.txt"]', '{"unit": "trigrams"}');
