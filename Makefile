# Escucha build. Conventions (no edits needed to add code):
#   lib/*.c                      -> $(BUILD)/libescucha.a (plus generated protobuf-c code)
#   services/S/*.c (not main.c)  -> $(BUILD)/S/libS.a ; services/S/main.c -> $(BUILD)/bin/escucha-S
#   tests/unit/lib/test_*.c      -> unit test linked with libescucha.a
#   tests/unit/S/test_*.c        -> unit test linked with libS.a + libescucha.a
#   fuzz/S/fuzz_*.c              -> libFuzzer target (make fuzz), S = lib or a service
# SAN=1 builds everything with ASan+UBSan into build-san/.
SERVICES := ingest classify prioritize actions
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
CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror -Wno-missing-field-initializers \
          -Ilib -I$(BUILD)/gen -I/usr/include/postgresql $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := $(SANFLAGS)
LDLIBS := -lrdkafka -lhiredis -lpq -lprotobuf-c -luv -lhttp_parser -ljansson -lcjson -lutf8proc -lstemmer \
          -lxxhash -lsodium -lcurl -lpthread -lm

PROTOS := $(wildcard proto/escucha/v1/*.proto)
PB_C := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
PB_H := $(PB_C:.c=.h)
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(PB_C:.c=.o)
LIBESCUCHA := $(BUILD)/libescucha.a

# Generated protobuf headers are intermediates of a pattern rule: without this make
# deletes them after each build, and every later build recompiles every object.
.SECONDARY:

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
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
ifneq ($$(wildcard services/$(1)/main.c),)
BINS += $$(BUILD)/bin/escucha-$(1)
endif
$(1)_TESTS := $$(patsubst tests/unit/$(1)/%.c,$$(BUILD)/tests/$(1)/%,$$(wildcard tests/unit/$(1)/test_*.c))
$$(BUILD)/tests/$(1)/%: $$(BUILD)/obj/tests/unit/$(1)/%.o $$($(1)_LIB) $$(LIBESCUCHA)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ -lcmocka $$(LDLIBS)
TESTS += $$($(1)_TESTS)
# tests and fuzz targets include the service's own headers by name
$$(BUILD)/obj/tests/unit/$(1)/%.o: CFLAGS += -Iservices/$(1)
$$(BUILD)/obj/fuzz/$(1)/%.o: CFLAGS += -Iservices/$(1)
endef
$(foreach s,$(SERVICES),$(eval $(call SERVICE_template,$(s))))

LIB_TESTS := $(patsubst tests/unit/lib/%.c,$(BUILD)/tests/lib/%,$(wildcard tests/unit/lib/test_*.c))
$(BUILD)/tests/lib/%: $(BUILD)/obj/tests/unit/lib/%.o $(LIBESCUCHA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)
TESTS += $(LIB_TESTS)

# libFuzzer targets (clang); fuzz/lib/*.c link libescucha only.
FUZZ_SRC := $(wildcard fuzz/*/fuzz_*.c)
FUZZERS := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
$(BUILD)/fuzz/lib/%: $(BUILD)/obj/fuzz/lib/%.o $(LIBESCUCHA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
define FUZZ_template
$$(BUILD)/fuzz/$(1)/%: $$(BUILD)/obj/fuzz/$(1)/%.o $$($(1)_LIB) $$(LIBESCUCHA)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -fsanitize=fuzzer -o $$@ $$^ $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call FUZZ_template,$(s))))

# Corpus replay (plain/SAN builds): the same targets with fuzz/driver.c's main.
REPLAYS := $(patsubst fuzz/%.c,$(BUILD)/fuzz-replay/%,$(FUZZ_SRC))
$(BUILD)/fuzz-replay/lib/%: $(BUILD)/obj/fuzz/lib/%.o $(BUILD)/obj/fuzz/driver.o $(LIBESCUCHA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
define REPLAY_template
$$(BUILD)/fuzz-replay/$(1)/%: $$(BUILD)/obj/fuzz/$(1)/%.o $$(BUILD)/obj/fuzz/driver.o $$($(1)_LIB) $$(LIBESCUCHA)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
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
