# interpose/ - the LD_PRELOAD shim: build/libheapshim.so = core + interposer.
INTERPOSE_SRCS := $(wildcard interpose/*.c)
INTERPOSE_OBJS := $(INTERPOSE_SRCS:%.c=$(B)/%.o)

# -fno-plt: the exported malloc family calls glibc's __libc_* through the
# GOT directly instead of through a PLT stub (the library is linked with
# -z now, so the GOT is filled at load time anyway): one jump less on every
# request that glibc serves, which in malloc mode is every request.
AREA_CFLAGS_interpose := -fno-plt

# Versioned soname: the library is libheapshim.so.1; libheapshim.so is a
# symlink to it, the documented path for LD_PRELOAD and -lheapshim (make
# install installs both). A change that breaks the hs_* ABI bumps this.
HS_SOVERSION := 1
# The sampler's stack walk (_Unwind_Backtrace, core/sample.c) comes from
# libgcc_eh.a, linked in and hidden (-static-libgcc, --exclude-libs): not from
# libgcc_s.so.1, which every C program under the shim would otherwise load and
# keep resident (128 KiB: fault-around maps all of its pages) for the ~20 KiB
# of unwinder code it uses. The copy is private to the shim (no _Unwind_*
# symbol exported), so the program's own exceptions use the program's libgcc_s.
SHIM_LIBGCC := -static-libgcc -Wl,--exclude-libs,ALL
$(B)/libheapshim.so.$(HS_SOVERSION): $(CORE_OBJS) $(INTERPOSE_OBJS) $(B)/build-flags
	$(call msg,LD,$@)
	$(Q)$(CC) -shared $(LDFLAGS_ALL) $(SHIM_LIBGCC) -Wl,--sort-section=name -Wl,-z,now -Wl,-soname,libheapshim.so.$(HS_SOVERSION) -o $@ $(CORE_OBJS) $(INTERPOSE_OBJS) -lpthread

$(B)/libheapshim.so: $(B)/libheapshim.so.$(HS_SOVERSION)
	$(Q)ln -sfn libheapshim.so.$(HS_SOVERSION) $@

ALL_TARGETS += $(B)/libheapshim.so
