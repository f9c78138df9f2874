/* Pipes and the calls that move data through them: splice, tee, vmsplice,
 * sendfile, copy_file_range, FIONREAD/TIOCOUTQ, F_SETPIPE_SZ/F_GETPIPE_SZ,
 * a writer cut short by its reader's close, PIPE_BUF atomicity between
 * writers, waits (for data, for room, interrupted by signals), FIFOs, and
 * lseek on the memory devices. Scratch files go in the directory given as
 * argv[1]. Every result is printed, so the sandbox's output can be
 * compared with Linux's; nothing printed depends on the directory, times,
 * inode numbers or the file system under the directory, and processes are
 * sequenced with pipes: the few short sleeps only make a wait likely to
 * happen, and what is printed is the same without them. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig) {
    (void)sig;
    sigpipes++;
}

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

/* Bytes waiting in `fd` (FIONREAD), or the error. */
static void inq(const char *what, int fd) {
    int n = -1;
    long r = ioctl(fd, FIONREAD, &n);
    if (r < 0)
        printf("%s FIONREAD = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s FIONREAD = %d\n", what, n);
}

/* Read what `fd` has now (it must have some or be at end) and print it. */
static void drain(const char *what, int fd, size_t max) {
    char buf[256];
    if (max > sizeof buf) max = sizeof buf;
    long r = read(fd, buf, max);
    if (r < 0)
        printf("%s read = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s read = %ld '%.*s'\n", what, r, (int)r, buf);
}

static void file_contents(const char *what, const char *path) {
    char buf[128];
    int fd = open(path, O_RDONLY);
    long r = read(fd, buf, sizeof buf);
    close(fd);
    printf("%s: %ld '%.*s'\n", what, r, r > 0 ? (int)r : 0, buf);
}

