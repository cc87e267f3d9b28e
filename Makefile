# infer — build, test, benchmark.
#   make            build ./infer
#   make run        fetch the default model if missing and generate a story
#   make test       build and run the whole test suite
#   make SAN=1 ...  the same with AddressSanitizer + UndefinedBehaviorSanitizer
#   make PORTABLE=1 AVX2/FMA/F16C without -march=native; PORTABLE=generic: plain x86-64;
#                   PORTABLE=vnni: AVX2 with AVX-VNNI (the 256-bit VNNI kernels, no AVX-512)
#   make bench      benchmark table (see tools/bench.sh)
#   make fuzz       libFuzzer targets (clang, ASan+UBSan) for FUZZ_SECONDS each (default 60)

CC      ?= gcc
PKGS    := openblas libcjson
ifeq ($(origin CC),default)
CC := gcc
endif

ifeq ($(PORTABLE),1)
ARCH := -mavx2 -mfma -mf16c
else ifeq ($(PORTABLE),vnni)
ARCH := -mavx2 -mfma -mf16c -mavxvnni
else ifeq ($(PORTABLE),generic)
ARCH :=
else
ARCH := -march=native
endif

OPT := -O3
BUILD := build
ifeq ($(SAN),1)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
BUILD := build-san
endif

CFLAGS  += -std=gnu11 $(OPT) $(ARCH) -fopenmp -Wall -Wextra -Werror -Wshadow -Isrc \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpcre2-8 -lm
LDFLAGS += -fopenmp $(filter -fsanitize=%,$(OPT))

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c src/quant/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(wildcard tools/*.c)
TOOL_BIN := $(TOOL_SRC:tools/%.c=$(BUILD)/tools/%)

MODEL_MIRROR ?= ../shared/models
MODEL_URL    ?= https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf
INFER_TEST_DATA ?= ../shared
export INFER_TEST_DATA

.PHONY: all build run test test-san deps model bench fuzz fuzz-build clean
# The public targets first make sure the Debian packages are there (installing
# them when allowed), then re-enter make so pkg-config sees them.
all:
	@tools/deps.sh build
	@$(MAKE) --no-print-directory build

build: infer infer-quantize $(TOOL_BIN)

deps:
	@tools/deps.sh test

$(BUILD)/libinfer.a: $(LIB_OBJ)
	@$(AR) rcs $@ $^

$(BUILD)/%.o: %.c $(wildcard src/*.h src/quant/*.h)
	@mkdir -p $(dir $@)
	@printf '  CC  %s\n' $<
	@$(CC) $(CFLAGS) -c $< -o $@

# ./infer and ./infer-quantize are linked from whichever build ran last (SAN=1
# or not): a stamp records which, and switching relinks them.
FLAVOR := build/.infer-flavor
ifneq ($(shell cat $(FLAVOR) 2>/dev/null),$(BUILD))
.PHONY: infer infer-quantize
endif

infer: $(BUILD)/src/main.o $(BUILD)/libinfer.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
	@mkdir -p build && echo $(BUILD) > $(FLAVOR)

infer-quantize: $(BUILD)/tools/quantize
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/tools/%: tools/%.c $(BUILD)/libinfer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c tests/testutil.h tests/utf8_valid.h $(BUILD)/libinfer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(BUILD)/libinfer.a $(LDLIBS) -lcmocka -o $@

# The fuzz regression replay compiles the fuzz targets in.
$(BUILD)/tests/test_regress: $(wildcard fuzz/*.c fuzz/*.h)

models/stories260K.gguf:
	@tools/get-model.sh "$(MODEL_MIRROR)" "$(MODEL_URL)" $@

model: models/stories260K.gguf

run: all models/stories260K.gguf
	./infer -m models/stories260K.gguf -p "Once upon a time" -n 128

# Under SAN=1 a sanitizer report fails the test that triggered it (also in the
# ./infer processes the CLI tests start). Leak suppressions are for
# third-party frames only (OpenBLAS / OpenMP thread pools): see tests/lsan.supp.
ifeq ($(SAN),1)
test: export ASAN_OPTIONS := detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1
test: export LSAN_OPTIONS := suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
test: export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1
endif
test:
	@tools/deps.sh test
	@$(MAKE) --no-print-directory build $(TEST_BIN)
	@tools/run-tests.sh $(BUILD)

test-san:
	$(MAKE) SAN=1 test

bench: all
	@tools/bench.sh

# Fuzzing: every library source is rebuilt with clang (coverage + ASan +
# UBSan) into build/fuzz; each fuzz/fuzz_*.c is one libFuzzer target. The
# seed corpus (tiny generated models + small files of $(INFER_TEST_DATA)) is
# made in a temporary directory at run time; new inputs go to fuzz/corpus-*/
# (not in git); crashes to build/fuzz/artifacts/ — add them to fuzz/regress/.
# float-cast-overflow and signed-integer-overflow reports do not stop the
# fuzzer (so that fuzz/ubsan.supp can silence known ones in code owned
# elsewhere); run.sh fails the run on any unsuppressed report.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= gguf tokenizer llama2c
FUZZ_JOBS    ?= 1
FUZZ_CC      ?= clang
FUZZ_BUILD   := build/fuzz
FUZZ_CFLAGS  := -std=gnu11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined -fsanitize-recover=float-cast-overflow,signed-integer-overflow \
                $(ARCH) -fopenmp -Isrc -Ifuzz \
                $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_OBJ     := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)

$(FUZZ_BUILD)/src/%.o: src/%.c $(wildcard src/*.h src/quant/*.h)
	@mkdir -p $(dir $@)
	@printf '  CLANG %s\n' $<
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -Werror -fsanitize=fuzzer $< $(FUZZ_OBJ) $(LDLIBS) -o $@

$(FUZZ_BUILD)/mkseeds: fuzz/mkseeds.c $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wall -Wextra -Werror $< $(FUZZ_OBJ) $(LDLIBS) -o $@

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%) $(FUZZ_BUILD)/mkseeds

fuzz:
	@tools/deps.sh fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_JOBS=$(FUZZ_JOBS) fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf build build-san infer infer-quantize
