/* Fork until the host refuses (the test runs this in a host cgroup whose
 * pids.max is small), then end every child and reap them all: wait must
 * come to ECHILD, with no phantom child left behind by the refused fork.
 * Prints what it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pid_t kids[1000];
    int n = 0, err = 0;
    while (n < 1000) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        if (p < 0) {
            err = errno;
            break;
        }
        kids[n++] = p;
    }
    printf("fork refused: %s\n", err ? strerrorname_np(err) : "never");
    for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
    int reaped = 0;
    while (wait(NULL) > 0) reaped++;
    printf("reaped all: %s, then %s\n", reaped == n ? "yes" : "no", strerrorname_np(errno));
    /* The sandbox still forks once the pressure is gone. */
    pid_t p = fork();
    if (p == 0) _exit(7);
    int st = 0;
    waitpid(p, &st, 0);
    printf("fork after: %s, status %d\n", p > 0 ? "ok" : strerrorname_np(errno), WEXITSTATUS(st));
    return 0;
}
