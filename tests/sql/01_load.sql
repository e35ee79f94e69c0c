-- Loading the extension (the runner does `.load attnext`) and asking what it is.
.mode list
.headers off

SELECT attn_version();

-- attn_debug() tells how the library was built and what it chose at run time.
SELECT attn_debug() LIKE 'attnext 0.1.0' || char(10) || 'build: %';
SELECT attn_debug() GLOB '*simd: [a-z]* (cpu: *';
-- and which int8 kernels run int8-stored layers (ATTN_Q8 asks for one)
SELECT attn_debug() GLOB '*int8: [a-z0-9]* (ATTN_Q8=*';
SELECT instr(attn_debug(), 'blas: OpenBLAS') > 0;
SELECT instr(attn_debug(), 'sqlite: ' || sqlite_version()) > 0;
-- the SIMD level it reports is the one ATTN_SIMD asks for when set, else the best the CPU runs
SELECT CASE WHEN attn_debug() LIKE '%ATTN_SIMD=scalar)%' THEN attn_debug() LIKE '%simd: scalar (%'
            ELSE attn_debug() GLOB '*simd: avx512 (*' OR attn_debug() GLOB '*simd: avx2 (*'
              OR attn_debug() GLOB '*simd: neon (*' OR attn_debug() GLOB '*simd: scalar (*' END;

-- Every SQL name the extension registers, and nothing else.
SELECT name, narg FROM pragma_function_list WHERE name LIKE 'attn\_%' ESCAPE '\' ORDER BY name, narg;
SELECT name FROM pragma_module_list WHERE name LIKE 'attn\_%' ESCAPE '\' ORDER BY name;

-- Model functions are innocuous (usable from views and triggers under trusted_schema=OFF)
-- but not deterministic: their answer depends on the attn_model table.
PRAGMA trusted_schema = OFF;
CREATE TEMP VIEW v AS SELECT attn_classify('good', 'pos') AS label;
SELECT label FROM v;
CREATE TEMP VIEW ve AS SELECT count(*) AS n FROM attn_entities('Ann met Bob', 'every');
SELECT n FROM ve;
CREATE TABLE t(x);
CREATE INDEX t_bad ON t(attn_classify(x, 'pos'));

-- The virtual tables are eponymous only.
CREATE VIRTUAL TABLE mine USING attn_entities;
