/* waitid: WNOWAIT leaves the zombie, WNOHANG does not block, ECHILD when
 * there is nothing to wait for; orphans are adopted by the subreaper. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    siginfo_t si;
    pid_t pid = fork();
    if (pid == 0) _exit(3);
    memset(&si, 0, sizeof si);
    int r = waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
    printf("nowait: r=%d code=%d status=%d same=%d\n", r, si.si_code, si.si_status, si.si_pid == pid);
    memset(&si, 0, sizeof si);
    r = waitid(P_ALL, 0, &si, WEXITED);
    printf("reap: r=%d code=%d status=%d same=%d\n", r, si.si_code, si.si_status, si.si_pid == pid);
    errno = 0;
    r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG);
    printf("none left: r=%d errno=%s\n", r, strerror(errno));

    /* A child that lives: WNOHANG reports nothing yet. */
    int p[2];
    pipe(p);
    pid = fork();
    if (pid == 0) { char c; close(p[1]); read(p[0], &c, 1); _exit(7); }
    close(p[0]);
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WEXITED | WNOHANG);
    printf("still running: r=%d pid=%d\n", r, si.si_pid);
    write(p[1], "x", 1);
    int status;
    waitpid(pid, &status, 0);
    printf("then exited %d\n", WEXITSTATUS(status));

    /* An orphan: the middle child exits at once, its child is adopted. */
    pid = fork();
    if (pid == 0) {
        if (fork() == 0) { usleep(50000); _exit(9); }
        _exit(8);
    }
    int seen = 0;
    for (;;) {
        pid_t got = wait(&status);
        if (got < 0) break;
        printf("reaped a child that exited %d\n", WEXITSTATUS(status));
        seen++;
    }
    printf("reaped %d, then %s\n", seen, strerror(errno));
    return 0;
}
