/*
 * tests/test_probe_sum.c - the probe's slot sum (ebpf/probe_sum.h, run by
 * the pull iterator in the kernel) against the readers' sum (hs_live_sum,
 * core/live_read.c + core/live_sum.h).
 *
 * The probe folds all used slots of a process into one slot and the loader
 * sums that one-slot region (ebpf/probe.c, pull_region). Both must give the
 * same figures for any region: random regions of 1..40 slots with every
 * byte of every slot random (so a counter added to struct hs_live_slot and
 * summed by the readers but not by the probe shows up), grants and owners
 * random, are summed both ways and compared field by field.
 */
#include "testutil.h"
#include "../ebpf/probe_sum.h"
#include <heapshim/live.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* provided by libheapshim.a (core/live_read.c) */
int hs_live_sum(const void *region, size_t len, struct hs_live_snapshot *out, const char **why);

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void header(struct hs_live_header *h, uint32_t nslots)
{
    memset(h, 0, sizeof *h);
    h->magic = HS_LIVE_MAGIC;
    h->version = HS_LIVE_VERSION;
    h->header_size = sizeof *h;
    h->slot_size = sizeof(struct hs_live_slot);
    h->nslots = nslots;
    h->slots_used = nslots;
    h->slots_offset = sizeof *h;
    h->file_size = sizeof *h + (uint64_t)nslots * sizeof(struct hs_live_slot);
    for (int i = 0; i < 4; i++) {
        h->peak[i] = (int64_t)(next() >> 20);
        h->claimed[i] = (int64_t)(next() >> 20);
    }
}

static void test_random_regions(void)
{
    int mismatches = 0;
    for (int round = 0; round < 3000; round++) {
        uint32_t n = 1 + (uint32_t)(next() % 40);
        size_t len = sizeof(struct hs_live_header) + (size_t)n * sizeof(struct hs_live_slot);
        unsigned char *r = calloc(1, len);
        header((struct hs_live_header *)r, n);
        struct hs_live_slot *slots = (struct hs_live_slot *)(r + sizeof(struct hs_live_header));
        for (uint32_t i = 0; i < n; i++) {
            uint64_t *w = (uint64_t *)&slots[i];
            for (size_t k = 0; k < sizeof slots[i] / 8; k++) w[k] = next() >> (next() % 40);
            slots[i].owner = next() % 3 ? next() : 0;
            slots[i].seq &= ~1ull;          /* no update under way */
            for (int k = 0; k < 4; k++) {
                int64_t v = (int64_t)(next() >> 24);
                slots[i].release_at[k] = next() % 2 ? -2 * v : 0;
                slots[i].hwm[k] = -(int64_t)(next() >> 30);
            }
        }
        struct hs_live_snapshot want, got;
        const char *why = NULL;
        CU_ASSERT_EQUAL_FATAL(hs_live_sum(r, len, &want, &why), 0);

        /* the probe's way: one slot holding the sum, as pull_region builds it */
        struct { struct hs_live_header h; struct hs_live_slot s; } one;
        memcpy(&one.h, r, sizeof one.h);
        memset(&one.s, 0, sizeof one.s);
        uint32_t threads = 0;
        for (uint32_t i = 0; i < n; i++) threads += (uint32_t)hsp_slot_add(&one.s, &slots[i]);
        one.s.owner = 1;
        one.h.nslots = one.h.slots_used = 1;
        one.h.file_size = sizeof one;
        CU_ASSERT_EQUAL_FATAL(hs_live_sum(&one, sizeof one, &got, &why), 0);
        got.threads = threads;               /* the loader takes it from the iterator */
        if (memcmp(&want, &got, sizeof want) != 0) {
            if (mismatches++ < 3) {
                fprintf(stderr, "round %d (%u slots): sums differ:", round, n);
                for (int d = 0; d < 4; d++)
                    fprintf(stderr, " [%d] live %llu/%llu peak %llu/%llu allocs %llu/%llu", d,
                            (unsigned long long)want.dom[d].live_bytes, (unsigned long long)got.dom[d].live_bytes,
                            (unsigned long long)want.dom[d].peak_bytes, (unsigned long long)got.dom[d].peak_bytes,
                            (unsigned long long)want.dom[d].allocs, (unsigned long long)got.dom[d].allocs);
                fprintf(stderr, " threads %u/%u\n", want.threads, got.threads);
            }
        }
        free(r);
    }
    CU_ASSERT_EQUAL(mismatches, 0);
}

/* The slot's layout when probe_sum.h was last checked against it: a change
 * means a field was added or removed, and probe_sum.h must be looked at
 * (the random test above catches a summed counter it misses, not a field
 * that the readers do not sum yet either). */
static void test_layout(void)
{
    if (sizeof(struct hs_live_slot) != 2432)
        fprintf(stderr, "struct hs_live_slot is %zu bytes, was 2432 when ebpf/probe_sum.h was "
                "checked: see that every new counter is summed there\n", sizeof(struct hs_live_slot));
    CU_ASSERT_EQUAL(sizeof(struct hs_live_slot), 2432);
}

int main(void)
{
    static const hs_test_t tests[] = {
        { "probe slot sum equals hs_live_sum on random regions", test_random_regions },
        { "slot layout as probe_sum.h knows it", test_layout },
        { NULL, NULL },
    };
    hs_test_add_suite("probe_sum", tests);
    return hs_test_main();
}
