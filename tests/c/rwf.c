/* preadv2 and pwritev2 on a scratch directory given as argv[1]: the file
 * offset with -1, RWF_APPEND, RWF_DSYNC and RWF_SYNC, RWF_NOWAIT on an
 * empty and a full pipe, RWF_NOAPPEND (also on an O_APPEND file, where it
 * writes at the offset), RWF_NOSIGNAL on a broken pipe and sockets (EPIPE
 * without SIGPIPE), RWF_ATOMIC and RWF_DONTCACHE where the answer does not
 * hang on the host's file system, and an unknown flag. Every result is
 * printed, for comparison with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND 0x20
#endif
#ifndef RWF_ATOMIC
#define RWF_ATOMIC 0x40
#endif
#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x80
#endif
#ifndef RWF_NOSIGNAL
#define RWF_NOSIGNAL 0x100
#endif

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig) {
    (void)sig;
    sigpipes++;
}

/* RWF_NOAPPEND on an O_APPEND file: at the offset given, and with -1 at
 * the file offset (which moves), past the end too; RWF_NOSIGNAL on a file
 * changes nothing. */
static void noappend(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/appended", dir);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_APPEND, 0644);
    if (fd < 0 || write(fd, "0123456789", 10) != 10)
        return;
    lseek(fd, 2, SEEK_SET);
    struct iovec x = {"ab", 2};
    show("O_APPEND: pwritev2(at 4, RWF_NOAPPEND)", pwritev2(fd, &x, 1, 4, RWF_NOAPPEND));
    show("O_APPEND: offset still", lseek(fd, 0, SEEK_CUR));
    show("O_APPEND: pwritev2(-1, RWF_NOAPPEND)", pwritev2(fd, &x, 1, -1, RWF_NOAPPEND));
    show("O_APPEND: offset moved by 2", lseek(fd, 0, SEEK_CUR));
    show("O_APPEND: pwritev2(at 0)", pwritev2(fd, &x, 1, 0, 0));
    show("O_APPEND: pwritev2(-1, RWF_NOSIGNAL)", pwritev2(fd, &x, 1, -1, RWF_NOSIGNAL));
    show("O_APPEND: offset at the end", lseek(fd, 0, SEEK_CUR));
    show("O_APPEND: pwritev2(past the end, RWF_NOAPPEND)", pwritev2(fd, &x, 1, 20, RWF_NOAPPEND));
    char all[32] = {0};
    long n = pread(fd, all, sizeof all - 1, 0);
    for (long i = 0; i < n; i++)
        if (!all[i])
            all[i] = '.';
    printf("O_APPEND file: %s\n", all);
    close(fd);
}

/* A write to a pipe or socket whose other end is closed: EPIPE, with
 * SIGPIPE unless RWF_NOSIGNAL (also with RWF_NOWAIT, and on a read the
 * flag is accepted and does nothing). */
/* Writes to `fd`, whose reader is gone, with RWF_NOSIGNAL (alone and with
 * RWF_NOWAIT) and without, and the SIGPIPEs counted after each. */
static void broken(const char *what, int fd) {
    struct iovec x = {"ab", 2};
    int flags[] = {RWF_NOSIGNAL, RWF_NOSIGNAL | RWF_NOWAIT, 0};
    const char *names[] = {"RWF_NOSIGNAL", "RWF_NOSIGNAL|RWF_NOWAIT", "0"};
    for (int i = 0; i < 3; i++) {
        char line[128];
        snprintf(line, sizeof line, "%s: pwritev2(%s)", what, names[i]);
        show(line, pwritev2(fd, &x, 1, -1, flags[i]));
        printf("SIGPIPEs: %d\n", (int)sigpipes);
    }
}