static int make_file(const char *path, const char *data) {
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
    if (write(fd, data, strlen(data)) != (long)strlen(data)) return -1;
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static void splices(void) {
    int p[2], q[2];
    loff_t off;
    char buf[64];

    printf("-- splice file <-> pipe\n");
    int src = make_file("src", "0123456789abcdef");
    pipe(p);
    off = 4;
    show("file->pipe at offset 4, 6 bytes", splice(src, &off, p[1], NULL, 6, 0));
    printf("  off_in now %ld, file offset %ld\n", (long)off, (long)lseek(src, 0, SEEK_CUR));
    inq("  pipe", p[0]);
    show("file->pipe at the file offset, 3 bytes", splice(src, NULL, p[1], NULL, 3, SPLICE_F_MOVE));
    printf("  file offset %ld\n", (long)lseek(src, 0, SEEK_CUR));
    int dst = make_file("dst", "................");
    off = 2;
    show("pipe->file at offset 2, 100 bytes", splice(p[0], NULL, dst, &off, 100, SPLICE_F_MORE));
    printf("  off_out now %ld, file offset %ld\n", (long)off, (long)lseek(dst, 0, SEEK_CUR));
    file_contents("  dst", "dst");
    write(p[1], "XY", 2);
    show("pipe->file at the file offset", splice(p[0], NULL, dst, NULL, 100, 0));
    printf("  file offset %ld\n", (long)lseek(dst, 0, SEEK_CUR));
    file_contents("  dst", "dst");
    off = 100;
    show("file->pipe past the end", splice(src, &off, p[1], NULL, 10, 0));
    off = 14;
    show("file->pipe near the end", splice(src, &off, p[1], NULL, 10, 0));
    drain("  pipe", p[0], 64);

    printf("-- splice errors\n");
    off = 0;
    show("offset on a pipe input", splice(p[0], &off, dst, NULL, 1, 0));
    show("offset on a pipe output", splice(src, NULL, p[1], &off, 1, 0));
    show("neither end a pipe", splice(src, NULL, dst, NULL, 1, 0));
    show("pipe write end as input", splice(p[1], NULL, dst, NULL, 1, 0));
    show("pipe read end as output", splice(src, NULL, p[0], NULL, 1, 0));
    int wronly = open("src", O_WRONLY);
    show("write-only file as input", splice(wronly, NULL, p[1], NULL, 1, 0));
    write(p[1], "z", 1);
    int rdonly = open("src", O_RDONLY);
    show("read-only file as output", splice(p[0], NULL, rdonly, NULL, 1, 0));
    close(rdonly);
    int app = open("dst", O_WRONLY | O_APPEND);
    show("append-only file as output", splice(p[0], NULL, app, NULL, 1, 0));
    off = -1;
    show("negative offset", splice(src, &off, p[1], NULL, 1, 0));
    show("bad flags", splice(p[0], NULL, dst, NULL, 1, 0x10));
    show("zero length with bad descriptors", splice(-1, NULL, -1, NULL, 0, 0));
    show("bad descriptor", splice(99, NULL, p[1], NULL, 1, 0));
    show("the same pipe both ends", splice(p[0], NULL, p[1], NULL, 1, 0));
    show("bad offset pointer", splice(src, (loff_t *)8, p[1], NULL, 1, 0));
    drain("  pipe", p[0], 64);
    close(wronly);
    close(app);

    printf("-- splice pipe <-> pipe\n");
    pipe(q);
    write(p[1], "hello", 5);
    show("pipe->pipe, 3 of 5", splice(p[0], NULL, q[1], NULL, 3, 0));
    inq("  first", p[0]);
    inq("  second", q[0]);
    show("pipe->pipe, the rest", splice(p[0], NULL, q[1], NULL, 100, 0));
    drain("  second", q[0], 64);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    show("empty non-blocking input", splice(p[0], NULL, q[1], NULL, 100, 0));
    fcntl(p[0], F_SETFL, 0);
    show("empty input, SPLICE_F_NONBLOCK", splice(p[0], NULL, q[1], NULL, 100, SPLICE_F_NONBLOCK));
    show("empty input to a file, SPLICE_F_NONBLOCK", splice(p[0], NULL, dst, NULL, 100, SPLICE_F_NONBLOCK));
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    show("empty non-blocking input to a file", splice(p[0], NULL, dst, NULL, 100, 0));
    fcntl(p[0], F_SETFL, 0);
    close(p[1]);
    show("empty input without writers", splice(p[0], NULL, q[1], NULL, 100, 0));
    show("empty input without writers to a file", splice(p[0], NULL, dst, NULL, 100, 0));
    close(p[0]);

    /* A full output pipe. */
    pipe(p);
    fcntl(q[1], F_SETPIPE_SZ, 4096);
    fcntl(q[1], F_SETFL, O_NONBLOCK);
    memset(buf, 'f', sizeof buf);
    for (int i = 0; i < 64; i++) write(q[1], buf, 64);
    fcntl(q[1], F_SETFL, 0);
    write(p[1], "abc", 3);
    show("into a full pipe, SPLICE_F_NONBLOCK", splice(p[0], NULL, q[1], NULL, 3, SPLICE_F_NONBLOCK));
    show("file into a full pipe, SPLICE_F_NONBLOCK", splice(src, NULL, q[1], NULL, 3, SPLICE_F_NONBLOCK));
    fcntl(q[1], F_SETFL, O_NONBLOCK);
    show("file into a full non-blocking pipe", splice(src, NULL, q[1], NULL, 3, 0));
    close(q[0]);
    close(q[1]);

    /* Writing into a pipe nobody reads. */
    pipe(q);
    close(q[0]);
    sigpipes = 0;
    show("pipe->pipe without readers", splice(p[0], NULL, q[1], NULL, 3, 0));
    show("file->pipe without readers", splice(src, NULL, q[1], NULL, 3, 0));
    printf("  SIGPIPEs: %d\n", (int)sigpipes);
    close(q[1]);
    close(p[0]);
    close(p[1]);

    printf("-- splice with sockets and devices\n");
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pipe(p);
    write(p[1], "sock", 4);
    show("pipe->socket", splice(p[0], NULL, sv[0], NULL, 100, 0));
    drain("  peer", sv[1], 64);
    write(sv[1], "back", 4);
    show("socket->pipe", splice(sv[0], NULL, p[1], NULL, 100, 0));
    drain("  pipe", p[0], 64);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    show("empty non-blocking socket->pipe", splice(sv[0], NULL, p[1], NULL, 100, 0));
    close(sv[0]);
    close(sv[1]);
    int zero = open("/dev/zero", O_RDONLY);
    show("/dev/zero->pipe", splice(zero, NULL, p[1], NULL, 8, 0));
    inq("  pipe", p[0]);
    int null = open("/dev/null", O_WRONLY);
    show("pipe->/dev/null", splice(p[0], NULL, null, NULL, 100, SPLICE_F_MOVE));
    inq("  pipe", p[0]);
    close(zero);
    close(null);
    close(p[0]);
    close(p[1]);
    close(src);
    close(dst);
}

static void tees(void) {
    int p[2], q[2];
    printf("-- tee\n");
    pipe(p);
    pipe(q);
    write(p[1], "world", 5);
    show("tee 3", tee(p[0], q[1], 3, 0));
    show("tee all", tee(p[0], q[1], 100, 0));
    inq("  input keeps", p[0]);
    inq("  output has", q[0]);
    drain("  output", q[0], 64);
    drain("  input", p[0], 64);
    show("tee from an empty pipe, SPLICE_F_NONBLOCK", tee(p[0], q[1], 10, SPLICE_F_NONBLOCK));
    show("tee to the same pipe", tee(p[0], p[1], 10, 0));
    int f = make_file("teefile", "abc");
    show("tee from a file", tee(f, q[1], 10, 0));
    show("tee to a file", tee(p[0], f, 10, 0));
    show("tee from a write end", tee(p[1], q[1], 10, 0));
    show("tee zero length", tee(-1, -1, 0, 0));
    show("tee bad flags", tee(p[0], q[1], 1, 0x10));
    close(p[1]);
    show("tee from an empty pipe without writers", tee(p[0], q[1], 10, 0));
    close(f);
    close(p[0]);
    close(q[0]);
    close(q[1]);
}

static void vmsplices(void) {
    int p[2];
    char a[8], b[8];
    printf("-- vmsplice\n");
    pipe(p);
    struct iovec in[2] = {{"ab", 2}, {"cde", 3}};
    show("user->pipe", vmsplice(p[1], in, 2, 0));
    inq("  pipe", p[0]);
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    struct iovec out[2] = {{a, 2}, {b, 8}};
    show("pipe->user", vmsplice(p[0], out, 2, 0));
    printf("  got '%s' '%s'\n", a, b);
    show("pipe->user, empty, SPLICE_F_NONBLOCK", vmsplice(p[0], out, 2, SPLICE_F_NONBLOCK));
    show("no buffers", vmsplice(p[1], in, 0, 0));
    show("bad flags", vmsplice(p[1], in, 1, 0x10));
    show("too many buffers", vmsplice(p[1], in, IOV_MAX + 1, 0));
    int f = make_file("vmfile", "abc");
    show("on a file", vmsplice(f, in, 1, 0));
    close(f);
    struct iovec bad = {(void *)8, 4};
    show("from a bad buffer", vmsplice(p[1], &bad, 1, 0));
    fcntl(p[1], F_SETPIPE_SZ, 4096);
    static char page[4096] __attribute__((aligned(4096)));
    memset(page, 'v', sizeof page);
    struct iovec big = {page, sizeof page};
    show("fill the pipe", vmsplice(p[1], &big, 1, 0));
    show("into a full pipe, SPLICE_F_NONBLOCK", vmsplice(p[1], &big, 1, SPLICE_F_NONBLOCK));
    close(p[0]);
    sigpipes = 0;
    show("without readers", vmsplice(p[1], in, 1, 0));
    printf("  SIGPIPEs: %d\n", (int)sigpipes);
    close(p[1]);
}

static void fionread(void) {
    int p[2], sv[2];
    printf("-- FIONREAD and TIOCOUTQ\n");
    pipe(p);
    inq("empty pipe", p[0]);
    write(p[1], "12345", 5);
    inq("pipe read end", p[0]);
    struct stat r, w;
    fstat(p[0], &r);
    fstat(p[1], &w);
    printf("pipe fstat: mode %o size %ld nlink %ld blksize %ld same inode %d\n", r.st_mode, (long)r.st_size,
           (long)r.st_nlink, (long)r.st_blksize, r.st_ino == w.st_ino && r.st_dev == w.st_dev);
    inq("pipe write end", p[1]);
    int outq = -1;
    show("TIOCOUTQ on a pipe", ioctl(p[1], TIOCOUTQ, &outq));
    close(p[0]);
    close(p[1]);

    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    inq("empty stream socket", sv[1]);
    write(sv[0], "abc", 3);
    write(sv[0], "de", 2);
    inq("stream socket", sv[1]);
    show("TIOCOUTQ on the sender", ioctl(sv[0], TIOCOUTQ, &outq));
    printf("  unread by the peer: %s\n", outq > 0 ? "some" : "none");
    char buf[16];
    read(sv[1], buf, sizeof buf);
    ioctl(sv[0], TIOCOUTQ, &outq);
    printf("  after the peer read: %d\n", outq);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    show("FIONREAD on an unconnected socket", ioctl(s, FIONREAD, &outq));
    struct sockaddr_un name = {.sun_family = AF_UNIX};
    memcpy(name.sun_path, "\0splice-test", 12);
    bind(s, (struct sockaddr *)&name, sizeof(sa_family_t) + 12);
    listen(s, 1);
    show("FIONREAD on a listening socket", ioctl(s, FIONREAD, &outq));
    close(s);
    close(sv[0]);
    close(sv[1]);

    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    inq("empty datagram socket", sv[1]);
    send(sv[0], "12345", 5, 0);
    send(sv[0], "ab", 2, 0);
    inq("datagram socket (next one)", sv[1]);
    recv(sv[1], buf, sizeof buf, 0);
    inq("datagram socket after a read", sv[1]);
    send(sv[0], "", 0, 0);
    recv(sv[1], buf, sizeof buf, 0);
    inq("datagram socket, an empty one next", sv[1]);
    close(sv[0]);
    close(sv[1]);

    int f = make_file("inq", "0123456789abcdef");
    inq("file at 0", f);
    lseek(f, 10, SEEK_SET);
    inq("file at 10", f);
    lseek(f, 20, SEEK_SET);
    inq("file past the end", f);
    close(f);
    int d = open(".", O_RDONLY | O_DIRECTORY);
    inq("directory", d);
    close(d);
    int null = open("/dev/null", O_RDONLY);
    inq("/dev/null", null);
    close(null);
}

/* One step on the pipe `p` (non-blocking for writing), printed with its
 * result: "set N" (F_SETPIPE_SZ), "write N", "writev N" (in two halves),
 * "read N", "holds" (FIONREAD). */
static void step(int p[2], const char *s) {
    static char buf[1 << 16];
    char op[16];
    long n = 0;
    sscanf(s, "%15s %ld", op, &n);
    struct iovec halves[2] = {{buf, n / 2}, {buf, n - n / 2}};
    if (strcmp(op, "set") == 0)
        show(s, fcntl(p[1], F_SETPIPE_SZ, (int)n));
    else if (strcmp(op, "write") == 0)
        show(s, write(p[1], buf, n));
    else if (strcmp(op, "writev") == 0)
        show(s, writev(p[1], halves, 2));
    else if (strcmp(op, "read") == 0)
        show(s, read(p[0], buf, n));
    else
        inq(s, p[0]);
}

static void pipe_sizes(void) {
    int p[2], f;
    char buf[256];
    printf("-- F_SETPIPE_SZ and F_GETPIPE_SZ\n");
    pipe(p);
    show("default size", fcntl(p[0], F_GETPIPE_SZ));
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    /* Sizes are powers of two of pages; a pipe holds pages, and a write
     * goes into the last one only if its tail fits there; a write of at
     * most a page (PIPE_BUF) is whole or nothing, even from two buffers. */
    const char *steps[] = {
        "set 0", "set 5000", "write 10000", "set 4096", "read 4096", "set 4096", "read 4000",
        "write 10", "read 96", "set 8192", "write 100", "write 4096", "write 10", "holds",
        "read 8192", "write 3000", "writev 4000", "write 1000", "write 2000", "holds", "read 8192",
    };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) step(p, steps[i]);
    show("get from the read end", fcntl(p[0], F_GETPIPE_SZ));
    {
        int d[2];
        pipe2(d, O_DIRECT);
        write(d[1], "one", 3);
        write(d[1], "two", 3);
        char small[2];
        show("packet read of 2", read(d[0], small, 2));
        drain("  next packet", d[0], 64);
        show("F_GETFL has O_DIRECT", (fcntl(d[1], F_GETFL) & O_DIRECT) != 0);
        close(d[0]);
        close(d[1]);
    }
    show("set 1 MiB", fcntl(p[1], F_SETPIPE_SZ, 1 << 20));
    show("set 2^31 + 1", fcntl(p[1], F_SETPIPE_SZ, (1u << 31) + 1));
    show("set -1", fcntl(p[1], F_SETPIPE_SZ, -1));
    show("get after those", fcntl(p[1], F_GETPIPE_SZ));
    int sync[2];
    pipe(sync);
    pid_t child = fork();
    if (child == 0) {
        /* Past pipe-max-size (1 MiB) only the privileged may go: how far
         * root may is the kernel's (or the sandbox's) choice, so only an
         * unprivileged process tries. */
        if (getuid() == 0 && setuid(65534) != 0) _exit(3);
        int r = fcntl(p[1], F_SETPIPE_SZ, (1 << 20) + 1);
        int e = errno;
        int lower = fcntl(p[1], F_SETPIPE_SZ, 4096);
        dprintf(sync[1], "unprivileged set 1 MiB + 1 = %d %s, set 4096 = %d\n", r, r < 0 ? strerrorname_np(e) : "",
                lower);
        _exit(0);
    }
    close(sync[1]);
    waitpid(child, NULL, 0);
    long n = read(sync[0], buf, sizeof buf);
    printf("%.*s", (int)(n > 0 ? n : 0), buf);
    close(sync[0]);
    f = make_file("sz", "x");
    show("F_GETPIPE_SZ on a file", fcntl(f, F_GETPIPE_SZ));
    show("F_SETPIPE_SZ on a file", fcntl(f, F_SETPIPE_SZ, 4096));
    close(f);
    close(p[0]);
    close(p[1]);
}

