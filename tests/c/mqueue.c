/* POSIX message queues: mq_open's names, modes, attributes and errors;
 * priorities (highest first, in order within one); mq_timedsend and
 * mq_timedreceive waiting for another process, their timeouts and
 * O_NONBLOCK; mq_getsetattr; mq_notify with SIGEV_SIGNAL and SIGEV_NONE
 * (and SIGEV_THREAD's errors when the descriptor is not a netlink socket);
 * a queue descriptor as a file (poll, epoll, read's status line, close);
 * mq_unlink; RLIMIT_MSGQUEUE and the per-user limits as non-root children.
 * Natively it first moves to an IPC namespace of its own, whose queues
 * are its own (in the sandbox unshare is not offered: its IPC namespace
 * is its own). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

static void attrs(const char *when, mqd_t q) {
    struct mq_attr a;
    if (mq_getattr(q, &a) < 0) {
        printf("%s: mq_getattr = -1 %s\n", when, strerrorname_np(errno));
        return;
    }
    printf("%s: flags=%s maxmsg=%ld msgsize=%ld curmsgs=%ld\n", when, a.mq_flags & O_NONBLOCK ? "O_NONBLOCK" : "0",
           a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs);
}

static void receive(const char *what, mqd_t q, size_t size) {
    char buf[64] = "";
    unsigned prio = 99;
    ssize_t n = mq_receive(q, buf, size, &prio);
    if (n < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %zd: \"%.*s\" prio %u\n", what, n, (int)n, buf, prio);
}

static short polled(mqd_t q) {
    struct pollfd p = {q, POLLIN | POLLOUT, 0};
    poll(&p, 1, 0);
    return p.revents;
}

/* The descriptor's status line, its size field left out (Linux counts
 * its own bookkeeping in it) and the pid relative to ours. */
static void status(const char *when, mqd_t q) {
    char line[128] = "";
    ssize_t n = pread(q, line, sizeof line - 1, 0);
    int how = -1, signo = -1, pid = -1;
    char *notify = strstr(line, "NOTIFY:");
    if (notify)
        sscanf(notify, "NOTIFY:%d SIGNO:%d NOTIFY_PID:%d", &how, &signo, &pid);
    printf("%s: read = %zd, NOTIFY:%d SIGNO:%d NOTIFY_PID:%s\n", when, n, how, signo,
           pid == 0 ? "0" : pid == getpid() ? "me" : "other");
}

