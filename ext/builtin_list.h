/* builtin_list.h: the models compiled into attnext.so, one line each:
 *
 *     ATTN_BUILTIN(symbol, "name", "path of the SQLite database, from the repository root")
 *
 * The file is embedded with the assembler's .incbin (no generated source, no xxd step); it
 * must hold an attn_model table (sql/schema.sql) with rows for that name. For example:
 *
 *     ATTN_BUILTIN(en_ner, "en-ner", "model/builtin/en-ner.db")
 *
 * After adding a line, `touch ext/builtin.c` (make does not see the .db as a dependency).
 * There are no trained weights yet, so the list is empty. */
