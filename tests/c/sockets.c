/* AF_UNIX sockets: socketpair, datagrams and seqpacket, a path server with
 * a forked client, abstract names, passing descriptors, non-blocking
 * calls, errors, shutdown and close. Run natively and in the sandbox; the
 * output must be the same, so it prints nothing that differs between runs
 * (pids, inode numbers, the directory).
 *
 * Usage: sockets DIR          (path sockets are made in DIR)
 *        sockets bind PATH [SECONDS]
 *                             (only bind and listen at PATH, stat it, and
 *                             stay SECONDS) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[80];
static int sigpipes;

/* SIGPIPE is blocked: count (and take) the ones sent so far. */
static int pipes(void) {
    struct timespec zero = {0, 0};
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    while (sigtimedwait(&set, NULL, &zero) == SIGPIPE) sigpipes++;
    return sigpipes;
}

static void must(int ok, const char *what) {
    if (!ok) {
        printf("FAIL %s: %s\n", what, strerror(errno));
        exit(1);
    }
}
#define OK(x) must((x) >= 0, #x)

/* The outcome of a call: "ok" or the error's text. */
static const char *res(long r) {
    return r < 0 ? strerror(errno) : "ok";
}

static socklen_t path_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, name);
    return offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1;
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "sandbox-test-%d-%s", getpid(), name);
    return offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

static int revents(int fd, short events) {
    struct pollfd p = {fd, events, 0};
    int n = poll(&p, 1, 0);
    return n < 0 ? -1 : p.revents;
}

static int opt(int fd, int name) {
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, name, &v, &l) < 0) return -errno;
    return v;
}

static void stream_pair(void) {
    int sv[2];
    char buf[64];
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(write(sv[0], "hello", 5));
    ssize_t n = read(sv[1], buf, sizeof buf);
    printf("pair: read %zd '%.*s'\n", n, (int)n, buf);
    OK(write(sv[1], "world!", 6));
    n = read(sv[0], buf, sizeof buf);
    printf("pair: read back %zd '%.*s'\n", n, (int)n, buf);

    struct stat st;
    OK(fstat(sv[0], &st));
    printf("pair: fstat socket %d mode %o nlink %lu\n", S_ISSOCK(st.st_mode), st.st_mode & 07777,
           (unsigned long)st.st_nlink);
    char proc[32], link[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", sv[0]);
    ssize_t ll = readlink(proc, link, sizeof link - 1);
    link[ll > 0 ? ll : 0] = 0;
    unsigned long ino = 0;
    printf("pair: fd link is socket:[inode] %d\n", sscanf(link, "socket:[%lu]", &ino) == 1 && ino == st.st_ino);
    struct sockaddr_un a;
    socklen_t l = sizeof a;
    OK(getsockname(sv[0], (struct sockaddr *)&a, &l));
    printf("pair: getsockname len %u family %d\n", l, a.sun_family);
    l = sizeof a;
    OK(getpeername(sv[0], (struct sockaddr *)&a, &l));
    printf("pair: getpeername len %u\n", l);
    printf("pair: SO_TYPE %d SO_DOMAIN %d SO_PROTOCOL %d SO_ERROR %d SO_ACCEPTCONN %d\n", opt(sv[0], SO_TYPE),
           opt(sv[0], SO_DOMAIN), opt(sv[0], SO_PROTOCOL), opt(sv[0], SO_ERROR), opt(sv[0], SO_ACCEPTCONN));
    struct ucred cr;
    l = sizeof cr;
    OK(getsockopt(sv[1], SOL_SOCKET, SO_PEERCRED, &cr, &l));
    printf("pair: peercred len %u is me %d uid %d\n", l, cr.pid == getpid(), cr.uid == getuid());
    printf("pair: poll %#x\n", revents(sv[0], POLLIN | POLLOUT));

    struct iovec out[3] = {{"ab", 2}, {"", 0}, {"cdef", 4}};
    n = writev(sv[0], out, 3);
    char x[3], y[10];
    struct iovec in[2] = {{x, 3}, {y, 10}};
    ssize_t m = readv(sv[1], in, 2);
    printf("pair: writev %zd readv %zd '%.3s%.*s'\n", n, m, x, (int)(m - 3), y);

    OK(send(sv[0], "peek", 4, 0));
    n = recv(sv[1], buf, sizeof buf, MSG_PEEK);
    m = recv(sv[1], buf + 10, sizeof buf - 10, 0);
    printf("pair: peek %zd then %zd '%.4s'\n", n, m, buf + 10);
    n = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
    printf("pair: empty MSG_DONTWAIT: %s\n", res(n));

    /* MSG_WAITALL gathers several writes. */
    OK(write(sv[0], "12", 2));
    OK(write(sv[0], "345", 3));
    n = recv(sv[1], buf, 5, MSG_WAITALL);
    printf("pair: waitall %zd '%.5s'\n", n, buf);

    int v = 65536;
    OK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v));
    v = 4096;
    OK(setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &v, sizeof v));
    printf("pair: SO_SNDBUF %d SO_RCVBUF %d\n", opt(sv[0], SO_SNDBUF), opt(sv[0], SO_RCVBUF));
    v = 1;
    OK(setsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, &v, sizeof v));
    OK(setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &v, sizeof v));
    printf("pair: SO_REUSEADDR %d SO_PASSCRED %d\n", opt(sv[0], SO_REUSEADDR), opt(sv[0], SO_PASSCRED));
    printf("pair: unknown option %s\n", strerror(-opt(sv[0], 9999)));
    printf("pair: setsockopt short %s\n", res(setsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, &v, 2)));
    printf("pair: other level %s\n", res(setsockopt(sv[0], 6, 1, &v, sizeof v)));

    struct timeval tv = {0, 200000};
    OK(setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    n = read(sv[1], buf, sizeof buf);
    int e = errno;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    errno = e;
    printf("pair: SO_RCVTIMEO read %s after >=150ms %d\n", res(n), ms >= 150);
    memset(&tv, 0, sizeof tv);
    l = sizeof tv;
    OK(getsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, &l));
    printf("pair: SO_RCVTIMEO %ld.%06ld len %u\n", (long)tv.tv_sec, (long)tv.tv_usec, l);
    close(sv[0]);
    close(sv[1]);
}

