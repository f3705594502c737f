/*
 * tests/shim/prog_smallstack.c - malloc and free on a small stack, as
 * coroutine libraries run them (makecontext on a few KiB).
 *
 * Usage: prog_smallstack STACK_BYTES MS
 * Four coroutines, each on a stack of STACK_BYTES with a PROT_NONE guard
 * page below it, allocate and free blocks of 1 B to 70 KB for MS
 * milliseconds of wall time (long enough for the shim's publications,
 * which run inside whichever allocation reaches the clock look), switching
 * back to main every few calls. A stack too small for the allocator
 * faults on the guard page (SIGSEGV). Before the coroutines run, each
 * stack is painted; at the end the deepest byte touched is found, and the
 * program prints "deepest N" (bytes of stack used, at most STACK_BYTES)
 * and "done".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define NCO 4
#define PAINT 0xa5

static ucontext_t home, co[NCO];
static unsigned char *stk[NCO];
static size_t stack_bytes;
static int done[NCO];
static uint64_t until_ns;
static void *volatile sink;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void body(int id)
{
    void *keep[16] = { 0 };
    for (unsigned i = 0; now_ns() < until_ns; i++) {
        unsigned k = i & 15;
        free(keep[k]);
        keep[k] = malloc(1 + (i * 7919u + (unsigned)id) % 70000u);
        if (!keep[k]) abort();
        sink = keep[k];
        if (i % 5 == 0) swapcontext(&co[id], &home);
    }
    for (int k = 0; k < 16; k++) free(keep[k]);
    done[id] = 1;
    setcontext(&home);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: prog_smallstack STACK_BYTES MS\n");
        return 2;
    }
    stack_bytes = (size_t)strtoul(argv[1], NULL, 10);
    long ms = strtol(argv[2], NULL, 10);
    long page = sysconf(_SC_PAGESIZE);
    if (stack_bytes < 1024 || stack_bytes % (size_t)page || ms <= 0) {
        fprintf(stderr, "prog_smallstack: STACK_BYTES a multiple of the page size >= 1024, MS > 0\n");
        return 2;
    }
    for (int c = 0; c < NCO; c++) {
        unsigned char *m = mmap(NULL, stack_bytes + (size_t)page, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (m == MAP_FAILED || mprotect(m, (size_t)page, PROT_NONE) != 0) return 3;
        stk[c] = m + page;
        memset(stk[c], PAINT, stack_bytes);
        getcontext(&co[c]);
        co[c].uc_stack.ss_sp = stk[c];
        co[c].uc_stack.ss_size = stack_bytes;
        co[c].uc_link = NULL;
        makecontext(&co[c], (void (*)(void))body, 1, c);
    }
    until_ns = now_ns() + (uint64_t)ms * 1000000ull;
    for (int any = 1; any;) {
        any = 0;
        for (int c = 0; c < NCO; c++)
            if (!done[c]) {
                any = 1;
                swapcontext(&home, &co[c]);
            }
    }
    size_t deepest = 0;
    for (int c = 0; c < NCO; c++) {
        size_t low = 0;
        while (low < stack_bytes && stk[c][low] == PAINT) low++;
        if (stack_bytes - low > deepest) deepest = stack_bytes - low;
    }
    printf("deepest %zu\ndone\n", deepest);
    return 0;
}
