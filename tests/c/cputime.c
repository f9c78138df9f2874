// CPU time: the clocks of processes and threads, getrusage, times, wait4's
// rusage, ITIMER_PROF and ITIMER_VIRTUAL, from the real CPU time burnt. It
// prints relations only (each a yes/no line), so a run natively and one in
// the sandbox print the same.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL
// What burning 200 ms of CPU must show at least: half of it (the work of
// `burn` takes less CPU on a faster machine).
#define ENOUGH (100 * MS)

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }
static long long tv_ns(struct timeval t) { return t.tv_sec * 1000000000LL + t.tv_usec * 1000LL; }

static long long now(clockid_t c) {
    struct timespec t;
    if (clock_gettime(c, &t) != 0) return -1;
    return ns(t);
}

// Spin until CLOCK_MONOTONIC says `ms` milliseconds passed, and at least
// as much work was done as takes `ms` of CPU on an idle machine of the
// kind the tests run on (about 500 rounds a millisecond): so a loaded
// machine, which gives less CPU in that wall time, still sees it burnt.
static void burn(int ms) {
    long long end = now(CLOCK_MONOTONIC) + ms * MS;
    long rounds = 0, enough = 450L * ms;
    volatile unsigned long x = 0;
    while (now(CLOCK_MONOTONIC) < end || rounds < enough) {
        for (int i = 0; i < 1000; i++) x += i;
        rounds++;
    }
}

static void say(const char *what, int yes) { printf("%s: %s\n", what, yes ? "yes" : "no"); }

// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
static clockid_t process_clock(pid_t pid) { return ((~(clockid_t)pid) << 3) | 2; }

static int fds_a[2], fds_b[2];

// Burns, says so, then blocks until told to end.
static void *burner(void *arg) {
    (void)arg;
    burn(200);
    char c = 1;
    write(fds_a[1], &c, 1);
    read(fds_b[0], &c, 1);
    return NULL;
}

// Never does anything but wait.
static void *idler(void *arg) {
    char c;
    read(*(int *)arg, &c, 1);
    return NULL;
}

static volatile sig_atomic_t profs, vtalrms;
static void on_prof(int s) { (void)s; profs++; }
static void on_vtalrm(int s) { (void)s; vtalrms++; }

static void threads(void) {
    int idle[2];
    pipe(idle);
    pipe(fds_a);
    pipe(fds_b);
    pthread_t b, i;
    pthread_create(&i, NULL, idler, &idle[0]);
    pthread_create(&b, NULL, burner, NULL);
    char c;
    read(fds_a[0], &c, 1); // the burner has burnt and waits
    burn(200);
    long long own = now(CLOCK_THREAD_CPUTIME_ID);
    say("own thread clock >= 100 ms after burning 200 ms", own >= ENOUGH);
    clockid_t cb, ci;
    say("pthread_getcpuclockid works", pthread_getcpuclockid(b, &cb) == 0 && pthread_getcpuclockid(i, &ci) == 0);
    long long burnt = now(cb), idled = now(ci);
    say("the burnt (now blocked) thread's clock >= 100 ms", burnt >= ENOUGH);
    say("the idle thread's clock < 50 ms", idled >= 0 && idled < 50 * MS);
    long long whole = now(CLOCK_PROCESS_CPUTIME_ID);
    say("process clock >= the sum of its threads' clocks", whole >= own + burnt + idled);
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    long long t = tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime);
    say("getrusage(THREAD) >= 100 ms", t >= ENOUGH);
    say("getrusage(THREAD) user >= 50 ms", tv_ns(ru.ru_utime) >= 50 * MS);
    write(fds_b[1], &c, 1);
    write(idle[1], &c, 1);
    pthread_join(b, NULL);
    pthread_join(i, NULL);
    say("process clock keeps the time of threads that ended", now(CLOCK_PROCESS_CPUTIME_ID) >= whole);
    // A thread that ended: its clock is nobody's.
    struct timespec ts;
    errno = 0;
    say("the ended thread's clock gives EINVAL", clock_gettime(cb, &ts) == -1 && errno == EINVAL);
    getrusage(RUSAGE_SELF, &ru);
    t = tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime);
    say("getrusage(SELF) user+system in [200 ms, 2 s] after two threads burnt", t >= 2 * ENOUGH && t <= 2000 * MS);
    say("getrusage(SELF) user >= 100 ms", tv_ns(ru.ru_utime) >= 100 * MS);
    struct tms tm;
    clock_t up = times(&tm);
    say("times() returns a tick count", up != (clock_t)-1);
    say("times() utime+stime >= 10 ticks", tm.tms_utime + tm.tms_stime >= 10);
    say("times() children zero before any wait", tm.tms_cutime == 0 && tm.tms_cstime == 0);
}

