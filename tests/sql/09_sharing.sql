-- Loaded models are cached for the whole process, keyed by the content of their rows: the
-- same weights under two names, or in two databases, are loaded once.
.mode list
SELECT attn_debug() LIKE '%models: 0 loaded in this process%';
SELECT attn_classify('hello', 'pos');
INSERT INTO attn_model SELECT 'pos-copy', key, dtype, shape, data FROM attn_model WHERE name = 'pos';
SELECT attn_classify('hello', 'pos-copy');
SELECT attn_debug() LIKE '%models: 1 loaded in this process%';
ATTACH 'models.db' AS again;
SELECT count(*) FROM attn_models WHERE name = 'pos';
SELECT attn_classify('hello', 'tiny') IN ('negative', 'positive');
SELECT attn_debug() LIKE '%models: 2 loaded in this process%';
