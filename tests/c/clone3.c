/* clone3's checks and CLONE_CLEAR_SIGHAND: a handled signal goes back to
 * its default in the child, an ignored one stays ignored. Every result is
 * printed, for comparison with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
    fflush(stdout);
}

static void on_usr1(int sig) { (void)sig; }

static long clone3_with(uint64_t flags, size_t size) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = flags;
    args.exit_signal = SIGCHLD;
    return syscall(SYS_clone3, &args, size);
}

static const char *disposition(int sig) {
    struct sigaction sa;
    sigaction(sig, NULL, &sa);
    if (sa.sa_handler == SIG_DFL)
        return "default";
    if (sa.sa_handler == SIG_IGN)
        return "ignored";
    return "handled";
}

int main(void) {
    show("clone3(unknown flag)", clone3_with(1ULL << 40, sizeof(struct clone_args)));
    show("clone3(CLEAR_SIGHAND|SIGHAND)",
         clone3_with(CLONE_CLEAR_SIGHAND | CLONE_SIGHAND | CLONE_VM, sizeof(struct clone_args)));
    show("clone3(size 63)", clone3_with(0, 63));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGUSR2, SIG_IGN);
    for (int clear = 0; clear < 2; clear++) {
        long pid = clone3_with(clear ? CLONE_CLEAR_SIGHAND : 0, sizeof(struct clone_args));
        if (pid == 0) {
            struct sigaction now;
            sigaction(SIGUSR1, NULL, &now);
            printf("child (clear=%d): SIGUSR1 %s (SA_RESTART %d), SIGUSR2 %s\n", clear, disposition(SIGUSR1),
                   (now.sa_flags & SA_RESTART) != 0, disposition(SIGUSR2));
            fflush(stdout);
            _exit(0);
        }
        int status = 0;
        waitpid((pid_t)pid, &status, 0);
        printf("child exited %d\n", WEXITSTATUS(status));
    }
    printf("parent: SIGUSR1 %s, SIGUSR2 %s\n", disposition(SIGUSR1), disposition(SIGUSR2));
    return 0;
}