static void children(void) {
    int go[2], done[2];
    pipe(go);
    pipe(done);
    pid_t pid = fork();
    if (pid == 0) {
        burn(200);
        char c = 1;
        write(done[1], &c, 1);
        read(go[0], &c, 1);
        _exit(0);
    }
    char c;
    read(done[0], &c, 1);
    clockid_t cc;
    say("clock_getcpuclockid(child) works", clock_getcpuclockid(pid, &cc) == 0);
    say("the running child's clock >= 100 ms", now(cc) >= ENOUGH);
    say("the same through MAKE_PROCESS_CPUCLOCK", now(process_clock(pid)) >= ENOUGH);
    // A thread clock is only of the caller's own threads.
    struct timespec ts;
    errno = 0;
    int r = clock_gettime(((~(clockid_t)pid) << 3) | 4 | 2, &ts);
    say("the child's thread clock gives EINVAL", r == -1 && errno == EINVAL);
    write(go[1], &c, 1);
    // Ended, not yet waited for: not the parent's yet.
    siginfo_t si;
    waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    say("RUSAGE_CHILDREN < 50 ms before the wait",
        tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime) < 50 * MS);
    struct tms tm;
    times(&tm);
    say("times() cutime+cstime < 5 ticks before the wait", tm.tms_cutime + tm.tms_cstime < 5);
    int st;
    memset(&ru, 0, sizeof ru);
    say("wait4 reaps the child", wait4(pid, &st, 0, &ru) == pid && WIFEXITED(st));
    long long w = tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime);
    say("wait4's rusage >= 100 ms and <= 2 s", w >= ENOUGH && w <= 2000 * MS);
    getrusage(RUSAGE_CHILDREN, &ru);
    say("RUSAGE_CHILDREN >= 100 ms after the wait", tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime) >= ENOUGH);
    times(&tm);
    say("times() cutime+cstime >= 10 ticks after the wait", tm.tms_cutime + tm.tms_cstime >= 10);
    errno = 0;
    r = clock_gettime(process_clock(pid), &ts);
    say("the reaped child's clock gives EINVAL", r == -1 && errno == EINVAL);
    errno = 0;
    r = clock_getres(process_clock(pid), &ts);
    say("and so does its resolution", r == -1 && errno == EINVAL);
}

