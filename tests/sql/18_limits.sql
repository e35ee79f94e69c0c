-- Resource limits: attn_limit(name) reads a limit of this connection and
-- SELECT * FROM attn_set_limit(name, value) sets one.
.mode list

-- The defaults: texts up to 100 000 000 bytes, 1 GiB of working memory per call.
SELECT attn_limit('max_text_bytes'), attn_limit('max_call_memory');

-- max_text_bytes: every model function refuses a longer text, naming the limit to raise.
SELECT * FROM attn_set_limit('max_text_bytes', 1000);
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
SELECT * FROM attn_set_limit('max_text_bytes', 100000000);
SELECT length(attn_classify(printf('%.*c', 1001, 'x'), 'every'));

-- max_call_memory: the engine estimates a call's working memory from its token count before
-- it encodes anything. Entities and classification stream the text (one encoder window, the
-- tokens still needed, the tagger's undecided tokens): the same for any long text. Entities
-- add their output, the entities found, counted as they are found. Relations keep every token
-- and the whole encoder output h[N, D], so they need more, and more per token.
SELECT * FROM attn_set_limit('max_call_memory', 300000);
CREATE TEMP TABLE words(n INTEGER, t TEXT);
INSERT INTO words SELECT n, replace(printf('%.*c', n, 'x'), 'x', 'Ann ') FROM (SELECT 1000 AS n UNION ALL SELECT 2000);
SELECT count(*) FROM words, attn_entities(words.t, 'every') WHERE n = 1000;
SELECT attn_classify(t, 'every') FROM words WHERE n = 2000;
SELECT count(*) FROM words, attn_entities(words.t, 'every') WHERE n = 2000;
-- 'every' makes every word an entity: under a lower limit, 2000 of them do not fit beside the
-- call's own memory; 'tiny' finds none in 'and and ...', so 5000 words fit as well as 1000.
SELECT * FROM attn_set_limit('max_call_memory', 100000);
SELECT count(*) FROM words, attn_entities(words.t, 'every') WHERE n = 2000;
SELECT count(*) FROM attn_entities(replace(printf('%.*c', 5000, 'x'), 'x', 'and '), 'tiny');
SELECT * FROM attn_set_limit('max_call_memory', 300000);
SELECT count(*) FROM words, attn_relations(words.t, 'every') WHERE n = 1000;
SELECT attn_relation(t, 0, 3, 4, 7, 'every') FROM words WHERE n = 1000;
SELECT attn_relation_scores(t, 0, 3, 4, 7, 'every') FROM words WHERE n = 1000;
-- A limit below even one window's needs stops a short text too.
SELECT * FROM attn_set_limit('max_call_memory', 1000);
SELECT count(*) FROM attn_entities('Ann met Bob', 'every');
SELECT attn_classify('Ann met Bob', 'every');
SELECT * FROM attn_set_limit('max_call_memory', 1073741824);
SELECT count(*) FROM words, attn_relations(words.t, 'every') WHERE n = 1000;

-- Bad names and values.
SELECT attn_limit('max_text_byte');
SELECT attn_limit(42);
SELECT attn_limit('max_text_bytes' || char(0) || 'x');
SELECT attn_limit('max_text_bytes', 3);
SELECT * FROM attn_set_limit(42, 5);
SELECT * FROM attn_set_limit('max_text_bytes');
SELECT * FROM attn_set_limit('max_text_bytes', 0);
SELECT * FROM attn_set_limit('max_text_bytes', 100000001);
SELECT * FROM attn_set_limit('max_call_memory', -5);
SELECT * FROM attn_set_limit('max_call_memory', '1000');
SELECT * FROM attn_set_limit('call_memory', 5);
-- Limits belong to the connection: a failed set changes nothing.
SELECT attn_limit('max_text_bytes'), attn_limit('max_call_memory');

-- Memory stays bounded on long texts: the encoder works on one window at a time, so the
-- memory of the window (scratch and output) is the same for 500 and 20 000 tokens. Entities
-- and classification stream the text, so the rest of their working memory (the tokens still
-- needed, the tagger's undecided tokens) is the same for 2 000 and 20 000 tokens too; only
-- their output grows: 'every' finds an entity in every word (its entities are the few hundred
-- bytes per token below), 'tiny' none in 'and and ...' (so its call memory stays equal).
-- The buffers only grow, so the numbers are those of the largest call so far; setting a limit
-- frees them.
CREATE TEMP TABLE mem(what TEXT, tokens INTEGER, call_memory INTEGER, window_memory INTEGER);
SELECT (SELECT value FROM attn_set_limit('max_call_memory', 1073741824)), attn_limit('call_memory');
SELECT count(*) FROM attn_entities(replace(printf('%.*c', 500, 'x'), 'x', 'Ann '), 'every');
INSERT INTO mem SELECT 'every', 500, attn_limit('call_memory'), attn_limit('window_memory');
SELECT count(*) FROM attn_entities(replace(printf('%.*c', 20000, 'x'), 'x', 'Ann '), 'every');
INSERT INTO mem SELECT 'every', 20000, attn_limit('call_memory'), attn_limit('window_memory');
SELECT (SELECT value FROM attn_set_limit('max_call_memory', 1073741824)), attn_limit('call_memory');
SELECT count(*) FROM attn_entities(replace(printf('%.*c', 1000, 'x'), 'x', 'and '), 'tiny');
INSERT INTO mem SELECT 'tiny', 1000, attn_limit('call_memory'), attn_limit('window_memory');
SELECT (SELECT value FROM attn_set_limit('max_call_memory', 1073741824)), attn_limit('call_memory');
SELECT count(*) FROM attn_entities(replace(printf('%.*c', 10000, 'x'), 'x', 'and '), 'tiny');
INSERT INTO mem SELECT 'tiny', 10000, attn_limit('call_memory'), attn_limit('window_memory');
SELECT (SELECT value FROM attn_set_limit('max_call_memory', 1073741824)), attn_limit('call_memory');
SELECT attn_classify(replace(printf('%.*c', 1000, 'x'), 'x', 'and '), 'tiny');
INSERT INTO mem SELECT 'tiny classify', 1000, attn_limit('call_memory'), attn_limit('window_memory');
SELECT (SELECT value FROM attn_set_limit('max_call_memory', 1073741824)), attn_limit('call_memory');
SELECT attn_classify(replace(printf('%.*c', 10000, 'x'), 'x', 'and '), 'tiny');
INSERT INTO mem SELECT 'tiny classify', 10000, attn_limit('call_memory'), attn_limit('window_memory');
SELECT (SELECT value FROM attn_set_limit('max_call_memory', 1073741824)), attn_limit('call_memory');
SELECT count(*) >= 0 FROM attn_entities(replace(printf('%.*c', 600, 'x'), 'x', 'Ann '), 'en-ner');
INSERT INTO mem SELECT 'en-ner', 600, attn_limit('call_memory'), attn_limit('window_memory');
SELECT a.window_memory = b.window_memory, a.window_memory > 0,
       (b.call_memory - b.window_memory) / b.tokens < 600
FROM mem a, mem b WHERE a.what = 'every' AND b.what = 'every' AND a.tokens = 500 AND b.tokens = 20000;
-- 1 000 and 10 000 tokens (both above the tagger's 256 undecided tokens and a window): the
-- same call memory and window memory, for entities and classification alike.
SELECT a.what, a.call_memory = b.call_memory, a.window_memory = b.window_memory,
       a.call_memory - a.window_memory < 100000
FROM mem a, mem b WHERE a.what = b.what AND a.what LIKE 'tiny%' AND a.tokens = 1000
  AND b.tokens = 10000 ORDER BY a.what;
-- en-ner: keeping h[N, D] (1024 bytes per token at width 256) would put this above 1024.
SELECT (call_memory - window_memory) / tokens < 600 FROM mem WHERE what = 'en-ner';
