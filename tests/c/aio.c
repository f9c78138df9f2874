/* Linux AIO through the raw system calls: io_setup's checks, reads and
 * writes (plain and vectored, RWF flags), syncs, several iocbs in one
 * io_submit, the errors of a bad iocb, IOCB_FLAG_RESFD with an eventfd,
 * IOCB_CMD_POLL on a pipe completed at once or by a later write (also
 * from another process while io_getevents waits), reads of an empty pipe
 * that wait in io_submit, io_cancel of a pending
 * poll, io_getevents' timeouts and signals, io_pgetevents' mask, a fork
 * child that does not inherit the context, and io_destroy (which waits
 * for a read under way in another thread). Prints what
 * it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x8
#endif
#ifndef RWF_APPEND
#define RWF_APPEND 0x10
#endif

static long setup(unsigned nr, aio_context_t *ctx) { return syscall(SYS_io_setup, nr, ctx); }
static long destroy(aio_context_t ctx) { return syscall(SYS_io_destroy, ctx); }
static long submit(aio_context_t ctx, long nr, struct iocb **cbs) { return syscall(SYS_io_submit, ctx, nr, cbs); }
static long cancel(aio_context_t ctx, struct iocb *cb, struct io_event *ev) {
    return syscall(SYS_io_cancel, ctx, cb, ev);
}
static long getevents(aio_context_t ctx, long min, long nr, struct io_event *ev, struct timespec *ts) {
    return syscall(SYS_io_getevents, ctx, min, nr, ev, ts);
}

static const char *err(long r) { return r < 0 ? strerror(errno) : "ok"; }

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s: %s\n", what, strerror(errno));
    else
        printf("%s: %ld\n", what, r);
}

static struct iocb cb_of(int op, int fd, void *buf, long long n, long long off) {
    struct iocb cb;
    memset(&cb, 0, sizeof cb);
    cb.aio_lio_opcode = op;
    cb.aio_fildes = fd;
    cb.aio_buf = (unsigned long)buf;
    cb.aio_nbytes = n;
    cb.aio_offset = off;
    return cb;
}

/* Submit one iocb; print the submission's error if any. */
static long one(aio_context_t ctx, const char *what, struct iocb *cb) {
    struct iocb *list[1] = {cb};
    long r = submit(ctx, 1, list);
    if (r != 1)
        printf("%s: submit %s\n", what, r < 0 ? strerror(errno) : "none");
    return r;
}

static const char *res_text(long long res) {
    static char b[64];
    if (res < 0)
        snprintf(b, sizeof b, "-%s", strerror((int)-res));
    else
        snprintf(b, sizeof b, "%lld", res);
    return b;
}

/* Reap exactly one event and print its result. */
static void reap1(aio_context_t ctx, const char *what, struct iocb *cb) {
    struct io_event ev;
    long n = getevents(ctx, 1, 1, &ev, NULL);
    if (n != 1) {
        printf("%s: getevents %s\n", what, err(n));
        return;
    }
    printf("%s: res %s data %llu obj %s\n", what, res_text(ev.res), (unsigned long long)ev.data,
           ev.obj == (unsigned long)cb ? "matches" : "differs");
}

static void submit_reap(aio_context_t ctx, const char *what, struct iocb *cb) {
    if (one(ctx, what, cb) == 1)
        reap1(ctx, what, cb);
}

/* io_pgetevents' sixth argument (not in every aio_abi.h). */
struct aio_sigset {
    const sigset_t *sigmask;
    size_t sigsetsize;
};

static int handled;

/* For io_destroy's wait: a thread whose read of an empty pipe waits in
 * io_submit, and one that writes to the pipe later. */
struct blocked {
    aio_context_t ctx;
    int rfd, wfd;
    volatile int written;
    volatile pid_t tid;
    long submitted;
};

/* Whether thread `tid` sleeps (as it does waiting in io_submit). */
static int sleeping(pid_t tid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *end = strrchr(buf, ')');
    return end && end[1] == ' ' && end[2] == 'S';
}

