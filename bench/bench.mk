# bench/ - `make bench`: benchmarks, side by side with glibc in the same run.
#   bench-core     bench/bench_core.c on build/libheapshim.a: hs_obj_* vs glibc (issue 3)
#   bench-preload  bench/bench_preload.sh: the speed suite (issues 4 and 12): allocation
#                  benchmarks of ours (bench/wl_*.c, wl_*.cpp, *.py, *.pl) and real Debian
#                  programs under LD_PRELOAD of the shim in each mode, and of
#                  jemalloc/tcmalloc/mimalloc, vs plain glibc
#   bench-probe    bench/bench_probe.sh: shimmed programs with heapshim-probe attached vs
#                  not, and bpftrace uprobes on libc malloc/free for comparison (issue 6;
#                  skipped without root or without the probe)
#   bench-profile  bench/bench_profile.sh: what heap-profile sampling at the default rate
#                  costs (issue 16): the shim with sampling on vs off, CPU time with a
#                  95% interval of the median, and peak RSS
#   bench-explained bench/explained.sh: the share of anonymous RSS that heap + mapped
#                  memory explain per program (python3, perl, git, gcc's cc1, node, sort;
#                  issue 13), the figures of the README's "What the shim sees"
# Each prints a markdown table and PASS/MISS per target; the tables are also
# kept in $(B)/bench/*.md. BENCH_FLAGS is passed to both (e.g. BENCH_FLAGS=-q
# for a quick smoke run, BENCH_FLAGS=--strict to fail on a missed target).
BENCH_DEPS += libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0 python3 gcc g++ coreutils perl xz-utils \
              sqlite3 git bpftrace nodejs
BENCH_FLAGS ?=

BENCH_CFLAGS = $(CSTD) -O2 -g $(WARN) -D_GNU_SOURCE -Iinclude -Ibench

$(B)/bench/bench_core: bench/bench_core.c bench/core_wl.h bench/benchutil.h $(B)/libheapshim.a $(B)/build-flags
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(BENCH_CFLAGS) $(SANFLAGS) -o $@ $< $(B)/libheapshim.a -lpthread -ldl

# workload programs and the rusage wrapper: plain libc, never linked with heapshim
BENCH_PLAIN_LD = $(Q)$(CC) $(BENCH_CFLAGS) -o $@ $< -lpthread
$(B)/bench/wl_%: bench/wl_%.c bench/benchutil.h $(B)/build-flags
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(BENCH_PLAIN_LD)
$(B)/bench/wl_%: bench/wl_%.cpp $(B)/build-flags
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CXX) -std=gnu++17 -O2 -g $(filter-out -Wstrict-prototypes,$(WARN)) -D_GNU_SOURCE -o $@ $<
$(B)/bench/rusage_run: bench/rusage_run.c $(B)/build-flags
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(BENCH_PLAIN_LD)
# page faults per fork+exit (docs/benchmarks.md, "Pages written at a fork")
$(B)/bench/fork_pages: bench/fork_pages.c $(B)/build-flags
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(BENCH_PLAIN_LD)

# the floor of a preloaded counter (docs/benchmarks.md, "The floor"): an
# empty preloaded library, and the least an exact per-call counter does;
# for `bench_preload.sh -a empty=... -a floor=...`, not part of `make bench`
$(B)/bench/libfloor_empty.so: bench/floor_empty.c $(B)/build-flags
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(BENCH_CFLAGS) -fPIC -shared -o $@ $<
$(B)/bench/libfloor_count.so: bench/floor_count.c $(B)/build-flags
	@mkdir -p $(dir $@)
	$(call msg,LD,$@)
	$(Q)$(CC) $(BENCH_CFLAGS) -fPIC -shared -fno-plt -o $@ $<
.PHONY: bench-floor-libs
bench-floor-libs: $(B)/bench/libfloor_empty.so $(B)/bench/libfloor_count.so

BENCH_PRELOAD_BINS := $(B)/bench/rusage_run $(patsubst bench/%.c,$(B)/bench/%,$(wildcard bench/wl_*.c)) \
                      $(patsubst bench/%.cpp,$(B)/bench/%,$(wildcard bench/wl_*.cpp))

.PHONY: bench-deps bench-core bench-preload bench-probe bench-profile bench-explained
bench-deps:
	$(Q)HEAPSHIM_DEPS="$(sort $(BENCH_DEPS))" scripts/install-deps

bench-core: bench-deps $(B)/bench/bench_core
	$(Q)$(B)/bench/bench_core $(BENCH_FLAGS) | tee $(B)/bench/core.md; exit $${PIPESTATUS[0]}

bench-preload: SHELL := /bin/bash
bench-core: SHELL := /bin/bash
bench-preload: bench-deps $(BENCH_PRELOAD_BINS)
	$(Q)B=$(B) bench/bench_preload.sh $(BENCH_FLAGS) | tee $(B)/bench/preload.md; exit $${PIPESTATUS[0]}

bench-probe: SHELL := /bin/bash
bench-probe: bench-deps $(BENCH_PRELOAD_BINS) $(B)/libheapshim.so
	$(Q)B=$(B) bench/bench_probe.sh $(BENCH_FLAGS) | tee $(B)/bench/probe.md; exit $${PIPESTATUS[0]}

bench-profile: SHELL := /bin/bash
bench-profile: bench-deps $(BENCH_PRELOAD_BINS) $(B)/libheapshim.so
	$(Q)B=$(B) bench/bench_profile.sh $(BENCH_FLAGS) | tee $(B)/bench/profile.md; exit $${PIPESTATUS[0]}

bench-explained: SHELL := /bin/bash
bench-explained: bench-deps $(B)/libheapshim.so $(B)/heapshim
	@mkdir -p $(B)/bench
	$(Q)B=$(B) bench/explained.sh | tee $(B)/bench/explained.txt; exit $${PIPESTATUS[0]}

# Two benchmarks running at once would measure each other: under `make -j bench`
# each waits for the one before.
ifneq ($(filter bench,$(MAKECMDGOALS)),)
bench-preload: | bench-core
bench-probe: | bench-preload
bench-profile: | bench-probe
bench-explained: | bench-profile
endif

BENCH_TARGETS += bench-core bench-preload bench-probe bench-profile bench-explained
