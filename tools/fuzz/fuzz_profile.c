/*
 * tools/fuzz/fuzz_profile.c - libFuzzer target: the heap profile reader
 * (tools/profile_read.c: profile_parse, profile_frames) and the names of
 * interpreter frames (tools/symbolize.c), on profiles as hostile as a file
 * in the live directory can be.
 *
 * Room: fuzzing only. Any input must give 0 or -1 with a one-line message,
 * never a crash, a leak or undefined behaviour. An accepted profile must
 * keep what the reader promises: depths within HS_PROF_DEPTH, domains 0..2,
 * strings NUL-terminated; the frame views must keep the totals. Module
 * paths are dropped before symbolising (the fuzzer opens no file).
 */
#include "profile.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double total(const struct profile *p)
{
    double t = 0;
    for (uint32_t i = 0; i < p->nst; i++) t += p->st[i].alloc_bytes + p->st[i].live_bytes;
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct profile p;
    char err[512];
    err[0] = 0;
    if (profile_parse(data, size, &p, err, sizeof err) != 0) {
        if (!err[0] || strchr(err, '\n')) abort();   /* one line, always */
        return 0;
    }
    for (uint32_t i = 0; i < p.nst; i++)
        if (p.st[i].depth > HS_PROF_DEPTH || p.st[i].dom > 2) abort();
    for (uint32_t i = 0; i < p.npyf; i++)
        if (!memchr(p.pyf[i].name, 0, sizeof p.pyf[i].name) || !memchr(p.pyf[i].file, 0, sizeof p.pyf[i].file))
            abort();
    p.nmods = 0;                                      /* no file is opened */
    struct symbolizer *sy = sym_open(&p);
    char buf[512];
    for (uint32_t i = 0; i < p.nst; i++)
        for (unsigned k = 0; k < p.st[i].depth; k++)
            if (!memchr(sym_name(sy, p.st[i].frames[k], buf, sizeof buf), 0, sizeof buf)) abort();
    sym_close(sy);
    double t0 = total(&p);
    for (int which = PROFILE_FRAMES_PYTHON; which <= PROFILE_FRAMES_NATIVE; which++) {
        profile_frames(&p, which);
        double t = total(&p);
        if (!(t >= t0 * (1 - 1e-9) && t <= t0 * (1 + 1e-9)) && t0 == t0) abort();
    }
    profile_free(&p);
    return 0;
}
