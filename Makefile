# heapshim - top-level Makefile.
#
#   make                 build/libheapshim.{a,so}, build/heapshim, (build/heapshim-probe)
#   make check           install build + test deps if missing (scripts/install-deps), run all tests
#   make check SAN=1     the same with AddressSanitizer + UBSan on the core and tests
#   make bench           benchmarks, side by side with glibc and other allocators
#   make demo            install build deps if missing, a real program under the shim
#   make install PREFIX=/usr/local DESTDIR=
#   make uninstall PREFIX=/usr/local DESTDIR=   removes what install put there
#   V=1                  show the commands
#   CC=clang OPT=-O0 CFLAGS=... LDFLAGS=...   rebuild everything they affect
#   USDT=auto|0|1        USDT points if <sys/sdt.h> is there | never | required
#   B=DIR                build directory (default build, build/san with SAN=1)
#
# Each area owns a fragment: core/core.mk, interpose/interpose.mk,
# tools/tools.mk, ebpf/ebpf.mk, tests/tests.mk, bench/bench.mk. Fragments add
# to ALL_TARGETS, CHECK_TARGETS, BENCH_TARGETS, INSTALL_TARGETS, BUILD_DEPS
# and TEST_DEPS.
#
# Configuration: scripts/configure decides the optional features once per
# make run (sys/sdt.h, libjansson, the probe's tools) into $(B)/config.h and
# $(B)/config.mk; $(B)/build-flags records the compiler, its version, every
# flag and those features. Both are rewritten only when their content changes,
# and every object depends on build-flags: a new compiler, new flags or a
# newly installed dependency rebuild what they affect, nothing else does.

PREFIX  ?= /usr/local
DESTDIR ?=
B       := build
CC      ?= cc
AR      ?= ar
SAN     ?= 0
USDT    ?= auto
BPF_CLANG   ?= clang
BPFTOOL     ?=
BTF_VMLINUX ?= /sys/kernel/btf/vmlinux

ifeq ($(filter 0 1,$(SAN)),)
$(error SAN=$(SAN): expected 0 or 1 (1 builds with AddressSanitizer + UBSan into build/san))
endif

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' $(1) $(2)
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CSTD    := -std=gnu11
OPT     ?= -O2
BASE_CFLAGS := $(CSTD) $(OPT) -g $(WARN) -fPIC -fvisibility=hidden \
               -D_GNU_SOURCE -Iinclude -I$(B)
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
B := build/san
BASE_CFLAGS := $(CSTD) -O1 -g $(WARN) -fPIC -fvisibility=hidden -D_GNU_SOURCE -Iinclude -I$(B)
endif
CFLAGS_ALL = $(BASE_CFLAGS) $(SANFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(SANFLAGS) $(LDFLAGS)

# single-quote a value for the shell
shq = '$(subst ','\'',$(1))'

# Goals that build nothing themselves (they run a sub-make after installing
# what the build needs) do not configure: the sub-make does, after the install.
NOCONFIG_GOALS := clean deps demo check bench-deps
ifneq ($(filter-out $(NOCONFIG_GOALS),$(or $(MAKECMDGOALS),all)),)
HS_CONFIGURE = B=$(call shq,$(B)) CC=$(call shq,$(CC)) CFLAGS=$(call shq,$(CFLAGS)) \
    LDFLAGS=$(call shq,$(LDFLAGS)) USDT=$(call shq,$(USDT)) BPF_CLANG=$(call shq,$(BPF_CLANG)) \
    BPFTOOL=$(call shq,$(BPFTOOL)) BTF_VMLINUX=$(call shq,$(BTF_VMLINUX)) scripts/configure
HS_CONFIGURE_ERR := $(shell $(HS_CONFIGURE))
ifneq ($(HS_CONFIGURE_ERR),)
$(error $(HS_CONFIGURE_ERR))
endif
include $(B)/config.mk
endif

ALL_TARGETS     :=
CHECK_TARGETS   :=
BENCH_TARGETS   :=
INSTALL_TARGETS :=
TEST_DEPS       :=
# What the build itself uses when present: the compiler, <sys/sdt.h> (USDT
# points), libjansson (the heapshim command). Installed by make demo and make
# check before anything is compiled; ebpf/ebpf.mk adds the probe's tools.
BUILD_DEPS      := make gcc libc6-dev systemtap-sdt-dev libjansson-dev

.PHONY: all check check-run bench demo install uninstall clean fuzz deps
all:

# the areas in this order (later ones use earlier ones' variables), then any
# other fragment (e.g. tests/deepbind.mk)
HS_FRAGMENTS := core/core.mk interpose/interpose.mk tools/tools.mk ebpf/ebpf.mk tests/tests.mk bench/bench.mk
include core/core.mk
-include $(filter-out core/core.mk,$(HS_FRAGMENTS))
-include $(filter-out $(HS_FRAGMENTS),$(sort $(wildcard $(addsuffix *.mk,$(dir $(HS_FRAGMENTS))))))

all: $(ALL_TARGETS)

