/* Nice values: getpriority/setpriority for a thread, another process, a
 * process group and a user; the raw call's 20 - nice; clamping; the
 * per-thread value (Linux's PRIO_PROCESS takes a thread id) as
 * /proc/self/task/TID/stat shows it; inheritance by fork; and the rules
 * for a user without CAP_SYS_NICE (EACCES lowering, EPERM on another
 * user's process). Run as root; prints what it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *err(int r) { return r < 0 ? strerror(errno) : "ok"; }

/* getpriority through the C library: -1 can be a value, so errno says. */
static void show(const char *what, int which, int who) {
    errno = 0;
    int v = getpriority(which, who);
    if (v == -1 && errno) printf("%s: %s\n", what, strerror(errno));
    else printf("%s: %d\n", what, v);
}

/* Field `n` (1-based) of a stat file. */
static long stat_field(const char *path, int n) {
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (!f) return -999;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -998;
    p += 2; /* field 3 */
    for (int i = 3; i < n; i++) {
        p = strchr(p, ' ');
        if (!p) return -997;
        p++;
    }
    return strtol(p, NULL, 10);
}

static pid_t tid_of_thread;
static pthread_barrier_t barrier;

static void *thread_main(void *arg) {
    (void)arg;
    tid_of_thread = gettid();
    printf("thread sets its own nice 10: %s\n", err(setpriority(PRIO_PROCESS, 0, 10)));
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    return NULL;
}

static pid_t sleeper(int nice_value) {
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        setpriority(PRIO_PROCESS, 0, nice_value);
        close(p[0]);
        write(p[1], "x", 1);
        pause();
        _exit(0);
    }
    char c;
    close(p[1]);
    read(p[0], &c, 1);
    close(p[0]);
    return pid;
}

static void reap(pid_t pid) {
    int st;
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Whatever the test runner's nice value, start from 0. */
    setpriority(PRIO_PROCESS, 0, 0);
    show("start", PRIO_PROCESS, 0);
    printf("raw: %ld\n", syscall(SYS_getpriority, PRIO_PROCESS, 0));
    printf("set 5: %s\n", err(setpriority(PRIO_PROCESS, 0, 5)));
    show("  now", PRIO_PROCESS, 0);
    printf("  raw %ld, stat priority %ld nice %ld\n", syscall(SYS_getpriority, PRIO_PROCESS, 0),
           stat_field("/proc/self/stat", 18), stat_field("/proc/self/stat", 19));
    printf("set -3 as root: %s\n", err(setpriority(PRIO_PROCESS, getpid(), -3)));
    show("  now", PRIO_PROCESS, getpid());
    printf("set 100: %s\n", err(setpriority(PRIO_PROCESS, 0, 100)));
    show("  clamped", PRIO_PROCESS, 0);
    printf("set -100: %s\n", err(setpriority(PRIO_PROCESS, 0, -100)));
    show("  clamped", PRIO_PROCESS, 0);
    errno = 0;
    printf("nice(3) gives %d\n", nice(3));
    printf("bad which: %s\n", err(setpriority(7, 0, 0)));
    show("bad which", -1, 0);
    show("no such process", PRIO_PROCESS, 4194000);
    setpriority(PRIO_PROCESS, 0, 2);

    /* Per thread. */
    pthread_t t;
    pthread_barrier_init(&barrier, NULL, 2);
    pthread_create(&t, NULL, thread_main, NULL);
    pthread_barrier_wait(&barrier);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid_of_thread);
    printf("thread: %ld, process still %d, its stat says %ld\n", (long)getpriority(PRIO_PROCESS, tid_of_thread),
           getpriority(PRIO_PROCESS, 0), stat_field(path, 19));
    pthread_barrier_wait(&barrier);
    pthread_join(t, NULL);

    /* Another process, inheritance, and a process group. */
    pid_t a = sleeper(7);
    show("child set itself 7", PRIO_PROCESS, a);
    printf("set child 4: %s\n", err(setpriority(PRIO_PROCESS, a, 4)));
    show("  now", PRIO_PROCESS, a);
    setpgid(a, a);
    pid_t b = fork();
    if (b == 0) {
        setpgid(0, a);
        show("forked child inherits", PRIO_PROCESS, 0);
        setpriority(PRIO_PROCESS, 0, 9);
        pause();
        _exit(0);
    }
    setpgid(b, a);
    usleep(100000);
    show("group's best", PRIO_PGRP, a);
    printf("set group 11: %s\n", err(setpriority(PRIO_PGRP, a, 11)));
    show("  a", PRIO_PROCESS, a);
    show("  b", PRIO_PROCESS, b);
    show("no such group", PRIO_PGRP, 4194000);
    reap(a);
    reap(b);

    /* A user's processes, and the rules without CAP_SYS_NICE. */
    pid_t u = fork();
    if (u == 0) {
        setpriority(PRIO_PROCESS, 0, 6);
        if (setresuid(4242, 4242, 4242)) { printf("setresuid: %s\n", strerror(errno)); _exit(1); }
        printf("user raises to 8: %s\n", err(setpriority(PRIO_PROCESS, 0, 8)));
        printf("user lowers to 1: %s\n", err(setpriority(PRIO_PROCESS, 0, 1)));
        printf("user keeps 8: %s\n", err(setpriority(PRIO_PROCESS, 0, 8)));
        printf("user sets root's process: %s\n", err(setpriority(PRIO_PROCESS, getppid(), 12)));
        show("user reads root's process", PRIO_PROCESS, getppid());
        show("by user", PRIO_USER, 4242);
        show("by own user (0)", PRIO_USER, 0);
        printf("user sets its user's 9: %s\n", err(setpriority(PRIO_USER, 0, 9)));
        show("  now", PRIO_PROCESS, 0);
        _exit(0);
    }
    int st;
    waitpid(u, &st, 0);
    show("nobody left as 4242", PRIO_USER, 4242);
    return 0;
}
