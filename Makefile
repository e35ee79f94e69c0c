# attnext: a SQLite extension doing NLP with its own attention encoder.
#   make          build attnext.so
#   make deps     install the Debian packages it needs (as root; prints the command otherwise)
#   make test     unit tests, numpy reference checks, SQL tests; then all again under ASan+UBSan
#   make demo     run the README demo on the built-in models
#   make bench    benchmarks (not part of make test)

CC      ?= cc
ARCH    := $(shell uname -m)
OPT     ?= -O2
WARN    := -Wall -Wextra -Werror
CFLAGS  += -std=c11 $(OPT) -g -fPIC $(WARN) -D_GNU_SOURCE -fvisibility=hidden
CPPFLAGS+= -iquote model -I/usr/include/x86_64-linux-gnu/openblas-pthread
LDLIBS  := -lopenblas -lutf8proc -lm -lpthread
DEB_PKGS := build-essential libsqlite3-dev sqlite3 libopenblas-dev libutf8proc-dev python3-numpy \
            valgrind clang libclang-rt-14-dev
PYTHON  := /usr/bin/python3

MODEL_SRC := $(filter-out model/kernels_%.c,$(wildcard model/*.c))
EXT_SRC   := $(wildcard ext/*.c)
ifeq ($(ARCH),x86_64)
  SIMD_SRC := model/kernels_avx2.c model/kernels_avx512.c
else ifeq ($(ARCH),aarch64)
  SIMD_SRC := model/kernels_neon.c
endif
MODEL_SRC += model/kernels_scalar.c $(SIMD_SRC)

# Per-file ISA flags: only these files may use those instructions, and their code runs only
# after the run-time CPU check in kernels.c.
FLAGS_model/kernels_avx2.c   := -mavx2 -mfma -mf16c
FLAGS_model/kernels_avx512.c := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c -mavx2

B := build/rel
S := build/san
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

.PHONY: all deps need-deps test test-rel test-san demo bench models clean fuzz fuzz-seeds
all: attnext.so

# The headers and tools a build needs; missing ones are installed (as root) or named.
NEED_FILES := /usr/include/sqlite3.h /usr/include/utf8proc.h \
              /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h /usr/bin/sqlite3
need-deps:
	@for f in $(NEED_FILES); do [ -e $$f ] || missing=1; done; \
	 /usr/bin/python3 -c 'import numpy' 2>/dev/null || missing=1; \
	 if [ -n "$$missing" ]; then $(MAKE) --no-print-directory deps; fi

attnext.so: $(EXT_OBJ) $(MODEL_OBJ)
	$(CC) -shared -o $@ $^ $(LDLIBS)

build/san/attnext.so: $(EXT_OBJ_S) $(MODEL_OBJ_S)
	$(CC) -shared $(SAN) -o $@ $^ $(LDLIBS)

$(B)/%.o: %.c $(wildcard model/*.h ext/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(FLAGS_$<) -c -o $@ $<

$(S)/%.o: %.c $(wildcard model/*.h ext/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) $(FLAGS_$<) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c tests/unit/check.h $(MODEL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(MODEL_OBJ) $(LDLIBS) -lsqlite3

$(S)/tests/%: tests/unit/%.c tests/unit/check.h $(MODEL_OBJ_S)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) -Itests/unit -o $@ $< $(MODEL_OBJ_S) $(LDLIBS) -lsqlite3

$(B)/tools/%: tests/tools/%.c tests/tools/schema.h $(MODEL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(MODEL_OBJ) $(LDLIBS) -lsqlite3

deps:
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PKGS); \
	else echo "run as root: apt-get install -y $(DEB_PKGS)"; fi

# make test: the release build, then the same suites under AddressSanitizer + UBSan.
test: need-deps
	@$(MAKE) --no-print-directory test-rel test-san

test-rel: attnext.so $(UNIT_BIN) $(TOOL_BIN)
	@tests/run.sh rel $(B) ./attnext.so

test-san: build/san/attnext.so $(UNIT_BIN_S) $(TOOL_BIN)
	@tests/run.sh san $(S) ./build/san/attnext.so

# The built-in models are embedded into builtin.o with .incbin (ext/builtin_list.h).
$(B)/ext/builtin.o $(S)/ext/builtin.o: $(wildcard model/builtin/*.db) ext/builtin_list.h

# make models: retrain the built-in models from ../shared/data with the recipes in
# sql/recipes/ (fixed seeds; see README "Built-in models" for the time each takes).
MODELS ?= en-ner en-sentiment en-topic en-rel en-semeval
models: need-deps attnext.so $(B)/tools/wordvec_train $(B)/tools/pack_model
	sql/recipes/build.sh $(MODELS)

# make demo: the README's first command. Runs sql/demo.sql on the built-in models.
demo: need-deps
	@$(MAKE) --no-print-directory attnext.so $(B)/tools/gen_model
	@tests/demo.sh ./attnext.so $(B)/tools

# make bench: kernel timings side by side per SIMD level, with CPU flags and BLAS core name.
bench: need-deps $(B)/bench/bench_kernels
	$(B)/bench/bench_kernels

$(B)/bench/%: tests/bench/%.c $(MODEL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(MODEL_OBJ) $(LDLIBS)

clean:
	rm -rf build attnext.so

# ---- fuzz (tests/fuzz): libFuzzer targets, clang only; not part of make test ----------------
#   make fuzz                  every target FUZZ_SECONDS (default 60) seconds, one summary line
#                              each (executions, cov, ft, crashes); exits 1 on a crash
#   make build/fuzz/fuzz_json  one target; run it by hand: build/fuzz/fuzz_json DIR...
#   make fuzz-seeds            regenerates tests/fuzz/corpus/fuzz_config_model
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -std=c11 -O1 -g $(WARN) -D_GNU_SOURCE -fno-omit-frame-pointer \
                -fno-sanitize-recover=undefined
FUZZ_BIN     := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OBJ     := $(MODEL_SRC:%.c=build/fuzz/obj/%.o)

build/fuzz/obj/%.o: %.c $(wildcard model/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined $(FLAGS_$<) -c -o $@ $<

$(FUZZ_BIN): build/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_check.h $(FUZZ_OBJ)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_OBJ) $(LDLIBS)

fuzz: need-deps $(FUZZ_BIN)
	@tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

$(B)/fuzz/make_model_seeds: tests/fuzz/make_model_seeds.c $(MODEL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(MODEL_OBJ) $(LDLIBS)

fuzz-seeds: $(B)/fuzz/make_model_seeds
	$(B)/fuzz/make_model_seeds tests/fuzz/corpus/fuzz_config_model
# ---- end fuzz --------------------------------------------------------------------------------