/* A writer blocked on a full pipe gets its partial count (and SIGPIPE)
 * when the reader closes; one that wrote nothing gets EPIPE. */
static void reader_closes(void) {
    int p[2], go[2];
    printf("-- a blocked writer whose reader closes\n");
    pipe(p);
    pipe(go);
    pid_t child = fork();
    if (child == 0) {
        close(p[1]);
        close(go[1]);
        /* Wait until the pipe is full, then close the read end. */
        int n = 0;
        while (ioctl(p[0], FIONREAD, &n) == 0 && n < 65536) sched_yield();
        close(p[0]);
        char c;
        read(go[0], &c, 1);
        _exit(0);
    }
    close(p[0]);
    close(go[0]);
    static char big[100000];
    sigpipes = 0;
    show("write 100000", write(p[1], big, sizeof big));
    printf("  SIGPIPEs: %d\n", (int)sigpipes);
    show("write again", write(p[1], big, 1));
    printf("  SIGPIPEs: %d\n", (int)sigpipes);
    close(go[1]);
    int status;
    waitpid(child, &status, 0);
    printf("  child exit %d\n", WEXITSTATUS(status));
    close(p[1]);

    /* And a reader waiting on an empty pipe sees end of file. */
    pipe(p);
    child = fork();
    if (child == 0) {
        close(p[1]);
        char c;
        long r = read(p[0], &c, 1);
        _exit(r == 0 ? 0 : 1);
    }
    close(p[0]);
    close(p[1]);
    waitpid(child, &status, 0);
    printf("reader at end of file: exit %d\n", WEXITSTATUS(status));
}

