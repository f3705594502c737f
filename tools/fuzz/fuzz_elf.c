/*
 * tools/fuzz/fuzz_elf.c - libFuzzer target: the probe's ELF reader
 * (ebpf/elf_lib.c), which heapshim-probe runs as root on a library file.
 *
 * Room: fuzzing only. Feeds arbitrary bytes in an exactly-sized heap copy
 * (AddressSanitizer catches any read past the end) and checks what the
 * reader promises: a non-ELF input gives -1 and an all-zero answer, and an
 * offset it returns lies inside the image's address range.
 */
#include "../../ebpf/elf_lib.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    struct hsp_elf_info info;
    int rc = hsp_elf_inspect(copy, size, &info);
    if (rc != 0 && (info.sym_off || info.usdt_publish || info.usdt_init || info.notes)) abort();
    if (info.notes == 0 && (info.usdt_publish || info.usdt_init)) abort();
    free(copy);
    return 0;
}
