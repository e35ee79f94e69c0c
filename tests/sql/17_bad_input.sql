-- Bad and odd input for every model function: each gives a defined answer or an error that
-- names the function; none crashes or leaks (the valgrind pass of run.sh checks the latter).
-- 'every' tags each token B-PER, relates every pair Work_For and classifies 'negative', so
-- the answers below show what the tokenizer made of each text.
.mode list

-- NULL text: NULL from the scalar functions, zero rows from the table-valued ones.
SELECT attn_classify(NULL, 'every') IS NULL, attn_classify_scores(NULL, 'every') IS NULL,
       attn_relation(NULL, 0, 1, 2, 3, 'every') IS NULL,
       attn_relation_scores(NULL, 0, 1, 2, 3, 'every') IS NULL;
SELECT (SELECT count(*) FROM attn_entities(NULL, 'every')),
       (SELECT count(*) FROM attn_relations(NULL, 'every'));
-- A NULL span gives NULL too.
SELECT attn_relation('Ann met Bob', NULL, 3, 8, 11, 'every') IS NULL;

-- INTEGER, REAL and BLOB texts are refused, whether or not the blob is valid UTF-8: a blob is
-- not text, and converting it silently would hide a wrong column.
SELECT attn_classify(42, 'every');
SELECT attn_classify_scores(4.2, 'every');
SELECT attn_classify(x'416e6e', 'every');
SELECT attn_classify_scores(x'ff00fe', 'every');
SELECT * FROM attn_entities(42, 'every');
SELECT * FROM attn_entities(x'416e6e', 'every');
SELECT * FROM attn_relations(4.2, 'every');
SELECT * FROM attn_relations(x'ff00fe', 'every');
SELECT attn_relation(42, 0, 1, 2, 3, 'every');
SELECT attn_relation_scores(x'416e6e', 0, 1, 2, 3, 'every');
-- CAST(blob AS TEXT) is the way to say "these bytes are text".
SELECT attn_classify(CAST(x'416e6e' AS TEXT), 'every');
-- Spans must be integers.
SELECT attn_relation('Ann met Bob', 0.0, 3, 8, 11, 'every');
SELECT attn_relation_scores('Ann met Bob', 0, '3', 8, 11, 'every');
SELECT attn_relation('Ann met Bob', 0, 3, x'08', 11, 'every');

-- The odd texts. Each row: kind, text.
CREATE TEMP TABLE odd(kind TEXT PRIMARY KEY, t TEXT);
INSERT INTO odd VALUES
  ('empty', ''),
  ('whitespace', ' ' || char(9, 10, 13, 11, 12, 160, 8200, 12288) || '  '),
  ('invalid utf-8', CAST(x'41ff42c328e29c20c0af' AS TEXT)),
  ('embedded NUL', 'Ann' || char(0) || 'Bob met' || char(0, 0) || 'Cy'),
  ('control chars', 'a' || char(1, 2, 27, 127) || 'b' || char(133, 8232, 8233) || 'c'),
  ('rtl arabic', 'ذهب أحمد إلى القاهرة'),
  ('rtl hebrew', 'דוד גר בירושלים'),
  ('cjk', '東京で山田さんに会った。'),
  ('emoji', '👨‍👩‍👧‍👦 🇫🇷🇩🇪 👍🏽 ❤️'),
  ('combining', 'e' || char(769) || ' Zoe' || char(776) || ' a' || char(768, 769, 770)),
  ('bidi controls', 'abc' || char(8207) || 'def' || char(8238) || 'ghi'),
  ('long token', printf('%.*c', 100000, 'x')),
  ('long token 2-byte', replace(printf('%.*c', 100000, 'x'), 'x', 'é')),
  ('10 MB', 'Ann ' || printf('%.*c', 10000000, ' ') || 'Bob.');
SELECT kind, length(CAST(t AS BLOB)), length(t) FROM odd ORDER BY rowid;

-- attn_classify(_scores): always a label; the scores always sum to 1.
SELECT kind, attn_classify(t, 'every'), attn_classify(t, 'pos'),
       abs((SELECT sum(value) FROM json_each(attn_classify_scores(t, 'tiny'))) - 1) < 1e-5
FROM odd ORDER BY rowid;

-- attn_entities: the tokens 'every' finds. Offsets are characters counted as SQLite's
-- length() and substr() count them, so substr() gives each entity back, also on invalid
-- UTF-8. Embedded NUL is the exception: a NUL separates tokens and counts as one character
-- (so 'Ann' || char(0) || 'Bob' gives Ann at 0-3 and Bob at 4-7, see the hex listing), but
-- SQLite's length() and substr() stop at the first NUL and cannot reach the later tokens.
SELECT o.kind, count(e.start),
       sum(e.start >= 0 AND e.end <= length(o.t) AND e.start < e.end),
       sum(substr(o.t, e.start + 1, e.end - e.start) = e.entity)
