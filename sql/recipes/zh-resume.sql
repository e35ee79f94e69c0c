-- zh-resume: Chinese resume entities (NAME, CONT, RACE, TITLE, EDU, ORG, PRO, LOC), Resume NER
-- (Zhang and Yang 2018) train, selected on its dev split, test only reported. Small data
-- (3,821 sentences): the encoder and the feature tables start from zh-ner's (MSRA, 42,000
-- sentences of news; build.sh trains it first), the tagging head fresh for the eight labels
-- (option 'labels' differs from zh-ner's). Trained from scratch with the same inputs it
-- reached dev 0.888 and test 0.905.
.headers on
.mode list
.bail on
ATTACH 'build/recipes/zh-ner.db' AS ner;
SELECT epoch, round(train_loss, 4) AS loss, round(dev_metric, 4) AS dev_f1, round(seconds, 1) AS seconds, best
FROM attn_train('zh-resume', 'entities', 'SELECT text, entities FROM resume_train',
  json_object(
  'init', 'zh-ner', 'labels', json('["NAME", "CONT", "RACE", "TITLE", "EDU", "ORG", "PRO", "LOC"]'),
  'dev', 'SELECT text, entities FROM resume_dev',
  'epochs', 20, 'patience', 5, 'ema', 0.998, 'lr', 1e-3, 'batch_size', 16, 'warmup', 100,
  'seed', 1, 'threads', 2, 'dropout_embed', 0.3, 'dropout_attn', 0.1, 'dropout_resid', 0.2,
  'word_dropout', 0.05, 'embed_lr_scale', 0.5,
  'dtype', 'f16',
  'meta', json_object('description', 'Chinese resume entities (8 types), Resume NER',
                      'recipe', 'sql/recipes/zh-resume.sql')));
DETACH ner;
SELECT label, round(precision, 4) AS precision, round(recall, 4) AS recall, round(f1, 4) AS f1, support
FROM attn_eval('zh-resume', 'SELECT text, entities FROM resume_test');
