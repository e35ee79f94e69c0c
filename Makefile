# attnext: a SQLite extension doing NLP with its own attention encoder.
#   make          build attnext.so
#   make deps     install the Debian packages it needs (as root; prints the command otherwise)
#   make test     unit tests, numpy reference checks, SQL tests; then all again under ASan+UBSan;
#                 then the threads test under ThreadSanitizer and every fuzz target for 60 s
#   make demo     run the README demo on the built-in models
#   make check    the quick loop: release unit tests and SQL tests (no valgrind, sanitizers, fuzzing)
#   make install  attnext.so where `.load attnext` finds it from any folder (PREFIX=/usr,
#                 LIBDIR=/usr/lib/<multiarch>; DESTDIR honoured); make uninstall removes it
#   make bench    benchmarks (not part of make test)
#   make bench-scale   attn_*_each over 10^5, 10^6, 10^7 rows: rows/s, peak RSS, CPU (not in make test)
#   make cluster-demo  three attnext nodes in a dqlite cluster, a failover, a model trained on it
#   make cluster-bench elections during long statements on the cluster (not in make test)

CC      ?= cc
ARCH    := $(shell uname -m)
OPT     ?= -O2
WARN    := -Wall -Wextra -Werror
CFLAGS  += -std=c11 $(OPT) -g -fPIC $(WARN) -D_GNU_SOURCE -fvisibility=hidden
CPPFLAGS+= -iquote model -I/usr/include/x86_64-linux-gnu/openblas-pthread
LDLIBS  := -lopenblas -lutf8proc -lm -lpthread
DEB_PKGS := build-essential libsqlite3-dev sqlite3 libopenblas-dev libutf8proc-dev python3-numpy \
            valgrind clang libclang-rt-14-dev libdqlite-dev go-dqlite
PYTHON  := /usr/bin/python3