FROM odd o LEFT JOIN attn_entities(o.t, 'every') e GROUP BY o.kind ORDER BY o.rowid;
SELECT o.kind, group_concat(e.start || '-' || e.end || ':' || hex(e.entity), ' ')
FROM odd o, attn_entities(o.t, 'every') e
WHERE o.kind NOT IN ('long token', 'long token 2-byte', 'cjk', 'rtl arabic', 'rtl hebrew')
GROUP BY o.kind ORDER BY o.rowid;
SELECT o.kind, group_concat(e.start || '-' || e.end || ':' || e.entity, ' ')
FROM odd o, attn_entities(o.t, 'every') e
WHERE o.kind IN ('cjk', 'rtl arabic', 'rtl hebrew') GROUP BY o.kind ORDER BY o.rowid;
-- The random model 'tiny' keeps the same invariants on every text.
SELECT count(*) FROM odd o, attn_entities(o.t, 'tiny') e
WHERE o.kind <> 'embedded NUL' AND NOT (e.start >= 0 AND e.end <= length(o.t)
  AND e.start < e.end AND substr(o.t, e.start + 1, e.end - e.start) = e.entity);

-- attn_relations: every pair of entities close enough; head and tail offsets are consistent.
SELECT o.kind, count(r.head),
       sum(substr(o.t, r.head_start + 1, r.head_end - r.head_start) = r.head
           AND substr(o.t, r.tail_start + 1, r.tail_end - r.tail_start) = r.tail)
FROM odd o LEFT JOIN attn_relations(o.t, 'every') r GROUP BY o.kind ORDER BY o.rowid;

-- attn_relation(_scores) on the first two characters: a span must cover a token.
SELECT kind, attn_relation(t, 0, 1, 1, 2, 'every') FROM odd
WHERE kind IN ('invalid utf-8', 'cjk', 'combining', 'long token', 'long token 2-byte');
SELECT kind, attn_relation(t, 0, 1, length(t) - 1, length(t), 'every') FROM odd
WHERE kind IN ('embedded NUL', 'rtl arabic', 'rtl hebrew', 'emoji', '10 MB');
SELECT abs((SELECT sum(value) FROM json_each(attn_relation_scores(t, 0, 1, 1, 2, 'tiny'))) - 1) < 1e-5
FROM odd WHERE kind = 'cjk';
SELECT attn_relation((SELECT t FROM odd WHERE kind = 'empty'), 0, 1, 0, 1, 'every');
SELECT attn_relation((SELECT t FROM odd WHERE kind = 'whitespace'), 0, 1, 1, 2, 'every');
SELECT attn_relation_scores((SELECT t FROM odd WHERE kind = 'control chars'), 1, 2, 0, 1, 'every');
-- Spans beyond the text, negative, empty or reversed.
SELECT attn_relation('Ann met Bob', 0, 3, 8, 12, 'every');
SELECT attn_relation('Ann met Bob', -1, 3, 8, 11, 'every');
SELECT attn_relation('Ann met Bob', 3, 3, 8, 11, 'every');
SELECT attn_relation('Ann met Bob', 0, 3, 11, 8, 'every');
SELECT attn_relation('Ann met Bob', 0, 3, 8, 9223372036854775807, 'every');

-- The built-in models on the odd texts: a label, offsets in range.
SELECT kind, attn_classify(t) IN ('negative', 'positive') FROM odd ORDER BY rowid;
SELECT count(*) FROM odd o, attn_entities(o.t) e
WHERE o.kind <> 'embedded NUL' AND NOT (e.start >= 0 AND e.end <= length(o.t)
  AND e.start < e.end AND substr(o.t, e.start + 1, e.end - e.start) = e.entity
  AND e.label IN ('ORG', 'MISC', 'PER', 'LOC'));
-- With NULs, the offsets stay within the characters of the whole value (NUL counted as one).
SELECT count(*), sum(e.start >= 0 AND e.end <= 15 AND e.start < e.end)
FROM odd o, attn_entities(o.t, 'tiny') e WHERE o.kind = 'embedded NUL';
SELECT count(*) FROM odd o, attn_relations(o.t) r
WHERE max(r.head_end, r.tail_end) > length(o.t) AND o.kind <> 'embedded NUL';
SELECT entity, label FROM attn_entities('Angela Merkel visited Paris.');
