# tests/ - CUnit suites of the core library and shell suites.
# Every tests/test_*.c is one CUnit program linked with libheapshim.a; every
# tests/*.sh is a shell suite. tests/run-suites runs them all and prints the
# overall "N passed, N failed" line. Rules that compile a source straight into
# a program list $(B)/build-flags after the source (a new compiler or new flags
# rebuild them; the recipes use $<).
TEST_DEPS += libcunit1-dev libjemalloc2 libtcmalloc-minimal4

TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(TEST_SRCS:tests/%.c=$(B)/tests/%)
AREA_CFLAGS_tests := -Itests

# tests/shim/preload_*.c: built against plain libc, run under LD_PRELOAD of
# the shim (tests/run-suites sets it for programs named preload_*).
# (not with SAN=1: a program run under LD_PRELOAD cannot carry ASan)
PRELOAD_SRCS := $(wildcard tests/shim/preload_*.c)
PRELOAD_BINS := $(if $(filter 1,$(SAN)),,$(PRELOAD_SRCS:tests/shim/%.c=$(B)/tests/%))
# a shared object of our own for the routing rules (HEAPSHIM_ROUTE)
$(B)/tests/libroutetest.so: tests/shim/libroutetest.c $(B)/build-flags
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -fno-optimize-sibling-calls -shared -o $@ $<

$(B)/tests/preload_%: $(B)/tests/shim/preload_%.o $(B)/tests/testutil.o $(B)/tests/libroutetest.so $(B)/core/live_read.o
	$(call msg,LD,$@)
	$(Q)$(CC) -o $@ $< $(B)/tests/testutil.o $(B)/core/live_read.o -L$(B)/tests -Wl,-rpath,'$$ORIGIN' -lroutetest -lcunit -lpthread -ldl

$(B)/tests/%: $(B)/tests/%.o $(B)/tests/testutil.o $(B)/libheapshim.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(B)/tests/testutil.o $(B)/libheapshim.a -lcunit -lpthread -ldl

# keep the objects (make would delete them as intermediates, then rebuild
# them on the next run once their .d files name them)
.SECONDARY: $(TEST_SRCS:%.c=$(B)/%.o) $(PRELOAD_SRCS:%.c=$(B)/%.o)

.PHONY: test-bins run-tests
test-bins: $(TEST_BINS) $(PRELOAD_BINS) $(B)/libheapshim.so
run-tests: test-bins
	$(Q)B=$(B) SAN=$(SAN) tests/run-suites $(TEST_BINS) $(PRELOAD_BINS)

CHECK_TARGETS += run-tests

# programs of our own run under the shim by the shell suites
$(B)/tests/mt_workload: tests/shim/mt_workload.c $(B)/build-flags
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -o $@ $< -lpthread
test-bins: $(B)/tests/mt_workload
TEST_DEPS += python3 perl git gcc xz-utils coreutils bpftrace python3-dev gdb redis-server nginx-light sqlite3
# CPython's own test modules (tests/29-cpython-suite.sh), for Debian 12's python3.11
TEST_DEPS += libpython3.11-testsuite
$(B)/tests/buggy: tests/shim/buggy.c $(B)/build-flags
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -O0 -o $@ $<
test-bins: $(B)/tests/buggy
.SECONDARY: $(B)/tests/testutil.o
$(B)/tests/glibc_arenas: tests/shim/glibc_arenas.c $(B)/build-flags
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -o $@ $< -lpthread
test-bins: $(B)/tests/glibc_arenas

# tests/shim/prog_*.c: plain programs (libc + pthread + dl) that the shell
# suites run under the shim; each becomes build/tests/prog_* automatically.
PROG_SRCS := $(wildcard tests/shim/prog_*.c)
PROG_BINS := $(PROG_SRCS:tests/shim/%.c=$(B)/tests/%)
$(B)/tests/prog_%: tests/shim/prog_%.c $(B)/build-flags $(wildcard include/*.h include/heapshim/*.h)
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -MMD -MP -MF $@.d -Iinclude -o $@ $< -lpthread -ldl
-include $(PROG_BINS:%=%.d)
test-bins: $(PROG_BINS)
# the frame-pointer walk's test program keeps its frame pointers
$(B)/tests/prog_fpchain: BASE_CFLAGS += -fno-omit-frame-pointer
# counts the shim's copies with memcpy/memmove of its own (exported), and
# checks the profile's weights with libm; HS_SAMPLE_REJOIN_MAX from core/sample.h
$(B)/tests/prog_samplerealloc: tests/shim/prog_samplerealloc.c $(B)/build-flags $(wildcard include/*.h include/heapshim/*.h) \
                               core/sample.h core/internal.h
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(BASE_CFLAGS) -rdynamic -Iinclude -o $@ $< -lm

# a reader of live files in another process (tests/26-counters.sh)
$(B)/tests/filereader: tests/shim/filereader.c $(B)/core/live_read.o
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(BASE_CFLAGS) $(SANFLAGS) -o $@ $< $(B)/core/live_read.o
test-bins: $(B)/tests/filereader
