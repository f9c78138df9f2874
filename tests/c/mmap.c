#define _GNU_SOURCE
/* mmap, mprotect, mremap and munmap of anonymous memory; then a write to
 * unmapped memory, which must kill the program with SIGSEGV (status 139). */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <errno.h>

int main(void) {
    size_t len = 16 * 4096;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 1; }
    memset(p, 'a', len);
    /* Protect a page and give it back: the mapping is one again, so
     * mremap of the whole range works. */
    int ro = mprotect(p, 4096, PROT_READ) | mprotect(p, 4096, PROT_READ | PROT_WRITE);
    char *q = mremap(p, len, 2 * len, MREMAP_MAYMOVE);
    if (q == MAP_FAILED) { perror("mremap"); return 1; }
    int kept = q[len - 1] == 'a' && q[0] == 'a';
    q[len] = 'b';
    int bad_prot = mprotect(q, 4096, 0x100) == -1 && errno == EINVAL;
    int unaligned = munmap(q + 1, 4096) == -1 && errno == EINVAL;
    /* Replace a page in the middle with MAP_FIXED: it reads back as zero. */
    char *f = mmap(q + 4096, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    int fixed = f == q + 4096 && f[0] == 0 && q[2 * 4096] == 'a';
    /* MAP_FIXED_NOREPLACE over an existing mapping fails with EEXIST. */
    int noreplace = mmap(q, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED
                    && errno == EEXIST;
    madvise(q + 3 * 4096, 4096, MADV_DONTNEED);
    int dontneed = q[3 * 4096] == 0;
    printf("mprotect=%d kept=%d bad_prot=%d unaligned=%d fixed=%d noreplace=%d dontneed=%d\n",
           ro, kept, bad_prot, unaligned, fixed, noreplace, dontneed);
    fflush(stdout);
    munmap(q, 2 * len);
    q[0] = 'c'; /* SIGSEGV */
    printf("still alive\n");
    return 0;
}