static int wait_child(pid_t pid) {
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static struct timespec past(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec -= 1;
    return t;
}

int main(void) {
    if (unshare(CLONE_NEWIPC) < 0 && errno != ENOSYS && errno != EPERM && errno != EINVAL)
        printf("unshare: %s\n", strerrorname_np(errno));
    setvbuf(stdout, NULL, _IOLBF, 0);
    umask(022);

    /* Names and attributes. */
    struct mq_attr small = {.mq_maxmsg = 4, .mq_msgsize = 32};
    mqd_t q = mq_open("/queue", O_CREAT | O_EXCL | O_RDWR, 0666, &small);
    show("mq_open(/queue, O_CREAT|O_EXCL) >= 0", q < 0 ? -1 : 0);
    attrs("new", q);
    struct stat st;
    fstat(q, &st);
    printf("fstat: mode=%#o uid=%u\n", st.st_mode & 07777, st.st_uid);
    show("mq_open(/queue, O_CREAT|O_EXCL) again", mq_open("/queue", O_CREAT | O_EXCL | O_RDWR, 0600, &small));
    show("mq_open(/missing)", mq_open("/missing", O_RDONLY));
    show("mq_open(/a/b, O_CREAT)", mq_open("/a/b", O_CREAT | O_RDWR, 0600, NULL));
    show("mq_open(/, O_CREAT)", mq_open("/", O_CREAT | O_RDWR, 0600, NULL));
    char longname[300] = "/";
    memset(longname + 1, 'n', 256);
    show("mq_open(256-byte name)", mq_open(longname, O_CREAT | O_RDWR, 0600, NULL));
    struct mq_attr zero = {.mq_maxmsg = 0, .mq_msgsize = 8};
    show("mq_open(maxmsg 0)", mq_open("/z", O_CREAT | O_RDWR, 0600, &zero));
    show("mq_open(O_RDWR|O_WRONLY)", mq_open("/queue", O_RDWR | O_WRONLY));
    mqd_t dflt = mq_open("/defaults", O_CREAT | O_RDONLY, 0600, NULL);
    attrs("defaults", dflt);
    struct mq_attr eleven = {.mq_maxmsg = 11, .mq_msgsize = 8};

    /* Priorities, sizes, O_NONBLOCK and timeouts. */
    printf("poll empty: %#x\n", polled(q));
    show("mq_send(prio 1)", mq_send(q, "low", 3, 1));
    show("mq_send(prio 5)", mq_send(q, "high", 4, 5));
    show("mq_send(prio 3)", mq_send(q, "middle", 6, 3));
    show("mq_send(prio 5)", mq_send(q, "high again", 10, 5));
    printf("poll full: %#x\n", polled(q));
    attrs("full", q);
    show("mq_send(33 bytes)", mq_send(q, "123456789012345678901234567890123", 33, 0));
    show("mq_send(prio 32768)", mq_send(q, "x", 1, 32768));
    struct timespec t = past();
    show("mq_timedsend(full, past deadline)", mq_timedsend(q, "x", 1, 0, &t));
    struct timespec bad = {0, 2000000000};
    show("mq_timedsend(bad timeout)", mq_timedsend(q, "x", 1, 0, &bad));
    struct mq_attr nb = {.mq_flags = O_NONBLOCK}, old;
    show("mq_setattr(O_NONBLOCK)", mq_setattr(q, &nb, &old));
    printf("old flags: %s\n", old.mq_flags & O_NONBLOCK ? "O_NONBLOCK" : "0");
    show("mq_send(full, O_NONBLOCK)", mq_send(q, "x", 1, 0));
    struct mq_attr weird = {.mq_flags = O_APPEND};
    show("mq_setattr(O_APPEND)", mq_setattr(q, &weird, NULL));
    printf("F_GETFL has O_NONBLOCK: %d\n", (fcntl(q, F_GETFL) & O_NONBLOCK) != 0);
    status("status", q);
    receive("mq_receive(buffer 31)", q, 31);
    for (int i = 0; i < 4; i++)
        receive("mq_receive", q, 64);
    receive("mq_receive(empty, O_NONBLOCK)", q, 64);
    nb.mq_flags = 0;
    mq_setattr(q, &nb, NULL);
    t = past();
    char buf[64];
    show("mq_timedreceive(empty, past deadline)", mq_timedreceive(q, buf, 64, NULL, &t));

    /* Modes of descriptors. */
    mqd_t ro = mq_open("/queue", O_RDONLY);
    mqd_t wo = mq_open("/queue", O_WRONLY);
    show("mq_send(read-only descriptor)", mq_send(ro, "x", 1, 0));
    receive("mq_receive(write-only descriptor)", wo, 64);
    int pipefd[2];
    if (pipe(pipefd) < 0)
        return 1;
    show("mq_send(a pipe)", mq_send(pipefd[1], "x", 1, 0));
    show("mq_getattr(a pipe)", mq_getattr(pipefd[0], &old));
    show("write(a queue)", write(q, "x", 1));

    /* Waiting for another process, both ways; epoll sees a queue. */
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7};
    epoll_ctl(ep, EPOLL_CTL_ADD, q, &ev);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        show("child: mq_send", mq_send(wo, "to the epoll", 12, 2));
        _exit(0);
    }
    struct epoll_event got;
    int n = epoll_wait(ep, &got, 1, -1);
    wait_child(pid);
    printf("epoll_wait = %d, events %#x, data %u\n", n, got.events, got.data.u32);
    receive("mq_receive", q, 64);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        receive("child: mq_receive, waiting", ro, 64);
        _exit(0);
    }
    mq_send(q, "for the child", 13, 0);
    wait_child(pid);
    for (int i = 0; i < 4; i++)
        mq_send(q, "fill", 4, 0);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        show("child: mq_send, waiting for room", mq_send(wo, "late", 4, 9));
        _exit(0);
    }
    n = mq_receive(q, buf, 64, NULL);
    wait_child(pid);
    printf("parent took %d bytes\n", n);
    receive("mq_receive", q, 64);
    while (mq_receive(q, buf, 64, NULL) > 0 && polled(q) & POLLIN)
        ;

    /* Notification by signal, once; EBUSY for another process. */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1, .sigev_value.sival_int = 42};
    show("mq_notify(SIGEV_SIGNAL)", mq_notify(q, &sev));
    status("registered", q);
    show("mq_notify again", mq_notify(q, &sev));
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        show("child: mq_notify", mq_notify(wo, &sev));
        show("child: mq_notify(NULL)", mq_notify(wo, NULL));
        mq_send(wo, "wake", 4, 0);
        _exit(0);
    }
    siginfo_t si;
    int sig = sigwaitinfo(&usr1, &si);
    wait_child(pid);
    printf("signal %d code %s value %d from the child: %d\n", sig, si.si_code == SI_MESGQ ? "SI_MESGQ" : "other",
           si.si_value.sival_int, si.si_pid == pid);
    status("after the notification", q);
    receive("mq_receive", q, 64);
    show("mq_notify(SIGEV_SIGNAL) again", mq_notify(q, &sev));
    show("mq_notify(NULL)", mq_notify(q, NULL));
    mq_send(q, "quiet", 5, 0);
    struct timespec none = {0, 0};
    show("no signal after unregistering", sigtimedwait(&usr1, &si, &none));
    receive("mq_receive", q, 64);
    struct sigevent quiet = {.sigev_notify = SIGEV_NONE};
    show("mq_notify(SIGEV_NONE)", mq_notify(q, &quiet));
    status("SIGEV_NONE", q);
    struct sigevent bogus = {.sigev_notify = 77};
    show("mq_notify(sigev_notify 77)", mq_notify(q, &bogus));
    struct sigevent badsig = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = 65};
    show("mq_notify(signal 65)", mq_notify(q, &badsig));
    /* SIGEV_THREAD, raw: sigev_signo must be a netlink socket. */
    char cookie[32] = "";
    struct sigevent thread = {.sigev_notify = SIGEV_THREAD, .sigev_value.sival_ptr = cookie};
    thread.sigev_signo = pipefd[0];
    show("mq_notify(SIGEV_THREAD, a pipe)", syscall(SYS_mq_notify, q, &thread));
    thread.sigev_signo = 999;
    show("mq_notify(SIGEV_THREAD, no descriptor)", syscall(SYS_mq_notify, q, &thread));
    show("mq_notify(a pipe)", mq_notify(pipefd[0], &quiet));
    /* Closing the descriptor it was registered through removes it. */
    mqd_t again = mq_open("/queue", O_RDWR);
    show("mq_notify through a second descriptor", mq_notify(again, &quiet));
    mq_close(q);
    show("mq_notify(SIGEV_NONE) once the first is closed", mq_notify(again, &quiet));
    show("mq_send(closed descriptor)", mq_send(q, "x", 1, 0));

    /* Not root: permissions, the per-user limits. */
    mqd_t priv = mq_open("/private", O_CREAT | O_RDWR, 0600, &small);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (setgid(4321) < 0 || setuid(4321) < 0)
            _exit(3);
        show("user: mq_open(/private, O_RDONLY)", mq_open("/private", O_RDONLY));
        show("user: mq_open(/queue, O_WRONLY)", mq_open("/queue", O_WRONLY));
        show("user: mq_unlink(/private)", mq_unlink("/private"));
        show("user: mq_open(maxmsg 11)", mq_open("/u11", O_CREAT | O_RDWR, 0600, &eleven));
        struct rlimit rl = {100000, 100000};
        setrlimit(RLIMIT_MSGQUEUE, &rl);
        show("user: mq_open(default queue) >= 0", mq_open("/u1", O_CREAT | O_RDWR, 0600, NULL) < 0 ? -1 : 0);
        show("user: a second one, past RLIMIT_MSGQUEUE", mq_open("/u2", O_CREAT | O_RDWR, 0600, NULL));
        show("user: mq_unlink(own)", mq_unlink("/u1"));
        _exit(0);
    }
    wait_child(pid);
    (void)priv;

    /* mq_unlink: the name goes, open descriptors keep the queue. */
    show("mq_unlink(/queue)", mq_unlink("/queue"));
    show("mq_unlink(/queue) again", mq_unlink("/queue"));
    show("mq_open(/queue)", mq_open("/queue", O_RDWR));
    show("mq_send(unlinked queue)", mq_send(again, "still here", 10, 0));
    receive("mq_receive(unlinked queue)", again, 64);
    fstat(again, &st);
    printf("fstat after unlink: nlink=%lu\n", (unsigned long)st.st_nlink);
    mq_unlink("/defaults");
    mq_unlink("/private");
    return 0;
}
