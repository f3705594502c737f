/* bench/floor_empty.c - room: bench/. A preloaded library that does nothing:
 * what preloading any library costs a process (the loader's work, one more
 * object mapped). For bench_preload.sh -a empty=build/bench/libfloor_empty.so
 * (docs/benchmarks.md, "The floor"). */
void floor_empty_marker(void);
void floor_empty_marker(void) {}
