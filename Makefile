# heapshim - top-level Makefile.
#
#   make                 build/libheapshim.{a,so}, build/heapshim, (build/heapshim-probe)
#   make check           install test deps if missing (scripts/install-deps), run all tests
#   make check SAN=1     the same with AddressSanitizer + UBSan on the core and tests
#   make bench           benchmarks, side by side with glibc and other allocators
#   make demo            a real program under the shim, with the per-domain table
#   make install PREFIX=/usr/local DESTDIR=
#   V=1                  show the commands
#
# Each area owns a fragment: core/core.mk, interpose/interpose.mk,
# tools/tools.mk, ebpf/ebpf.mk, tests/tests.mk, bench/bench.mk. Fragments add
# to ALL_TARGETS, CHECK_TARGETS, BENCH_TARGETS and INSTALL_TARGETS.

PREFIX  ?= /usr/local
DESTDIR ?=
B       := build
CC      ?= cc
AR      ?= ar
SAN     ?= 0

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

ALL_TARGETS     :=
CHECK_TARGETS   :=
BENCH_TARGETS   :=
INSTALL_TARGETS :=
TEST_DEPS       :=

.PHONY: all check bench demo install clean fuzz deps
all:

include core/core.mk
-include interpose/interpose.mk
-include tools/tools.mk
-include ebpf/ebpf.mk
-include tests/tests.mk
-include bench/bench.mk

all: $(ALL_TARGETS)

# Object rule shared by every area: build/<dir>/<name>.o from <dir>/<name>.c
$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call msg,CC,$<)
	$(Q)$(CC) $(CFLAGS_ALL) $(AREA_CFLAGS_$(firstword $(subst /, ,$<))) -MMD -MP -c $< -o $@

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# Debian packages the suites need; fragments append to TEST_DEPS.
deps:
	$(Q)HEAPSHIM_DEPS="$(sort $(TEST_DEPS))" scripts/install-deps

# The preloaded shim is always the plain build (a sanitizer runtime cannot be
# preloaded into arbitrary programs); with SAN=1 the core, its tests and the
# tools are built and run with ASan+UBSan in build/san.
check: deps
	$(Q)$(MAKE) --no-print-directory SAN=0 all
	$(Q)$(MAKE) --no-print-directory SAN=$(SAN) all check-run

check-run: $(CHECK_TARGETS)
	@echo "make check: all suites passed"

bench: all $(BENCH_TARGETS)

install: all $(INSTALL_TARGETS)
	install -d $(DESTDIR)$(PREFIX)/include/heapshim $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0644 include/heapshim.h $(DESTDIR)$(PREFIX)/include/
	install -m 0644 include/heapshim/*.h $(DESTDIR)$(PREFIX)/include/heapshim/
	install -m 0644 $(B)/libheapshim.a $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(B)/libheapshim.so $(DESTDIR)$(PREFIX)/lib/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|0.1.0|g' scripts/heapshim.pc.in \
	    > $(DESTDIR)$(PREFIX)/lib/pkgconfig/heapshim.pc

clean:
	rm -rf build

demo:
	$(Q)HEAPSHIM_DEPS="python3 libjansson-dev" scripts/install-deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)B=$(B) scripts/demo.sh
