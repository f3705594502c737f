/*
 * tests/shim/prog_idlegrants.c - idle threads must not starve busy ones of
 * peak-counting grants (core/live.c grant_renew).
 *
 * Usage: prog_idlegrants IDLE  (run under the shim with HEAPSHIM_DIR set)
 * IDLE threads each allocate one block and then wait (a pool's idle
 * workers); then one busy thread churns 200,000 malloc/free pairs of
 * 16-215 B. While the busy thread still lives, the program reads its own
 * live file (HEAPSHIM_DIR/PID, read only, include/heapshim/live.h) and
 * prints the busy thread's grant of the total ("busy_grant N": -release_at/2
 * of its slot, found by its kernel tid) and the largest grant an idle
 * thread holds ("idle_grant_max N"). When the first holders took half of
 * what was left each, 10-20 idle threads held the whole budget and the busy
 * thread's grant was 1 byte: it claimed and released at every call (4-10x
 * slower in an outside test).
 */
#include <heapshim/live.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int ready, go_home;
static uint64_t idle_tids[4096];
static uint64_t busy_tid;
static int nidle;
static void *volatile sink;             /* the compiler may not drop a malloc/free pair */

static void *idle(void *arg)
{
    int k = (int)(intptr_t)arg;
    void *p = malloc(32);
    sink = p;
    pthread_mutex_lock(&mu);
    idle_tids[k] = (uint64_t)syscall(SYS_gettid);
    ready++;
    pthread_cond_broadcast(&cv);
    while (!go_home) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    free(p);
    return NULL;
}

static int64_t grant_of(const struct hs_live_header *h, uint64_t tid)
{
    const struct hs_live_slot *s = (const struct hs_live_slot *)((const char *)h + h->slots_offset);
    for (uint32_t i = 0; i < h->slots_used && i < h->nslots; i++)
        if (__atomic_load_n(&s[i].owner, __ATOMIC_RELAXED) == tid)
            return -__atomic_load_n(&s[i].release_at[HS_LIVE_TOTAL], __ATOMIC_RELAXED) / 2;
    return -1;
}

static void report(void)
{
    const char *dir = getenv("HEAPSHIM_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/%d", dir ? dir : ".", (int)getpid());
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        printf("no live file %s\n", path);
        exit(3);
    }
    const struct hs_live_header *h = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) exit(3);
    int64_t imax = 0;
    for (int k = 0; k < nidle; k++) {
        int64_t g = grant_of(h, idle_tids[k]);
        if (g > imax) imax = g;
    }
    printf("busy_grant %lld\nidle_grant_max %lld\n", (long long)grant_of(h, busy_tid), (long long)imax);
    munmap((void *)h, (size_t)st.st_size);
    close(fd);
}

static void *busy(void *arg)
{
    (void)arg;
    busy_tid = (uint64_t)syscall(SYS_gettid);
    void *ring[16] = { 0 };
    for (unsigned i = 0; i < 200000; i++) {
        unsigned k = i & 15;
        free(ring[k]);
        ring[k] = malloc(16 + (i * 37u) % 200u);
        sink = ring[k];
    }
    report();                           /* while this thread's slot is its own */
    for (int k = 0; k < 16; k++) free(ring[k]);
    return NULL;
}

int main(int argc, char **argv)
{
    nidle = argc > 1 ? atoi(argv[1]) : 20;
    if (nidle < 0 || nidle > 4096) return 2;
    pthread_t t[4096], b;
    for (int k = 0; k < nidle; k++)
        if (pthread_create(&t[k], NULL, idle, (void *)(intptr_t)k) != 0) return 3;
    pthread_mutex_lock(&mu);
    while (ready < nidle) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    if (pthread_create(&b, NULL, busy, NULL) != 0) return 3;
    pthread_join(b, NULL);
    pthread_mutex_lock(&mu);
    go_home = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int k = 0; k < nidle; k++) pthread_join(t[k], NULL);
    return 0;
}
