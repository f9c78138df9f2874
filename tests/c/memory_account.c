/* The sandbox's memory (issue 16), run under `--memory 256M` (a ceiling
 * of 240 MiB): /proc/meminfo, sysinfo and the cgroup view agree with the
 * ceiling and the memory used; allocations are refused as Linux's default
 * overcommit heuristic (vm.overcommit_memory=0) refuses them, with the
 * ceiling as the memory there is: only one request larger than it. Prints
 * one line per check. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
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

static void *anon(long len, int prot, int flags) {
    return mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sysinfo si;
    sysinfo(&si);
    long total = meminfo("MemTotal");
    printf("MemTotal %ld MiB, sysinfo agrees: %s\n", total / 1024,
           (long)(si.totalram * si.mem_unit / 1024) == total ? "yes" : "no");
    printf("CommitLimit is half of it: %s\n", meminfo("CommitLimit") == total / 2 ? "yes" : "no");
    long avail = meminfo("MemAvailable");
    printf("MemAvailable below MemTotal, above half: %s\n", avail < total && avail > total / 2 ? "yes" : "no");

    /* Committed_AS moves with a writable private mapping at once; the
     * memory used (MemAvailable, memory.current) only once it is touched. */
    long before = meminfo("Committed_AS"), avail_before = meminfo("MemAvailable"), cg_before = cgroup_current();
    char *eight = anon(8 * MiB, PROT_READ | PROT_WRITE, 0);
    long grew = meminfo("Committed_AS") - before, used = avail_before - meminfo("MemAvailable");
    printf("8 MiB mapped: Committed_AS +%ld KiB, used less than 4 MiB more: %s\n", grew,
           used < 4 * 1024 ? "yes" : "no");
    memset(eight, 1, 8 * MiB);
    used = avail_before - meminfo("MemAvailable");
    long cg_used = cgroup_current() - cg_before;
    printf("8 MiB touched: used at least 6 MiB more: %s, memory.current agrees: %s\n",
           used >= 6 * 1024 ? "yes" : "no", cg_used >= 6 * MiB && cg_used / 1024 <= used + 2048 ? "yes" : "no");
    munmap(eight, 8 * MiB);

    /* One request larger than the memory there is: ENOMEM, from mmap,
     * mprotect, mremap and brk. Under it, any number succeed. */
    printf("mmap 1 GiB rw: %s\n", err(anon(1024 * MiB, PROT_READ | PROT_WRITE, 0)));
    void *a = anon(200 * MiB, PROT_READ | PROT_WRITE, 0), *b = anon(200 * MiB, PROT_READ | PROT_WRITE, 0),
         *c = anon(200 * MiB, PROT_READ | PROT_WRITE, 0);
    printf("three of 200 MiB rw: %s %s %s, Committed_AS past MemTotal: %s\n", err(a), err(b), err(c),
           meminfo("Committed_AS") > total ? "yes" : "no");
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    printf("fork with them: %s\n", pid < 0 ? strerrorname_np(errno) : "ok");
    if (pid > 0) waitpid(pid, NULL, 0);
    munmap(a, 200 * MiB), munmap(b, 200 * MiB), munmap(c, 200 * MiB);
    printf("mmap 1 GiB rw noreserve: %s\n", err(anon(1024 * MiB, PROT_READ | PROT_WRITE, MAP_NORESERVE)));
    void *none = anon(1024 * MiB, PROT_NONE, 0);
    printf("mmap 1 GiB none: %s\n", err(none));
    printf("mprotect it rw: %s\n",
           mprotect(none, 1024 * MiB, PROT_READ | PROT_WRITE) ? strerrorname_np(errno) : "ok");
    printf("mprotect 200 MiB of it rw: %s\n",
           mprotect(none, 200 * MiB, PROT_READ | PROT_WRITE) ? strerrorname_np(errno) : "ok");
    munmap(none, 1024 * MiB);
    void *small = anon(MiB, PROT_READ | PROT_WRITE, 0);
    printf("mremap to 1 GiB: %s\n", err(mremap(small, MiB, 1024 * MiB, MREMAP_MAYMOVE)));
    printf("mremap to 200 MiB: %s\n", err(mremap(small, MiB, 200 * MiB, MREMAP_MAYMOVE)));
    void *brk0 = sbrk(0);
    printf("brk +1 GiB: %s\n", brk((char *)brk0 + 1024 * MiB) ? strerrorname_np(errno) : "ok");
    printf("brk +200 MiB: %s\n", brk((char *)brk0 + 200 * MiB) ? strerrorname_np(errno) : "ok");
    brk(brk0);

    /* File data: a sparse file costs nothing; a tmpfs fills to its size
     * (ENOSPC), which Shmem and the memory used show. */
    int fd = memfd_create("sparse", 0);
    printf("sparse 1 GiB: %s\n", ftruncate(fd, 1024 * MiB) ? strerrorname_np(errno) : "ok");
    static char page[4096];
    printf("a page in it: %s\n", pwrite(fd, page, sizeof page, 512 * MiB) == sizeof page ? "ok" : "failed");
    struct statvfs vfs;
    statvfs("/tmp", &vfs);
    long size = (long)(vfs.f_blocks * vfs.f_frsize);
    long shmem = meminfo("Shmem");
    avail_before = meminfo("MemAvailable");
    int t = open("/tmp/fill", O_CREAT | O_RDWR | O_TRUNC, 0600);
    static char buf[MiB];
    long written = 0;
    ssize_t n;
    while ((n = write(t, buf, sizeof buf)) > 0) written += n;
    printf("tmpfs write: %s at its size (%s), Shmem grew by it: %s, used: %s\n",
           n < 0 ? strerrorname_np(errno) : "eof", written > size - MiB && written <= size ? "yes" : "no",
           meminfo("Shmem") - shmem >= written / 1024 ? "yes" : "no",
           avail_before - meminfo("MemAvailable") >= written / 1024 - 2048 ? "yes" : "no");
    unlink("/tmp/fill");
    close(t);
    return 0;
}
