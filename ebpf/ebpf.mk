# ebpf/ - heapshim-probe, the eBPF reader of every shimmed process's counters
# (docs/probe.md). libbpf-tools layout: heapshim.bpf.c (kernel side, CO-RE),
# heapshim.h (records shared by both sides), heapshim-probe.c (loader, output).
# Generated at build time into $(B)/ebpf/: vmlinux.h (from the running
# kernel's BTF), heapshim.bpf.o, heapshim.skel.h (bpftool gen skeleton).
#
# Built only when clang, bpftool and libbpf-dev are there (and libjansson-dev,
# which the heapshim command needs too); otherwise `make` says it skipped it.
# With SAN=1 the loader is built with ASan+UBSan like the other tools.
TEST_DEPS += libbpf-dev bpftool clang llvm systemtap-sdt-dev util-linux

BPF_CLANG ?= clang
BPFTOOL   ?= $(or $(shell command -v bpftool 2>/dev/null),$(wildcard /usr/sbin/bpftool /sbin/bpftool))
BPF_STRIP ?= $(shell command -v llvm-strip 2>/dev/null)
BTF_VMLINUX ?= /sys/kernel/btf/vmlinux
BPF_ARCH  := $(patsubst x86_64,x86,$(patsubst aarch64,arm64,$(shell uname -m)))
BPF_MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
# usdt.bpf.h includes <asm/...> headers that Debian keeps in the multiarch dir
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror \
              -I$(B)/ebpf -Iebpf -Iinclude $(if $(BPF_MULTIARCH),-I/usr/include/$(BPF_MULTIARCH))

HAVE_BPF_TOOLS := $(shell command -v $(BPF_CLANG) >/dev/null 2>&1 && [ -n "$(BPFTOOL)" ] && \
    printf '\043include <bpf/libbpf.h>\n\043include <bpf/usdt.bpf.h>\n' | \
    $(CC) -E -x c $(if $(BPF_MULTIARCH),-I/usr/include/$(BPF_MULTIARCH)) - >/dev/null 2>&1 && echo yes)

PROBE_TOOLS_OBJS := $(B)/tools/top_view.o $(B)/tools/prom.o $(B)/tools/util.o $(B)/tools/live.o $(B)/tools/report.o \
                    $(B)/core/live_read.o
AREA_CFLAGS_ebpf := -Itools -Iebpf -I$(B)/ebpf -DHS_LIBDIR='"$(PREFIX)/lib"'

$(B)/ebpf/vmlinux.h:
	@mkdir -p $(dir $@)
	$(call msg,BTF,$@)
	$(Q)$(BPFTOOL) btf dump file $(BTF_VMLINUX) format c > $@.tmp && mv $@.tmp $@

$(B)/ebpf/heapshim.bpf.o: ebpf/heapshim.bpf.c ebpf/heapshim.h include/heapshim/live.h $(B)/ebpf/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)$(if $(BPF_STRIP),$(BPF_STRIP) -g $@)

$(B)/ebpf/heapshim.skel.h: $(B)/ebpf/heapshim.bpf.o
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name heapshim_bpf > $@.tmp && mv $@.tmp $@

$(B)/ebpf/heapshim-probe.o: $(B)/ebpf/heapshim.skel.h

$(B)/heapshim-probe: $(B)/ebpf/heapshim-probe.o $(PROBE_TOOLS_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ -lbpf -ljansson -lm

.PHONY: probe-skipped install-probe
ifeq ($(HAVE_BPF_TOOLS)$(HAVE_JANSSON)$(if $(wildcard $(BTF_VMLINUX)),yes),yesyesyes)
ALL_TARGETS += $(B)/heapshim-probe
install-probe: $(B)/heapshim-probe
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(B)/heapshim-probe $(DESTDIR)$(PREFIX)/bin/heapshim-probe
INSTALL_TARGETS += install-probe
else
ALL_TARGETS += probe-skipped
probe-skipped:
	@echo "  SKIP    heapshim-probe skipped: needs clang, bpftool, libbpf-dev$(if $(HAVE_JANSSON),, and libjansson-dev)$(if $(wildcard $(BTF_VMLINUX)),, and a kernel with BTF ($(BTF_VMLINUX)))"
endif