# Per-ISA code (model/isa.h): model/<family>_<isa>.c, built on its architecture only, with
# the flags of <isa> and no others; nothing in it runs before the run-time CPU check of that
# ISA in kernels.c, which tests exactly these features. The shared code gets no ISA flags.
ISAS_x86_64  := avx2 avx512 avx512vnni amx
ISAS_aarch64 := neon
ISA_FLAGS_avx2       := -mavx2 -mfma -mf16c
ISA_FLAGS_avx512     := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c -mavx2
ISA_FLAGS_avx512vnni := $(ISA_FLAGS_avx512) -mavx512vnni
ISA_FLAGS_amx        := $(ISA_FLAGS_avx512vnni) -mamx-tile -mamx-int8
ISA_FLAGS_neon       :=
ISAS      := $(ISAS_$(ARCH))
OTHER_ISA := $(filter-out $(ISAS),$(ISAS_x86_64) $(ISAS_aarch64))
MODEL_SRC := $(filter-out $(OTHER_ISA:%=model/\%_%.c),$(wildcard model/*.c))
EXT_SRC   := $(wildcard ext/*.c)
$(foreach i,$(ISAS),$(foreach f,$(filter %_$(i).c,$(MODEL_SRC)),$(eval FLAGS_$(f) := $(ISA_FLAGS_$(i)))))

# Quiet by default, one line a file ("  CC      model/gemm.c"); make V=1 prints the commands.
ifeq ($(V),1)
  say :=
else
  say = @printf '  %-8s%s\n' '$1' '$2';
endif

B := build/rel
S := build/san
# cluster/ (attnext-node, attnext-dq) is built when libdqlite-dev is installed.
DQLITE      := $(wildcard /usr/include/dqlite.h)
CLUSTER_BIN := $(B)/cluster/attnext-node $(B)/cluster/attnext-dq
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

MODEL_OBJ   := $(MODEL_SRC:%.c=$(B)/%.o)
EXT_OBJ     := $(EXT_SRC:%.c=$(B)/%.o)
MODEL_OBJ_S := $(MODEL_SRC:%.c=$(S)/%.o)
EXT_OBJ_S   := $(EXT_SRC:%.c=$(S)/%.o)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
UNIT_BIN_S := $(UNIT_SRC:tests/unit/%.c=$(S)/tests/%)
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(B)/tools/%)

.PHONY: all deps need-deps test test-rel test-san test-tsan test-fuzz demo bench models clean fuzz fuzz-seeds \
        cluster cluster-demo cluster-bench bench-scale
all: attnext.so $(if $(DQLITE),cluster)

# The headers and tools a build needs; missing ones are installed (as root) or named.
NEED_FILES := /usr/include/sqlite3.h /usr/include/utf8proc.h \
              /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h /usr/bin/sqlite3 \
              /usr/bin/clang /usr/bin/valgrind /usr/include/dqlite.h /usr/bin/dqlite
need-deps:
	@for f in $(NEED_FILES); do [ -e $$f ] || missing=1; done; \
	 ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1 || missing=1; \
	 /usr/bin/python3 -c 'import numpy' 2>/dev/null || missing=1; \
	 if [ -n "$$missing" ]; then $(MAKE) --no-print-directory deps; fi

attnext.so: $(EXT_OBJ) $(MODEL_OBJ)
	$(call say,LD,$@)$(CC) -shared -o $@ $^ $(LDLIBS)

build/san/attnext.so: $(EXT_OBJ_S) $(MODEL_OBJ_S)
	$(call say,LD san,$@)$(CC) -shared $(SAN) -o $@ $^ $(LDLIBS)

$(B)/%.o: %.c $(wildcard model/*.h ext/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CPPFLAGS) $(CFLAGS) $(FLAGS_$<) -c -o $@ $<

$(S)/%.o: %.c $(wildcard model/*.h ext/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC san,$<)$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) $(FLAGS_$<) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c tests/unit/check.h $(MODEL_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(MODEL_OBJ) $(LDLIBS) -lsqlite3

$(S)/tests/%: tests/unit/%.c tests/unit/check.h $(MODEL_OBJ_S)
	@mkdir -p $(dir $@)
	$(call say,LD san,$@)$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) -Itests/unit -o $@ $< $(MODEL_OBJ_S) $(LDLIBS) -lsqlite3

$(B)/tools/%: tests/tools/%.c tests/tools/schema.h $(MODEL_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(MODEL_OBJ) $(LDLIBS) -lsqlite3

deps:
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PKGS); \
	else echo "run as root: apt-get install -y $(DEB_PKGS)"; fi

# make test: the release build, then the same suites under AddressSanitizer + UBSan, then
# test-tsan and test-fuzz (below).
test: need-deps
	@$(MAKE) --no-print-directory test-rel test-san test-tsan test-fuzz

test-rel: attnext.so $(UNIT_BIN) $(TOOL_BIN) $(if $(DQLITE),$(CLUSTER_BIN))
	@tests/run.sh rel $(B) ./attnext.so

test-san: build/san/attnext.so $(UNIT_BIN_S) $(TOOL_BIN)
	@tests/run.sh san $(S) ./build/san/attnext.so

# The built-in models are embedded into builtin.o with .incbin (ext/builtin_list.h).
$(B)/ext/builtin.o $(S)/ext/builtin.o: $(wildcard model/builtin/*.db) ext/builtin_list.h

# ---- test-tsan: tests/tools/sql_threads (8 threads, one database, a model retrained meanwhile)
# with the tool and the whole extension built by clang -fsanitize=thread into build/tsan;
# any ThreadSanitizer report fails it (tests/tools/threads.sh). Part of make test.
T        := build/tsan
TSAN_CC  ?= clang
TSAN     := -fsanitize=thread
$(T)/%.o: %.c $(wildcard model/*.h ext/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC tsan,$<)$(TSAN_CC) $(CPPFLAGS) $(CFLAGS) $(TSAN) $(FLAGS_$<) -c -o $@ $<
$(T)/ext/builtin.o: $(wildcard model/builtin/*.db) ext/builtin_list.h
$(T)/attnext.so: $(EXT_SRC:%.c=$(T)/%.o) $(MODEL_SRC:%.c=$(T)/%.o)
	$(call say,LD tsan,$@)$(TSAN_CC) -shared $(TSAN) -o $@ $^ $(LDLIBS)
$(T)/tools/sql_threads: tests/tools/sql_threads.c
	@mkdir -p $(dir $@)
	$(call say,LD tsan,$@)$(TSAN_CC) $(CFLAGS) $(TSAN) -o $@ $< -lsqlite3 -lpthread
# The unit tests of the threads themselves run under it too: the pool (foreground and
# background runs) and the word vectors on it (tests/tools/tsan_units.sh).
TSAN_UNITS := $(addprefix $(T)/tests/,test_threadpool test_wordvec)
$(T)/tests/%: tests/unit/%.c tests/unit/check.h $(MODEL_SRC:%.c=$(T)/%.o)
	@mkdir -p $(dir $@)
	$(call say,LD tsan,$@)$(TSAN_CC) $(CPPFLAGS) $(CFLAGS) $(TSAN) -Itests/unit -o $@ $< $(MODEL_SRC:%.c=$(T)/%.o) $(LDLIBS) -lsqlite3
test-tsan: need-deps $(T)/attnext.so $(T)/tools/sql_threads $(B)/tools/gen_model $(TSAN_UNITS)
	@tests/tools/tsan_units.sh $(TSAN_UNITS)
	@tests/tools/threads.sh tsan $(T)/tools/sql_threads $(T)/attnext.so $(B)/tools/gen_model
# ---- end test-tsan ---------------------------------------------------------------------------

# ---- cluster/: attnext in a dqlite cluster (README "Running on a cluster"). Built when
# libdqlite-dev is installed; tests/run.sh runs cluster/test.sh (3 nodes, one failover) then.
$(B)/cluster/attnext-node: cluster/node.c cluster/wire.c cluster/wire.h
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) -o $@ cluster/node.c cluster/wire.c -ldqlite -lsqlite3 -ldl -lpthread
$(B)/cluster/attnext-dq: cluster/client.c cluster/wire.c cluster/wire.h
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) -o $@ cluster/client.c cluster/wire.c
cluster: $(CLUSTER_BIN)
# make cluster-demo: cluster/demo.sh: three nodes, docs, a failover, a model trained on the cluster.
cluster-demo: need-deps
	@$(MAKE) --no-print-directory attnext.so $(CLUSTER_BIN)
	cluster/demo.sh $(B)/cluster ./attnext.so
# make cluster-bench: cluster/long_work.sh: elections during a 100,000-row classification in
# one statement and in statements of 1,000 rows (CLUSTER_ROWS, CLUSTER_CHUNK). Not in make test.
CLUSTER_ROWS  ?= 100000
CLUSTER_CHUNK ?= 1000
cluster-bench: need-deps
	@$(MAKE) --no-print-directory attnext.so $(CLUSTER_BIN)
	cluster/long_work.sh $(B)/cluster ./attnext.so $(CLUSTER_ROWS) $(CLUSTER_CHUNK)
# ---- end cluster ------------------------------------------------------------------------------

# make models: retrain the built-in models from ../shared/data with the recipes in
# sql/recipes/ (fixed seeds; see README "Built-in models" for the time each takes).
MODELS ?= en-ner en-sentiment en-topic en-rel en-semeval zh-ner zh-sentiment zh-resume zh-cluener
# zh-ner's recipe reads jieba's dictionary (sql/recipes/zh_lexicon.sql): Debian's python3-jieba,
# installed here (as root) or named.
ZH_LEXICON ?= /usr/lib/python3/dist-packages/jieba/dict.txt
models: need-deps attnext.so
	@[ -e $(ZH_LEXICON) ] || { if [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-jieba; \
	  else echo "run as root: apt-get install -y python3-jieba"; exit 1; fi; }
	ZH_LEXICON=$(ZH_LEXICON) sql/recipes/build.sh $(MODELS)

# make demo: the README's first command. Runs sql/demo.sql on the built-in models.
demo: need-deps
	@$(MAKE) --no-print-directory attnext.so $(B)/tools/gen_model
	@tests/demo.sh ./attnext.so $(B)/tools

# make bench: tests/bench/run.sh: kernel timings, then attnext against PyTorch (same weights),
# the FMA peak, training, memory and load time, with and without OPENBLAS_CORETYPE=SkylakeX.
# Needs python3-torch for the PyTorch side (BENCH_ARGS=--quick for a shorter run).
BENCH_BIN := $(addprefix $(B)/bench/,bench_kernels bench_encoder peak_fma mem_probe sql_throughput_rows)
bench: need-deps attnext.so $(BENCH_BIN) $(B)/tools/gen_model build/data.db
	tests/bench/run.sh $(B) ./attnext.so $(BENCH_ARGS)

# build/data.db: every dataset of $(ATTN_DATA) as tables (sql/load_datasets.sql), for make bench;
# sql/recipes/build.sh (make models) makes the same file the same way. No model is trained.
ATTN_DATA ?= ../shared/data
build/data.db: sql/load_datasets.sql | attnext.so
	@mkdir -p build
	rm -f $@.tmp
	sqlite3 $@.tmp -cmd ".load ./attnext.so" -cmd ".parameter set @data '$(ATTN_DATA)'" \
	    <sql/load_datasets.sql >build/data.log
	mv $@.tmp $@

# make bench-scale: tests/bench/scale.sh: the bulk path over 10^5, 10^6, 10^7 rows in one
# statement (rows/s, peak RSS, CPU), sqlite3_interrupt, the INSERT/UPDATE forms. Not in make test.
$(B)/bench/bench_scale: tests/bench/bench_scale.c
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CFLAGS) -o $@ $< -lsqlite3 -lpthread
bench-scale: need-deps attnext.so $(B)/bench/bench_scale
	tests/bench/scale.sh $(B)/bench/bench_scale ./attnext.so

$(B)/bench/%: tests/bench/%.c $(MODEL_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(MODEL_OBJ) $(LDLIBS) -lsqlite3

clean:
	rm -rf build attnext.so

# ---- make check: the developer's quick loop (about a minute and a half on 2 cores): the
# release unit tests and the SQL tests (default SIMD level and ATTN_SIMD=scalar), no valgrind,
# sanitizers, accuracy gate or fuzzing; make test runs all of those.
.PHONY: check install uninstall
CHECK_TOOLS := $(addprefix $(B)/tools/,gen_model sql_threads interrupt_train)
check: attnext.so $(UNIT_BIN) $(CHECK_TOOLS)
	@tests/run.sh check $(B) ./attnext.so

# ---- make install: SQLite's `.load attnext` asks dlopen() for a bare name, which is found only
# in the dynamic linker's system directories (/lib, /usr/lib and their multiarch folders): not
# in /usr/local/lib, even when ld.so.conf lists it, since ldconfig caches lib*.so names only.
# So the default is PREFIX=/usr and LIBDIR=/usr/lib/<multiarch>. DESTDIR stages the tree.
# tests/clients/install.sh checks it.
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
PREFIX    ?= /usr
LIBDIR    ?= $(PREFIX)/lib$(if $(MULTIARCH),/$(MULTIARCH))
DATADIR   ?= $(PREFIX)/share/attnext
SYS_LIBDIRS := /lib /usr/lib $(if $(MULTIARCH),/lib/$(MULTIARCH) /usr/lib/$(MULTIARCH))
INSTALL_DATA := $(wildcard model/optional/*.db) sql/schema.sql
install: attnext.so
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(DATADIR)
	install -m 0644 attnext.so $(DESTDIR)$(LIBDIR)/attnext.so
	install -m 0644 $(INSTALL_DATA) $(DESTDIR)$(DATADIR)/
	@echo "installed $(DESTDIR)$(LIBDIR)/attnext.so and $(DESTDIR)$(DATADIR)/"
	@$(if $(filter $(LIBDIR),$(SYS_LIBDIRS)),echo "load it from any folder with: .load attnext",\
	  echo "note: $(LIBDIR) is not a system library directory: load it by path, .load $(LIBDIR)/attnext")
uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/attnext.so $(addprefix $(DESTDIR)$(DATADIR)/,$(notdir $(INSTALL_DATA)))
	rmdir $(DESTDIR)$(DATADIR) 2>/dev/null || true

# ---- fuzz (tests/fuzz): libFuzzer targets, clang only -----------------------------------------
#   make fuzz                  every target FUZZ_SECONDS (default 60) seconds, FUZZ_JOBS (default
#                              2) at a time, one summary line each (executions, cov, ft,
#                              crashes), then "fuzz: N passed, N failed"; exits 1 on a crash
#   make test-fuzz             the same; part of make test (so CI fuzzes each target >= 60 s)
#   make build/fuzz/fuzz_json  one target; run it by hand: build/fuzz/fuzz_json DIR...
#   make fuzz-seeds            regenerates tests/fuzz/corpus/fuzz_config_model
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 2
FUZZ_CFLAGS  := -std=c11 -O1 -g $(WARN) -D_GNU_SOURCE -fno-omit-frame-pointer \
                -fno-sanitize-recover=undefined
FUZZ_BIN     := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OBJ     := $(MODEL_SRC:%.c=build/fuzz/obj/%.o)
# fuzz_lookup links the extension itself and SQLite (the others link the engine only).
FUZZ_EXT_OBJ := $(EXT_SRC:%.c=build/fuzz/obj/%.o)

build/fuzz/obj/%.o: %.c $(wildcard model/*.h ext/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC fuzz,$<)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined $(FLAGS_$<) -c -o $@ $<

$(filter-out build/fuzz/fuzz_lookup,$(FUZZ_BIN)): build/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_check.h $(FUZZ_OBJ)
	$(call say,LD fuzz,$@)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

build/fuzz/obj/ext/builtin.o: $(wildcard model/builtin/*.db) ext/builtin_list.h

build/fuzz/fuzz_lookup: tests/fuzz/fuzz_lookup.c tests/fuzz/fuzz_check.h $(FUZZ_OBJ) $(FUZZ_EXT_OBJ)
	$(call say,LD fuzz,$@)$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJ) $(FUZZ_EXT_OBJ) $(LDLIBS) -lsqlite3

fuzz test-fuzz: need-deps $(FUZZ_BIN)
	@FUZZ_JOBS=$(FUZZ_JOBS) tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

$(B)/fuzz/make_model_seeds: tests/fuzz/make_model_seeds.c $(MODEL_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(MODEL_OBJ) $(LDLIBS)

fuzz-seeds: $(B)/fuzz/make_model_seeds
	$(B)/fuzz/make_model_seeds tests/fuzz/corpus/fuzz_config_model
# ---- end fuzz --------------------------------------------------------------------------------
