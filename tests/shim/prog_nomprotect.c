/*
 * tests/shim/prog_nomprotect.c - run a command where mprotect() cannot make
 * memory writable (EACCES), as under a strict security policy: the shim
 * cannot redirect glibc's symbol table for RTLD_DEEPBIND
 * (interpose/deepbind.c) and must say so in one warning line, and the
 * program must run on unchanged.
 *
 *   prog_nomprotect CMD [ARG]...
 *
 * A seccomp filter (no privileges needed, after PR_SET_NO_NEW_PRIVS) fails
 * mprotect calls that ask for PROT_WRITE; everything else is allowed.
 * Exits 125 when the filter cannot be installed (the suite skips), else
 * execs CMD.
 */
#include <endian.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: prog_nomprotect CMD [ARG]...\n");
        return 2;
    }
#ifdef ARCH
    /* the low 32 bits of the third argument (prot) */
    unsigned prot_lo = offsetof(struct seccomp_data, args[2]) + (__BYTE_ORDER == __BIG_ENDIAN ? 4 : 0);
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 0, 4),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 0, 2),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, prot_lo),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_WRITE, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA)),
    };
    struct sock_fprog prog = { (unsigned short)(sizeof f / sizeof *f), f };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        fprintf(stderr, "prog_nomprotect: seccomp: %s\n", strerror(errno));
        return 125;
    }
    execvp(argv[1], argv + 1);
    fprintf(stderr, "prog_nomprotect: %s: %s\n", argv[1], strerror(errno));
    return 127;
#else
    fprintf(stderr, "prog_nomprotect: no seccomp filter for this architecture\n");
    return 125;
#endif
}