static void devices(void) {
    printf("-- lseek on memory devices\n");
    const char *names[] = {"/dev/null", "/dev/zero", "/dev/full"};
    for (int i = 0; i < 3; i++) {
        int fd = open(names[i], O_RDWR);
        char what[64];
        snprintf(what, sizeof what, "%s SEEK_SET 100", names[i]);
        show(what, lseek(fd, 100, SEEK_SET));
        snprintf(what, sizeof what, "%s SEEK_CUR 5", names[i]);
        show(what, lseek(fd, 5, SEEK_CUR));
        snprintf(what, sizeof what, "%s SEEK_END -3", names[i]);
        show(what, lseek(fd, -3, SEEK_END));
        snprintf(what, sizeof what, "%s whence 9", names[i]);
        show(what, lseek(fd, 0, 9));
        close(fd);
    }
}

static void copies(void) {
    char buf[64];
    loff_t a, b;
    int p[2];
    printf("-- sendfile\n");
    int src = make_file("csrc", "0123456789abcdef");
    int dst = make_file("cdst", "");
    off_t off = 3;
    show("file->file at offset 3, 5 bytes", sendfile(dst, src, &off, 5));
    printf("  offset now %ld, input position %ld\n", (long)off, (long)lseek(src, 0, SEEK_CUR));
    show("file->file at the position", sendfile(dst, src, NULL, 4));
    printf("  input position %ld\n", (long)lseek(src, 0, SEEK_CUR));
    file_contents("  cdst", "cdst");
    off = 14;
    show("past the end of the input", sendfile(dst, src, &off, 100));
    pipe(p);
    off = 0;
    show("file->pipe", sendfile(p[1], src, &off, 100));
    show("pipe->file", sendfile(dst, p[0], NULL, 100));
    drain("  pipe", p[0], 64);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    off = 10;
    show("file->socket", sendfile(sv[0], src, &off, 6));
    drain("  peer", sv[1], 64);
    write(sv[1], "s", 1);
    show("socket->file", sendfile(dst, sv[0], NULL, 1));
    show("socket->pipe", sendfile(p[1], sv[0], NULL, 1));
    drain("  pipe", p[0], 64);
    int zero = open("/dev/zero", O_RDONLY);
    show("/dev/zero->file", sendfile(dst, zero, NULL, 4));
    show("/dev/zero->pipe", sendfile(p[1], zero, NULL, 4));
    inq("  pipe", p[0]);
    read(p[0], buf, sizeof buf);
    close(zero);
    int app = open("cdst", O_WRONLY | O_APPEND);
    show("to an append-only file", sendfile(app, src, NULL, 1));
    close(app);
    int wronly = open("csrc", O_WRONLY);
    show("from a write-only file", sendfile(dst, wronly, NULL, 1));
    close(wronly);
    show("to a read-only pipe end", sendfile(p[0], src, NULL, 1));
    off = 0;
    show("offset on a pipe input", sendfile(dst, p[0], &off, 1));
    off = -1;
    show("negative offset", sendfile(dst, src, &off, 1));
    close(p[1]);
    show("from a pipe without writers", sendfile(dst, p[0], NULL, 1));
    close(p[0]);
    close(sv[0]);
    close(sv[1]);

    printf("-- copy_file_range\n");
    int out = make_file("cfr", "..........");
    a = 2;
    b = 4;
    show("at offsets", copy_file_range(src, &a, out, &b, 5, 0));
    printf("  offsets now %ld %ld, positions %ld %ld\n", (long)a, (long)b, (long)lseek(src, 0, SEEK_CUR),
           (long)lseek(out, 0, SEEK_CUR));
    file_contents("  cfr", "cfr");
    lseek(src, 0, SEEK_SET);
    lseek(out, 0, SEEK_SET);
    show("at the positions", copy_file_range(src, NULL, out, NULL, 3, 0));
    printf("  positions %ld %ld\n", (long)lseek(src, 0, SEEK_CUR), (long)lseek(out, 0, SEEK_CUR));
    a = 100;
    show("past the end", copy_file_range(src, &a, out, NULL, 3, 0));
    a = 0;
    show("within one file, overlapping", copy_file_range(out, &a, out, NULL, 5, 0));
    a = 0;
    b = 20;
    show("within one file, apart", copy_file_range(out, &a, out, &b, 5, 0));
    show("flags", copy_file_range(src, NULL, out, NULL, 1, 1));
    pipe(p);
    show("to a pipe", copy_file_range(src, NULL, p[1], NULL, 1, 0));
    write(p[1], "x", 1);
    show("from a pipe", copy_file_range(p[0], NULL, out, NULL, 1, 0));
    close(p[0]);
    close(p[1]);
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    show("from a directory", copy_file_range(dir, NULL, out, NULL, 1, 0));
    close(dir);
    app = open("cfr", O_WRONLY | O_APPEND);
    show("to an append-only file", copy_file_range(src, NULL, app, NULL, 1, 0));
    close(app);
    int rd = open("cfr", O_RDONLY);
    show("to a read-only file", copy_file_range(src, NULL, rd, NULL, 1, 0));
    close(rd);
    int proc = open("/proc/self/status", O_RDONLY);
    show("from another file system", copy_file_range(proc, NULL, out, NULL, 1, 0));
    close(proc);
    a = -1;
    show("negative offset", copy_file_range(src, &a, out, NULL, 1, 0));
    close(src);
    close(dst);
    close(out);
}

