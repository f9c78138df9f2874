/* Signal delivery: handlers with siginfo, on an alternate stack, masks
 * during a handler, SA_RESTART vs EINTR for a blocking pipe read,
 * SIGSEGV's fault address, sigsuspend, sigtimedwait, SIGCHLD. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got, code, on_alt, blocked_inside;
static volatile int sender_ok;
static char altstack[1 << 16];
static sigjmp_buf jump;
static void *volatile fault_addr;

static void handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got = sig;
    code = si->si_code;
    sender_ok = si->si_pid == getpid();
    char here;
    on_alt = &here >= altstack && &here < altstack + sizeof altstack;
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    blocked_inside = sigismember(&now, sig);
}

static void segv(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    fault_addr = si->si_addr;
    siglongjmp(jump, 1);
}

static void nothing(int sig) { (void)sig; }

/* Read from a pipe nobody writes while an alarm goes off. */
static void read_with_alarm(int restart) {
    struct sigaction sa = {0};
    sa.sa_handler = nothing;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGALRM, &sa, NULL);
    int p[2];
    pipe(p);
    pid_t child = fork();
    if (child == 0) { usleep(300000); write(p[1], "late", 4); _exit(0); }
    alarm(0);
    ualarm(100000, 0);
    char buf[8];
    ssize_t n = read(p[0], buf, sizeof buf);
    printf("read %s SA_RESTART: n=%zd errno=%s\n", restart ? "with" : "without", n, n < 0 ? strerror(errno) : "-");
    waitpid(child, NULL, 0);
    close(p[0]); close(p[1]);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    struct sigaction sa = {0};
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    kill(getpid(), SIGUSR1);
    printf("USR1: got=%d code=%d sender=%d altstack=%d blocked inside=%d\n", got, code, sender_ok, on_alt, blocked_inside);

    /* A blocked signal waits until unblocked. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    got = 0;
    raise(SIGUSR1);
    printf("while blocked: got=%d\n", got);
    sigset_t pending;
    sigpending(&pending);
    printf("pending: %d\n", sigismember(&pending, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("after unblock: got=%d\n", got);

    /* sigtimedwait takes a blocked signal without running the handler. */
    sigprocmask(SIG_BLOCK, &set, NULL);
    got = 0;
    raise(SIGUSR1);
    siginfo_t si;
    struct timespec ts = {1, 0};
    int s = sigtimedwait(&set, &si, &ts);
    printf("sigtimedwait: %d handler ran=%d\n", s, got != 0);
    ts.tv_sec = 0; ts.tv_nsec = 10000000;
    s = sigtimedwait(&set, &si, &ts);
    printf("sigtimedwait timeout: %d %s\n", s, strerror(errno));

    /* sigsuspend with SIGUSR1 unblocked, woken by a child's kill. */
    got = 0;
    pid_t child = fork();
    if (child == 0) { usleep(50000); kill(getppid(), SIGUSR1); _exit(0); }
    sigset_t wait_mask = old;
    sigdelset(&wait_mask, SIGUSR1);
    s = sigsuspend(&wait_mask);
    printf("sigsuspend: %d %s got=%d\n", s, strerror(errno), got);
    sigprocmask(SIG_BLOCK, NULL, &set);
    printf("mask restored: %d\n", sigismember(&set, SIGUSR1));
    waitpid(child, NULL, 0);
    sigprocmask(SIG_SETMASK, &old, NULL);

    read_with_alarm(1);
    read_with_alarm(0);

    /* SIGSEGV with the faulting address. */
    struct sigaction sv = {0};
    sv.sa_sigaction = segv;
    sv.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sv, NULL);
    volatile int *bad = (int *)0x1234;
    if (sigsetjmp(jump, 1) == 0) {
        *bad = 1;
        printf("no fault?\n");
    }
    printf("SIGSEGV at %p\n", fault_addr);

    /* SIGCHLD arrives when a child exits. */
    got = 0;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGCHLD, &sa, NULL);
    child = fork();
    if (child == 0) _exit(5);
    while (!got) usleep(1000);
    printf("SIGCHLD: got=%d code=%d\n", got, code);
    waitpid(child, NULL, 0);
    /* A default-action signal kills: exit status 128+N seen by the parent. */
    child = fork();
    if (child == 0) { raise(SIGTERM); _exit(0); }
    int st;
    waitpid(child, &st, 0);
    printf("SIGTERM default: signaled=%d sig=%d\n", WIFSIGNALED(st), WTERMSIG(st));
    return 0;
}
