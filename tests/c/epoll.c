/* epoll over pipes and eventfds: level-triggered members report while
 * ready, edge-triggered ones once per change, one-shot ones once until
 * EPOLL_CTL_MOD; timeouts; waking when another process writes; members
 * leaving when their file is closed everywhere; nesting and polling an
 * epoll descriptor; the signal mask of epoll_pwait; Linux's errors. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* epoll_wait, printing what it returned. */
static int wait_show(const char *what, int ep, int max, int timeout) {
    struct epoll_event ev[8];
    memset(ev, 0, sizeof ev);
    int n = epoll_wait(ep, ev, max, timeout);
    if (n < 0) {
        printf("%s: %s\n", what, strerror(errno));
        return n;
    }
    printf("%s: %d", what, n);
    for (int i = 0; i < n; i++) printf(" [%#x %llu]", ev[i].events, (unsigned long long)ev[i].data.u64);
    printf("\n");
    return n;
}

static int ctl(int ep, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, op, fd, &ev);
}

static const char *err(int r) {
    return r < 0 ? strerror(errno) : "ok";
}

static void drain(int fd) {
    char buf[64];
    read(fd, buf, sizeof buf);
}

int main(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    printf("cloexec %d\n", fcntl(ep, F_GETFD));

    /* Level-triggered. */
    int p[2];
    pipe(p);
    ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 111);
    wait_show("lt empty", ep, 8, 0);
    write(p[1], "ab", 2);
    wait_show("lt data", ep, 8, 0);
    wait_show("lt again", ep, 8, 0);
    drain(p[0]);
    wait_show("lt drained", ep, 8, 0);
    ctl(ep, EPOLL_CTL_DEL, p[0], 0, 0);

    /* Edge-triggered: once per write. */
    int q[2];
    pipe(q);
    ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN | EPOLLET, 222);
    write(q[1], "x", 1);
    wait_show("et write", ep, 8, 0);
    wait_show("et again", ep, 8, 0);
    write(q[1], "y", 1);
    wait_show("et second write", ep, 8, 0);
    wait_show("et again", ep, 8, 0);
    drain(q[0]);
    ctl(ep, EPOLL_CTL_DEL, q[0], 0, 0);

    /* One-shot: once, until re-armed. */
    int r[2];
    pipe(r);
    ctl(ep, EPOLL_CTL_ADD, r[0], EPOLLIN | EPOLLONESHOT, 333);
    write(r[1], "z", 1);
    wait_show("oneshot", ep, 8, 0);
    wait_show("oneshot again", ep, 8, 0);
    write(r[1], "z", 1);
    wait_show("oneshot more data", ep, 8, 0);
    printf("rearm %s\n", err(ctl(ep, EPOLL_CTL_MOD, r[0], EPOLLIN | EPOLLONESHOT, 334)));
    wait_show("oneshot rearmed", ep, 8, 0);
    ctl(ep, EPOLL_CTL_DEL, r[0], 0, 0);

    /* The write end, and a hang-up. */
    ctl(ep, EPOLL_CTL_ADD, r[1], EPOLLOUT, 444);
    wait_show("writable", ep, 8, 0);
    ctl(ep, EPOLL_CTL_DEL, r[1], 0, 0);
    close(r[1]);
    ctl(ep, EPOLL_CTL_ADD, r[0], EPOLLIN, 555);
    wait_show("hangup with data", ep, 8, 0);
    drain(r[0]);
    wait_show("hangup", ep, 8, 0);
    ctl(ep, EPOLL_CTL_DEL, r[0], 0, 0);

    /* eventfd members, edge-triggered. */
    int efd = eventfd(0, EFD_NONBLOCK);
    ctl(ep, EPOLL_CTL_ADD, efd, EPOLLIN | EPOLLET, 666);
    wait_show("eventfd empty", ep, 8, 0);
    uint64_t one = 1, v;
    write(efd, &one, 8);
    wait_show("eventfd write", ep, 8, 0);
    wait_show("eventfd again", ep, 8, 0);
    write(efd, &one, 8);
    wait_show("eventfd second write", ep, 8, 0);
    read(efd, &v, 8);
    wait_show("eventfd read", ep, 8, 0);
    ctl(ep, EPOLL_CTL_DEL, efd, 0, 0);

    /* A timeout, and no events. */
    long long start = now_ms();
    int n = epoll_wait(ep, (struct epoll_event[1]){}, 1, 50);
    printf("timeout: %d, waited enough %d\n", n, now_ms() - start >= 45);
    struct timespec zero = {0, 0};
    struct epoll_event one_ev;
    printf("pwait2 zero: %ld\n", syscall(SYS_epoll_pwait2, ep, &one_ev, 1, &zero, NULL, 8));

    /* Woken by a child's write. */
    int w[2];
    pipe(w);
    ctl(ep, EPOLL_CTL_ADD, w[0], EPOLLIN, 777);
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(100);
        write(w[1], "c", 1);
        _exit(0);
    }
    start = now_ms();
    wait_show("child wrote", ep, 8, 5000);
    printf("waited for it %d\n", now_ms() - start >= 50);
    waitpid(pid, NULL, 0);
    drain(w[0]);

    /* Two ready members, one event per call: both get their turn. */
    int a[2], b[2];
    pipe(a);
    pipe(b);
    ctl(ep, EPOLL_CTL_ADD, a[0], EPOLLIN, 1);
    ctl(ep, EPOLL_CTL_ADD, b[0], EPOLLIN, 2);
    write(a[1], "1", 1);
    write(b[1], "2", 1);
    struct epoll_event e1, e2;
    epoll_wait(ep, &e1, 1, 0);
    epoll_wait(ep, &e2, 1, 0);
    printf("both served %d\n", e1.data.u64 + e2.data.u64 == 3);
    ctl(ep, EPOLL_CTL_DEL, a[0], 0, 0);
    ctl(ep, EPOLL_CTL_DEL, b[0], 0, 0);

    /* A member leaves when its file is closed everywhere ... */
    int c[2];
    pipe(c);
    ctl(ep, EPOLL_CTL_ADD, c[0], EPOLLIN, 888);
    write(c[1], "q", 1);
    close(c[0]);
    wait_show("closed member", ep, 8, 0);
    /* ... but not while a duplicate keeps the file open. */
    int d[2];
    pipe(d);
    int dup_fd = dup(d[0]);
    ctl(ep, EPOLL_CTL_ADD, d[0], EPOLLIN, 999);
    close(d[0]);
    write(d[1], "q", 1);
    wait_show("duplicate open", ep, 8, 0);
    printf("del closed number: %s\n", err(ctl(ep, EPOLL_CTL_DEL, d[0], 0, 0)));
    close(dup_fd);
    wait_show("duplicate closed", ep, 8, 0);

    /* Polling and nesting an epoll descriptor. */
    int ep2 = epoll_create(1);
    ctl(ep2, EPOLL_CTL_ADD, ep, EPOLLIN, 10);
    struct pollfd pf = {ep, POLLIN, 0};
    printf("poll idle: %d\n", poll(&pf, 1, 0));
    wait_show("nested idle", ep2, 8, 0);
    ctl(ep, EPOLL_CTL_ADD, w[0], EPOLLIN, 11);
    write(w[1], "n", 1);
    n = poll(&pf, 1, 0);
    printf("poll ready: %d revents %#x\n", n, pf.revents);
    wait_show("nested ready", ep2, 8, 0);
    drain(w[0]);
    pid = fork();
    if (pid == 0) {
        sleep_ms(50);
        write(w[1], "m", 1);
        _exit(0);
    }
    wait_show("nested woken", ep2, 8, 5000);
    waitpid(pid, NULL, 0);
    drain(w[0]);
    pid = fork();
    if (pid == 0) {
        sleep_ms(50);
        write(w[1], "p", 1);
        _exit(0);
    }
    pf.revents = 0;
    n = poll(&pf, 1, 5000);
    printf("poll woken: %d revents %#x\n", n, pf.revents);
    waitpid(pid, NULL, 0);
    drain(w[0]);
    printf("loop: %s\n", err(ctl(ep, EPOLL_CTL_ADD, ep2, EPOLLIN, 0)));

    /* epoll_pwait: the mask is in place while waiting, then restored. A
     * blocked SIGWINCH (ignored by default, so queued only while blocked)
     * interrupts the wait once unblocked, and epoll never restarts. */
    sigset_t winch, none, now;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &winch, NULL);
    raise(SIGWINCH);
    n = epoll_pwait(ep, &one_ev, 1, -1, &none);
    printf("pwait with signal: %s\n", n < 0 ? strerror(errno) : "returned");
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("mask restored %d\n", sigismember(&now, SIGWINCH));
    printf("pwait bad size: %s\n", err(syscall(SYS_epoll_pwait, ep, &one_ev, 1, 0, &none, 4)));

    /* Errors. */
    int f[2];
    pipe(f);
    printf("add twice: %s\n", err(ctl(ep, EPOLL_CTL_ADD, f[0], EPOLLIN, 0) | ctl(ep, EPOLL_CTL_ADD, f[0], EPOLLIN, 0)));
    printf("mod absent: %s\n", err(ctl(ep, EPOLL_CTL_MOD, f[1], EPOLLOUT, 0)));
    printf("del absent: %s\n", err(ctl(ep, EPOLL_CTL_DEL, f[1], 0, 0)));
    printf("bad op: %s\n", err(ctl(ep, 99, f[1], EPOLLIN, 0)));
    int reg = open("/proc/self/exe", O_RDONLY);
    printf("regular file: %s\n", err(ctl(ep, EPOLL_CTL_ADD, reg, EPOLLIN, 0)));
    int null = open("/dev/null", O_RDONLY);
    printf("/dev/null: %s\n", err(ctl(ep, EPOLL_CTL_ADD, null, EPOLLIN, 0)));
    printf("itself: %s\n", err(ctl(ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0)));
    printf("not epoll: %s\n", err(ctl(f[0], EPOLL_CTL_ADD, f[1], EPOLLOUT, 0)));
    printf("bad fd: %s\n", err(ctl(ep, EPOLL_CTL_ADD, 999, EPOLLIN, 0)));
    printf("bad epfd: %s\n", err(ctl(999, EPOLL_CTL_ADD, f[1], EPOLLIN, 0)));
    printf("bad event pointer: %s\n", err(epoll_ctl(ep, EPOLL_CTL_ADD, f[1], (void *)8)));
    printf("exclusive mod: %s\n", err(ctl(ep, EPOLL_CTL_MOD, f[0], EPOLLIN | EPOLLEXCLUSIVE, 0)));
    printf("exclusive oneshot: %s\n", err(ctl(ep, EPOLL_CTL_ADD, f[1], EPOLLOUT | EPOLLEXCLUSIVE | EPOLLONESHOT, 0)));
    int ep3 = epoll_create1(0);
    printf("exclusive epoll: %s\n", err(ctl(ep2, EPOLL_CTL_ADD, ep3, EPOLLIN | EPOLLEXCLUSIVE, 0)));
    printf("exclusive: %s\n", err(ctl(ep2, EPOLL_CTL_ADD, f[1], EPOLLOUT | EPOLLEXCLUSIVE, 0)));
    printf("exclusive then mod: %s\n", err(ctl(ep2, EPOLL_CTL_MOD, f[1], EPOLLOUT, 0)));
    printf("wait zero max: %s\n", err(epoll_wait(ep, &one_ev, 0, 0)));
    printf("wait not epoll: %s\n", err(epoll_wait(f[0], &one_ev, 1, 0)));
    printf("wait bad fd: %s\n", err(epoll_wait(999, &one_ev, 1, 0)));
    printf("wait kernel pointer: %s\n", err(epoll_wait(ep, (void *)0xffffffffff600000, 1, 0)));
    printf("create 0: %s\n", err(epoll_create(0)));
    printf("create1 flags: %s\n", err(epoll_create1(1)));
    return 0;
}