static void messages(void) {
    int sv[2];
    char buf[64];
    OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    const char *msgs[] = {"a", "bb", "ccc", ""};
    for (int i = 0; i < 4; i++) OK(send(sv[0], msgs[i], strlen(msgs[i]), 0));
    for (int i = 0; i < 4; i++) printf("dgram: message %d: %zd\n", i, recv(sv[1], buf, sizeof buf, 0));
    OK(send(sv[0], "hello world", 11, 0));
    ssize_t n = recv(sv[1], buf, 5, 0);
    printf("dgram: short read %zd '%.5s', rest gone: %s\n", n, buf, res(recv(sv[1], buf, 64, MSG_DONTWAIT)));
    OK(send(sv[0], "hello world", 11, 0));
    printf("dgram: MSG_TRUNC gives %zd\n", recv(sv[1], buf, 5, MSG_TRUNC));
    OK(send(sv[0], "hello world", 11, 0));
    struct iovec iov = {buf, 5};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    n = recvmsg(sv[1], &mh, 0);
    printf("dgram: recvmsg %zd flags %#x\n", n, mh.msg_flags);
    static char big[300000];
    printf("dgram: 300000 bytes: %s\n", res(send(sv[0], big, sizeof big, 0)));
    /* writev sends one datagram. */
    struct iovec parts[2] = {{"ab", 2}, {"cd", 2}};
    OK(writev(sv[0], parts, 2));
    printf("dgram: writev arrives as %zd\n", recv(sv[1], buf, sizeof buf, 0));
    close(sv[0]);
    close(sv[1]);

    OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    OK(send(sv[0], "one", 3, 0));
    OK(send(sv[0], "two!", 4, 0));
    n = recv(sv[1], buf, 2, 0);
    printf("seqpacket: short read %zd then %zd\n", n, recv(sv[1], buf, sizeof buf, 0));
    OK(send(sv[0], "three", 5, 0));
    iov.iov_len = 3;
    mh.msg_flags = 0;
    printf("seqpacket: recvmsg %zd flags %#x\n", recvmsg(sv[1], &mh, 0), mh.msg_flags);
    close(sv[0]);
    n = recv(sv[1], buf, sizeof buf, 0);
    printf("seqpacket: after close %zd poll %#x\n", n, revents(sv[1], POLLIN | POLLOUT | POLLRDHUP));
    close(sv[1]);

    /* Datagrams by path, from an unnamed and a named sender. */
    struct sockaddr_un srv, cli, from;
    socklen_t sl = path_addr(&srv, "dg.sock"), cl = path_addr(&cli, "dgc.sock");
    int s = socket(AF_UNIX, SOCK_DGRAM, 0), c = socket(AF_UNIX, SOCK_DGRAM, 0);
    OK(bind(s, (struct sockaddr *)&srv, sl));
    OK(sendto(c, "anon", 4, 0, (struct sockaddr *)&srv, sl));
    socklen_t fl = sizeof from;
    n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    printf("dgram: from unnamed %zd addrlen %u\n", n, fl);
    OK(bind(c, (struct sockaddr *)&cli, cl));
    OK(sendto(c, "named", 5, 0, (struct sockaddr *)&srv, sl));
    fl = sizeof from;
    n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    printf("dgram: from named %zd address matches %d\n", n, fl == cl && memcmp(&from, &cli, cl) == 0);
    OK(connect(c, (struct sockaddr *)&srv, sl));
    OK(send(c, "conn", 4, 0));
    printf("dgram: connected send arrives %zd\n", recv(s, buf, sizeof buf, 0));
    int third = socket(AF_UNIX, SOCK_DGRAM, 0);
    OK(connect(s, (struct sockaddr *)&cli, cl));
    printf("dgram: third party to associated socket: %s\n",
           res(sendto(third, "x", 1, 0, (struct sockaddr *)&srv, sl)));
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    OK(connect(s, &unspec, sizeof unspec));
    printf("dgram: after AF_UNSPEC: %s\n", res(sendto(third, "x", 1, 0, (struct sockaddr *)&srv, sl)));
    close(s);
    const char *first = res(send(c, "x", 1, 0));
    printf("dgram: to closed peer: %s then %s\n", first, res(send(c, "x", 1, 0)));
    close(c);
    close(third);
    unlink(srv.sun_path);
    unlink(cli.sun_path);
}

