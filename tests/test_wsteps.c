/*
 * tests/test_wsteps.c - the window steps of the live region (live.h
 * "Window steps", version 4): the packed marks, the readers' step range
 * (hs_live_step_mark), and what the process itself folds into them.
 *
 * Room: this program only; the public API, the layout header, and the
 * core's region pointer and clock (libheapshim.a).
 */
#include "testutil.h"
#include <heapshim.h>
#include <heapshim/live.h>
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <string.h>

extern struct hs_live_header *hs_live;   /* core/live.c */
uint64_t hs_now_ns(void);                /* core/prim/sys.c: CLOCK_MONOTONIC_COARSE */

static void test_pack(void)
{
    CU_ASSERT_EQUAL(hs_live_wbytes_of(hs_live_wpack(5, 0)), 0);
    CU_ASSERT_EQUAL(hs_live_wbytes_of(hs_live_wpack(5, -7)), 0);
    CU_ASSERT_EQUAL(hs_live_wbytes_of(hs_live_wpack(5, 1)), 64);      /* rounded up */
    CU_ASSERT_EQUAL(hs_live_wbytes_of(hs_live_wpack(5, 64)), 64);
    CU_ASSERT_EQUAL(hs_live_wbytes_of(hs_live_wpack(5, 65)), 128);
    CU_ASSERT_EQUAL(hs_live_wstep_of(hs_live_wpack(5, 12345)), 5);
    /* saturates at 2^36 units, never spills into the step */
    CU_ASSERT_EQUAL(hs_live_wbytes_of(hs_live_wpack(5, INT64_MAX)), ((1ull << 36) - 1) << 6);
    CU_ASSERT_EQUAL(hs_live_wstep_of(hs_live_wpack(5, INT64_MAX)), 5);
    /* the step number wraps in its own bits */
    CU_ASSERT_EQUAL(hs_live_wstep_of(hs_live_wpack((1ull << 28) + 3, 1)), 3);
    /* a later step beats any value of an earlier one; in a step, the larger value */
    CU_ASSERT(hs_live_wpack(6, 0) > hs_live_wpack(5, INT64_MAX));
    CU_ASSERT(hs_live_wpack(5, 1024) > hs_live_wpack(5, 960));
}

static void test_step_mark(void)
{
    uint64_t ws[HS_LIVE_WSTEPS][4];
    memset(ws, 0, sizeof ws);
    ws[100 % HS_LIVE_WSTEPS][3] = hs_live_wpack(100, 1024);
    ws[101 % HS_LIVE_WSTEPS][3] = hs_live_wpack(101, 5120);
    ws[102 % HS_LIVE_WSTEPS][3] = hs_live_wpack(86, 9984);   /* an old step in 102's place */
    ws[103 % HS_LIVE_WSTEPS][3] = hs_live_wpack(103, 2048);
    ws[101 % HS_LIVE_WSTEPS][1] = hs_live_wpack(101, 640);
    int lost = -1;
    CU_ASSERT_EQUAL(hs_live_step_mark((const uint64_t(*)[4])ws, 100, 103, 3, &lost), 5120);
    CU_ASSERT_EQUAL(lost, 0);
    CU_ASSERT_EQUAL(hs_live_step_mark((const uint64_t(*)[4])ws, 100, 100, 3, NULL), 1024);
    CU_ASSERT_EQUAL(hs_live_step_mark((const uint64_t(*)[4])ws, 102, 103, 3, NULL), 2048);   /* 86 is not 102 */
    CU_ASSERT_EQUAL(hs_live_step_mark((const uint64_t(*)[4])ws, 102, 102, 3, NULL), 0);
    CU_ASSERT_EQUAL(hs_live_step_mark((const uint64_t(*)[4])ws, 104, 110, 3, NULL), 0);
    CU_ASSERT_EQUAL(hs_live_step_mark((const uint64_t(*)[4])ws, 100, 103, 1, NULL), 640);   /* per index */
    CU_ASSERT_EQUAL(hs_live_step_mark((const uint64_t(*)[4])ws, 100, 103, 4, NULL), 0);     /* no such index */
    CU_ASSERT_EQUAL(hs_live_step_mark((const uint64_t(*)[4])ws, 103, 100, 3, NULL), 0);     /* empty range */
    /* a range longer than the steps kept: the newest HS_LIVE_WSTEPS steps, and lost */
    CU_ASSERT_EQUAL(hs_live_step_mark((const uint64_t(*)[4])ws, 90, 110, 3, &lost), 5120);
    CU_ASSERT_EQUAL(lost, 1);
    CU_ASSERT_EQUAL(hs_live_step_mark((const uint64_t(*)[4])ws, 80, 117, 3, &lost), 2048);  /* 102..117 kept: 100, 101 gone */
    CU_ASSERT_EQUAL(lost, 1);
}

/* The process folds its own spike into the step it happened in: a 4 MiB
 * block is held and freed; the marks of the steps from before to after
 * hold the live bytes while it was held, within live.h's bound, and the
 * all-time peak knows no more than them. */
static void test_writer(void)
{
    hs_domain_stats_t st;
    void *warm = hs_raw_malloc(64);             /* the region exists */
    CU_ASSERT_PTR_NOT_NULL_FATAL(hs_live);
    uint64_t s0 = hs_live_step_at(hs_now_ns());
    char *p = hs_raw_malloc(4u << 20);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memset(p, 1, 4u << 20);
    CU_ASSERT_EQUAL_FATAL(hs_total_stats(&st), 0);
    uint64_t held = st.live_bytes;
    hs_raw_free(p);
    uint64_t s1 = hs_live_step_at(hs_now_ns());
    uint64_t m = hs_live_step_mark((const uint64_t(*)[4])hs_live->wsteps, s0, s1, HS_LIVE_TOTAL, NULL);
    uint64_t bound = held / 100 > (64u << 10) ? held / 100 : (64u << 10);
    CU_ASSERT(m >= held);
    CU_ASSERT(m <= held + bound);
    uint64_t mr = hs_live_step_mark((const uint64_t(*)[4])hs_live->wsteps, s0, s1, HS_DOMAIN_RAW, NULL);
    CU_ASSERT(mr >= (4u << 20));
    hs_raw_free(warm);
}

int main(void)
{
    static const hs_test_t tests[] = {
        { "packed marks: units, saturation, step order", test_pack },
        { "hs_live_step_mark: range, stale steps, lost steps", test_step_mark },
        { "the process folds a spike into its step", test_writer },
        { NULL, NULL },
    };
    hs_test_add_suite("wsteps", tests);
    return hs_test_main();
}
