/* schema.h: the attn_model table (sql/schema.sql) for the tools that write models. */
#ifndef ATTN_TOOLS_SCHEMA_H
#define ATTN_TOOLS_SCHEMA_H

static const char SCHEMA_SQL[] =
    "CREATE TABLE IF NOT EXISTS attn_model(\n"
    "  name  TEXT NOT NULL,\n"
    "  key   TEXT NOT NULL,\n"
    "  dtype TEXT NOT NULL,\n"
    "  shape TEXT NOT NULL,\n"
    "  data  BLOB,\n"
    "  PRIMARY KEY (name, key)\n"
    ")";

#endif