# Object rule shared by every area: build/<dir>/<name>.o from <dir>/<name>.c.
# Rules of the fragments that compile straight from sources depend on
# $(B)/build-flags too (after their own sources: they use $<).
$(B)/%.o: %.c $(B)/build-flags | $(B)/config.h
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(CFLAGS_ALL) $(AREA_CFLAGS_$(firstword $(subst /, ,$<))) -MMD -MP -c $< -o $@

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# The build-flags stamp (git's GIT-CFLAGS): the recipe runs on every make, and
# rewrites the file only when what it records changed, so make sees a new
# mtime exactly then. One line per item, for `cat build/build-flags`.
HS_AREAS := $(sort core interpose tools ebpf tests bench $(patsubst AREA_CFLAGS_%,%,$(filter AREA_CFLAGS_%,$(.VARIABLES))))
HS_BUILD_FLAGS = \
    'CC=$(subst ','\'',$(CC))' \
    'CC_VERSION=$(HS_CC_VERSION)' \
    'AR=$(subst ','\'',$(AR))' 'CXX=$(subst ','\'',$(CXX))' \
    'CFLAGS=$(subst ','\'',$(strip $(CFLAGS_ALL)))' \
    'LDFLAGS=$(subst ','\'',$(strip $(LDFLAGS_ALL)))' \
    'SHIM_LIBGCC=$(SHIM_LIBGCC)' \
    $(foreach a,$(HS_AREAS),'AREA_CFLAGS_$(a)=$(subst ','\'',$(strip $(AREA_CFLAGS_$(a))))') \
    'HS_HAVE_SDT=$(HS_HAVE_SDT)' \
    'HS_HAVE_JANSSON=$(HS_HAVE_JANSSON)'
$(B)/build-flags: FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' $(HS_BUILD_FLAGS) > $@.new; \
	if cmp -s $@.new $@; then rm -f $@.new; else \
	    $(if $(Q),printf '  %-7s %s\n' GEN "$@ ($$(test -e $@ && echo changed || echo new))";) mv -f $@.new $@; fi

# written by scripts/configure as make starts; this only brings them back
# after a `make clean` in the same run
$(B)/config.h:
	$(Q)out=$$($(HS_CONFIGURE)) || { echo "$$out" >&2; exit 1; }

.PHONY: FORCE
FORCE:

# Debian packages: BUILD_DEPS for the build, TEST_DEPS for the suites;
# fragments append to both.
deps:
	$(Q)HEAPSHIM_DEPS="$(sort $(BUILD_DEPS) $(TEST_DEPS))" scripts/install-deps

# The preloaded shim is always the plain build (a sanitizer runtime cannot be
# preloaded into arbitrary programs); with SAN=1 the core, its tests and the
# tools are built and run with ASan+UBSan in build/san.
check: deps
	$(Q)$(MAKE) --no-print-directory SAN=0 all
	$(Q)$(MAKE) --no-print-directory SAN=$(SAN) all check-run

check-run: $(CHECK_TARGETS)
	@echo "make check: all suites passed"

bench: all $(BENCH_TARGETS)

# Every file goes through scripts/hs-install, which notes it (and every
# directory it had to create) in $(PREFIX)/share/heapshim/install-manifest;
# `make uninstall` removes exactly those, and leaves anything else in place.
# Fragments' install targets (INSTALL_TARGETS) use $(HS_INSTALL) too.
HS_VERSION := 0.1.0
HS_INSTALL = DESTDIR=$(call shq,$(DESTDIR)) PREFIX=$(call shq,$(PREFIX)) scripts/hs-install
install: all $(INSTALL_TARGETS)
	$(HS_INSTALL) file 0644 include/heapshim.h $(call shq,$(PREFIX)/include)
	for h in include/heapshim/*.h; do $(HS_INSTALL) file 0644 $$h $(call shq,$(PREFIX)/include/heapshim) || exit 1; done
	$(HS_INSTALL) file 0644 $(B)/libheapshim.a $(call shq,$(PREFIX)/lib)
	$(HS_INSTALL) file 0755 $(B)/libheapshim.so.$(HS_SOVERSION) $(call shq,$(PREFIX)/lib)
	$(HS_INSTALL) link libheapshim.so.$(HS_SOVERSION) $(call shq,$(PREFIX)/lib) libheapshim.so
	for pc in heapshim heapshim-api; do \
	    sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(HS_VERSION)|g' scripts/$$pc.pc.in > $(B)/$$pc.pc && \
	    $(HS_INSTALL) file 0644 $(B)/$$pc.pc $(call shq,$(PREFIX)/lib/pkgconfig) || exit 1; done

uninstall:
	$(HS_INSTALL) uninstall

clean:
	rm -rf $(if $(filter build build/%,$(B)),build,$(B))

# everything the build uses is installed before anything is compiled
demo:
	$(Q)HEAPSHIM_DEPS="$(sort $(BUILD_DEPS) python3)" scripts/install-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)B=$(B) scripts/demo.sh
