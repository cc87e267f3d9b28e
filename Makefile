# infer — build, test, benchmark.
#   make            build ./infer
#   make run        fetch the default model if missing and generate a story
#   make test       build and run the whole test suite
#   make SAN=1 ...  the same with AddressSanitizer + UndefinedBehaviorSanitizer
#   make PORTABLE=1 AVX2/FMA/F16C without -march=native; PORTABLE=generic: plain x86-64
#   make bench      benchmark table (see tools/bench.sh)

CC      ?= gcc
PKGS    := openblas libcjson
ifeq ($(origin CC),default)
CC := gcc
endif

ifeq ($(PORTABLE),1)
ARCH := -mavx2 -mfma -mf16c
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

.PHONY: all build run test test-san deps model bench fuzz clean
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

infer: $(BUILD)/src/main.o $(BUILD)/libinfer.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

infer-quantize: $(BUILD)/tools/quantize
	cp $< $@

$(BUILD)/tools/%: tools/%.c $(BUILD)/libinfer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c tests/testutil.h $(BUILD)/libinfer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(BUILD)/libinfer.a $(LDLIBS) -lcmocka -o $@

models/stories260K.gguf:
	@tools/get-model.sh "$(MODEL_MIRROR)" "$(MODEL_URL)" $@

model: models/stories260K.gguf

run: all models/stories260K.gguf
	./infer -m models/stories260K.gguf -p "Once upon a time" -n 128

test:
	@tools/deps.sh test
	@$(MAKE) --no-print-directory build $(TEST_BIN)
	@tools/run-tests.sh $(BUILD)

test-san:
	$(MAKE) SAN=1 test

bench: all
	@tools/bench.sh

clean:
	rm -rf build build-san infer infer-quantize