static void server(void) {
    struct sockaddr_un a, got;
    socklen_t al = path_addr(&a, "srv.sock");
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    OK(srv);
    OK(bind(srv, (struct sockaddr *)&a, al));
    struct stat st;
    OK(stat(a.sun_path, &st));
    printf("server: socket file %d mode %o\n", S_ISSOCK(st.st_mode), st.st_mode & 0777);
    int other = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("server: second bind: %s\n", res(bind(other, (struct sockaddr *)&a, al)));
    close(other);
    printf("server: bind again: %s\n", res(bind(srv, (struct sockaddr *)&a, al)));
    socklen_t gl = sizeof got;
    OK(getsockname(srv, (struct sockaddr *)&got, &gl));
    printf("server: getsockname matches %d\n", gl == al && memcmp(&got, &a, al) == 0);
    OK(listen(srv, 5));
    printf("server: SO_ACCEPTCONN %d poll %#x\n", opt(srv, SO_ACCEPTCONN), revents(srv, POLLIN | POLLOUT));

    pid_t child = fork();
    OK(child);
    if (child == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        char buf[16];
        if (connect(c, (struct sockaddr *)&a, al) < 0) _exit(10);
        if (write(c, "ping", 4) != 4) _exit(11);
        if (read(c, buf, sizeof buf) != 4 || memcmp(buf, "pong", 4) != 0) _exit(12);
        struct ucred cr;
        socklen_t l = sizeof cr;
        if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0) _exit(13);
        if (cr.pid != getppid() || cr.uid != getuid() || cr.gid != getgid()) _exit(14);
        struct sockaddr_un p;
        l = sizeof p;
        if (getpeername(c, (struct sockaddr *)&p, &l) < 0 || l != al || memcmp(&p, &a, al) != 0) _exit(15);
        /* Wait for the server to close: end of file. */
        if (read(c, buf, sizeof buf) != 0) _exit(16);
        _exit(0);
    }
    struct sockaddr_un peer;
    socklen_t pl = sizeof peer;
    int s = accept(srv, (struct sockaddr *)&peer, &pl);
    OK(s);
    printf("server: accepted, peer address len %u\n", pl);
    char buf[16];
    ssize_t n = read(s, buf, sizeof buf);
    printf("server: got %zd '%.*s'\n", n, (int)n, buf);
    struct ucred cr;
    socklen_t l = sizeof cr;
    OK(getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &l));
    printf("server: peercred pid is child %d uid %d gid %d\n", cr.pid == child, cr.uid == getuid(),
           cr.gid == getgid());
    gl = sizeof got;
    OK(getsockname(s, (struct sockaddr *)&got, &gl));
    printf("server: accepted socket's name is the server's %d\n", gl == al && memcmp(&got, &a, al) == 0);
    OK(write(s, "pong", 4));
    close(s);
    int status;
    OK(waitpid(child, &status, 0));
    printf("server: child exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    close(srv);
    int late = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("server: connect after close: %s\n", res(connect(late, (struct sockaddr *)&a, al)));
    close(late);
    OK(unlink(a.sun_path));
}

