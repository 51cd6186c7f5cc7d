# gatewayd — build, run, test. `make run` and `make test` install what is missing first.
BUILD    ?= build
CC       ?= cc
PKGS     := libevent libevent_openssl openssl libpq jansson libcurl libqrencode
VERSION  := $(shell git describe --always --dirty 2>/dev/null || echo dev)

WARN     := -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wformat=2 -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Wnull-dereference -Werror
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c17 -D_GNU_SOURCE $(WARN) -MMD -MP -Igateway -Iadapters -I$(BUILD)/gen \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread

ifeq ($(SAN),fuzz)
CC       := clang
CFLAGS   += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=address,undefined
endif
ifeq ($(SAN),1)
CC       := clang
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif

SRCS     := $(wildcard gateway/*.c) $(wildcard adapters/*.c)
OBJS     := $(SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/migrations.o $(BUILD)/gen/web_assets.o
LIBOBJS  := $(filter-out $(BUILD)/gateway/main.o,$(OBJS))
MIGRATIONS := $(sort $(wildcard schema/[0-9]*.sql))
WEB      := $(sort $(wildcard gateway/web/*.html gateway/web/*.css gateway/web/*.js))
UNIT     := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
FUZZERS  := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60

.PHONY: all run test asan unit fuzz fuzz-build bench chaos analyze clean deps FORCE
all: $(BUILD)/gatewayd

deps:
	@deploy/dev/deps.sh build

$(BUILD)/gatewayd: $(OBJS)
	@echo "  LD   $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The version header changes only when the version does, so it rebuilds only its includers.
$(BUILD)/gen/version.h: FORCE
	@mkdir -p $(dir $@)
	@echo '#define GATEWAY_VERSION "$(VERSION)"' >$@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(BUILD)/%.o: %.c | $(BUILD)/gen/version.h
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/gen/migrations.c: $(MIGRATIONS) gateway/embed.sh
	@mkdir -p $(dir $@)
	@echo "  GEN  $@"
	@gateway/embed.sh $@ migrations $(MIGRATIONS)

$(BUILD)/gen/web_assets.c: $(WEB) gateway/embed.sh
	@mkdir -p $(dir $@)
	@echo "  GEN  $@"
	@gateway/embed.sh $@ web_assets $(WEB)

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	@echo "  CC   $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

# Unit tests link the module objects they test (everything but main) with cmocka.
$(BUILD)/tests/%: tests/unit/%.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	@echo "  TEST $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS) -lcmocka

unit: $(UNIT)

# libFuzzer targets (built with SAN=fuzz into build/fuzz): one per parser.
$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIBOBJS)
	@mkdir -p $(dir $@)
	@echo "  FUZZ $@"
	@$(CC) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

fuzz-build: $(FUZZERS)

fuzz:
	@deploy/dev/deps.sh test
	@$(MAKE) --no-print-directory BUILD=build/fuzz SAN=fuzz fuzz-build
	@tests/fuzz/run.sh build/fuzz $(FUZZ_SECONDS) --merge

# The reliability suites in full (tests/chaos/, tests/hostile/); the leak test needs the ASan build.
chaos:
	@deploy/dev/deps.sh test
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 all
	@BUILD=$(BUILD) tests/chaos/run.sh full

# The clang static analyzer over the whole build, shellcheck over the scripts, no call loops between
# source files; any report fails (make test runs it as the suite "analyze").
analyze:
	@deploy/dev/deps.sh test
	@tests/analyze/run.sh

bench:
	@deploy/dev/deps.sh test
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) SCALE=$(SCALE) /usr/bin/python3 tests/bench/bench.py

run:
	@deploy/dev/deps.sh build
	@$(MAKE) --no-print-directory all
	@deploy/dev/run.sh

test:
	@deploy/dev/deps.sh test
	@deploy/dev/deps.sh npm
	@$(MAKE) --no-print-directory all unit
	@$(MAKE) --no-print-directory BUILD=build/fuzz SAN=fuzz fuzz-build
	@BUILD=$(BUILD) SAN=$(SAN) tests/run.sh

asan:
	@deploy/dev/deps.sh test
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 test

clean:
	rm -rf build

-include $(OBJS:.o=.d) $(UNIT:=.d)
