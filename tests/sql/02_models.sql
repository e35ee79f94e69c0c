-- attn_models lists every model the connection can see, in lookup order:
-- main.attn_model, then each attached database, then the built-ins (none yet).
.mode list
.headers on
SELECT name, task, params, storage FROM attn_models;

ATTACH 'aux.db' AS aux;
SELECT name, task, storage FROM attn_models;

-- labels: one JSON list per task, in label order
SELECT name, labels FROM attn_models WHERE name IN ('tiny', 'ner', 'en-ner');

-- params is the parameter count: the floats of every tensor row
.headers off
SELECT m.params = (SELECT sum(length(data)) / 4 FROM attn_model
                   WHERE name = 'tiny' AND key <> 'config')
FROM attn_models m WHERE m.name = 'tiny';
SELECT m.params = (SELECT sum(length(data)) / 2 FROM attn_model
                   WHERE name = 'every16' AND key <> 'config')
FROM attn_models m WHERE m.name = 'every16';

-- config is the JSON as stored
SELECT json_extract(config, '$.dim'), json_extract(config, '$.max_len'),
       json_extract(config, '$.meta.generator')
FROM attn_models WHERE name = 'tiny';

-- A name in main shadows the same name in an attached database: the functions use main's.
.headers on
SELECT name, json_extract(labels, '$.classify') AS classify_labels, storage
FROM attn_models WHERE name = 'every';
SELECT attn_classify('hello', 'every') AS label;

-- A model only in an attached database is found there.
SELECT count(*) AS entities FROM attn_entities('Paris is nice', 'en-ner') WHERE label = 'LOC';

-- A table whose config does not parse is still listed, with NULL task, labels and params.
ATTACH 'broken.db' AS broken;
.nullvalue NULL
SELECT name, task, labels, params, storage FROM attn_models WHERE storage = 'broken.attn_model';
