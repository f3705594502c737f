# interpose/ - the LD_PRELOAD shim: build/libheapshim.so = core + interposer.
INTERPOSE_SRCS := $(wildcard interpose/*.c)
INTERPOSE_OBJS := $(INTERPOSE_SRCS:%.c=$(B)/%.o)

# -fno-plt: the exported malloc family calls glibc's __libc_* through the
# GOT directly instead of through a PLT stub (the library is linked with
# -z now, so the GOT is filled at load time anyway): one jump less on every
# request that glibc serves, which in malloc mode is every request.
AREA_CFLAGS_interpose := -fno-plt

$(B)/libheapshim.so: $(CORE_OBJS) $(INTERPOSE_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) -shared $(LDFLAGS_ALL) -Wl,-z,now -Wl,-soname,libheapshim.so -o $@ $^ -lpthread

ALL_TARGETS += $(B)/libheapshim.so