static void *blocked_read(void *arg) {
    struct blocked *b = arg;
    static char buf[16];
    struct iocb cb;
    memset(&cb, 0, sizeof cb);
    cb.aio_lio_opcode = IOCB_CMD_PREAD;
    cb.aio_fildes = b->rfd;
    cb.aio_buf = (unsigned long)buf;
    cb.aio_nbytes = sizeof buf;
    struct iocb *l[1] = {&cb};
    b->tid = gettid();
    b->submitted = syscall(SYS_io_submit, b->ctx, 1, l);
    return NULL;
}

static void *late_write(void *arg) {
    struct blocked *b = arg;
    usleep(200 * 1000);
    b->written = 1;
    write(b->wfd, "w", 1);
    return NULL;
}
static void on_signal(int sig) { (void)sig; handled++; }

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    aio_context_t ctx = 0;

    /* io_setup's checks. */
    show("setup 0 events", setup(0, &ctx));
    ctx = 1;
    show("setup with a nonzero context", setup(8, &ctx));
    show("setup with a bad pointer", setup(8, (aio_context_t *)8));
    ctx = 0;
    show("setup of 2^32-1 events", setup(0xffffffffu, &ctx));
    FILE *mf = fopen("/proc/sys/fs/aio-max-nr", "r");
    unsigned long max = 0;
    if (!mf || fscanf(mf, "%lu", &max) != 1)
        printf("no aio-max-nr\n");
    if (mf)
        fclose(mf);
    ctx = 0;
    show("setup beyond aio-max-nr", setup(max + 1, &ctx));
    ctx = 0;
    show("setup of 128", setup(128, &ctx));
    printf("context id nonzero: %d\n", ctx != 0);

    char path[] = "/tmp/aio-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    char wbuf[4096], rbuf[4096];
    for (int i = 0; i < 4096; i++)
        wbuf[i] = 'a' + i % 26;

    /* Reads, writes, syncs. */
    struct iocb w = cb_of(IOCB_CMD_PWRITE, fd, wbuf, 4096, 0);
    w.aio_data = 7;
    w.aio_key = 1234; /* io_submit sets it to 0 */
    submit_reap(ctx, "pwrite 4096", &w);
    printf("aio_key after submit: %u\n", w.aio_key);
    struct iocb r = cb_of(IOCB_CMD_PREAD, fd, rbuf, 100, 10);
    submit_reap(ctx, "pread 100 at 10", &r);
    printf("  read right: %d\n", memcmp(rbuf, wbuf + 10, 100) == 0);
    r = cb_of(IOCB_CMD_PREAD, fd, rbuf, 100, 4090);
    submit_reap(ctx, "pread at 4090", &r);
    r = cb_of(IOCB_CMD_PREAD, fd, rbuf, 100, 8192);
    submit_reap(ctx, "pread past the end", &r);
    char v1[3] = "xyz", v2[5] = "12345";
    struct iovec wv[2] = {{v1, 3}, {v2, 5}};
    struct iocb wvec = cb_of(IOCB_CMD_PWRITEV, fd, wv, 2, 1000);
    submit_reap(ctx, "pwritev 3+5 at 1000", &wvec);
    char r1[4] = {0}, r2[5] = {0};
    struct iovec rv[2] = {{r1, 2}, {r2, 4}};
    struct iocb rvec = cb_of(IOCB_CMD_PREADV, fd, rv, 2, 1000);
    submit_reap(ctx, "preadv 2+4 at 1000", &rvec);
    printf("  got %s %s\n", r1, r2);
    struct iocb app = cb_of(IOCB_CMD_PWRITE, fd, "END", 3, 0);
    app.aio_rw_flags = RWF_APPEND;
    submit_reap(ctx, "pwrite RWF_APPEND", &app);
    printf("  size now %ld\n", (long)lseek(fd, 0, SEEK_END));
    struct iocb fs = cb_of(IOCB_CMD_FSYNC, fd, NULL, 0, 0);
    submit_reap(ctx, "fsync", &fs);
    fs = cb_of(IOCB_CMD_FDSYNC, fd, NULL, 0, 0);
    submit_reap(ctx, "fdatasync", &fs);
    fs = cb_of(IOCB_CMD_FSYNC, fd, NULL, 0, 4);
    submit_reap(ctx, "fsync with an offset", &fs);
    r = cb_of(IOCB_CMD_PREAD, fd, (void *)0x1000, 100, 0);
    submit_reap(ctx, "pread into unmapped memory", &r);

    /* Several in one call, reaped together. */
    struct iocb many[3];
    struct iocb *list[3];
    for (int i = 0; i < 3; i++) {
        many[i] = cb_of(IOCB_CMD_PREAD, fd, rbuf + i * 100, 100, i * 100);
        many[i].aio_data = 100 + i;
        list[i] = &many[i];
    }
    show("submit 3", submit(ctx, 3, list));
    struct io_event evs[8];
    long n = getevents(ctx, 3, 8, evs, NULL);
    show("reap 3", n);
    unsigned long long sum = 0;
    for (long i = 0; i < n; i++)
        sum += evs[i].data * 1000 + evs[i].res;
    printf("  data and results sum %llu\n", sum);

    /* A bad iocb fails the submission. */
    struct iocb bad = cb_of(IOCB_CMD_PREAD, 999, rbuf, 10, 0);
    one(ctx, "bad fd", &bad);
    bad = cb_of(IOCB_CMD_PREAD, fd, rbuf, 10, 0);
    bad.aio_reserved2 = 1;
    one(ctx, "reserved field set", &bad);
    bad = cb_of(6 /* IOCB_CMD_NOOP */, fd, rbuf, 10, 0);
    one(ctx, "noop", &bad);
    bad = cb_of(42, fd, rbuf, 10, 0);
    one(ctx, "unknown opcode", &bad);
    bad = cb_of(IOCB_CMD_PREAD, fd, rbuf, 10, -1);
    one(ctx, "negative offset", &bad);
    bad = cb_of(IOCB_CMD_PREAD, fd, rbuf, 10, 0);
    bad.aio_rw_flags = 0x10000000;
    one(ctx, "unknown rw flag", &bad);
    bad = cb_of(IOCB_CMD_PREAD, fd, rbuf, -1, 0);
    one(ctx, "negative length", &bad);
    bad = cb_of(IOCB_CMD_PREADV, fd, rv, 5000, 0);
    one(ctx, "too many iovecs", &bad);
    bad = cb_of(IOCB_CMD_PREADV, fd, (void *)0x1000, 2, 0);
    one(ctx, "iovecs unmapped", &bad);
    bad = cb_of(IOCB_CMD_PREAD, fd, rbuf, 10, 0);
    bad.aio_flags = IOCB_FLAG_RESFD;
    bad.aio_resfd = fd;
    one(ctx, "resfd not an eventfd", &bad);
    bad.aio_resfd = 999;
    one(ctx, "resfd not open", &bad);
    bad = cb_of(IOCB_CMD_PREAD, fd, rbuf, 10, 0);
    bad.aio_flags = IOCB_FLAG_IOPRIO;
    bad.aio_reqprio = (7 << 13);
    one(ctx, "ioprio of class 7", &bad);
    bad.aio_reqprio = (2 << 13) | 4;
    submit_reap(ctx, "ioprio best effort 4", &bad);
    bad = cb_of(IOCB_CMD_POLL, fd, (void *)0x10000, 0, 0);
    one(ctx, "poll of events beyond 16 bits", &bad);
    int wo = open("/dev/null", O_WRONLY);
    bad = cb_of(IOCB_CMD_PREAD, wo, rbuf, 10, 0);
    one(ctx, "read of a write-only file", &bad);
    struct iocb *bads[2] = {&r, (struct iocb *)8};
    r = cb_of(IOCB_CMD_PREAD, fd, rbuf, 10, 0);
    show("submit good then unreadable", submit(ctx, 2, bads));
    reap1(ctx, "  the good one", &r);
    show("submit from an unreadable array", submit(ctx, 1, (struct iocb **)8));
    show("submit -1", submit(ctx, -1, list));
    show("submit 0", submit(ctx, 0, list));
    show("submit to no context", submit(12345, 1, list));
    show("getevents of no context", getevents(12345, 0, 1, evs, NULL));
    show("getevents min > nr", getevents(ctx, 2, 1, evs, NULL));
    show("getevents min < 0", getevents(ctx, -1, 1, evs, NULL));

    /* Pipes: reads with data, RWF_NOWAIT, sync, polls. */
    int p[2];
    pipe(p);
    write(p[1], "hello", 5);
    r = cb_of(IOCB_CMD_PREAD, p[0], rbuf, 100, 77);
    submit_reap(ctx, "pread of a pipe with 5 bytes", &r);
    r.aio_rw_flags = RWF_NOWAIT;
    submit_reap(ctx, "RWF_NOWAIT read of an empty pipe", &r);
    fs = cb_of(IOCB_CMD_FSYNC, p[0], NULL, 0, 0);
    one(ctx, "fsync of a pipe", &fs);
    struct iocb pw = cb_of(IOCB_CMD_POLL, p[1], (void *)(long)POLLOUT, 0, 0);
    submit_reap(ctx, "poll POLLOUT of a pipe with room", &pw);
    struct iocb pr = cb_of(IOCB_CMD_POLL, p[0], (void *)(long)POLLIN, 0, 0);
    pr.aio_data = 55;
    one(ctx, "poll POLLIN of an empty pipe", &pr);
    struct timespec zero = {0, 0};
    show("  getevents now", getevents(ctx, 1, 1, evs, &zero));
    struct timespec short_ts = {0, 50 * 1000 * 1000};
    show("  getevents in 50ms", getevents(ctx, 1, 1, evs, &short_ts));
    write(p[1], "x", 1);
    reap1(ctx, "  after a write", &pr);
    read(p[0], rbuf, 1);

    /* A poll completed by another process while io_getevents waits. */
    one(ctx, "poll for a child's write", &pr);
    pid_t child = fork();
    if (child == 0) {
        usleep(100 * 1000);
        write(p[1], "y", 1);
        _exit(0);
    }
    reap1(ctx, "  woken by the child", &pr);
    waitpid(child, NULL, 0);
    read(p[0], rbuf, 1);

    /* IOCB_FLAG_RESFD: the eventfd counts completions, polls included. */
    int efd = eventfd(0, EFD_NONBLOCK);
    struct iocb e1 = cb_of(IOCB_CMD_PREAD, fd, rbuf, 10, 0);
    e1.aio_flags = IOCB_FLAG_RESFD;
    e1.aio_resfd = efd;
    struct iocb e2 = pr;
    e2.aio_flags = IOCB_FLAG_RESFD;
    e2.aio_resfd = efd;
    one(ctx, "read with resfd", &e1);
    one(ctx, "poll with resfd", &e2);
    uint64_t count = 0;
    read(efd, &count, 8);
    printf("  eventfd after the read: %llu\n", (unsigned long long)count);
    if (fork() == 0) {
        usleep(50 * 1000);
        write(p[1], "z", 1);
        _exit(0);
    }
    struct pollfd pf = {efd, POLLIN, 0};
    printf("  eventfd readable after the child's write: %d\n", poll(&pf, 1, 10000));
    count = 0;
    read(efd, &count, 8);
    printf("  eventfd count: %llu\n", (unsigned long long)count);
    wait(NULL);
    show("  both reaped", getevents(ctx, 2, 2, evs, NULL));
    read(p[0], rbuf, 1);

    /* io_cancel. */
    one(ctx, "poll to cancel", &pr);
    show("cancel it", cancel(ctx, &pr, evs));
    reap1(ctx, "  its completion", &pr);
    show("cancel it again", cancel(ctx, &pr, evs));
    show("cancel a completed write", cancel(ctx, &w, evs));
    pr.aio_key = 5;
    show("cancel with a bad key", cancel(ctx, &pr, evs));
    pr.aio_key = 0;
    show("cancel on no context", cancel(12345, &pr, evs));
    show("cancel of an unreadable iocb", cancel(ctx, (struct iocb *)8, evs));

    /* A bad events array takes nothing. */
    r = cb_of(IOCB_CMD_PREAD, fd, rbuf, 10, 0);
    one(ctx, "read to reap", &r);
    show("getevents into unmapped memory", getevents(ctx, 1, 1, (struct io_event *)8, NULL));
    reap1(ctx, "  then reaped", &r);

    /* Signals. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 50 * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    show("getevents interrupted by a handled signal", getevents(ctx, 1, 1, evs, NULL));
    printf("  handler ran: %d\n", handled);
    sigset_t block, none;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &block, NULL);
    kill(getpid(), SIGUSR1);
    show("getevents with the signal blocked", getevents(ctx, 1, 1, evs, &short_ts));
    struct aio_sigset as = {&none, 8};
    show("pgetevents unblocking it",
         syscall(SYS_io_pgetevents, ctx, 1, 1, evs, &short_ts, &as));
    printf("  handler ran: %d\n", handled);
    sigprocmask(SIG_SETMASK, &none, NULL);
    as.sigmask = &block;
    as.sigsetsize = 4;
    show("pgetevents with a bad sigset size", syscall(SYS_io_pgetevents, ctx, 1, 1, evs, &short_ts, &as));
    as.sigsetsize = 8;
    show("pgetevents masked, timing out", syscall(SYS_io_pgetevents, ctx, 1, 1, evs, &short_ts, &as));
    show("pgetevents with an unreadable sigset",
         syscall(SYS_io_pgetevents, ctx, 1, 1, evs, &short_ts, (void *)8));
    show("getevents with an unreadable timeout", getevents(ctx, 1, 1, evs, (struct timespec *)8));

    /* A read of an empty pipe waits in io_submit, as on Linux: until a
     * write (from a child here), or a signal, which completes it with
     * EINTR while io_submit counts it submitted. */
    r = cb_of(IOCB_CMD_PREAD, p[0], rbuf, 100, 0);
    child = fork();
    if (child == 0) {
        usleep(100 * 1000);
        write(p[1], "late", 4);
        _exit(0);
    }
    submit_reap(ctx, "pread of an empty pipe a child writes to", &r);
    waitpid(child, NULL, 0);
    setitimer(ITIMER_REAL, &it, NULL);
    submit_reap(ctx, "pread of an empty pipe a signal interrupts", &r);
    printf("  handler ran: %d\n", handled);

    /* A fork child has no contexts. */
    child = fork();
    if (child == 0) {
        r = cb_of(IOCB_CMD_PREAD, fd, rbuf, 10, 0);
        struct iocb *l[1] = {&r};
        printf("child: submit %s, getevents %s, destroy %s\n", err(submit(ctx, 1, l)),
               err(getevents(ctx, 0, 1, evs, &zero)), err(destroy(ctx)));
        aio_context_t own = 0;
        printf("child: own context %s\n", err(setup(4, &own)));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    r = cb_of(IOCB_CMD_PREAD, fd, rbuf, 10, 0);
    submit_reap(ctx, "parent still reads", &r);

    /* io_destroy waits for a read under way in another thread. */
    aio_context_t c1 = 0;
    setup(4, &c1);
    struct blocked b = {c1, p[0], p[1], 0, 0, -2};
    pthread_t reader, writer;
    pthread_create(&reader, NULL, blocked_read, &b);
    /* Until the reader waits in io_submit (at most 10 s). */
    for (int i = 0; i < 10000 && !(b.tid && sleeping(b.tid)); i++)
        usleep(1000);
    pthread_create(&writer, NULL, late_write, &b);
    show("destroy while a read waits", destroy(c1));
    printf("  the write came first: %d\n", b.written);
    pthread_join(reader, NULL);
    pthread_join(writer, NULL);
    printf("  the read was submitted: %ld\n", b.submitted);

    /* io_destroy with a poll pending. */
    one(ctx, "poll left pending", &pr);
    show("destroy", destroy(ctx));
    show("destroy again", destroy(ctx));
    show("getevents after destroy", getevents(ctx, 0, 1, evs, &zero));
    aio_context_t c2 = 0, c3 = 0;
    show("two more contexts", setup(1, &c2) + setup(1, &c3));
    printf("  distinct: %d\n", c2 != c3);
    show("destroy both", destroy(c2) + destroy(c3));
    return 0;
}
