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
PKGS    := libcjson libutf8proc spng libjpeg libexif zlib libcrypto libwebp libwebpdemux libtiff-4 libheif libgif libmicrohttpd \
           ompi-c libprotobuf-c

# libdnnl (oneDNN, no pkg-config file in Debian 12): the inference backends (src/kernels/onednn.c).
# No -march=native here: the binary must run on AVX2-only and AVX-512 machines
# alike; code paths that need wider vectors are chosen at run time.
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fopenmp -fPIC \
           -Iinclude -Isrc -I$(BUILD)/gen -I/usr/include/x86_64-linux-gnu/openblas-openmp \
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
# The fuzz targets replayed over their committed corpora by the test binary
# (`fuzz_corpus_replays_clean`); a new target in tests/fuzz/ goes here and in
# the table of tests/test_fuzz_replay.c.
FUZZ_TARGETS := safetensors tokenizer captions config labels vecfile vec8 checkpoint decode options pickle ftfy \
                image_webp image_tiff image_heif image_gif image_bmp wordpiece ann
TEST_SRC := $(sort $(wildcard tests/test_*.c)) tests/harness.c $(FUZZ_TARGETS:%=tests/fuzz/fuzz_%.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cc=$(BUILD)/%.o) $(BUILD)/gen/onnx.pb-c.o
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all test asan clean deps demo bench fuzz
# libclipc.so is in `all` for the Python package's tests (tests/test_python.c).
all: $(BUILD)/clipc $(BUILD)/clipc-testhooks $(BUILD)/clipc_tests $(BUILD)/libclipc.so

$(BUILD)/libclipc.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/clipc: $(CLI_OBJ) $(BUILD)/libclipc.a
	@echo "  LINK  $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# tools/compare_pillow_testimages.py's helper (not in `all`): decodes and
# preprocesses image files with the library and dumps the pixels.
$(BUILD)/dump_preprocessed: tools/dump_preprocessed.c $(BUILD)/libclipc.a
	@echo "  LINK  $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The seeds of the `ann` fuzz target (not in `all`): FILE.ann files built
# by the library and damaged copies (tests/fuzz/corpus_ann).
$(BUILD)/make_ann_seeds: tools/make_ann_seeds.c $(BUILD)/libclipc.a
	@echo "  LINK  $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The CLI with its fault-injection hooks (CLIPC_TRAIN_FAULT, CLIPC_IO_FAULT)
# for the crash tests: the same objects but cmd_train.c and main.c compiled
# with -DCLIPC_TEST_HOOKS.  Never shipped; build/clipc ignores the variables.
HOOKED   := cli/cmd_train cli/main
HOOK_OBJ := $(filter-out $(HOOKED:%=$(BUILD)/%.o),$(CLI_OBJ)) $(HOOKED:%=$(BUILD)/testhooks/%.o)
$(BUILD)/clipc-testhooks: $(HOOK_OBJ) $(BUILD)/libclipc.a
	@echo "  LINK  $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/testhooks/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (test hooks)"
	@$(CC) $(CFLAGS) -DCLIPC_TEST_HOOKS -MMD -MP -c -o $@ $<

# The test binary also holds the option parser (cli/options.c) for the
# replay of fuzz_options; the fuzz targets are compiled without their
# libFuzzer entry point there (CLIPC_FUZZ_REPLAY).
$(BUILD)/clipc_tests: $(TEST_OBJ) $(BUILD)/cli/options.o $(BUILD)/libclipc.a
	@echo "  LINK  $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/fuzz/%.o: CFLAGS += -DCLIPC_FUZZ_REPLAY

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# ONNX's message definitions (src/formats/onnx.proto, the subset clipc writes)
# compiled to C by protoc-c at build time: the .proto is the one source, so
# nothing generated is committed and nothing can drift from it.  The writer
# includes the generated header, so it waits for it.
$(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h &: src/formats/onnx.proto
	@mkdir -p $(BUILD)/gen
	@echo "  PROTOC-C $<"
	@protoc-c --c_out=$(BUILD)/gen -Isrc/formats $<
$(BUILD)/gen/onnx.pb-c.o: $(BUILD)/gen/onnx.pb-c.c
	@echo "  CC    $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<
$(BUILD)/src/formats/onnx_writer.o: $(BUILD)/gen/onnx.pb-c.h

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	@echo "  CXX   $<"
	@$(CXX) $(CXXFLAGS) -MMD -MP -c -o $@ $<

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(HOOKED:%=$(BUILD)/testhooks/%.d)

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

clean:
	rm -rf build build-asan build-bench build-fuzz

# libFuzzer targets (clang only; not in `all`): `make fuzz` builds every
# target of FUZZ_TARGETS as build-fuzz/fuzz_<name>, `make fuzz-<name>` one.
# The library is built once more with clang under build-fuzz/lib with
# coverage instrumentation (fuzzer-no-link) and ASan + UBSan; clang's own
# warnings (GCC pragmas, unvectorised `omp simd`) do not stop it there
# (-Wno-error: the gcc build is the one held to -Werror).  Run one:
#   build-fuzz/fuzz_<name> SCRATCH tests/fuzz/corpus_<name> -max_total_time=600
# (new inputs go to the first folder); tools/fuzz_campaign.sh SECONDS runs
# them all in turn.
FUZZ_CC   ?= clang
FUZZ_CXX  ?= clang++
FUZZ_SAN  := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LIB  := build-fuzz/lib
FUZZ_BINS := $(FUZZ_TARGETS:%=build-fuzz/fuzz_%)
.PHONY: fuzz fuzz-lib $(FUZZ_TARGETS:%=fuzz-%)
fuzz: $(FUZZ_BINS)
$(FUZZ_TARGETS:%=fuzz-%): fuzz-%: build-fuzz/fuzz_%
fuzz-lib:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_LIB) CC=$(FUZZ_CC) CXX=$(FUZZ_CXX) OPT="-O1" SAN="$(FUZZ_SAN) -Wno-error" \
	    $(FUZZ_LIB)/libclipc.a $(FUZZ_LIB)/cli/options.o
build-fuzz/fuzz_options: FUZZ_EXTRA := $(FUZZ_LIB)/cli/options.o
# fuzz_ann pulls in the C++ FAISS shim: UBSan's C++ checks (vptr) need its
# C++ runtime, which the C driver links only when asked.
build-fuzz/fuzz_ann: FUZZ_EXTRA := -fsanitize-link-c++-runtime
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h fuzz-lib
	@echo "  LINK  $@"
	@$(FUZZ_CC) $(filter-out -fPIC,$(CFLAGS)) -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ $< \
	    $(FUZZ_EXTRA) $(FUZZ_LIB)/libclipc.a $(LDLIBS)

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
