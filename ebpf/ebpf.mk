# ebpf/ - heapshim-probe, the eBPF reader of every shimmed process's counters
# (docs/probe.md). libbpf-tools layout: probe.bpf.c (kernel side, CO-RE),
# probe.h (records shared by both sides), probe_sum.h (the slot sum, shared
# by the kernel side and tests/test_probe_sum.c), probe.c (loader, output),
# elf_lib.c (the library's hs_live symbol and USDT notes; fuzzed by
# tools/fuzz/fuzz_elf.c). Generated at build time into $(B)/ebpf/: vmlinux.h
# (from the running kernel's BTF), probe.bpf.o, probe.skel.h (bpftool gen
# skeleton).
#
# Built only when scripts/configure found clang, bpftool, libbpf-dev (with
# usdt.bpf.h), the kernel's BTF and libjansson-dev (HS_HAVE_BPF); otherwise
# `make` says what it missed. With SAN=1 the loader is built with ASan+UBSan
# like the other tools. $(B)/bpf-flags records the BPF compiler, bpftool,
# their flags and the running kernel (vmlinux.h comes from its BTF): a change
# rebuilds the BPF side.
BUILD_DEPS += clang llvm libbpf-dev bpftool
TEST_DEPS += libbpf-dev bpftool clang llvm systemtap-sdt-dev util-linux

# BPF_CLANG, BPFTOOL and BTF_VMLINUX (overridable) are set in the Makefile,
# before scripts/configure runs
BPFTOOL_BIN := $(or $(BPFTOOL),$(HS_BPFTOOL))
BPF_STRIP ?= $(HS_BPF_STRIP)
BPF_ARCH  := $(patsubst x86_64,x86,$(patsubst aarch64,arm64,$(shell uname -m)))
BPF_MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
# usdt.bpf.h includes <asm/...> headers that Debian keeps in the multiarch dir
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror \
              -I$(B)/ebpf -Iebpf -Iinclude $(if $(BPF_MULTIARCH),-I/usr/include/$(BPF_MULTIARCH))

PROBE_TOOLS_OBJS := $(B)/tools/top_view.o $(B)/tools/prom.o $(B)/tools/util.o $(B)/tools/live.o $(B)/tools/report.o \
                    $(B)/tools/httpd.o $(B)/tools/exporter.o \
                    $(B)/core/live_read.o
AREA_CFLAGS_ebpf := -Itools -Iebpf -I$(B)/ebpf -DHS_LIBDIR='"$(PREFIX)/lib"'

HS_BPF_FLAGS = \
    'BPF_CLANG=$(subst ','\'',$(BPF_CLANG))' 'BPF_CLANG_VERSION=$(HS_BPF_CLANG_VERSION)' \
    'BPF_CFLAGS=$(subst ','\'',$(BPF_CFLAGS))' 'BPF_STRIP=$(subst ','\'',$(BPF_STRIP))' \
    'BPFTOOL=$(subst ','\'',$(BPFTOOL_BIN))' 'BPFTOOL_VERSION=$(HS_BPFTOOL_VERSION)' \
    'BTF_VMLINUX=$(subst ','\'',$(BTF_VMLINUX))' 'KERNEL=$(shell uname -r)'
$(B)/bpf-flags: FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' $(HS_BPF_FLAGS) > $@.new; \
	if cmp -s $@.new $@; then rm -f $@.new; else \
	    $(if $(Q),printf '  %-7s %s\n' GEN "$@ ($$(test -e $@ && echo changed || echo new))";) mv -f $@.new $@; fi

$(B)/ebpf/vmlinux.h: $(B)/bpf-flags
	@mkdir -p $(dir $@)
	$(call msg,BTF,$@)
	$(Q)$(BPFTOOL_BIN) btf dump file $(BTF_VMLINUX) format c > $@.tmp && mv $@.tmp $@

$(B)/ebpf/probe.bpf.o: ebpf/probe.bpf.c ebpf/probe.h ebpf/probe_sum.h include/heapshim/live.h $(B)/ebpf/vmlinux.h $(B)/bpf-flags
	$(call msg,BPF,$@)
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)$(if $(BPF_STRIP),$(BPF_STRIP) -g $@)

$(B)/ebpf/probe.skel.h: $(B)/ebpf/probe.bpf.o
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL_BIN) gen skeleton $< name probe_bpf > $@.tmp && mv $@.tmp $@

$(B)/ebpf/probe.o: $(B)/ebpf/probe.skel.h

$(B)/heapshim-probe: $(B)/ebpf/probe.o $(B)/ebpf/elf_lib.o $(PROBE_TOOLS_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ -lbpf -ljansson -lm

.PHONY: probe-skipped install-probe
ifeq ($(HS_HAVE_BPF),1)
ALL_TARGETS += $(B)/heapshim-probe
install-probe: $(B)/heapshim-probe
	$(HS_INSTALL) file 0755 $(B)/heapshim-probe $(call shq,$(PREFIX)/bin)
INSTALL_TARGETS += install-probe
else
ALL_TARGETS += probe-skipped
probe-skipped:
	@echo "  SKIP    heapshim-probe skipped: missing $(HS_BPF_MISSING) (make check installs the packages)"
endif
