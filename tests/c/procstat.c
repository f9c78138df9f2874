/* /proc/PID/stat and status as ps and top read them: the state of the
 * caller (R), of a sleeping (S), stopped (T) and dead (Z) child; parent,
 * process group and session (also after setsid); the controlling
 * terminal's fields; the thread count; start times; sizes. And waitid for
 * stopped children when the only child is a zombie (ECHILD, as Linux).
 * Prints relations, not numbers, so that it prints the same natively and
 * in the sandbox. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* The fields of a stat file, 1-based; field 2 is the name. */
static char fields[64][64];
static int nfields;

static char read_stat(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return '?';
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *close = strrchr(buf, ')');
    nfields = 2;
    for (char *tok = strtok(close + 2, " \n"); tok && nfields < 63; tok = strtok(NULL, " \n"))
        snprintf(fields[++nfields], sizeof fields[0], "%s", tok);
    return fields[3][0];
}

static long field(int n) { return strtol(fields[n], NULL, 10); }

/* The value of `key` in /proc/PID/status. */
static void status_line(pid_t pid, const char *key, char *out, size_t size) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    out[0] = 0;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') {
            snprintf(out, size, "%s", line + n + 2);
            out[strcspn(out, "\n")] = 0;
        }
    if (f) fclose(f);
}

static void *idle(void *arg) {
    pthread_barrier_wait(arg);
    pthread_barrier_wait(arg);
    return NULL;
}

/* A child that tells the parent it is ready, then sleeps; `leader` makes
 * it a session leader first. */
static pid_t sleeper(int leader) {
    int p[2];
    pipe(p);
    pid_t pid = fork();
    if (pid == 0) {
        if (leader) setsid();
        write(p[1], "x", 1);
        for (;;) pause();
    }
    char c;
    read(p[0], &c, 1);
    close(p[0]);
    close(p[1]);
    usleep(50000);
    return pid;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Whatever the test runner's nice value, start from 0. */
    setpriority(PRIO_PROCESS, 0, 0);
    char st = read_stat(getpid());
    printf("self: state %c, %d fields\n", st, nfields);
    printf("self: ppid ok %d, pgrp ok %d, session ok %d\n", field(4) == getppid(), field(5) == getpgrp(),
           field(6) == getsid(0));
    int tty = open("/dev/tty", O_RDONLY | O_NOCTTY);
    int fg = tty >= 0 ? tcgetpgrp(tty) : -1;
    printf("self: tty fields match the controlling terminal: %d\n",
           tty >= 0 ? field(7) != 0 && field(8) == fg : field(7) == 0 && field(8) == -1);
    printf("self: threads %ld, nice %ld, priority %ld, vsize>0 %d, rss>0 %d\n", field(20), field(19), field(18),
           field(23) > 0, field(24) > 0);
    long my_start = field(22);
    FILE *up = fopen("/proc/uptime", "r");
    double uptime = 0;
    if (up) { fscanf(up, "%lf", &uptime); fclose(up); }
    printf("self: started before now %d\n", my_start <= (long)(uptime * sysconf(_SC_CLK_TCK)) + 1);

    pthread_barrier_t b;
    pthread_barrier_init(&b, NULL, 3);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, idle, &b);
    pthread_create(&t2, NULL, idle, &b);
    pthread_barrier_wait(&b);
    read_stat(getpid());
    char threads[32];
    status_line(getpid(), "Threads", threads, sizeof threads);
    int ntask = 0;
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e; d && (e = readdir(d));)
        ntask += e->d_name[0] != '.';
    if (d) closedir(d);
    printf("with two threads: stat %ld, status %s, task entries %d\n", field(20), threads, ntask);
    pthread_barrier_wait(&b);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);

    pid_t c = sleeper(0);
    st = read_stat(c);
    char state[64];
    status_line(c, "State", state, sizeof state);
    printf("sleeping child: state %c (%s), ppid is me %d, my group %d, my session %d, started after me %d\n", st,
           state, field(4) == getpid(), field(5) == getpgrp(), field(6) == getsid(0), field(22) >= my_start);
    kill(c, SIGSTOP);
    int ws;
    waitpid(c, &ws, WUNTRACED);
    st = read_stat(c);
    status_line(c, "State", state, sizeof state);
    printf("stopped child: state %c (%s)\n", st, state);
    kill(c, SIGCONT);
    waitpid(c, &ws, WCONTINUED);
    kill(c, SIGKILL);
    siginfo_t si;
    waitid(P_PID, c, &si, WEXITED | WNOWAIT);
    st = read_stat(c);
    printf("dead child: state %c\n", st);
    errno = 0;
    int r = waitid(P_ALL, 0, &si, WSTOPPED);
    printf("waitid for stopped children, only a zombie: %d %s\n", r, strerror(errno));
    errno = 0;
    r = waitid(P_ALL, 0, &si, WSTOPPED | WCONTINUED | WNOHANG);
    printf("  with WNOHANG: %d %s\n", r, strerror(errno));
    r = waitid(P_ALL, 0, &si, WEXITED);
    printf("  reaped it: %d, killed by %d\n", r, si.si_status);

    c = sleeper(1);
    read_stat(c);
    printf("session leader child: sid is its pid %d, pgrp is its pid %d, no tty %d %d\n", field(6) == c,
           field(5) == c, field(7) == 0, field(8) == -1);
    kill(c, SIGKILL);
    waitpid(c, &ws, 0);
    return 0;
}
