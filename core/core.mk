# core/ - the allocator library (domains, arenas, per-thread heaps, counters).
CORE_SRCS := $(wildcard core/*.c core/prim/*.c)
CORE_OBJS := $(CORE_SRCS:%.c=$(B)/%.o)

$(B)/libheapshim.a: $(CORE_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

ALL_TARGETS += $(B)/libheapshim.a

# The USDT points (core/usdt.h) need <sys/sdt.h>; scripts/configure decides.
ifeq ($(HS_HAVE_SDT),0)
ALL_TARGETS += usdt-skipped
.PHONY: usdt-skipped
usdt-skipped:
	@echo "  NOTE    libheapshim.so has no USDT points: $(if $(filter 0,$(USDT)),USDT=0,no usable <sys/sdt.h> (systemtap-sdt-dev; make check / make demo install it))"
endif
