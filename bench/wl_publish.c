/*
 * bench/wl_publish.c - room: bench/. The cost of one publication of the live
 * counters, for bench_probe.sh: calls the shim's hs_publish() (found with
 * dlsym, so run it under LD_PRELOAD of libheapshim.so) COUNT times and prints
 * the mean nanoseconds per call. Each call refreshes the snapshot in the
 * live file and passes the heapshim:publish USDT point; run with and without
 * heapshim-probe attached, the difference is what the probe adds to one
 * publication.
 *
 * Usage: wl_publish [COUNT (1000..100000000, default 1000000)]
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include "benchutil.h"

int main(int argc, char **argv)
{
    long count = argc > 1 ? bu_parse_count(argv[0], "call count", argv[1], 1000, 100000000) : 1000000;
    if (argc > 2) {
        fprintf(stderr, "%s: too many arguments: expected [COUNT]\n", argv[0]);
        return 2;
    }
    int (*publish)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "hs_publish");
    if (!publish) {
        fprintf(stderr, "%s: hs_publish not found: run it with LD_PRELOAD=libheapshim.so\n", argv[0]);
        return 2;
    }
    if (publish() != 0) {
        fprintf(stderr, "%s: hs_publish failed: the shim has no counter region\n", argv[0]);
        return 1;
    }
    double t0 = bu_now();
    for (long i = 0; i < count; i++) publish();
    double t1 = bu_now();
    printf("%.1f\n", (t1 - t0) * 1e9 / (double)count);
    return 0;
}
