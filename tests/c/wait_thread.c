/* Which children wait4 and waitid may reap, as Linux decides: without
 * __WNOTHREAD a thread waits for the children of every thread of its
 * process, with it only for its own (and for those of a thread that ended,
 * which pass to a live one); without __WCLONE or __WALL only for children
 * whose exit signal is SIGCHLD, with __WCLONE only for the others, with
 * __WALL for both. Every result is printed, for comparison with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r, long want) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %s\n", what, r == want ? "the child" : r == 0 ? "0" : "another pid");
}

/* A child that ends at once, telling its end with `sig`. */
static pid_t child_with(long sig) {
    long pid = syscall(SYS_clone, sig, 0, 0, 0, 0);
    if (pid == 0)
        _exit(7);
    return pid;
}

/* waitid for `pid` (any child if 0), returning the pid reported (0 if
 * none). */
static long waitid_pid(pid_t pid, int options) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(pid ? P_PID : P_ALL, pid, &si, options))
        return -1;
    return si.si_pid;
}

/* Wait until `pid` is a zombie, without reaping it. */
static void until_ended(pid_t pid) {
    siginfo_t si;
    waitid(P_PID, pid, &si, WEXITED | WNOWAIT | __WALL);
}

static pid_t made_by_thread;

static void *thread_forks(void *arg) {
    (void)arg;
    made_by_thread = child_with(SIGCHLD);
    until_ended(made_by_thread);
    return NULL;
}

static void *thread_waits(void *arg) {
    pid_t own = *(pid_t *)arg;
    show("thread: waitpid(main's child, __WNOTHREAD)", waitpid(own, NULL, __WNOTHREAD), own);
    show("thread: waitpid(-1, WNOHANG|__WNOTHREAD)", waitpid(-1, NULL, WNOHANG | __WNOTHREAD), own);
    show("thread: waitpid(main's child)", waitpid(own, NULL, WNOHANG), own);
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int status;

    /* Exit signals. */
    pid_t plain = child_with(SIGCHLD);
    until_ended(plain);
    show("SIGCHLD child: waitpid(__WCLONE)", waitpid(plain, NULL, WNOHANG | __WCLONE), plain);
    show("SIGCHLD child: waitid(__WCLONE)", waitid_pid(plain, WEXITED | WNOHANG | __WCLONE), plain);
    show("SIGCHLD child: waitpid(0)", waitpid(plain, &status, 0), plain);
    printf("status %d\n", WEXITSTATUS(status));
    signal(SIGUSR1, SIG_IGN);
    long sigs[] = {SIGUSR1, 0};
    for (int i = 0; i < 2; i++) {
        printf("exit signal %ld:\n", sigs[i]);
        pid_t c = child_with(sigs[i]);
        until_ended(c);
        show("  waitpid(0)", waitpid(c, NULL, WNOHANG), c);
        show("  waitpid(-1, 0)", waitpid(-1, NULL, WNOHANG), c);
        show("  waitid(P_ALL, 0)", waitid_pid(0, WEXITED | WNOHANG), c);
        show("  waitid(__WCLONE|WNOWAIT)", waitid_pid(c, WEXITED | WNOHANG | WNOWAIT | __WCLONE), c);
        show(i == 0 ? "  waitpid(-1, __WCLONE)" : "  waitpid(-1, __WALL)",
             waitpid(-1, &status, i == 0 ? __WCLONE : __WALL), c);
        printf("  status %d\n", WEXITSTATUS(status));
    }
    show("none left: waitpid(-1, __WALL)", waitpid(-1, NULL, __WALL), 0);
    pid_t a = child_with(SIGCHLD), b = child_with(SIGUSR1);
    until_ended(a);
    until_ended(b);
    show("both kinds: waitpid(-1, __WALL)", waitpid(-1, NULL, __WALL), a);
    show("both kinds: waitpid(-1, __WALL) again", waitpid(-1, NULL, __WALL), b);

    /* Threads: a child of another thread, of one that ended, and the
     * main thread's own child seen from another thread. */
    pthread_t t;
    pthread_create(&t, NULL, thread_forks, NULL);
    pthread_join(t, NULL);
    pid_t own = child_with(SIGCHLD);
    until_ended(own);
    show("main: waitpid(ended thread's child, __WNOTHREAD)", waitpid(made_by_thread, NULL, WNOHANG | __WNOTHREAD),
         made_by_thread);
    pthread_create(&t, NULL, thread_waits, &own);
    pthread_join(t, NULL);
    show("main: waitpid(-1, __WNOTHREAD)", waitpid(-1, NULL, WNOHANG | __WNOTHREAD), 0);
    return 0;
}
