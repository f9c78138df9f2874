/* O_ASYNC notifications: SIGIO (or the F_SETSIG signal with si_code,
 * si_band and si_fd) sent to a file's owner when it becomes readable or
 * writable or hangs up, on pipes, FIFOs, sockets (AF_UNIX, TCP, UDP on
 * loopback), ptys and inotify descriptors; none from regular files and
 * eventfds. The signals are blocked and collected with sigtimedwait, so
 * what is queued is printed in order, for comparison with Linux. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define RT (SIGRTMIN + 2)

static sigset_t set;

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

/* Print every signal of `set` queued now, with its fields (si_fd as
 * "fd" when it is `fd`). */
static void drain(const char *what, int fd) {
    struct timespec zero = {0, 0};
    siginfo_t si;
    int n = 0;
    printf("%s:", what);
    while (sigtimedwait(&set, &si, &zero) > 0) {
        const char *sig = si.si_signo == SIGIO ? "SIGIO" : si.si_signo == RT ? "RT" : "other";
        if (si.si_code == SI_KERNEL)
            printf(" [%s kernel]", sig);
        else
            printf(" [%s code %d band %#lx fd %s]", sig, si.si_code, si.si_band, si.si_fd == fd ? "ok" : "other");
        n++;
    }
    printf("%s\n", n ? "" : " none");
}

/* Make `fd` signal this process with `sig` (0: plain SIGIO). */
static void arm(int fd, int sig) {
    if (fcntl(fd, F_SETOWN, getpid()) || fcntl(fd, F_SETSIG, sig) ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC))
        printf("arm failed: %s\n", strerrorname_np(errno));
}

static void pipes(void) {
    int p[2];
    char buf[65536];
    pipe(p);
    arm(p[0], 0);
    drain("armed, nothing written", p[0]);
    write(p[1], "a", 1);
    drain("pipe write, plain SIGIO", p[0]);
    fcntl(p[0], F_SETSIG, RT);
    write(p[1], "b", 1);
    write(p[1], "c", 1);
    drain("two writes, F_SETSIG RT", p[0]);
    read(p[0], buf, sizeof buf);
    drain("reader reads (reader armed)", p[0]);
    fcntl(p[0], F_SETSIG, SIGIO);
    write(p[1], "d", 1);
    drain("F_SETSIG SIGIO", p[0]);
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) & ~O_ASYNC);
    write(p[1], "e", 1);
    drain("O_ASYNC cleared", p[0]);
    read(p[0], buf, sizeof buf);
    /* The writer: POLL_OUT when the reader reads. */
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    while (write(p[1], buf, sizeof buf) > 0)
        ;
    arm(p[1], RT);
    read(p[0], buf, 4096);
    drain("read of a full pipe (writer armed)", p[1]);
    close(p[0]);
    drain("reader closes", p[1]);
    close(p[1]);
    /* The reader when the writer goes. */
    pipe(p);
    arm(p[0], RT);
    close(p[1]);
    drain("writer closes (reader armed)", p[0]);
    close(p[0]);
    /* Owner by F_SETOWN_EX thread and by process group. */
    pipe(p);
    arm(p[0], RT);
    struct f_owner_ex t = {F_OWNER_TID, (pid_t)syscall(SYS_gettid)};
    fcntl(p[0], F_SETOWN_EX, &t);
    write(p[1], "x", 1);
    drain("owner is my thread", p[0]);
    fcntl(p[0], F_SETOWN, -getpgrp());
    write(p[1], "x", 1);
    drain("owner is my group", p[0]);
    fcntl(p[0], F_SETOWN, 0);
    write(p[1], "x", 1);
    drain("no owner", p[0]);
    /* FIOASYNC arms as F_SETFL does. */
    fcntl(p[0], F_SETOWN, getpid());
    int off = 0, on = 1;
    show("FIOASYNC off", ioctl(p[0], FIOASYNC, &off));
    write(p[1], "x", 1);
    drain("after FIOASYNC off", p[0]);
    show("FIOASYNC on", ioctl(p[0], FIOASYNC, &on));
    write(p[1], "x", 1);
    drain("after FIOASYNC on", p[0]);
    show("F_GETFL has O_ASYNC", (fcntl(p[0], F_GETFL) & O_ASYNC) != 0);
    show("FIOSETOWN on a pipe", ioctl(p[0], FIOSETOWN, &on));
    close(p[0]);
    close(p[1]);
}

