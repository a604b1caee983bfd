# Escucha build. Conventions (no edits needed to add code):
#   lib/*.c                      -> $(BUILD)/libescucha.a (plus generated protobuf-c code)
#   services/S/*.c (not main.c)  -> $(BUILD)/S/libS.a ; services/S/main.c -> $(BUILD)/bin/escucha-S
#   tests/unit/lib/test_*.c      -> unit test linked with libescucha.a
#   tests/unit/S/test_*.c        -> unit test linked with libS.a + libescucha.a
#   fuzz/S/fuzz_*.c              -> libFuzzer target (make fuzz), S = lib or a service
#   tests and fuzz targets of S include its headers by name ("redact.h"): -Iservices/S
# SAN=1 builds everything with ASan+UBSan into build-san/.
# A new service: add it to SERVICES and give it S_PKGS / S_LDLIBS below.
SERVICES := ingest classify prioritize actions api

# ---- libraries: each binary links only what it uses ----
# Names are pkg-config packages (compile and link flags come from their .pc files); the
# libraries without a .pc file on Debian (http_parser, libstemmer) are named in *_LDLIBS.
# libescucha.a: what every service pulls in (kafka.c with kafka_lag.c's jansson, http.c, admin.c,
# generated protobuf-c).
ESCUCHA_PKGS := rdkafka libprotobuf-c libuv jansson
ESCUCHA_LDLIBS := -lhttp_parser -lpthread
# lib/rds.c (hiredis), lib/pg.c (libpq), lib/taxonomy.c (xxhash; jansson is core), lib/keys.c
# and lib/receipt.c (libsodium), lib/text.c (utf8proc): linked only by the services that use
# them, listed below.
ESCUCHA_OPT_PKGS := hiredis libpq libxxhash libsodium libutf8proc
ingest_PKGS := hiredis libcjson libsodium libutf8proc libxxhash
ingest_LDLIBS :=
classify_PKGS := libpq jansson libutf8proc libxxhash
classify_LDLIBS := -lstemmer -lm
prioritize_PKGS := libpq jansson libutf8proc libxxhash
prioritize_LDLIBS := -lstemmer -lm
actions_PKGS := hiredis libpq jansson libcurl libsodium libutf8proc libxxhash
actions_LDLIBS := -lm
api_PKGS := libpq jansson libsodium libxxhash
api_LDLIBS := -lm
TEST_PKGS := cmocka
PKG_CONFIG ?= pkg-config
SAN ?= 0
FUZZ ?= 0
ifeq ($(FUZZ),1)
  CC := clang
  BUILD ?= build-fuzz
  SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -DESCUCHA_FUZZ=1
else ifeq ($(SAN),1)
  BUILD ?= build-san
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
  BUILD ?= build
  SANFLAGS :=
endif
CC ?= cc
OPT ?= -O2
# pkg-config is asked only when something is built: `make deps`/`make test` on a fresh machine
# parse this file before pkg-config and the -dev packages are installed.
NOBUILD_GOALS := format format-check clean deps kafka-jars down status san test unit integration demo bench fuzz model
ALL_PKGS := $(sort $(ESCUCHA_PKGS) $(ESCUCHA_OPT_PKGS) $(foreach s,$(SERVICES),$($(s)_PKGS)) $(TEST_PKGS))
ifneq ($(filter-out $(NOBUILD_GOALS),$(or $(MAKECMDGOALS),all)),)
  PKG_MISSING := $(strip $(foreach p,$(ALL_PKGS),$(if $(shell $(PKG_CONFIG) --exists $(p) 2>/dev/null && echo y),,$(p))))
  ifneq ($(PKG_MISSING),)
    $(error pkg-config cannot find: $(PKG_MISSING) (make deps installs them))
  endif
  PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(ALL_PKGS))
  pkg_libs = $(if $(strip $(1)),$(shell $(PKG_CONFIG) --libs $(1)))
  # link lists: libescucha's core last, as the archives on the command line need it
  ESCUCHA_LINK := $(call pkg_libs,$(ESCUCHA_PKGS)) $(ESCUCHA_LDLIBS)
  ESCUCHA_FULL_LINK := $(call pkg_libs,$(ESCUCHA_OPT_PKGS)) $(ESCUCHA_LINK)
  $(foreach s,$(SERVICES),$(eval $(s)_LINK := $$(call pkg_libs,$$($(s)_PKGS)) $$($(s)_LDLIBS) $$(ESCUCHA_LINK)))
  TEST_LINK := $(call pkg_libs,$(TEST_PKGS))
endif
CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror -Wno-missing-field-initializers \
          -Ilib -I$(BUILD)/gen $(PKG_CFLAGS) $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(SANFLAGS)