static void timers(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_prof;
    sigaction(SIGPROF, &sa, NULL);
    sa.sa_handler = on_vtalrm;
    sigaction(SIGVTALRM, &sa, NULL);

    // Armed, then asleep: a sleeping process burns no CPU, so nothing fires.
    struct itimerval v = {{0, 0}, {0, 50000}}, old;
    setitimer(ITIMER_PROF, &v, NULL);
    setitimer(ITIMER_VIRTUAL, &v, NULL);
    struct timespec nap = {0, 300 * MS};
    while (nanosleep(&nap, &nap) != 0 && errno == EINTR) {}
    say("ITIMER_PROF and ITIMER_VIRTUAL quiet while sleeping", profs == 0 && vtalrms == 0);
    getitimer(ITIMER_PROF, &old);
    long long left = tv_ns(old.it_value);
    // (Linux may add a tick to the 50 ms.)
    say("getitimer: still armed, about 50 ms left", left > 0 && left <= 70 * MS);
    // Then burning: both fire.
    burn(200);
    say("ITIMER_PROF fired while burning", profs >= 1);
    say("ITIMER_VIRTUAL fired while burning", vtalrms >= 1);
    getitimer(ITIMER_PROF, &old);
    say("getitimer: a one-shot timer that fired is disarmed", old.it_value.tv_sec == 0 && old.it_value.tv_usec == 0);

    // With an interval: fires again and again.
    profs = vtalrms = 0;
    struct itimerval every = {{0, 20000}, {0, 20000}};
    setitimer(ITIMER_PROF, &every, NULL);
    setitimer(ITIMER_VIRTUAL, &every, NULL);
    burn(300);
    say("ITIMER_PROF with a 20 ms interval fired several times in 300 ms", profs >= 3);
    say("ITIMER_VIRTUAL with a 20 ms interval fired several times in 300 ms", vtalrms >= 3);
    getitimer(ITIMER_VIRTUAL, &old);
    say("getitimer: the interval is kept", old.it_interval.tv_sec == 0 && old.it_interval.tv_usec == 20000);
    say("getitimer: at most the interval left", tv_ns(old.it_value) > 0 && tv_ns(old.it_value) <= 20 * MS);
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, &old);
    say("setitimer gives back what was left", tv_ns(old.it_value) > 0 && tv_ns(old.it_interval) == 20 * MS);
    setitimer(ITIMER_VIRTUAL, &off, NULL);
    getitimer(ITIMER_PROF, &old);
    say("disarmed", old.it_value.tv_sec == 0 && old.it_value.tv_usec == 0);

    // A long one: what is left goes down with the CPU time burnt.
    struct itimerval second = {{0, 0}, {1, 0}};
    setitimer(ITIMER_PROF, &second, NULL);
    burn(200);
    getitimer(ITIMER_PROF, &old);
    left = tv_ns(old.it_value);
    say("getitimer after burning 200 ms of a 1 s ITIMER_PROF: (0, 950 ms]", left > 0 && left <= 950 * MS);
    setitimer(ITIMER_PROF, &off, NULL);
    errno = 0;
    say("setitimer(3) gives EINVAL", setitimer(3, &off, NULL) == -1 && errno == EINVAL);
}

static void resolution(void) {
    struct timespec r;
    say("clock_getres(CLOCK_PROCESS_CPUTIME_ID) in (0, 1 ms]",
        clock_getres(CLOCK_PROCESS_CPUTIME_ID, &r) == 0 && ns(r) > 0 && ns(r) <= MS);
    say("clock_getres(CLOCK_THREAD_CPUTIME_ID) in (0, 1 ms]",
        clock_getres(CLOCK_THREAD_CPUTIME_ID, &r) == 0 && ns(r) > 0 && ns(r) <= MS);
    // MAKE_PROCESS_CPUCLOCK(0, CPUCLOCK_PROF): tick-sampled, one tick.
    say("clock_getres(own PROF clock) in (0, 10 ms]",
        clock_getres((~(clockid_t)0) << 3, &r) == 0 && ns(r) > 0 && ns(r) <= 10 * MS);
    say("clock_gettime of the own pid's clock works", now(process_clock(getpid())) > 0);
    say("a CLOCKFD id gives EINVAL", clock_gettime(((~(clockid_t)getpid()) << 3) | 3, &r) == -1 && errno == EINVAL);
}

// A process keeps its CPU time across exec (this program, run again with
// "after-exec").
static void across_exec(const char *self) {
    pid_t pid = fork();
    if (pid == 0) {
        burn(200);
        execl(self, self, "after-exec", (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    say("the exec'd child ended well", WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void after_exec(void) {
    say("after exec: the process clock keeps what was burnt before", now(CLOCK_PROCESS_CPUTIME_ID) >= ENOUGH);
    say("after exec: the thread clock too", now(CLOCK_THREAD_CPUTIME_ID) >= ENOUGH);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    say("after exec: getrusage(SELF) too", tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime) >= ENOUGH);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "after-exec") == 0) {
        after_exec();
        return 0;
    }
    threads();
    children();
    timers();
    resolution();
    across_exec(argv[0]);
    return 0;
}
