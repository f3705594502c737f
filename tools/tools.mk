# tools/ - the heapshim command (build/heapshim), its test helper
# (build/tools/hs-livegen, writes synthetic live files) and the fuzzers.
# tmux: tests/43-cli-top.sh draws `heapshim top` in an 80x24 pane (skipped without it);
# pkg-config: tests/44-packaging.sh links against the installed .pc files;
# google-perftools: tests/43-profile.sh reads heap profiles with google-pprof;
# protobuf-compiler (protoc --decode) and golang-go (go tool pprof) read the
# protobuf profiles there
TEST_DEPS += libjansson-dev prometheus librsvg2-bin curl clang libclang-rt-14-dev tmux pkg-config google-perftools \
             protobuf-compiler golang-go
# libdw: symbols in profiles; protobuf-c and zlib: `profile --format pb`
BUILD_DEPS += libdw-dev libprotobuf-c-dev protobuf-c-compiler zlib1g-dev

TOOLS_SRCS := $(filter-out tools/livegen.c,$(wildcard tools/*.c))
TOOLS_OBJS := $(TOOLS_SRCS:%.c=$(B)/%.o)

# pprof's protobuf schema (tools/pprof.proto) compiled to C by protoc-c at
# build time, into $(B)/gen (scripts/configure: HS_HAVE_PPROF, HS_PROTOC_C)
ifeq ($(HS_HAVE_PPROF),1)
PPROF_GEN := $(B)/gen/pprof.pb-c.c $(B)/gen/pprof.pb-c.h
$(B)/gen/pprof.pb-c.h: $(B)/gen/pprof.pb-c.c
$(B)/gen/pprof.pb-c.c: tools/pprof.proto $(B)/build-flags
	@mkdir -p $(dir $@)
	$(call msg,PROTOC,$<)
	$(Q)$(HS_PROTOC_C) --proto_path=tools --c_out=$(B)/gen tools/pprof.proto
$(B)/gen/pprof.pb-c.o: $(B)/gen/pprof.pb-c.c $(B)/gen/pprof.pb-c.h
	$(call msg,CC,$<)
	$(Q)$(CC) $(CFLAGS_ALL) -I$(B)/gen -MMD -MP -c $< -o $@
$(B)/tools/pprof_pb.o: $(PPROF_GEN)
AREA_CFLAGS_tools += -I$(B)/gen
TOOLS_OBJS += $(B)/gen/pprof.pb-c.o
TOOLS_LIBS_PPROF := -lprotobuf-c -lz
endif

$(B)/heapshim: $(TOOLS_OBJS) $(B)/core/live_read.o $(B)/core/table.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ -ljansson -lm $(if $(filter 1,$(HS_HAVE_DW)),-ldw) $(TOOLS_LIBS_PPROF)

$(B)/tools/hs-livegen: $(B)/tools/livegen.o
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^

# The command parses reports with libjansson (scripts/configure: HS_HAVE_JANSSON).
# Without it, `make` still builds the libraries and says so; `make check` and
# `make demo` install it first.
ifeq ($(HS_HAVE_JANSSON),1)
ALL_TARGETS += $(B)/heapshim $(B)/tools/hs-livegen
else
ALL_TARGETS += tools-skipped
.PHONY: tools-skipped
tools-skipped:
	@echo "  SKIP    build/heapshim: libjansson-dev is not installed (make check / make demo install it)"
endif

# make install: the command and scripts/heapshim-ci go to $(PREFIX)/bin
# (heapshim-ci finds heapshim next to itself); `heapshim run` then finds
# the library as ../lib/libheapshim.so relative to itself.
.PHONY: install-heapshim
install-heapshim: $(B)/heapshim
	$(HS_INSTALL) file 0755 $(B)/heapshim $(call shq,$(PREFIX)/bin)
	$(HS_INSTALL) file 0755 scripts/heapshim-ci $(call shq,$(PREFIX)/bin)
INSTALL_TARGETS += install-heapshim

# Fuzzers (libFuzzer, clang): the report parser, the live-region reader,
# the probe's ELF reader and the heap profile reader.
# A bounded run is part of make check; `make fuzz FUZZ_SECONDS=600` runs longer.
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -D_GNU_SOURCE -Iinclude -Itools
FUZZ_SECONDS ?= 300
FUZZ_CHECK_SECONDS ?= 30
FUZZ_BINS := $(B)/fuzz/fuzz_report $(B)/fuzz/fuzz_live $(B)/fuzz/fuzz_elf $(B)/fuzz/fuzz_profile

$(B)/fuzz/fuzz_report: tools/fuzz/fuzz_report.c tools/report.c tools/util.c tools/cli.h
	@mkdir -p $(dir $@)
	$(call msg,FUZZCC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tools/fuzz/fuzz_report.c tools/report.c tools/util.c -ljansson -lm

# FUZZ_LIVE_EXTRA: extra flags for the live-file fuzzer (none: the reader in
# core/live_read.c is fuzzed bare, with all of ASan and UBSan on; the two
# crashes it once found are kept in tools/fuzz/crashers/ and replayed).
FUZZ_LIVE_EXTRA ?=
$(B)/fuzz/fuzz_live: tools/fuzz/fuzz_live.c core/live_read.c tools/prom.c tools/report.c tools/util.c tools/cli.h include/heapshim/live.h
	@mkdir -p $(dir $@)
	$(call msg,FUZZCC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) $(FUZZ_LIVE_EXTRA) -o $@ tools/fuzz/fuzz_live.c core/live_read.c tools/prom.c tools/report.c tools/util.c -ljansson -lm

# the probe's ELF reader (ebpf/elf_lib.c: heapshim-probe runs it as root)
$(B)/fuzz/fuzz_elf: tools/fuzz/fuzz_elf.c ebpf/elf_lib.c ebpf/elf_lib.h
	@mkdir -p $(dir $@)
	$(call msg,FUZZCC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tools/fuzz/fuzz_elf.c ebpf/elf_lib.c

# the heap profile reader and frame views (tools/profile_read.c), and the
# names of interpreter frames (tools/symbolize.c; no module file is opened)
$(B)/fuzz/fuzz_profile: tools/fuzz/fuzz_profile.c tools/profile_read.c tools/symbolize.c tools/live.c tools/util.c \
                        core/live_read.c tools/profile.h include/heapshim/profile.h $(B)/config.h
	@mkdir -p $(dir $@)
	$(call msg,FUZZCC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -I$(B) -o $@ tools/fuzz/fuzz_profile.c tools/profile_read.c tools/symbolize.c \
		tools/live.c tools/util.c core/live_read.c $(if $(filter 1,$(HS_HAVE_DW)),-ldw -lelf) -ljansson -lm

.PHONY: fuzz fuzz-check
fuzz: $(FUZZ_BINS)
	$(Q)B=$(B) tools/fuzz/run-fuzz $(FUZZ_SECONDS)

fuzz-check: $(FUZZ_BINS)
	$(Q)B=$(B) tools/fuzz/run-fuzz $(FUZZ_CHECK_SECONDS)
CHECK_TARGETS += fuzz-check
