/* tests/shim/libroutetest.c - a shared object whose malloc calls the
 * routing tests send to a domain by name (HEAPSHIM_ROUTE='libroutetest*=obj').
 * It touches the block after malloc returns: a bare `return malloc(n)` would
 * be compiled as a tail jump, and the caller seen by the shim would be ours
 * (the documented limit of routing by return address). */
#include <stdlib.h>
#include <string.h>
__attribute__((visibility("default"))) void *routetest_alloc(size_t n)
{
    char *p = malloc(n);
    if (p && n) memset(p, 0x5a, n);
    return p;
}
