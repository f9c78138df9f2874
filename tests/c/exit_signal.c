/* Exit signals as Linux gives them, run as pid 1 (of the sandbox, or of a
 * new pid namespace natively): init may not clone with CLONE_PARENT; an
 * orphan's exit signal becomes SIGCHLD when init adopts it, so a child
 * made to end with SIGKILL or SIGUSR1 cannot kill or signal init once its
 * creator is gone; init ignores a fatal exit signal of its own child it
 * has no handler for; a CLONE_PARENT sibling tells the parent with its
 * creator's exit signal, not the one it asked. Prints what init sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t usr1;

static void on_usr1(int s) { (void)s; usr1++; }
static void on_chld(int s) { (void)s; }

/* A fork whose end is told to the parent with `sig`. */
static long fork_with(long sig) { return syscall(SYS_clone, sig, 0, 0, 0, 0); }

/* Reap every child, waiting for each. */
static int reap_all(void) {
    int n = 0;
    while (waitpid(-1, NULL, __WALL) > 0) n++;
    return n;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("pid %d\n", getpid());
    struct sigaction sa = {.sa_handler = on_usr1};
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_chld;
    sigaction(SIGCHLD, &sa, NULL);

    long r = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
    printf("init CLONE_PARENT: %s\n", r < 0 ? strerrorname_np(errno) : "made");
    if (r == 0) _exit(0);

    /* Orphans made to end with SIGKILL and SIGUSR1, adopted by init. */
    for (long sig = SIGKILL; sig <= SIGUSR1; sig += SIGUSR1 - SIGKILL) {
        if (fork() == 0) {
            if (fork_with(sig) == 0) {
                usleep(100000);
                _exit(0);
            }
            _exit(0);
        }
        printf("orphan with signal %ld: reaped %d, usr1 %d\n", sig, reap_all(), (int)usr1);
    }

    /* Init's own child with a fatal exit signal init does not handle. */
    if (fork_with(SIGKILL) == 0) _exit(0);
    printf("own child with SIGKILL: reaped %d, init alive\n", reap_all());

    /* Init's own child with SIGUSR1, which init handles. */
    if (fork_with(SIGUSR1) == 0) _exit(0);
    int n = reap_all();
    printf("own child with SIGUSR1: reaped %d, usr1 %d\n", n, (int)usr1);

    /* A sibling made with CLONE_PARENT asking SIGUSR1: init hears SIGCHLD. */
    usr1 = 0;
    if (fork() == 0) {
        if (syscall(SYS_clone, CLONE_PARENT | SIGUSR1, 0, 0, 0, 0) == 0) _exit(0);
        _exit(0);
    }
    n = reap_all();
    printf("CLONE_PARENT sibling: reaped %d, usr1 %d\n", n, (int)usr1);
    return 0;
}
