/* RLIMIT_DATA (Linux >= 4.7): private writable mappings that are not the
 * stack, and the heap, count against it; past it mmap, brk, mremap growth
 * and mprotect adding write to a private mapping fail with ENOMEM, while
 * shared and read-only mappings do not count. /proc/self/limits
 * shows it. Prints what it sees, for comparison with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define MB (1L << 20)

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = ok\n", what);
}

static long map(long len, int prot, int flags) {
    void *p = mmap(NULL, len, prot, flags | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? -1 : (long)p;
}

int main(void) {
    /* Room for what the program has already, plus 8 MiB. */
    struct rlimit r = {64 * MB, 64 * MB};
    show("setrlimit(RLIMIT_DATA, 64 MiB)", setrlimit(RLIMIT_DATA, &r));
    char line[256];
    FILE *f = fopen("/proc/self/limits", "r");
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Max data size", 13) == 0)
            fputs(line, stdout);
    fclose(f);
    show("private rw 32 MiB", map(32 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    show("private rw 40 MiB (past the limit)", map(40 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    show("shared rw 40 MiB", map(40 * MB, PROT_READ | PROT_WRITE, MAP_SHARED));
    long ro = map(40 * MB, PROT_READ, MAP_PRIVATE);
    show("private read-only 40 MiB", ro);
    show("mprotect(read-only 40 MiB, +write)", mprotect((void *)ro, 40 * MB, PROT_READ | PROT_WRITE));
    show("mprotect(read-only 4 MiB of it, +write)", mprotect((void *)ro, 4 * MB, PROT_READ | PROT_WRITE));
    long small = map(MB, PROT_READ | PROT_WRITE, MAP_PRIVATE);
    show("private rw 1 MiB", small);
    void *g = mremap((void *)small, MB, 40 * MB, MREMAP_MAYMOVE);
    show("mremap(1 MiB -> 40 MiB)", g == MAP_FAILED ? -1 : 0);
    g = mremap((void *)small, MB, 2 * MB, MREMAP_MAYMOVE);
    show("mremap(1 MiB -> 2 MiB)", g == MAP_FAILED ? -1 : 0);
    void *b = sbrk(0);
    show("sbrk(40 MiB)", sbrk(40 * MB) == (void *)-1 ? -1 : 0);
    show("brk unchanged", sbrk(0) == b ? 0 : -1);
    show("sbrk(1 MiB)", sbrk(MB) == (void *)-1 ? -1 : 0);
    /* A lower soft limit than what is mapped: nothing more. */
    r.rlim_cur = 8 * MB;
    show("setrlimit(RLIMIT_DATA, 8 MiB)", setrlimit(RLIMIT_DATA, &r));
    show("private rw 1 MiB under it", map(MB, PROT_READ | PROT_WRITE, MAP_PRIVATE));
    show("private read-only 1 MiB under it", map(MB, PROT_READ, MAP_PRIVATE));
    return 0;
}
