-- en-base: an English encoder pretrained as a masked language model (ERNIE-style span masking,
-- model/mlm.h) on the unlabelled English of ../shared/data/unlabeled_en, for fine-tuning with
-- attn_train's 'init' (sql/recipes/en-sentiment-ft.sql, en-rel-ft.sql). Same architecture and
-- features as en-rel (dim 128, 2 layers, 4 heads, ffn 256, max_len 128; norm + subword +
-- prefix/suffix + shape), tables initialised from the word vectors like the other recipes.
-- The documents (one a line) are split into sentences at '. ' and the sentences of a document
-- packed into chunks of about CHUNK_CHARS (400) characters; every 100th chunk (by a fixed hash
-- of its position) is held out as dev: the dev metric is the masked-token accuracy there.
-- A fixed share of the chunks (share_per_mille) is trained on for a few epochs within the
-- time limit; the masks differ every epoch (drawn from seed, step and example).
.headers on
.mode list
.bail on
.parameter init
-- Defaults of the run's size (build.sh sets none of these; override with .parameter set):
-- per mille of the chunks trained on, epochs over them, and the time limit in seconds.
INSERT OR IGNORE INTO temp.sqlite_parameters(key, value)
VALUES ('@share_per_mille', 150), ('@epochs', 4), ('@time_limit', 2250);
CREATE TEMP TABLE unl_file(path TEXT);
INSERT INTO unl_file VALUES (@data || '/unlabeled_en/bbc_news_2004_2005.txt'),
  (@data || '/unlabeled_en/enwiki_sample.txt'), (@data || '/unlabeled_en/reuters21578.txt'),
  (@data || '/unlabeled_en/wikinews_2004_2010.txt');
-- lines of every file (the files hold no tab or control character; quotes and backslashes
-- are escaped for the JSON array trick of sql/load_datasets.sql)
CREATE TEMP TABLE unl_line AS
WITH raw AS (SELECT rowid AS f, CAST(readfile(path) AS TEXT) AS body FROM unl_file),
     esc AS (SELECT f, replace(replace(rtrim(body, char(10)), '\', '\\'), '"', '\"') AS body FROM raw)
SELECT f, CAST(j.key AS INTEGER) AS line, j.value AS text
FROM esc, json_each('["' || replace(esc.body, char(10), '","') || '"]') AS j;
-- sentences: split at '. ' (the period stays with its sentence)
CREATE TEMP TABLE unl_sent AS
SELECT l.f, l.line, CAST(s.key AS INTEGER) AS k, s.value AS text
FROM unl_line AS l,
     json_each('["' || replace(replace(replace(l.text, '\', '\\'), '"', '\"'), '. ', '.","') || '"]') AS s
WHERE length(s.value) > 0;
-- chunks: consecutive sentences of a document, a new chunk every ~400 characters
CREATE TEMP TABLE unl_chunk AS
WITH pos AS (SELECT f, line, k, text,
                    sum(length(text) + 1) OVER (PARTITION BY f, line ORDER BY k
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
             FROM unl_sent)
SELECT row_number() OVER (ORDER BY f, line, min(k)) AS id, group_concat(text, ' ') AS text
FROM (SELECT * FROM pos ORDER BY f, line, k)
GROUP BY f, line, coalesce(before, 0) / 400;
CREATE TEMP TABLE unl_split AS
SELECT id, text, (id * 2654435761) % 1000 AS bucket FROM unl_chunk;
SELECT count(*) AS chunks, sum(length(text)) AS chars, sum(bucket % 100 = 7) AS dev_chunks
FROM unl_split;
SELECT epoch, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_masked_accuracy,
       round(seconds, 1) AS seconds, best
FROM attn_train('en-base', 'mlm',
  'SELECT text FROM unl_split WHERE bucket % 100 != 7 AND bucket < ' || @share_per_mille, json_object(
  'dim', 128, 'layers', 2, 'heads', 4, 'ffn', 256, 'max_len', 128,
  'features', json('[{"kind":"norm","buckets":65536,"dim":64},
                     {"kind":"subword","buckets":100000,"dim":64},
                     {"kind":"prefix","buckets":8192,"dim":16,"affix":3},
                     {"kind":"suffix","buckets":8192,"dim":16,"affix":3},
                     {"kind":"shape","buckets":1024,"dim":16}]'),
  'mlm_vocab', 8192,
  'epochs', @epochs, 'time_limit', @time_limit, 'lr', 1e-3, 'batch_size', 64, 'warmup', 500,
  'seed', 1, 'threads', 2, 'dropout_embed', 0.1, 'dropout_attn', 0.1, 'dropout_resid', 0.1,
  'vectors', @vectors,
  'vocab_files', json(@vocab_files),
  'dev', 'SELECT text FROM unl_split WHERE bucket % 100 = 7',
  'dtype', 'f32',
  'meta', json_object('description', 'English encoder pretrained as a masked language model '
                      || '(ERNIE-style span masking) on unlabelled English; for fine-tuning',
                      'recipe', 'sql/recipes/en-base.sql')));