/* Calls that wait: for data, for room, and until a signal comes. */
static void on_alarm(int sig) {
    (void)sig;
}

/* SIGALRM in 50 ms, its handler restarting calls or not. */
static void alarm_soon(int restart) {
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = restart ? SA_RESTART : 0};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval t = {.it_value = {.tv_usec = 50000}};
    setitimer(ITIMER_REAL, &t, NULL);
}

/* A child that writes `data` to `fd` after a short sleep, then exits. */
static pid_t late_writer(int fd, const char *data) {
    pid_t child = fork();
    if (child == 0) {
        usleep(200000);
        write(fd, data, strlen(data));
        _exit(0);
    }
    return child;
}

static void waits(void) {
    int p[2], q[2];
    char buf[64];
    printf("-- waits\n");
    pipe(p);
    pipe(q);
    alarm_soon(0);
    show("splice from an empty pipe, interrupted", splice(p[0], NULL, q[1], NULL, 8, 0));
    alarm_soon(0);
    show("tee from an empty pipe, interrupted", tee(p[0], q[1], 8, 0));
    struct iovec out = {buf, 8};
    alarm_soon(0);
    show("vmsplice from an empty pipe, interrupted", vmsplice(p[0], &out, 1, 0));
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    alarm_soon(0);
    show("vmsplice from an empty O_NONBLOCK pipe, interrupted", vmsplice(p[0], &out, 1, 0));
    fcntl(p[0], F_SETFL, 0);
    pid_t child = late_writer(p[1], "late");
    show("splice waits for a writer", splice(p[0], NULL, q[1], NULL, 100, 0));
    waitpid(child, NULL, 0);
    child = late_writer(p[1], "rs");
    alarm_soon(1);
    show("splice with SA_RESTART, restarted", splice(p[0], NULL, q[1], NULL, 100, 0));
    waitpid(child, NULL, 0);
    drain("  pipe", q[0], 64);

    /* A file spliced into a full pipe waits for the reader to make room. */
    int src = make_file("wsrc", "0123456789");
    fcntl(q[1], F_SETPIPE_SZ, 4096);
    memset(buf, 'x', sizeof buf);
    fcntl(q[1], F_SETFL, O_NONBLOCK);
    while (write(q[1], buf, sizeof buf) > 0) continue;
    fcntl(q[1], F_SETFL, 0);
    child = fork();
    if (child == 0) {
        usleep(200000);
        static char page[4096];
        read(q[0], page, sizeof page);
        _exit(0);
    }
    loff_t off = 0;
    show("file into a full pipe waits for room", splice(src, &off, q[1], NULL, 100, 0));
    waitpid(child, NULL, 0);
    drain("  pipe", q[0], 64);
    show("sendfile of 0 bytes into a pipe with room", sendfile(q[1], src, NULL, 0));
    close(src);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
}

