/* What a JVM (and Go, V8, ASan) does at start: reserve a huge range with
 * no access, then a large writable one it may never touch
 * (MAP_NORESERVE), and use a little of each. Linux's default overcommit
 * mode allows it in a memory cgroup far smaller than the reservations. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024L * 1024L)
#define GiB (1024L * MiB)

static const char *err(void *p) { return p == MAP_FAILED ? strerrorname_np(errno) : "ok"; }

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *reserved = mmap(NULL, 64 * GiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("64 GiB PROT_NONE: %s\n", err(reserved));
    char *heap = mmap(NULL, 8 * GiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    printf("8 GiB rw noreserve: %s\n", err(heap));
    if (heap != MAP_FAILED) {
        memset(heap, 1, MiB);
        memset(heap + 8 * GiB - MiB, 1, MiB);
        printf("1 MiB touched at each end: ok\n");
    }
    /* Committing part of the reservation, as a JVM grows its heap. */
    if (reserved != MAP_FAILED) {
        int r = mprotect(reserved + 32 * GiB, 64 * MiB, PROT_READ | PROT_WRITE);
        printf("64 MiB of the reservation made rw: %s\n", r ? strerrorname_np(errno) : "ok");
        if (r == 0) memset(reserved + 32 * GiB, 2, MiB);
    }
    /* And a fork with all of it mapped (a JVM's ProcessBuilder). */
    pid_t pid = fork();
    if (pid == 0) _exit(heap[0] == 1 && heap[8 * GiB - 1] == 1 ? 0 : 1);
    int st = -1;
    if (pid > 0) waitpid(pid, &st, 0);
    printf("fork: %s, child saw the pages: %s\n", pid < 0 ? strerrorname_np(errno) : "ok",
           WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");
    return 0;
}