static void sockets(void) {
    int s[2];
    char buf[256];
    socketpair(AF_UNIX, SOCK_STREAM, 0, s);
    int me = getpid(), got = 0;
    show("FIOSETOWN", ioctl(s[0], FIOSETOWN, &me));
    show("FIOGETOWN is me", ioctl(s[0], FIOGETOWN, &got) == 0 && got == me);
    int grp = -getpgrp();
    show("SIOCSPGRP(-group)", ioctl(s[0], SIOCSPGRP, &grp));
    show("SIOCGPGRP is -group", ioctl(s[0], SIOCGPGRP, &got) == 0 && got == -getpgrp());
    show("F_GETOWN is -group", fcntl(s[0], F_GETOWN) == -getpgrp());
    int nobody = 999999;
    show("FIOSETOWN(no such pid)", ioctl(s[0], FIOSETOWN, &nobody));
    show("FIOGETOWN(bad pointer)", ioctl(s[0], FIOGETOWN, (void *)8));
    arm(s[0], RT);
    write(s[1], "hi", 2);
    drain("unix stream: peer writes", s[0]);
    read(s[0], buf, sizeof buf);
    close(s[1]);
    drain("unix stream: peer closes", s[0]);
    close(s[0]);

    socketpair(AF_UNIX, SOCK_DGRAM, 0, s);
    arm(s[0], RT);
    send(s[1], "hi", 2, 0);
    drain("unix datagram: peer sends", s[0]);
    close(s[0]);
    close(s[1]);

    /* TCP on loopback: the listener on a connection, the connection on data. */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(l, (struct sockaddr *)&a, sizeof a);
    getsockname(l, (struct sockaddr *)&a, &len);
    listen(l, 4);
    arm(l, RT);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (struct sockaddr *)&a, sizeof a);
    int acc = accept(l, NULL, NULL);
    drain("tcp: listener gets a connection", l);
    arm(acc, RT);
    write(c, "x", 1);
    /* The data may arrive a moment later: wait until it is readable. */
    struct timespec w = {5, 0};
    siginfo_t si;
    int sig = sigtimedwait(&set, &si, &w);
    printf("tcp: peer writes: %s code %d band %#lx fd %s\n", sig == RT ? "RT" : "other", si.si_code, si.si_band,
           si.si_fd == acc ? "ok" : "other");
    close(acc);
    close(c);
    close(l);

    int u = socket(AF_INET, SOCK_DGRAM, 0), v = socket(AF_INET, SOCK_DGRAM, 0);
    a.sin_port = 0;
    bind(u, (struct sockaddr *)&a, sizeof a);
    len = sizeof a;
    getsockname(u, (struct sockaddr *)&a, &len);
    arm(u, RT);
    sendto(v, "x", 1, 0, (struct sockaddr *)&a, sizeof a);
    sig = sigtimedwait(&set, &si, &w);
    printf("udp: datagram arrives: %s code %d band %#lx fd %s\n", sig == RT ? "RT" : "other", si.si_code,
           si.si_band, si.si_fd == u ? "ok" : "other");
    close(u);
    close(v);
}

static void others(const char *dir) {
    char path[4096];
    /* A FIFO. */
    snprintf(path, sizeof path, "%s/fifo", dir);
    mkfifo(path, 0600);
    int r = open(path, O_RDONLY | O_NONBLOCK), w = open(path, O_WRONLY);
    arm(r, RT);
    write(w, "x", 1);
    drain("fifo write", r);
    close(r);
    close(w);
    /* A pty: the master hears the slave's output. */
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    grantpt(m);
    unlockpt(m);
    int sl = open(ptsname(m), O_RDWR | O_NOCTTY);
    arm(m, RT);
    write(sl, "x", 1);
    struct timespec wait = {5, 0};
    siginfo_t si;
    int sig = sigtimedwait(&set, &si, &wait);
    printf("pty: slave writes: %s code %d fd %s\n", sig == RT ? "RT" : "other", si.si_code,
           si.si_fd == m ? "ok" : "other");
    close(sl);
    close(m);
    drain("pty closed", -1);
    /* inotify. */
    int in = inotify_init1(IN_NONBLOCK);
    inotify_add_watch(in, dir, IN_CREATE);
    arm(in, RT);
    snprintf(path, sizeof path, "%s/made", dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    drain("inotify: a file is made", in);
    close(in);
    /* Regular files and eventfds never signal. */
    int f = open(path, O_RDWR);
    arm(f, RT);
    show("F_GETFL of a file has O_ASYNC", (fcntl(f, F_GETFL) & O_ASYNC) != 0);
    write(f, "x", 1);
    drain("regular file write", f);
    int on = 1;
    show("FIOASYNC on a file already O_ASYNC", ioctl(f, FIOASYNC, &on));
    int off = 0;
    show("FIOASYNC off on a file", ioctl(f, FIOASYNC, &off));
    close(f);
    int e = eventfd(0, 0);
    arm(e, RT);
    eventfd_write(e, 1);
    drain("eventfd write", e);
    close(e);
}

/* A child's pipe write signals the parent that owns the reader. */
static void child_writes(void) {
    int p[2];
    pipe(p);
    arm(p[0], RT);
    pid_t c = fork();
    if (c == 0) {
        write(p[1], "x", 1);
        _exit(0);
    }
    waitpid(c, NULL, 0);
    drain("a child writes", p[0]);
    close(p[0]);
    close(p[1]);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    /* A group of its own: signals to "my group" reach nobody else. */
    setpgid(0, 0);
    sigemptyset(&set);
    sigaddset(&set, SIGIO);
    sigaddset(&set, RT);
    sigaddset(&set, SIGURG);
    sigprocmask(SIG_BLOCK, &set, NULL);
    pipes();
    sockets();
    mkdir(dir, 0700);
    others(dir);
    child_writes();
    return 0;
}