/* Writers of at most PIPE_BUF bytes are never interleaved. */
static void atomic_writes(void) {
    enum { RECORD = 4096, EACH = 64, WRITERS = 3 };
    int p[2];
    printf("-- PIPE_BUF atomicity\n");
    pipe(p);
    for (int w = 0; w < WRITERS; w++) {
        if (fork() == 0) {
            close(p[0]);
            static char rec[RECORD];
            memset(rec, 'a' + w, sizeof rec);
            for (int i = 0; i < EACH; i++)
                if (write(p[1], rec, sizeof rec) != RECORD) _exit(1);
            _exit(0);
        }
    }
    close(p[1]);
    static char rec[RECORD];
    int records = 0, mixed = 0;
    for (;;) {
        size_t got = 0;
        while (got < RECORD) {
            long n = read(p[0], rec + got, RECORD - got);
            if (n <= 0) break;
            got += n;
        }
        if (got < RECORD) break;
        records++;
        for (int i = 1; i < RECORD; i++)
            if (rec[i] != rec[0]) {
                mixed++;
                break;
            }
    }
    while (wait(NULL) > 0) continue;
    printf("records %d, mixed %d\n", records, mixed);
    close(p[0]);
}

/* A FIFO is a pipe to every call on pipes. */
static void fifos(void) {
    int p[2];
    printf("-- FIFOs\n");
    unlink("fifo");
    mkfifo("fifo", 0600);
    int r = open("fifo", O_RDONLY | O_NONBLOCK);
    int w = open("fifo", O_WRONLY);
    write(w, "fifo!", 5);
    inq("fifo", r);
    show("F_GETPIPE_SZ", fcntl(w, F_GETPIPE_SZ));
    show("F_SETPIPE_SZ 8192", fcntl(r, F_SETPIPE_SZ, 8192));
    pipe(p);
    show("splice fifo->pipe", splice(r, NULL, p[1], NULL, 3, 0));
    show("tee fifo->pipe", tee(r, p[1], 100, 0));
    show("splice pipe->fifo", splice(p[0], NULL, w, NULL, 100, 0));
    drain("  fifo", r, 64);
    close(r);
    close(w);
    close(p[0]);
    close(p[1]);
    unlink("fifo");
}

