-- Resource limits: attn_limit(name [, value]) reads or sets a limit of this connection.
.mode list

-- The defaults: texts up to 100 000 000 bytes, 1 GiB of working memory per call.
SELECT attn_limit('max_text_bytes'), attn_limit('max_call_memory');

-- max_text_bytes: every model function refuses a longer text, naming the limit to raise.
SELECT attn_limit('max_text_bytes', 1000);
SELECT length(attn_classify(printf('%.*c', 1000, 'x'), 'every'));
SELECT attn_classify(printf('%.*c', 1001, 'x'), 'every');
SELECT attn_classify_scores(printf('%.*c', 1001, 'x'), 'every');
SELECT count(*) FROM attn_entities(printf('%.*c', 1001, 'x'), 'every');
SELECT count(*) FROM attn_relations(printf('%.*c', 1001, 'x'), 'every');
SELECT attn_relation(printf('%.*c', 1001, 'x'), 0, 1, 1, 2, 'every');
SELECT attn_relation_scores(printf('%.*c', 1001, 'x'), 0, 1, 1, 2, 'every');
-- Bytes, not characters: 500 two-byte characters are 1000 bytes, 501 are too many.
SELECT count(*) FROM attn_entities(replace(printf('%.*c', 500, 'x'), 'x', 'é'), 'every');
SELECT count(*) FROM attn_entities(replace(printf('%.*c', 501, 'x'), 'x', 'é'), 'every');
-- NULL is still NULL; a wrong type still says so.
SELECT attn_classify(NULL, 'every') IS NULL;
SELECT attn_classify(x'00', 'every');
SELECT attn_limit('max_text_bytes', 100000000);
SELECT length(attn_classify(printf('%.*c', 1001, 'x'), 'every'));

-- max_call_memory: the engine estimates a call's working memory from its token count before
-- it encodes anything. Entities and classification keep only what their head needs of each
-- encoder window; relations keep the whole encoder output h[N, D], so they need more.
SELECT attn_limit('max_call_memory', 300000);
CREATE TEMP TABLE words(n INTEGER, t TEXT);
INSERT INTO words SELECT n, replace(printf('%.*c', n, 'x'), 'x', 'Ann ') FROM (SELECT 1000 AS n UNION ALL SELECT 2000);
SELECT count(*) FROM words, attn_entities(words.t, 'every') WHERE n = 1000;
SELECT attn_classify(t, 'every') FROM words WHERE n = 2000;
SELECT count(*) FROM words, attn_entities(words.t, 'every') WHERE n = 2000;
SELECT count(*) FROM words, attn_relations(words.t, 'every') WHERE n = 1000;
SELECT attn_relation(t, 0, 3, 4, 7, 'every') FROM words WHERE n = 1000;
SELECT attn_relation_scores(t, 0, 3, 4, 7, 'every') FROM words WHERE n = 1000;
SELECT attn_limit('max_call_memory', 1073741824);
SELECT count(*) FROM words, attn_relations(words.t, 'every') WHERE n = 1000;

-- Bad names and values.
SELECT attn_limit('max_text_byte');
SELECT attn_limit(42);
SELECT attn_limit('max_text_bytes', 0);
SELECT attn_limit('max_text_bytes', 100000001);
SELECT attn_limit('max_call_memory', -5);
SELECT attn_limit('max_call_memory', '1000');
SELECT attn_limit('call_memory', 5);
-- Limits belong to the connection: a failed set changes nothing.
SELECT attn_limit('max_text_bytes'), attn_limit('max_call_memory');

-- Memory stays bounded on long texts: the encoder works on one window at a time, so the
-- memory of the window (scratch and output) is the same for 500 and 20 000 tokens, and the
-- rest of a call's working memory is a few hundred bytes per token (tokens, owners,
-- emissions, CRF, entities) whatever the model's width: en-ner (width 256) needs no more
-- per token than 'every' (width 32). The buffers only grow, so the numbers are those of the
-- largest call so far; setting a limit frees them.
CREATE TEMP TABLE mem(what TEXT, tokens INTEGER, call_memory INTEGER, window_memory INTEGER);
SELECT attn_limit('max_call_memory', 1073741824), attn_limit('call_memory');
SELECT count(*) FROM attn_entities(replace(printf('%.*c', 500, 'x'), 'x', 'Ann '), 'every');
INSERT INTO mem SELECT 'every', 500, attn_limit('call_memory'), attn_limit('window_memory');
SELECT count(*) FROM attn_entities(replace(printf('%.*c', 20000, 'x'), 'x', 'Ann '), 'every');
INSERT INTO mem SELECT 'every', 20000, attn_limit('call_memory'), attn_limit('window_memory');
SELECT attn_limit('max_call_memory', 1073741824), attn_limit('call_memory');
SELECT count(*) >= 0 FROM attn_entities(replace(printf('%.*c', 600, 'x'), 'x', 'Ann '), 'en-ner');
INSERT INTO mem SELECT 'en-ner', 600, attn_limit('call_memory'), attn_limit('window_memory');
SELECT a.window_memory = b.window_memory, a.window_memory > 0,
       (b.call_memory - b.window_memory) > 10 * (a.call_memory - a.window_memory),
       (b.call_memory - b.window_memory) / b.tokens < 600
FROM mem a, mem b WHERE a.what = 'every' AND b.what = 'every' AND a.tokens = 500 AND b.tokens = 20000;
-- en-ner: keeping h[N, D] (1024 bytes per token at width 256) would put this above 1024.
SELECT (call_memory - window_memory) / tokens < 600 FROM mem WHERE what = 'en-ner';