PROTOS := $(wildcard proto/escucha/v1/*.proto)
PB_C := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
PB_H := $(PB_C:.c=.h)
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(PB_C:.c=.o)
LIBESCUCHA := $(BUILD)/libescucha.a

# Generated protobuf headers are intermediates of a pattern rule: without this make
# deletes them after each build, and every later build recompiles every object.
.SECONDARY:

# `make` alone builds (the first rule below would otherwise be the default goal)
.DEFAULT_GOAL := all

# C sources clang-format checks (generated code and vendored files excluded)
FORMAT_SRC = $(shell git ls-files 'lib/*.[ch]' 'services/*.[ch]' 'tests/unit/*.[ch]' 'fuzz/*.[ch]' 'bench/*.[ch]' 2>/dev/null)

.PHONY: format format-check
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	clang-format --dry-run -Werror $(FORMAT_SRC)

.PHONY: all bins tests clean deps up down status test unit integration demo bench fuzz fuzzers san kafka-jars model
all: bins tests

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -Iproto $<

$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c
	$(CC) $(CFLAGS) -Wno-unused-parameter -c -o $@ $<

$(BUILD)/obj/%.o: %.c $(PB_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# escucha_build_info's commit: the stamp is rewritten only when HEAD moves, so
# only lib/process.o is rebuilt then.
GIT_COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
$(BUILD)/gen/commit.stamp: FORCE
	@mkdir -p $(dir $@)
	@echo '$(GIT_COMMIT)' | cmp -s - $@ || echo '$(GIT_COMMIT)' > $@
$(BUILD)/obj/lib/process.o: $(BUILD)/gen/commit.stamp
$(BUILD)/obj/lib/process.o: CFLAGS += -DESCUCHA_COMMIT='"$(GIT_COMMIT)"'
.PHONY: FORCE
FORCE:

$(LIBESCUCHA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

BINS :=
TESTS :=
# One service: its library, its binary, its unit tests.
define SERVICE_template
$(1)_SRC := $$(filter-out services/$(1)/main.c,$$(wildcard services/$(1)/*.c))
$(1)_OBJ := $$(patsubst %.c,$$(BUILD)/obj/%.o,$$($(1)_SRC))
$(1)_LIB := $$(BUILD)/$(1)/lib$(1).a
$$($(1)_LIB): $$($(1)_OBJ)
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	ar rcs $$@ $$^ $$(if $$($(1)_OBJ),,)
$$(BUILD)/bin/escucha-$(1): $$(BUILD)/obj/services/$(1)/main.o $$($(1)_LIB) $$(LIBESCUCHA)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$($(1)_LINK)
ifneq ($$(wildcard services/$(1)/main.c),)
BINS += $$(BUILD)/bin/escucha-$(1)
endif
$(1)_TESTS := $$(patsubst tests/unit/$(1)/%.c,$$(BUILD)/tests/$(1)/%,$$(wildcard tests/unit/$(1)/test_*.c))
$$(BUILD)/tests/$(1)/%: $$(BUILD)/obj/tests/unit/$(1)/%.o $$($(1)_LIB) $$(LIBESCUCHA)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(TEST_LINK) $$($(1)_LINK)
TESTS += $$($(1)_TESTS)
# tests and fuzz targets include the service's own headers by name, found before lib's as in
# the service's own sources (classify's "text.h" is not lib's "text.h")
$$(BUILD)/obj/tests/unit/$(1)/%.o: CFLAGS := -Iservices/$(1) $$(CFLAGS)
$$(BUILD)/obj/fuzz/$(1)/%.o: CFLAGS := -Iservices/$(1) $$(CFLAGS)
endef
$(foreach s,$(SERVICES),$(eval $(call SERVICE_template,$(s))))

LIB_TESTS := $(patsubst tests/unit/lib/%.c,$(BUILD)/tests/lib/%,$(wildcard tests/unit/lib/test_*.c))
$(BUILD)/tests/lib/%: $(BUILD)/obj/tests/unit/lib/%.o $(LIBESCUCHA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(TEST_LINK) $(ESCUCHA_FULL_LINK)
TESTS += $(LIB_TESTS)

# libFuzzer targets (clang); fuzz/lib/*.c link libescucha only.
FUZZ_SRC := $(wildcard fuzz/*/fuzz_*.c)
FUZZERS := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
$(BUILD)/fuzz/lib/%: $(BUILD)/obj/fuzz/lib/%.o $(LIBESCUCHA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(ESCUCHA_FULL_LINK)
define FUZZ_template
$$(BUILD)/fuzz/$(1)/%: $$(BUILD)/obj/fuzz/$(1)/%.o $$($(1)_LIB) $$(LIBESCUCHA)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -fsanitize=fuzzer -o $$@ $$^ $$($(1)_LINK)
endef
$(foreach s,$(SERVICES),$(eval $(call FUZZ_template,$(s))))

# Corpus replay (plain/SAN builds): the same targets with fuzz/driver.c's main.
REPLAYS := $(patsubst fuzz/%.c,$(BUILD)/fuzz-replay/%,$(FUZZ_SRC))
$(BUILD)/fuzz-replay/lib/%: $(BUILD)/obj/fuzz/lib/%.o $(BUILD)/obj/fuzz/driver.o $(LIBESCUCHA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(ESCUCHA_FULL_LINK)
define REPLAY_template
$$(BUILD)/fuzz-replay/$(1)/%: $$(BUILD)/obj/fuzz/$(1)/%.o $$(BUILD)/obj/fuzz/driver.o $$($(1)_LIB) $$(LIBESCUCHA)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$($(1)_LINK)
endef
$(foreach s,$(SERVICES),$(eval $(call REPLAY_template,$(s))))
ifneq ($(FUZZ),1)
TESTS += $(REPLAYS)
endif

bins: $(BINS)
tests: $(TESTS)
fuzzers: $(FUZZERS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

clean:
	rm -rf build build-san build-fuzz

# ---- operations (scripts/stack.sh does the work) ----
# make up KAFKA_BROKERS=3: a 3-node KRaft cluster (RF 3, min.insync.replicas 2) instead of one
# broker; pass the same to down/status. Unset: the environment's (default 1).
ifdef KAFKA_BROKERS
export ESCUCHA_KAFKA_BROKER_COUNT := $(KAFKA_BROKERS)
endif
deps:
	scripts/deps.sh
kafka-jars:
	scripts/stack.sh jars
up: bins
	scripts/stack.sh up
down:
	scripts/stack.sh down
status:
	scripts/stack.sh status
san:
	$(MAKE) SAN=1 all

test:
	tests/run.sh
unit:
	tests/run.sh unit
integration:
	tests/run.sh integration
demo:
	scripts/demo.sh
bench:
	bench/run.sh
fuzz:
	scripts/fuzz.sh
model:
	scripts/train-default-model.sh