static void nosignal(void) {
    signal(SIGPIPE, on_sigpipe);
    int p[2];
    if (pipe(p))
        return;
    close(p[0]);
    broken("broken pipe", p[1]);
    close(p[1]);
    int kinds[] = {SOCK_STREAM, SOCK_SEQPACKET};
    for (int k = 0; k < 2; k++) {
        int s[2];
        if (socketpair(AF_UNIX, kinds[k], 0, s))
            return;
        close(s[1]);
        broken(kinds[k] == SOCK_STREAM ? "stream socket" : "seqpacket socket", s[0]);
        close(s[0]);
    }
    int q[2];
    if (pipe(q) || write(q[1], "x", 1) != 1)
        return;
    char b[4];
    struct iovec r = {b, sizeof b};
    show("preadv2(pipe, RWF_NOSIGNAL)", preadv2(q[0], &r, 1, -1, RWF_NOSIGNAL));
    close(q[0]);
    close(q[1]);
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    mkdir(argv[1], 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/data", argv[1]);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    struct iovec w[2] = {{"hello ", 6}, {"world", 5}};
    show("pwritev2(-1)", pwritev2(fd, w, 2, -1, 0));
    show("offset after", lseek(fd, 0, SEEK_CUR));
    struct iovec x = {"!!", 2};
    show("pwritev2(at 0, RWF_APPEND)", pwritev2(fd, &x, 1, 0, RWF_APPEND));
    show("offset still", lseek(fd, 0, SEEK_CUR));
    show("pwritev2(-1, RWF_APPEND)", pwritev2(fd, &x, 1, -1, RWF_APPEND));
    show("offset moved to the end", lseek(fd, 0, SEEK_CUR));
    show("pwritev2(RWF_DSYNC)", pwritev2(fd, &x, 1, 0, RWF_DSYNC));
    show("pwritev2(RWF_SYNC|RWF_HIPRI)", pwritev2(fd, &x, 1, 2, RWF_SYNC | RWF_HIPRI));
    char buf[32] = {0};
    struct iovec r = {buf, sizeof buf - 1};
    show("preadv2(at 0)", preadv2(fd, &r, 1, 0, 0));
    printf("file: %s\n", buf);
    lseek(fd, 6, SEEK_SET);
    memset(buf, 0, sizeof buf);
    show("preadv2(-1)", preadv2(fd, &r, 1, -1, 0));
    printf("from the offset: %s\n", buf);
    show("preadv2(file, RWF_NOWAIT)", preadv2(fd, &r, 1, 0, RWF_NOWAIT));
    show("preadv2(RWF_APPEND on a read)", preadv2(fd, &r, 1, 0, RWF_APPEND));
    show("preadv2(unknown flag)", preadv2(fd, &r, 1, 0, 0x40000000));
    show("pwritev2(unknown flag)", pwritev2(fd, &x, 1, 0, 0x40000000));
    show("preadv2(offset -2)", preadv2(fd, &r, 1, -2, 0));

    int p[2];
    if (pipe(p))
        return 1;
    show("preadv2(empty pipe, RWF_NOWAIT)", preadv2(p[0], &r, 1, -1, RWF_NOWAIT));
    show("pwritev2(pipe, RWF_NOWAIT)", pwritev2(p[1], &x, 1, -1, RWF_NOWAIT));
    show("preadv2(pipe, RWF_NOWAIT)", preadv2(p[0], &r, 1, -1, RWF_NOWAIT));
    show("preadv2(pipe, at 0)", preadv2(p[0], &r, 1, 0, 0));
    /* The later flags: RWF_NOAPPEND (6.9) on a file without O_APPEND
     * changes nothing, and never goes with RWF_APPEND; RWF_ATOMIC (6.11)
     * needs O_DIRECT and a file system that has it, RWF_DONTCACHE (6.14)
     * a file system that has it (not pipes, not tmpfs: a memfd). */
    show("pwritev2(RWF_NOAPPEND, no O_APPEND)", pwritev2(fd, &x, 1, 1, RWF_NOAPPEND));
    show("pwritev2(RWF_NOAPPEND|RWF_APPEND)", pwritev2(fd, &x, 1, 0, RWF_NOAPPEND | RWF_APPEND));
    show("preadv2(RWF_NOAPPEND)", preadv2(fd, &r, 1, 0, RWF_NOAPPEND));
    show("pwritev2(RWF_ATOMIC, no O_DIRECT)", pwritev2(fd, &x, 1, 0, RWF_ATOMIC));
    show("preadv2(RWF_ATOMIC)", preadv2(fd, &r, 1, 0, RWF_ATOMIC));
    show("pwritev2(pipe, RWF_ATOMIC)", pwritev2(p[1], &x, 1, -1, RWF_ATOMIC));
    show("pwritev2(pipe, RWF_DONTCACHE)", pwritev2(p[1], &x, 1, -1, RWF_DONTCACHE));
    show("preadv2(pipe, RWF_DONTCACHE)", preadv2(p[0], &r, 1, -1, RWF_DONTCACHE));
    int m = memfd_create("rwf", 0);
    show("pwritev2(memfd, RWF_DONTCACHE)", pwritev2(m, &x, 1, 0, RWF_DONTCACHE));
    show("preadv2(memfd, RWF_DONTCACHE)", preadv2(m, &r, 1, 0, RWF_DONTCACHE));
    show("pwritev2(memfd, RWF_ATOMIC)", pwritev2(m, &x, 1, 0, RWF_ATOMIC));
    close(fd);
    noappend(argv[1]);
    nosignal();
    return 0;
}
