-- A text longer than the model's max_len (16 tokens here) is encoded in overlapping windows;
-- offsets stay relative to the whole text and no token is lost or repeated at a boundary.
.mode list
CREATE TABLE long(body TEXT);
-- 400 words: 'w0 w1 w2 ... w399'
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 399)
INSERT INTO long SELECT group_concat('w' || i, ' ') FROM n;
SELECT length(body) FROM long;

-- The 'every' model makes each word an entity: 400 entities, word k at its own offset.
SELECT count(*), min(start), max(end) FROM long, attn_entities(long.body, 'every');
SELECT count(*) FROM long, attn_entities(long.body, 'every') e
WHERE e.entity <> 'w' || (e.rowid - 1)
   OR substr(long.body, e.start + 1, e.end - e.start) <> e.entity;
SELECT entity, start, end FROM long, attn_entities(long.body, 'every') e
WHERE e.rowid IN (1, 16, 17, 200, 400);

-- A random model: every entity is still its own span of the whole text.
SELECT count(*) FROM long, attn_entities(long.body, 'tiny') e
WHERE substr(long.body, e.start + 1, e.end - e.start) <> e.entity;

-- Multi-byte text several windows long.
SELECT count(*), sum(substr(t, start + 1, end - start) = entity)
FROM (SELECT replace(printf('%.*c', 60, 'x'), 'x', 'Größe 日本 🎉 ') AS t), attn_entities(t, 'every');

-- Relations are classified for pairs whose extent fits in max_len tokens:
-- 40 words, pairs (i, j) with |i - j| <= 15: 2 * (15 * 40 - 15 * 16 / 2) = 960.
SELECT count(*) FROM attn_relations(
  (WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 39)
   SELECT group_concat('w' || i, ' ') FROM n), 'every');
SELECT max(abs(CAST(substr(head, 2) AS INT) - CAST(substr(tail, 2) AS INT))) FROM attn_relations(
  (WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 39)
   SELECT group_concat('w' || i, ' ') FROM n), 'every');

-- Classification pools over every token of a long text.
SELECT attn_classify(body, 'every'), attn_classify(body, 'pos') FROM long;
SELECT abs((SELECT sum(value) FROM json_each(attn_classify_scores(body, 'tiny'))) - 1) < 1e-5 FROM long;
