# interpose/ - the LD_PRELOAD shim: build/libheapshim.so = core + interposer.
INTERPOSE_SRCS := $(wildcard interpose/*.c)
INTERPOSE_OBJS := $(INTERPOSE_SRCS:%.c=$(B)/%.o)

$(B)/libheapshim.so: $(CORE_OBJS) $(INTERPOSE_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) -shared $(LDFLAGS_ALL) -Wl,-z,now -Wl,-soname,libheapshim.so -o $@ $^ -lpthread

ALL_TARGETS += $(B)/libheapshim.so
