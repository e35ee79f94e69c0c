/* builtin_list.h: the models compiled into attnext.so, one line each:
 *
 *     ATTN_BUILTIN(symbol, "name", "path of the SQLite database, from the repository root")
 *
 * The file is embedded with the assembler's .incbin (no generated source, no xxd step); it
 * must hold an attn_model table (sql/schema.sql) with rows for that name. For example:
 *
 *     ATTN_BUILTIN(en_ner, "en-ner", "model/builtin/en-ner.db")
ATTN_BUILTIN(en_rel, "en-rel", "model/builtin/en-rel.db")
 *
 * The Makefile makes builtin.o depend on every model/builtin database and this file. The databases are
 * made by `make models` (sql/recipes/build.sh): each recipe's model, packed with q8 tables. */
ATTN_BUILTIN(en_ner, "en-ner", "model/builtin/en-ner.db")
ATTN_BUILTIN(en_rel, "en-rel", "model/builtin/en-rel.db")
ATTN_BUILTIN(en_sentiment, "en-sentiment", "model/builtin/en-sentiment.db")
ATTN_BUILTIN(en_topic, "en-topic", "model/builtin/en-topic.db")
ATTN_BUILTIN(zh_ner, "zh-ner", "model/builtin/zh-ner.db")
ATTN_BUILTIN(zh_sentiment, "zh-sentiment", "model/builtin/zh-sentiment.db")
