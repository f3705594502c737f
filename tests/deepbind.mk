# tests/deepbind.mk - RTLD_DEEPBIND: the plugins that build/tests/prog_deepbind
# (tests/shim/prog_deepbind.c) loads with dlopen(RTLD_DEEPBIND), and the
# packages tests/28-deepbind.sh needs (Debian's php-cli loads its extensions
# with RTLD_DEEPBIND). The Makefile includes it like any tests/*.mk; the
# suite builds the plugins itself when they are not there. Every rule
# depends on this file: a changed recipe rebuilds.
TEST_DEPS += php-cli php-sqlite3 php-mbstring

DEEPBIND_DIR := $(B)/tests/deepbind
DEEPBIND_LIBS := $(addprefix $(DEEPBIND_DIR)/,libdbdep.so libdbglob.so libdbplugin.so libdblazy.so libdbcycle.so)
# plain builds, like the programs run under the shim (never sanitized)
DEEPBIND_CFLAGS = $(BASE_CFLAGS) -shared

$(DEEPBIND_DIR)/libdbdep.so: tests/shim/deepbind_dep.c $(B)/build-flags tests/deepbind.mk
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(DEEPBIND_CFLAGS) -fno-optimize-sibling-calls -Wl,-z,lazy -o $@ $<
$(DEEPBIND_DIR)/libdbglob.so: tests/shim/deepbind_glob.c $(B)/build-flags tests/deepbind.mk
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(DEEPBIND_CFLAGS) -o $@ $< -Wl,-rpath,'$$ORIGIN' -ldl
# the same plugin three times: bound now, bound lazily, loaded in a loop
$(DEEPBIND_DIR)/libdbplugin.so $(DEEPBIND_DIR)/libdbcycle.so: tests/shim/deepbind_plugin.c $(DEEPBIND_DIR)/libdbdep.so $(B)/build-flags tests/deepbind.mk
	$(call msg,LD,$@)
	$(Q)$(CC) $(DEEPBIND_CFLAGS) -Wl,-z,now -o $@ $< -L$(DEEPBIND_DIR) -ldbdep -Wl,-rpath,'$$ORIGIN' -ldl
$(DEEPBIND_DIR)/libdblazy.so: tests/shim/deepbind_plugin.c $(DEEPBIND_DIR)/libdbdep.so $(B)/build-flags tests/deepbind.mk
	$(call msg,LD,$@)
	$(Q)$(CC) $(DEEPBIND_CFLAGS) -Wl,-z,lazy -o $@ $< -L$(DEEPBIND_DIR) -ldbdep -Wl,-rpath,'$$ORIGIN' -ldl

test-bins: $(DEEPBIND_LIBS)