/* Offsets and counts past what a position can hold (Linux's
 * rw_verify_area); the limits of the file system under the directory
 * are not asked. */
static void limits(void) {
    int p[2];
    printf("-- offsets and counts at the limits\n");
    int src = make_file("lsrc", "0123456789");
    int dst = make_file("ldst", "");
    int zero = open("/dev/zero", O_RDONLY);
    pipe(p);
    off_t off = 0;
    show("sendfile of SIZE_MAX bytes", sendfile(dst, src, &off, SIZE_MAX));
    off = 0;
    show("sendfile of SSIZE_MAX bytes", sendfile(dst, src, &off, SSIZE_MAX));
    off = INT64_MAX - 1;
    show("sendfile /dev/zero at INT64_MAX - 1", sendfile(dst, zero, &off, 4));
    printf("  offset still %s\n", off == INT64_MAX - 1 ? "INT64_MAX - 1" : "moved");
    show("sendfile /dev/zero->pipe, 2^63 bytes", sendfile(p[1], zero, NULL, (size_t)1 << 63));
    loff_t lo = INT64_MAX - 1;
    show("splice /dev/zero at INT64_MAX - 1", splice(zero, &lo, p[1], NULL, 4, 0));
    lo = INT64_MAX - 1;
    show("splice a file at INT64_MAX - 1, 1 byte", splice(src, &lo, p[1], NULL, 1, 0));
    show("splice file->pipe, 2^63 bytes", splice(src, NULL, p[1], NULL, (size_t)1 << 63, 0));
    write(p[1], "ab", 2);
    lo = INT64_MAX - 1;
    show("splice pipe->file at INT64_MAX - 1, 2 bytes", splice(p[0], NULL, dst, &lo, 2, 0));
    show("splice pipe->file, 2^63 bytes", splice(p[0], NULL, dst, NULL, (size_t)1 << 63, 0));
    int q[2];
    pipe(q);
    write(p[1], "cd", 2);
    show("tee, 2^63 bytes", tee(p[0], q[1], (size_t)1 << 63, 0));
    close(q[0]);
    close(q[1]);
    loff_t a = INT64_MIN, b = 0;
    show("copy_file_range from INT64_MIN", copy_file_range(src, &a, dst, &b, 1, 0));
    a = 0;
    show("copy_file_range of SIZE_MAX bytes", copy_file_range(src, &a, dst, &b, SIZE_MAX, 0));
    close(src);
    close(dst);
    close(zero);
    close(p[0]);
    close(p[1]);
    printf("-- done\n");
}

int main(int argc, char **argv) {
    /* The scratch directory is made if need be. */
    if (argc < 2 || (mkdir(argv[1], 0755) != 0 && errno != EEXIST) || chdir(argv[1]) != 0) return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, on_sigpipe);
    splices();
    tees();
    vmsplices();
    fionread();
    pipe_sizes();
    reader_closes();
    devices();
    copies();
    waits();
    atomic_writes();
    fifos();
    limits();
    return 0;
}
