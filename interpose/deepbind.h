/*
 * interpose/deepbind.h - libraries loaded with RTLD_DEEPBIND call the shim's
 * malloc family too (deepbind.c).
 */
#ifndef HS_INTERPOSE_DEEPBIND_H
#define HS_INTERPOSE_DEEPBIND_H

/*
 * Point glibc's exported malloc family at the process's definitions (the
 * shim's), so that every later symbol lookup -- a deep-bound library's own
 * scope, lazy binding, dlsym on libc's handle -- finds them. Once per
 * process; any thread, any time after relocation (no allocation, no lock
 * but the loader's dl_iterate_phdr lock); a second caller waits for the
 * first. Runs at the first dlopen/dlmopen (x86-64; elsewhere from the
 * shim's constructor). On failure: one warning line, glibc left as it was.
 */
void hs_deepbind_setup(void);

/* what hs_deepbind_setup() did: 0 not run yet, 1 running, 2 redirected,
 * 3 not needed (the shim is not the process's malloc), 4 failed (warned) */
int hs_deepbind_state(void);

/*
 * True when a loaded object defines `name` in its dynamic symbol table
 * (inside == NULL: any object; else only the object holding that address),
 * read through the loader's own hash tables, without dlsym. For a caller
 * that would otherwise learn it from a dlsym that fails: a failed dlsym
 * leaves an error that only dlerror() clears, and dlerror() formats it with
 * asprintf, which makes printf's code pages resident in the process (see
 * interpose/strbuf.h). Any thread; takes the loader's dl_iterate_phdr lock.
 */
#include <stdbool.h>
bool hs_elf_defines(const void *inside, const char *name);
/* The first loaded object, in the loader's order (the program, the
 * preloaded libraries, the rest), whose symbol table defines name (a
 * program that only takes a function's address has it undefined, with a
 * canonical PLT address that dlsym(RTLD_DEFAULT) would give): its load
 * address and name. false: none. */
bool hs_elf_first_definer(const char *name, uintptr_t *base, const char **obj);

#endif
