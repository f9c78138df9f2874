/* signalfd: blocked signals read as signalfd_siginfo, sent by kill to
 * itself, by sigqueue, by a child, and SIGCHLD from a child's exit;
 * changing the mask; readiness in poll and epoll; a blocking read woken by
 * another process; a child polling the signalfd it inherited, woken by its
 * own signal while the parent's stays the parent's; errors. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void show(const char *what, int fd) {
    struct signalfd_siginfo si[2];
    memset(si, 0, sizeof si);
    ssize_t n = read(fd, si, sizeof si);
    if (n < 0) {
        printf("%s: %s\n", what, strerror(errno));
        return;
    }
    printf("%s: %zd bytes", what, n);
    for (int i = 0; i < n / (ssize_t)sizeof si[0]; i++)
        printf(" [signo %u code %d from me %d uid ok %d int %d]", si[i].ssi_signo, si[i].ssi_code,
               si[i].ssi_pid == (unsigned)getpid(), si[i].ssi_uid == getuid(), si[i].ssi_int);
    printf("\n");
}

static int readable(int fd) {
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    poll(&p, 1, 0);
    return p.revents;
}

int main(void) {
    sigset_t block, mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, NULL);

    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    printf("revents before %#x\n", readable(fd));
    show("nothing yet", fd);
    kill(getpid(), SIGUSR1);
    printf("revents after %#x\n", readable(fd));
    show("kill to self", fd);
    show("taken", fd);

    /* A signal outside the mask stays pending until the mask takes it. */
    raise(SIGUSR2);
    show("other signal", fd);
    sigaddset(&mask, SIGUSR2);
    printf("same fd back %d\n", signalfd(fd, &mask, 0) == fd);
    show("after new mask", fd);

    union sigval v = {.sival_int = 77};
    sigqueue(getpid(), SIGUSR1, v);
    show("sigqueue", fd);

    kill(getpid(), SIGUSR2);
    kill(getpid(), SIGUSR1);
    show("two at once", fd);

    /* Readiness in epoll. */
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 5}, out[2];
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    printf("epoll before %d\n", epoll_wait(ep, out, 2, 0));
    kill(getpid(), SIGUSR1);
    int n = epoll_wait(ep, out, 2, 1000);
    printf("epoll after %d events %#x data %llu\n", n, out[0].events, (unsigned long long)out[0].data.u64);
    show("drain", fd);

    /* A blocking read, woken by a signal a child sends. */
    int bfd = signalfd(-1, &mask, 0);
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(50);
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    struct signalfd_siginfo si;
    ssize_t r = read(bfd, &si, sizeof si);
    printf("from child: %zd bytes signo %u sender is child %d\n", r, si.ssi_signo, si.ssi_pid == (unsigned)pid);
    waitpid(pid, NULL, 0);

    /* A child polls the signalfd it inherited: a signal to the parent
     * does not make it readable there, one to the child wakes it. */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        struct pollfd cp = {.fd = bfd, .events = POLLIN};
        int pr = poll(&cp, 1, 5000);
        ssize_t cr = read(bfd, &si, sizeof si);
        printf("child: poll %d revents %#x, read %zd bytes signo %u from the parent %d\n", pr, cp.revents, cr,
               si.ssi_signo, si.ssi_pid == (unsigned)getppid());
        fflush(stdout);
        _exit(0);
    }
    kill(getpid(), SIGUSR2);
    sleep_ms(50);
    kill(pid, SIGUSR1);
    waitpid(pid, NULL, 0);
    show("parent keeps its own", bfd);

    /* epoll_wait woken the same way. */
    pid = fork();
    if (pid == 0) {
        sleep_ms(50);
        kill(getppid(), SIGUSR2);
        _exit(0);
    }
    n = epoll_wait(ep, out, 2, 5000);
    printf("epoll woken %d events %#x\n", n, out[0].events);
    show("then read", fd);
    waitpid(pid, NULL, 0);

    /* SIGCHLD of an exiting child (unblocked until now: the earlier
     * children's were dropped). */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int cfd = signalfd(-1, &chld, 0);
    pid = fork();
    if (pid == 0) _exit(5);
    r = read(cfd, &si, sizeof si);
    printf("sigchld: %zd bytes signo %u code %d status %d child %d\n", r, si.ssi_signo, si.ssi_code,
           si.ssi_status, si.ssi_pid == (unsigned)pid);
    waitpid(pid, NULL, 0);

    char small[64];
    printf("short read: %s\n", read(fd, small, sizeof small) < 0 ? strerror(errno) : "ok");
    printf("bad size: %s\n", syscall(SYS_signalfd4, -1, &mask, 4, 0) < 0 ? strerror(errno) : "ok");
    printf("bad flags: %s\n", signalfd(-1, &mask, 0x1234) < 0 ? strerror(errno) : "ok");
    printf("not a signalfd: %s\n", signalfd(ep, &mask, 0) < 0 ? strerror(errno) : "ok");
    printf("bad fd: %s\n", signalfd(999, &mask, 0) < 0 ? strerror(errno) : "ok");
    return 0;
}
