# clipc — plain Makefile.  `make` builds the library, the CLI and the test binary
# into build/.  `make test` runs the default test suite; `make asan` builds and runs
# the same tests under AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer).
#
# Every .c file in a folder of src/ is part of the library, every .c in cli/ part of
# the CLI and every tests/test_*.c part of the test binary, so adding a file needs no
# edit here.  Library headers are included by their path under src/ ("nn/block.h").

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
BLASDIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
PKGS    := libcjson libutf8proc spng libjpeg libexif zlib libcrypto

# libdnnl (oneDNN, no pkg-config file in Debian 12): the inference backends (src/kernels/onednn.c).
# No -march=native here: the binary must run on AVX2-only and AVX-512 machines
# alike; code paths that need wider vectors are chosen at run time.
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fopenmp -fPIC \
           -Iinclude -Isrc -I/usr/include/x86_64-linux-gnu/openblas-openmp \
           $(shell pkg-config --cflags $(PKGS))
LDLIBS  += -lfaiss -L$(BLASDIR) -Wl,-rpath,$(BLASDIR) -lopenblas -ldnnl \
           $(shell pkg-config --libs $(PKGS)) -lsqlite3 -lm -lpthread -fopenmp

# src/index/faiss_shim.cc: the one C++ file (FAISS has only a C++ library in
# Debian; see its header).  libfaiss.a needs BLAS/LAPACK (OpenBLAS has both).
CXX     ?= c++
CXXFLAGS ?= $(OPT) -g
CXXFLAGS += -std=c++17 -Wall -Wextra -Werror -fopenmp -fPIC -Iinclude -Isrc
LDLIBS  += -lstdc++

LIB_SRC  := $(sort $(wildcard src/*/*.c))
LIB_CXX  := $(sort $(wildcard src/*/*.cc))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c)) tests/harness.c
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cc=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all test asan clean deps demo bench fuzz
all: $(BUILD)/clipc $(BUILD)/clipc-testhooks $(BUILD)/clipc_tests

$(BUILD)/libclipc.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/clipc: $(CLI_OBJ) $(BUILD)/libclipc.a
	@echo "  LINK  $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The CLI with its fault-injection hooks (CLIPC_TRAIN_FAULT) for the crash
# tests: the same objects but cmd_train.c compiled with -DCLIPC_TEST_HOOKS.
# Never shipped; build/clipc ignores the variable.
HOOK_OBJ := $(filter-out $(BUILD)/cli/cmd_train.o,$(CLI_OBJ)) $(BUILD)/testhooks/cli/cmd_train.o
$(BUILD)/clipc-testhooks: $(HOOK_OBJ) $(BUILD)/libclipc.a
	@echo "  LINK  $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/testhooks/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (test hooks)"
	@$(CC) $(CFLAGS) -DCLIPC_TEST_HOOKS -MMD -MP -c -o $@ $<

$(BUILD)/clipc_tests: $(TEST_OBJ) $(BUILD)/libclipc.a
	@echo "  LINK  $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	@echo "  CXX   $<"
	@$(CXX) $(CXXFLAGS) -MMD -MP -c -o $@ $<

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/testhooks/cli/cmd_train.d

# An -O3 -march=native build for benchmarks only (bench/compare prefers it).
# The default build stays portable; vec.c picks AVX2/AVX-512 at run time.
bench:
	$(MAKE) BUILD=build-bench OPT="-O3 -march=native" build-bench/clipc

# Installs the Debian packages the build and the tests need (we run as root).
deps:
	@sh tools/install-deps.sh

test: all
	$(BUILD)/clipc_tests

# The README's main job (train, evaluate, classify, search on emoji-mini).
demo: $(BUILD)/clipc
	sh tools/demo.sh

# The sanitizer flags are added with `override`, so a CFLAGS from the
# environment cannot switch them off; the test `sanitizer_canary` fails if
# they are not in effect.
SAN ?=
ifneq ($(SAN),)
override CFLAGS += $(SAN) -DCLIPC_SANITIZED
override CXXFLAGS += $(SAN)
endif
asan:
	$(MAKE) BUILD=build-asan OPT="-O1" SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" all
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build-asan/clipc_tests

# libFuzzer target for the tokenizer (not built by default; needs clang 14 and
# libclang-rt-14-dev).  Run: build-fuzz/fuzz_tokenizer -max_total_time=600 CORPUS_DIR
FUZZ_SRC := tests/fuzz/fuzz_tokenizer.c src/text/tokenizer.c src/text/clean.c src/text/html_entities.c \
            src/base/utf8.c src/text/vocab_data.c src/base/error.c src/base/fileio.c
fuzz: build-fuzz/fuzz_tokenizer
build-fuzz/fuzz_tokenizer: $(FUZZ_SRC) $(wildcard src/*/*.h) include/clipc.h data/bpe_simple_vocab_16e6.txt.gz
	@mkdir -p build-fuzz
	clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -Wall -Wextra -Werror -Iinclude -Isrc $(shell pkg-config --cflags libutf8proc zlib) \
	    -o $@ $(FUZZ_SRC) $(shell pkg-config --libs libutf8proc zlib) -lpthread

clean:
	rm -rf build build-asan build-bench build-fuzz

# libFuzzer target for the safetensors reader (clang only; not in `all`).
# Run: mkdir -p /tmp/stf && build-fuzz/fuzz_safetensors /tmp/stf tests/fuzz/corpus_safetensors \
#        -dict=tests/fuzz/safetensors.dict -max_total_time=300
FUZZ_CC    ?= clang
FUZZ_FLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=all -Iinclude -Isrc $(shell pkg-config --cflags libcjson libutf8proc)
.PHONY: fuzz-safetensors
fuzz-safetensors: build-fuzz/fuzz_safetensors
build-fuzz/fuzz_safetensors: tests/fuzz/fuzz_safetensors.c src/formats/safetensors.c src/base/error.c src/base/fileio.c src/formats/safetensors.h
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_safetensors.c src/formats/safetensors.c src/base/error.c src/base/fileio.c \
	    $(shell pkg-config --libs libcjson libutf8proc)

# Shared library and installation: `make install PREFIX=/usr/local` puts
# libclipc.so, include/clipc.h and a pkg-config file clipc.pc under PREFIX.
PREFIX ?= /usr/local
.PHONY: shared install
shared: $(BUILD)/libclipc.so
$(BUILD)/libclipc.so: $(LIB_OBJ)
	@echo "  LINK  $@"
	@$(CC) $(CFLAGS) -shared -Wl,-soname,libclipc.so -o $@ $^ $(LDLIBS)
install: $(BUILD)/libclipc.so
	@mkdir -p $(PREFIX)/lib/pkgconfig $(PREFIX)/include
	cp $(BUILD)/libclipc.so $(PREFIX)/lib/
	cp include/clipc*.h $(PREFIX)/include/
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: clipc\nDescription: CLIP in C\nVersion: 0.1\nLibs: -L$${libdir} -Wl,-rpath,$${libdir} -lclipc\nLibs.private: -lopenblas -ldnnl -lsqlite3 -lm\nCflags: -I$${includedir}\n' "$(abspath $(PREFIX))" > $(PREFIX)/lib/pkgconfig/clipc.pc