static void abstract(void) {
    struct sockaddr_un a, got;
    socklen_t al = abstract_addr(&a, "abs");
    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    OK(bind(srv, (struct sockaddr *)&a, al));
    OK(listen(srv, 1));
    int dup = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("abstract: bind taken name: %s\n", res(bind(dup, (struct sockaddr *)&a, al)));
    int dg = socket(AF_UNIX, SOCK_DGRAM, 0);
    printf("abstract: same name, other type: %s\n", res(bind(dg, (struct sockaddr *)&a, al)));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    OK(connect(c, (struct sockaddr *)&a, al));
    socklen_t gl = sizeof got;
    OK(getpeername(c, (struct sockaddr *)&got, &gl));
    printf("abstract: peer name matches %d\n", gl == al && memcmp(&got, &a, al) == 0);
    int s = accept(srv, NULL, NULL);
    OK(s);
    OK(write(c, "abs", 3));
    char buf[8];
    printf("abstract: read %zd\n", read(s, buf, sizeof buf));
    close(s);
    close(c);
    close(srv);
    OK(bind(dup, (struct sockaddr *)&a, al));
    printf("abstract: name free after close\n");
    close(dup);
    close(dg);

    int auto_ = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un fam = {.sun_family = AF_UNIX};
    OK(bind(auto_, (struct sockaddr *)&fam, sizeof(sa_family_t)));
    gl = sizeof got;
    OK(getsockname(auto_, (struct sockaddr *)&got, &gl));
    printf("abstract: autobind len %u abstract %d\n", gl, got.sun_path[0] == 0);
    printf("abstract: autobind again: %s\n", res(bind(auto_, (struct sockaddr *)&fam, sizeof(sa_family_t))));
    close(auto_);
    struct sockaddr_un none;
    socklen_t nl = abstract_addr(&none, "nobody");
    c = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("abstract: connect to nobody: %s\n", res(connect(c, (struct sockaddr *)&none, nl)));
    close(c);
}

/* Send `data` with descriptors `fds` over `s`. */
static ssize_t send_fds(int s, const char *data, const int *fds, int nfds) {
    char ctl[CMSG_SPACE(sizeof(int) * 4)];
    memset(ctl, 0, sizeof ctl);
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        mh.msg_control = ctl;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    return sendmsg(s, &mh, 0);
}

