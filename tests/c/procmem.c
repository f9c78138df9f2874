// /proc/self/mem: read and write the process's own memory at the file
// offset = address, with pread/pwrite and lseek+read; a read-only page is
// written by force (as a debugger patches text); PROT_NONE memory is read
// by force; an unmapped address gives EIO; a transfer running into an
// unmapped page stops there. Prints what it sees, so that the output
// compares with Linux's.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile char global[64] = "hello from the data segment";

static void result(const char *what, ssize_t r) {
    if (r < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %zd\n", what, r);
}

int main(void) {
    int fd = open("/proc/self/mem", O_RDWR);
    if (fd < 0) {
        perror("open /proc/self/mem");
        return 1;
    }
    char buf[64];

    // Read a global with pread.
    memset(buf, 0, sizeof buf);
    result("pread global", pread(fd, buf, 27, (off_t)(uintptr_t)global));
    printf("read: %s\n", buf);

    // Write it with pwrite; the process sees the change.
    result("pwrite global", pwrite(fd, "HELLO", 5, (off_t)(uintptr_t)global));
    printf("now: %s\n", (const char *)global);

    // lseek then read, and the offset moves on.
    off_t at = lseek(fd, (off_t)(uintptr_t)global + 6, SEEK_SET);
    printf("lseek to global+6: %s\n", at == (off_t)(uintptr_t)global + 6 ? "ok" : "wrong");
    memset(buf, 0, sizeof buf);
    result("read", read(fd, buf, 4));
    printf("read: %s\n", buf);
    printf("offset after: +%lld\n", (long long)(lseek(fd, 0, SEEK_CUR) - (off_t)(uintptr_t)global));
    result("lseek SEEK_END", lseek(fd, 0, SEEK_END));

    // A read-only page is written by force; mprotect stays as it was.
    long page = sysconf(_SC_PAGESIZE);
    char *ro = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(ro, "read-only page");
    mprotect(ro, page, PROT_READ);
    result("pwrite read-only page", pwrite(fd, "READ", 4, (off_t)(uintptr_t)ro));
    printf("read-only page now: %s\n", ro);

    // PROT_NONE memory is read by force.
    strcpy(ro + page, "no access");
    mprotect(ro + page, page, PROT_NONE);
    memset(buf, 0, sizeof buf);
    result("pread PROT_NONE page", pread(fd, buf, 9, (off_t)(uintptr_t)(ro + page)));
    printf("read: %s\n", buf);

    // Unmapped: EIO; a read running into it stops at the boundary.
    munmap(ro + page, page);
    result("pread unmapped", pread(fd, buf, 8, (off_t)(uintptr_t)(ro + page)));
    result("pwrite unmapped", pwrite(fd, "x", 1, (off_t)(uintptr_t)(ro + page)));
    static char across[64];
    result("pread across the end", pread(fd, across, 64, (off_t)(uintptr_t)(ro + page - 16)));
    result("pread address 0", pread(fd, buf, 8, 0));

    // A shared read-only mapping is not written by force.
    char *shared = mmap(NULL, page, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    result("pwrite shared read-only", pwrite(fd, "x", 1, (off_t)(uintptr_t)shared));
    close(fd);

    // Another process's memory: a parent writes its child's data and
    // reads it back; the child sees the change, the parent's own copy
    // stays. (Forcing a write into another process's read-only page is
    // not done by the sandbox: see src/sentry/mm/forced.rs.)
    char *child_ro = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(child_ro, "child page");
    mprotect(child_ro, page, PROT_READ);
    int ready[2], go[2];
    if (pipe(ready) || pipe(go))
        return 1;
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        char c;
        write(ready[1], "r", 1);
        read(go[0], &c, 1);
        printf("child sees: %s, %s\n", (const char *)global, child_ro);
        fflush(stdout);
        _exit(0);
    }
    char c;
    read(ready[0], &c, 1);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", child);
    int cfd = open(path, O_RDWR);
    if (cfd < 0) {
        printf("open child's mem: %s\n", strerrorname_np(errno));
    } else {
        result("pwrite child's global", pwrite(cfd, "CHILD", 5, (off_t)(uintptr_t)global));
        memset(buf, 0, sizeof buf);
        result("pread child's global", pread(cfd, buf, 10, (off_t)(uintptr_t)global));
        printf("child's global: %s\n", buf);
        close(cfd);
    }
    printf("parent still sees: %s\n", (const char *)global);
    fflush(stdout);
    write(go[1], "g", 1);
    waitpid(child, NULL, 0);

    // Read-only open refuses writes.
    fd = open("/proc/self/mem", O_RDONLY);
    result("pwrite on O_RDONLY", pwrite(fd, "x", 1, (off_t)(uintptr_t)global));
    close(fd);
    return 0;
}
