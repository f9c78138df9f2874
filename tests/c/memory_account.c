/* The sandbox's memory account (issue 16), run under `--memory 64M` (an
 * account of 60 MiB): what /proc/meminfo, sysinfo and the cgroup view
 * show, and each allocation past the ceiling failing with Linux's error
 * (strict overcommit accounting, as vm.overcommit_memory=2) while the
 * program lives on. Prints one line per check. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024L * 1024L)

static long meminfo(const char *key) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') v = atol(line + n + 1);
    if (f) fclose(f);
    return v;
}

static long cgroup_current(void) {
    FILE *f = fopen("/sys/fs/cgroup/memory.current", "r");
    long v = -1;
    if (f && fscanf(f, "%ld", &v) != 1) v = -1;
    if (f) fclose(f);
    return v;
}

static const char *err(void *p) { return p == MAP_FAILED ? strerrorname_np(errno) : "ok"; }

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sysinfo si;
    sysinfo(&si);
    long total = meminfo("MemTotal");
    printf("MemTotal %ld MiB, sysinfo agrees: %s\n", total / 1024,
           (long)(si.totalram * si.mem_unit / 1024) == total ? "yes" : "no");
    printf("CommitLimit is MemTotal: %s\n", meminfo("CommitLimit") == total ? "yes" : "no");

    /* Committed_AS and the cgroup's memory.current move with a writable
     * private mapping, by its size, before it is touched. */
    long before = meminfo("Committed_AS"), cg_before = cgroup_current();
    void *eight = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long grew = meminfo("Committed_AS") - before, cg_grew = cgroup_current() - cg_before;
    printf("8 MiB mapped: Committed_AS +%ld KiB, memory.current +%ld KiB\n", grew, cg_grew / 1024);
    munmap(eight, 8 * MiB);

    /* Past the ceiling: mmap, mprotect, mremap and brk say ENOMEM. */
    void *big = mmap(NULL, 128 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap 128 MiB rw: %s\n", err(big));
    if (big != MAP_FAILED) munmap(big, 128 * MiB);
    void *none = mmap(NULL, 128 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap 128 MiB none: %s\n", err(none));
    int r = mprotect(none, 128 * MiB, PROT_READ | PROT_WRITE);
    printf("mprotect it rw: %s\n", r ? strerrorname_np(errno) : "ok");
    printf("mprotect 16 MiB of it rw: %s\n",
           mprotect(none, 16 * MiB, PROT_READ | PROT_WRITE) ? strerrorname_np(errno) : "ok");
    munmap(none, 128 * MiB);
    void *small = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *moved = mremap(small, MiB, 128 * MiB, MREMAP_MAYMOVE);
    printf("mremap to 128 MiB: %s\n", err(moved));
    munmap(small, MiB);
    void *brk0 = sbrk(0);
    printf("brk +128 MiB: %s\n", brk((char *)brk0 + 128 * MiB) ? strerrorname_np(errno) : "ok");

    /* A hog touching all it gets is refused, not killed. */
    long got = 0;
    char *chunks[128];
    for (; got < 128; got++) {
        chunks[got] = malloc(MiB);
        if (!chunks[got]) break;
        memset(chunks[got], 1, MiB);
    }
    printf("hog: %s after %s 40 MiB\n", got < 128 ? "malloc failed" : "no failure",
           got > 40 ? "more than" : "less than");
    /* A fork needs as much again: ENOMEM while the hog holds it all. */
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    printf("fork while full: %s\n", pid < 0 ? strerrorname_np(errno) : "ok");
    if (pid > 0) waitpid(pid, NULL, 0);
    for (long i = 0; i < got; i++) free(chunks[i]);
    pid = fork();
    if (pid == 0) _exit(0);
    printf("fork after: %s\n", pid < 0 ? strerrorname_np(errno) : "ok");
    if (pid > 0) waitpid(pid, NULL, 0);

    /* File data in memory counts too: a sparse file costs nothing, its
     * written pages do, and writes stop with ENOSPC at the ceiling. */
    int fd = memfd_create("sparse", 0);
    printf("sparse 1 GiB: %s\n", ftruncate(fd, 1024 * MiB) ? strerrorname_np(errno) : "ok");
    static char page[4096];
    printf("a page in it: %s\n", pwrite(fd, page, sizeof page, 512 * MiB) == sizeof page ? "ok" : "failed");
    long shmem = meminfo("Shmem");
    int t = open("/tmp/fill", O_CREAT | O_RDWR | O_TRUNC, 0600);
    static char buf[MiB];
    long written = 0;
    ssize_t n;
    while ((n = write(t, buf, sizeof buf)) > 0) written += n;
    printf("tmpfs write: %s after %s 40 MiB, Shmem grew by it: %s\n", n < 0 ? strerrorname_np(errno) : "eof",
           written > 40 * MiB ? "more than" : "less than",
           meminfo("Shmem") - shmem >= written / 1024 ? "yes" : "no");
    void *more = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap 16 MiB with the files full: %s\n", err(more));
    unlink("/tmp/fill");
    close(t);
    more = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap 16 MiB once removed: %s\n", err(more));
    return 0;
}
