/* Scheduling calls on another process of the same user: the normal
 * policies kept and read back (with SCHED_RESET_ON_FORK), priorities,
 * errors for a bad or missing pid, and the CPU affinity read back as set,
 * within the CPUs that exist. Run as root; prints what it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *err(int r) { return r < 0 ? strerror(errno) : "ok"; }

static pid_t sleeper(void) {
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        write(p[1], "x", 1);
        for (;;) pause();
    }
    char c;
    read(p[0], &c, 1);
    close(p[0]);
    close(p[1]);
    return pid;
}

/* Field 41 (policy) of a stat file. */
static long policy_field(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *p = strrchr(buf, ')') + 2;
    for (int i = 3; i < 41; i++) p = strchr(p, ' ') + 1;
    return strtol(p, NULL, 10);
}

static void show_mask(const char *what, pid_t pid) {
    cpu_set_t set;
    CPU_ZERO(&set);
    int r = sched_getaffinity(pid, sizeof set, &set);
    if (r < 0) { printf("%s: %s\n", what, strerror(errno)); return; }
    printf("%s: %d cpu(s), cpu0 %d\n", what, CPU_COUNT(&set), CPU_ISSET(0, &set));
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pid_t c = sleeper();
    struct sched_param sp = { 0 };
    printf("child's policy: %d\n", sched_getscheduler(c));
    printf("batch: %s\n", err(sched_setscheduler(c, SCHED_BATCH, &sp)));
    printf("  now %d, stat %ld\n", sched_getscheduler(c), policy_field(c));
    printf("idle with reset-on-fork: %s\n", err(sched_setscheduler(c, SCHED_IDLE | SCHED_RESET_ON_FORK, &sp)));
    printf("  now %#x\n", sched_getscheduler(c));
    printf("back to other: %s\n", err(sched_setscheduler(c, SCHED_OTHER, &sp)));
    printf("  now %d\n", sched_getscheduler(c));
    sp.sched_priority = 3;
    printf("other with priority 3: %s\n", err(sched_setscheduler(c, SCHED_OTHER, &sp)));
    printf("setparam priority 3: %s\n", err(sched_setparam(c, &sp)));
    sp.sched_priority = 0;
    printf("setparam priority 0: %s\n", err(sched_setparam(c, &sp)));
    sp.sched_priority = 42;
    printf("getparam: %s\n", err(sched_getparam(c, &sp)));
    printf("  priority %d\n", sp.sched_priority);
    printf("bad policy: %s\n", err(sched_setscheduler(c, 17, &sp)));
    printf("negative pid: %s\n", err(sched_getscheduler(-1)));
    printf("negative pid: %s\n", err(sched_getparam(-1, &sp)));
    printf("no such pid: %s\n", err(sched_getscheduler(4194000)));
    printf("no such pid: %s\n", err(sched_setparam(4194000, &sp)));
    struct timespec ts;
    printf("rr interval of child: %s\n", err(sched_rr_get_interval(c, &ts)));

    show_mask("my affinity", 0);
    show_mask("child's affinity", c);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    printf("child to cpu0: %s\n", err(sched_setaffinity(c, sizeof one, &one)));
    show_mask("  child", c);
    show_mask("  me, unchanged", 0);
    cpu_set_t *big = CPU_ALLOC(4096);
    size_t bigsize = CPU_ALLOC_SIZE(4096);
    CPU_ZERO_S(bigsize, big);
    CPU_SET_S(4000, bigsize, big);
    printf("only a cpu that does not exist: %s\n", err(sched_setaffinity(c, bigsize, big)));
    CPU_SET_S(0, bigsize, big);
    printf("cpu0 and one that does not exist: %s\n", err(sched_setaffinity(c, bigsize, big)));
    show_mask("  child", c);
    printf("short buffer: %s\n", err(sched_getaffinity(0, 1, &one)));
    printf("no such pid: %s\n", err(sched_getaffinity(4194000, sizeof one, &one)));

    /* A user without CAP_SYS_NICE: its own processes only, and it cannot
     * drop SCHED_RESET_ON_FORK. */
    sched_setscheduler(c, SCHED_OTHER | SCHED_RESET_ON_FORK, &sp);
    pid_t u = fork();
    if (u == 0) {
        setresuid(4242, 4242, 4242);
        printf("user sets root's process: %s\n", err(sched_setscheduler(c, SCHED_BATCH, &sp)));
        printf("user pins root's process: %s\n", err(sched_setaffinity(c, sizeof one, &one)));
        printf("user reads root's process: %d\n", sched_getscheduler(c));
        sched_setscheduler(0, SCHED_OTHER | SCHED_RESET_ON_FORK, &sp);
        printf("user drops its reset-on-fork: %s\n", err(sched_setscheduler(0, SCHED_BATCH, &sp)));
        printf("user keeps it: %s\n", err(sched_setscheduler(0, SCHED_BATCH | SCHED_RESET_ON_FORK, &sp)));
        _exit(0);
    }
    int st;
    waitpid(u, &st, 0);
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    return 0;
}