static void rights(void) {
    int p[2], sv[2];
    OK(pipe(p));
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    printf("rights: sendmsg %zd\n", send_fds(sv[0], "x", &p[0], 1));
    close(p[0]);
    OK(write(p[1], "through the socket", 18));
    close(p[1]);
    char buf[64];
    union {
        char b[CMSG_SPACE(sizeof(int) * 2)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {buf, sizeof buf};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    ssize_t n = recvmsg(sv[1], &mh, MSG_CMSG_CLOEXEC);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    printf("rights: recvmsg %zd flags %#x controllen %zu\n", n, mh.msg_flags, (size_t)mh.msg_controllen);
    if (!cm) {
        printf("rights: no control message\n");
        return;
    }
    printf("rights: cmsg level %d type %d len %zu\n", cm->cmsg_level, cm->cmsg_type, (size_t)cm->cmsg_len);
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    printf("rights: cloexec %d\n", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    n = read(fd, buf, sizeof buf);
    printf("rights: read through it %zd '%.*s'\n", n, (int)n, buf);
    printf("rights: then %zd\n", read(fd, buf, sizeof buf));
    close(fd);

    /* Two descriptors, room for one: the other is cut. */
    int q[2];
    OK(pipe(q));
    OK(send_fds(sv[0], "y", q, 2));
    mh.msg_controllen = CMSG_LEN(sizeof(int));
    mh.msg_flags = 0;
    n = recvmsg(sv[1], &mh, 0);
    cm = CMSG_FIRSTHDR(&mh);
    printf("rights: small buffer %zd flags %#x controllen %zu cmsg len %zu\n", n, mh.msg_flags,
           (size_t)mh.msg_controllen, cm ? (size_t)cm->cmsg_len : 0);
    if (cm) {
        memcpy(&fd, CMSG_DATA(cm), sizeof fd);
        printf("rights: the one received is the read end %d\n", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
        close(fd);
    }
    /* Without a control buffer the files are dropped. */
    OK(send_fds(sv[0], "z", q, 1));
    mh.msg_control = NULL;
    mh.msg_controllen = 0;
    mh.msg_flags = 0;
    n = recvmsg(sv[1], &mh, 0);
    printf("rights: no buffer %zd flags %#x\n", n, mh.msg_flags);
    close(q[0]);
    close(q[1]);

    /* A stream read stops after bytes that carried files. */
    int r[2];
    OK(pipe(r));
    OK(write(sv[0], "ab", 2));
    OK(send_fds(sv[0], "cd", &r[0], 1));
    OK(write(sv[0], "ef", 2));
    mh.msg_control = ctl.b;
    mh.msg_controllen = sizeof ctl.b;
    n = recvmsg(sv[1], &mh, 0);
    printf("rights: stream read %zd '%.*s' with %d\n", n, (int)n, buf, CMSG_FIRSTHDR(&mh) != NULL);
    if (CMSG_FIRSTHDR(&mh)) {
        memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof fd);
        close(fd);
    }
    n = read(sv[1], buf, sizeof buf);
    printf("rights: then %zd '%.*s'\n", n, (int)n, buf);
    close(r[0]);
    close(r[1]);

    int bad = 999;
    printf("rights: bad descriptor: %s\n", res(send_fds(sv[0], "b", &bad, 1)));

    /* Credentials. */
    int one = 1;
    OK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one));
    OK(write(sv[0], "c", 1));
    union {
        char b[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } cctl;
    mh.msg_control = cctl.b;
    mh.msg_controllen = sizeof cctl.b;
    mh.msg_flags = 0;
    n = recvmsg(sv[1], &mh, 0);
    cm = CMSG_FIRSTHDR(&mh);
    if (cm && cm->cmsg_type == SCM_CREDENTIALS) {
        struct ucred uc;
        memcpy(&uc, CMSG_DATA(cm), sizeof uc);
        printf("rights: credentials %zd len %zu mine %d\n", n, (size_t)cm->cmsg_len,
               uc.pid == getpid() && uc.uid == getuid() && uc.gid == getgid());
    } else {
        printf("rights: no credentials\n");
    }
    close(sv[0]);
    close(sv[1]);
}

static void nonblocking(void) {
    struct sockaddr_un a;
    socklen_t al = path_addr(&a, "nb.sock");
    int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    OK(bind(srv, (struct sockaddr *)&a, al));
    OK(listen(srv, 1));
    const char *r = res(accept(srv, NULL, NULL));
    printf("nonblock: accept %s poll %#x\n", r, revents(srv, POLLIN));
    int c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        printf("nonblock: connect %d: %s\n", i, res(connect(c[i], (struct sockaddr *)&a, al)));
    }
    printf("nonblock: listener poll %#x\n", revents(srv, POLLIN | POLLOUT));
    printf("nonblock: accept4 bad flags %s\n", res(accept4(srv, NULL, NULL, 0x1234)));
    int s = accept4(srv, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    OK(s);
    printf("nonblock: accepted nonblock %d cloexec %d\n", (fcntl(s, F_GETFL) & O_NONBLOCK) != 0,
           (fcntl(s, F_GETFD) & FD_CLOEXEC) != 0);
    char buf[4096];
    printf("nonblock: read empty %s\n", res(read(s, buf, sizeof buf)));
    /* Fill the connection until it is full. */
    memset(buf, 'x', sizeof buf);
    long total = 0;
    ssize_t n;
    while ((n = write(s, buf, sizeof buf)) > 0) total += n;
    printf("nonblock: filled (%d) until %s, poll %#x\n", total > 65536, res(n), revents(s, POLLOUT));
    close(s);
    for (int i = 0; i < 3; i++) close(c[i]);
    close(srv);
    unlink(a.sun_path);

    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("nonblock: unconnected poll %#x\n", revents(u, POLLIN | POLLOUT));
    close(u);
}

static void errors(void) {
    struct sockaddr_un a;
    socklen_t al = path_addr(&a, "missing.sock");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("errors: connect missing %s\n", res(connect(s, (struct sockaddr *)&a, al)));
    struct sockaddr_un nl;
    socklen_t nll = path_addr(&nl, "nolisten.sock");
    int b = socket(AF_UNIX, SOCK_STREAM, 0);
    OK(bind(b, (struct sockaddr *)&nl, nll));
    printf("errors: connect not listening %s\n", res(connect(s, (struct sockaddr *)&nl, nll)));
    OK(listen(b, 1));
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    printf("errors: dgram to stream %s\n", res(connect(d, (struct sockaddr *)&nl, nll)));
    close(b);
    struct sockaddr_un f;
    socklen_t fl = path_addr(&f, "plain");
    int fd = open(f.sun_path, O_CREAT | O_WRONLY, 0644);
    close(fd);
    printf("errors: connect regular file %s\n", res(connect(s, (struct sockaddr *)&f, fl)));
    unlink(f.sun_path);
    unlink(nl.sun_path);
    printf("errors: socket type 99 %s, RDM %s, protocol 2 %s, protocol 1 %s\n",
           res(socket(AF_UNIX, 99, 0)), res(socket(AF_UNIX, SOCK_RDM, 0)), res(socket(AF_UNIX, SOCK_STREAM, 2)),
           res(socket(AF_UNIX, SOCK_STREAM, 1)));
    printf("errors: family 200 %s\n", res(socket(200, SOCK_STREAM, 0)));
    printf("errors: listen dgram %s, unbound %s\n", res(listen(d, 1)), res(listen(s, 1)));
    printf("errors: accept not listening %s, dgram %s\n", res(accept(s, NULL, NULL)), res(accept(d, NULL, NULL)));
    char buf[8];
    printf("errors: send unconnected %s, read unconnected %s\n", res(send(s, "x", 1, 0)),
           res(read(s, buf, sizeof buf)));
    printf("errors: dgram send unconnected %s\n", res(send(d, "x", 1, 0)));
    socklen_t l = sizeof a;
    printf("errors: getpeername unconnected %s\n", res(getpeername(s, (struct sockaddr *)&a, &l)));
    printf("errors: shutdown 5 %s\n", res(shutdown(s, 5)));
    struct sockaddr_un bad = {.sun_family = AF_INET};
    printf("errors: bind family %s, short %s, long %s\n", res(bind(s, (struct sockaddr *)&bad, 10)),
           res(bind(s, (struct sockaddr *)&bad, 1)), res(bind(s, (struct sockaddr *)&bad, 200)));
    printf("errors: bind fault %s\n", res(bind(s, (struct sockaddr *)8, 10)));
    int p[2];
    OK(pipe(p));
    l = sizeof a;
    printf("errors: getsockname pipe %s, bad fd %s\n", res(getsockname(p[0], (struct sockaddr *)&a, &l)),
           res(getsockname(777, (struct sockaddr *)&a, &l)));
    close(p[0]);
    close(p[1]);
    close(s);
    close(d);
}

static void shutdowns(void) {
    int sv[2];
    char buf[16];
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(shutdown(sv[0], SHUT_WR));
    printf("shutdown: peer reads %zd\n", read(sv[1], buf, sizeof buf));
    printf("shutdown: poll writer %#x reader %#x\n", revents(sv[0], POLLIN | POLLOUT | POLLRDHUP),
           revents(sv[1], POLLIN | POLLOUT | POLLRDHUP));
    const char *r = res(send(sv[0], "x", 1, MSG_NOSIGNAL));
    printf("shutdown: send after SHUT_WR %s, signals %d\n", r, pipes());
    r = res(write(sv[0], "x", 1));
    printf("shutdown: write after SHUT_WR %s, signals %d\n", r, pipes());
    OK(write(sv[1], "back", 4));
    printf("shutdown: other way still works %zd\n", read(sv[0], buf, sizeof buf));
    OK(shutdown(sv[1], SHUT_RD));
    printf("shutdown: SHUT_RD reader reads %zd\n", read(sv[1], buf, sizeof buf));
    close(sv[0]);
    close(sv[1]);

    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(write(sv[1], "last", 4));
    close(sv[1]);
    ssize_t n = read(sv[0], buf, sizeof buf);
    printf("close: data before eof %zd\n", n);
    printf("close: then %zd\n", read(sv[0], buf, sizeof buf));
    printf("close: poll %#x\n", revents(sv[0], POLLIN | POLLOUT | POLLRDHUP));
    r = res(write(sv[0], "x", 1));
    printf("close: write %s signals %d\n", r, pipes());
    close(sv[0]);

    /* Closing with unread data resets the peer. */
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    OK(write(sv[0], "unread", 6));
    close(sv[1]);
    r = res(read(sv[0], buf, sizeof buf));
    printf("close: with unread data %s\n", r);
    printf("close: then %zd, SO_ERROR %d\n", read(sv[0], buf, sizeof buf), opt(sv[0], SO_ERROR));
    close(sv[0]);

    OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    OK(shutdown(sv[0], SHUT_WR));
    r = res(send(sv[0], "x", 1, 0));
    printf("shutdown: seqpacket send %s signals %d\n", r, pipes());
    printf("shutdown: seqpacket peer reads %zd\n", recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    close(sv[0]);
    close(sv[1]);

    OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    OK(shutdown(sv[1], SHUT_RD));
    r = res(send(sv[0], "x", 1, 0));
    printf("shutdown: dgram SHUT_RD send %s\n", r);
    r = res(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT));
    printf("shutdown: dgram SHUT_RD nonblocking read %s\n", r);
    printf("shutdown: dgram SHUT_RD read %zd\n", recv(sv[1], buf, sizeof buf, 0));
    close(sv[0]);
    close(sv[1]);
}

/* A writer that fills the buffer waits for the reader. */
static void blocking(void) {
    int sv[2];
    OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    pid_t child = fork();
    OK(child);
    if (child == 0) {
        close(sv[1]);
        static char big[1 << 20];
        memset(big, 'y', sizeof big);
        ssize_t n = write(sv[0], big, sizeof big);
        _exit(n == (ssize_t)sizeof big ? 0 : 1);
    }
    close(sv[0]);
    struct timespec pause = {0, 100000000};
    nanosleep(&pause, NULL);
    static char buf[65536];
    long total = 0;
    ssize_t n;
    while ((n = read(sv[1], buf, sizeof buf)) > 0) total += n;
    int status;
    OK(waitpid(child, &status, 0));
    printf("blocking: read %ld, writer exit %d\n", total, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    close(sv[1]);

    /* An accept waits for a client. */
    struct sockaddr_un a;
    socklen_t al = path_addr(&a, "late.sock");
    int srv = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    OK(bind(srv, (struct sockaddr *)&a, al));
    OK(listen(srv, 1));
    child = fork();
    OK(child);
    if (child == 0) {
        nanosleep(&pause, NULL);
        int c = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        if (connect(c, (struct sockaddr *)&a, al) < 0) _exit(1);
        _exit(send(c, "late", 4, 0) == 4 ? 0 : 2);
    }
    int s = accept(srv, NULL, NULL);
    char buf2[8];
    printf("blocking: accepted %d, read %zd\n", s >= 0, recv(s, buf2, sizeof buf2, 0));
    OK(waitpid(child, &status, 0));
    printf("blocking: client exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    close(s);
    close(srv);
    unlink(a.sun_path);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 3 && strcmp(argv[1], "bind") == 0) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%s", argv[2]);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        OK(bind(s, (struct sockaddr *)&a, sizeof a));
        OK(listen(s, 1));
        struct stat st;
        OK(stat(a.sun_path, &st));
        printf("bound: socket file %d\n", S_ISSOCK(st.st_mode));
        /* With a number of seconds: stay listening that long. */
        if (argc == 4) sleep(atoi(argv[3]));
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: sockets DIR | sockets bind PATH [SECONDS]\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPIPE);
    sigprocmask(SIG_BLOCK, &block, NULL);
    stream_pair();
    messages();
    server();
    abstract();
    rights();
    nonblocking();
    errors();
    shutdowns();
    blocking();
    printf("done\n");
    return 0;
}
