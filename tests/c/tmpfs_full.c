/* A tmpfs of 8 MiB (argv[1]) fills as Linux's does: fallocate of 1 TiB is
 * ENOSPC at once (it once made the sentry allocate until the host's OOM
 * killer came), writes stop with a short count and then ENOSPC at the
 * size, statfs shows the size and what is free, KEEP_SIZE allocation past
 * the end is refused when full, and removing a file gives the room back.
 * Prints what it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

static char chunk[1 << 20];

static void df(const char *dir, const char *when) {
    struct statfs s;
    statfs(dir, &s);
    printf("%s: size %llu KiB, free %llu KiB\n", when, (unsigned long long)s.f_blocks * s.f_bsize / 1024,
           (unsigned long long)s.f_bfree * s.f_bsize / 1024);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) return 2;
    const char *dir = argv[1];
    char path[512];
    df(dir, "empty");
    snprintf(path, sizeof path, "%s/big", dir);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    int r = fallocate(fd, 0, 0, 1LL << 40);
    printf("fallocate 1 TiB: %s\n", r < 0 ? strerrorname_np(errno) : "ok");
    r = fallocate(fd, 0, 0, 2 << 20);
    printf("fallocate 2 MiB: %s\n", r < 0 ? strerrorname_np(errno) : "ok");
    memset(chunk, 'x', sizeof chunk);
    long long total = 0;
    for (;;) {
        ssize_t n = write(fd, chunk, sizeof chunk);
        if (n < 0) {
            printf("write: %s after %lld KiB\n", strerrorname_np(errno), total / 1024);
            break;
        }
        if (n < (ssize_t)sizeof chunk) printf("short write of %zd KiB\n", n / 1024);
        total += n;
    }
    df(dir, "full");
    r = fallocate(fd, FALLOC_FL_KEEP_SIZE, total, 1 << 20);
    printf("keep-size fallocate when full: %s\n", r < 0 ? strerrorname_np(errno) : "ok");
    snprintf(path, sizeof path, "%s/small", dir);
    int fd2 = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    printf("write to another file: %s\n", write(fd2, "x", 1) < 0 ? strerrorname_np(errno) : "ok");
    close(fd);
    snprintf(path, sizeof path, "%s/big", dir);
    unlink(path);
    printf("after unlink, write: %s\n", write(fd2, "x", 1) < 0 ? strerrorname_np(errno) : "ok");
    r = fallocate(fd2, FALLOC_FL_KEEP_SIZE, 0, 4 << 20);
    printf("keep-size fallocate 4 MiB: %s, size %lld\n", r < 0 ? strerrorname_np(errno) : "ok",
           (long long)lseek(fd2, 0, SEEK_END));
    df(dir, "with 4 MiB kept");
    ftruncate(fd2, 0);
    df(dir, "truncated");
    return 0;
}
