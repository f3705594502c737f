/* tests/testutil.h - helpers shared by the CUnit programs. */
#ifndef HS_TESTUTIL_H
#define HS_TESTUTIL_H
#include <stddef.h>
#include <CUnit/CUnit.h>

/* Run fn(arg) in a forked child with stderr captured. Returns the signal that
 * ended the child (0 if it exited), and copies up to cap-1 bytes of what it
 * wrote on stderr into buf (NUL-terminated). */
int hs_test_in_child(void (*fn)(void *), void *arg, char *buf, size_t cap);

/* Register the suite, run all suites with the basic interface, return the
 * process exit status (0 when every test passed). */
int hs_test_main(void);

/* Convenience for one suite made of a NULL-terminated table. */
typedef struct { const char *name; void (*fn)(void); } hs_test_t;
void hs_test_add_suite(const char *name, const hs_test_t *tests);
#endif
