# core/ - the allocator library (domains, arenas, per-thread heaps, counters).
CORE_SRCS := $(wildcard core/*.c core/prim/*.c)
CORE_OBJS := $(CORE_SRCS:%.c=$(B)/%.o)

$(B)/libheapshim.a: $(CORE_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

ALL_TARGETS += $(B)/libheapshim.a
