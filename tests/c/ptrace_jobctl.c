/* ptrace and job control, and a tracee's pending signals:
 * PTRACE_LISTEN (only for a seized tracee in a PTRACE_EVENT_STOP; the
 * tracee stays stopped, unreachable by requests and unreported by wait,
 * until SIGCONT or PTRACE_INTERRUPT makes it report again), the
 * PTRACE_EVENT_STOP a SIGCONT gives a seized tracee, PTRACE_PEEKSIGINFO
 * (the thread's queue and the process's, off/nr, the siginfo layout, a
 * partly bad buffer, the errors) and PTRACE_GETSIGMASK/SETSIGMASK; and
 * the requests about a tracee's seccomp filters and rseq area, for one
 * with neither (PTRACE_SECCOMP_GET_FILTER/METADATA,
 * PTRACE_GET_RSEQ_CONFIGURATION; glibc's rseq is turned off by re-running
 * with its tunable). Prints what it sees (no pids or addresses), to
 * compare with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptrace_check.h"

#ifndef PTRACE_LISTEN
#define PTRACE_LISTEN 0x4208
#endif
#ifndef PTRACE_PEEKSIGINFO
#define PTRACE_PEEKSIGINFO 0x4209
#endif
#ifndef PTRACE_SECCOMP_GET_FILTER
#define PTRACE_SECCOMP_GET_FILTER 0x420c
#endif
#ifndef PTRACE_SECCOMP_GET_METADATA
#define PTRACE_SECCOMP_GET_METADATA 0x420d
#endif
#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif
#ifndef PTRACE_PEEKSIGINFO_SHARED
#define PTRACE_PEEKSIGINFO_SHARED 1
#endif

struct peek_args {
    uint64_t off;
    uint32_t flags;
    int32_t nr;
};

static void no_report(pid_t pid, const char *what) {
    int status = 0;
    pid_t r = waitpid(pid, &status, __WALL | WNOHANG);
    printf("%s: waitpid WNOHANG = %s\n", what, r == 0 ? "0" : r == pid ? "the tracee" : "error");
}

static void show_siginfo(const char *what, pid_t pid) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    long r = ptrace(PTRACE_GETSIGINFO, pid, 0, &si);
    if (r < 0) {
        err(what, r);
        return;
    }
    printf("%s: signo %d code %#x (event %d sig %d)\n", what, si.si_signo, si.si_code, si.si_code >> 8,
           si.si_code & 0xff);
}

static void kill_and_reap(pid_t pid, const char *what) {
    kill(pid, SIGKILL);
    wait_for(pid, what);
}

static void idle(void) {
    for (;;)
        pause();
}

static pid_t idle_child(void) {
    pid_t pid = fork();
    if (pid == 0)
        idle();
    return pid;
}

static void listen_seized(void) {
    pid_t pid = idle_child();
    err("seize", ptrace(PTRACE_SEIZE, pid, 0, 0));
    err("listen, running", ptrace(PTRACE_LISTEN, pid, 0, 0));
    kill(pid, SIGSTOP);
    wait_for(pid, "SIGSTOP sent");
    err("listen, signal-delivery-stop", ptrace(PTRACE_LISTEN, pid, 0, 0));
    err("cont with SIGSTOP", ptrace(PTRACE_CONT, pid, 0, SIGSTOP));
    wait_for(pid, "group-stop");
    show_siginfo("group-stop siginfo", pid);
    err("listen", ptrace(PTRACE_LISTEN, pid, 0, 0));
    struct user_regs_struct regs;
    err("getregs, listening", ptrace(PTRACE_GETREGS, pid, 0, &regs));
    err("cont, listening", ptrace(PTRACE_CONT, pid, 0, 0));
    err("listen, listening", ptrace(PTRACE_LISTEN, pid, 0, 0));
    no_report(pid, "listening");
    /* A signal other than SIGCONT does not wake it. */
    kill(pid, SIGUSR1);
    no_report(pid, "listening, SIGUSR1 sent");
    err("interrupt, listening", ptrace(PTRACE_INTERRUPT, pid, 0, 0));
    wait_for(pid, "interrupted while listening");
    show_siginfo("its siginfo", pid);
    err("getregs, stopped again", ptrace(PTRACE_GETREGS, pid, 0, &regs));
    err("listen again", ptrace(PTRACE_LISTEN, pid, 0, 0));
    kill(pid, SIGCONT);
    wait_for(pid, "SIGCONT while listening");
    show_siginfo("its siginfo", pid);
    err("listen, after SIGCONT", ptrace(PTRACE_LISTEN, pid, 0, 0));
    err("interrupt", ptrace(PTRACE_INTERRUPT, pid, 0, 0));
    wait_for(pid, "interrupted after SIGCONT");
    err("cont", ptrace(PTRACE_CONT, pid, 0, 0));
    /* SIGUSR1 and SIGCONT wait in the queue: SIGUSR1 first (lowest). */
    wait_for(pid, "next");
    err("cont", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_for(pid, "next");
    err("cont", ptrace(PTRACE_CONT, pid, 0, 0));
    kill_and_reap(pid, "seized child end");
}

/* A seized tracee that runs gets a PTRACE_EVENT_STOP for a SIGCONT. */
static void sigcont_running(void) {
    pid_t pid = idle_child();
    err("seize", ptrace(PTRACE_SEIZE, pid, 0, 0));
    kill(pid, SIGCONT);
    wait_for(pid, "SIGCONT to a running seized tracee");
    show_siginfo("its siginfo", pid);
    err("cont", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_for(pid, "then");
    err("cont", ptrace(PTRACE_CONT, pid, 0, 0));
    kill_and_reap(pid, "seized child end");
}

static void listen_not_seized(void) {
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        idle();
    }
    wait_for(pid, "traced child");
    err("cont with SIGSTOP", ptrace(PTRACE_CONT, pid, 0, SIGSTOP));
    wait_for(pid, "group-stop, not seized");
    err("listen, not seized", ptrace(PTRACE_LISTEN, pid, 0, 0));
    kill_and_reap(pid, "traced child end");
}

static void show_peeked(const char *what, const siginfo_t *si, long n) {
    for (long i = 0; i < n; i++)
        printf("%s[%ld]: signo %d errno %d code %d from me %d uid %d value %d\n", what, i, si[i].si_signo,
               si[i].si_errno, si[i].si_code, si[i].si_pid == getpid(), si[i].si_uid == getuid(),
               si[i].si_code == SI_QUEUE ? si[i].si_value.sival_int : -1);
}

static long peek(pid_t pid, uint64_t off, uint32_t flags, int32_t nr, siginfo_t *out) {
    struct peek_args a = {off, flags, nr};
    return ptrace(PTRACE_PEEKSIGINFO, pid, &a, out);
}

static void peeksiginfo(void) {
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        idle();
    }
    wait_for(pid, "traced child");
    union sigval v;
    v.sival_int = 11;
    sigqueue(pid, SIGRTMIN + 1, v);
    v.sival_int = 22;
    sigqueue(pid, SIGRTMIN, v);
    v.sival_int = 33;
    sigqueue(pid, SIGRTMIN + 1, v);
    kill(pid, SIGUSR1);
    kill(pid, SIGUSR1); /* a standard signal is queued once */
    syscall(SYS_tgkill, pid, pid, SIGUSR2);

    siginfo_t si[8];
    memset(si, 0, sizeof si);
    long n = peek(pid, 0, PTRACE_PEEKSIGINFO_SHARED, 8, si);
    err("peek shared", n);
    show_peeked("shared", si, n);
    memset(si, 0, sizeof si);
    n = peek(pid, 0, 0, 8, si);
    err("peek thread", n);
    show_peeked("thread", si, n);
    memset(si, 0, sizeof si);
    n = peek(pid, 2, PTRACE_PEEKSIGINFO_SHARED, 1, si);
    err("peek shared off 2 nr 1", n);
    show_peeked("shared off 2", si, n);
    err("peek off past the end", peek(pid, 9, PTRACE_PEEKSIGINFO_SHARED, 8, si));
    err("peek huge off", peek(pid, UINT64_MAX, PTRACE_PEEKSIGINFO_SHARED, 8, si));
    err("peek nr 0", peek(pid, 0, PTRACE_PEEKSIGINFO_SHARED, 0, si));
    err("peek nr -1", peek(pid, 0, PTRACE_PEEKSIGINFO_SHARED, -1, si));
    err("peek bad flags", peek(pid, 0, 2, 1, si));
    err("peek bad args", ptrace(PTRACE_PEEKSIGINFO, pid, (void *)8, si));
    err("peek bad buffer", peek(pid, 0, PTRACE_PEEKSIGINFO_SHARED, 2, (siginfo_t *)8));
    /* Room for one siginfo before an unmapped page. */
    long page = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(m + page, page);
    siginfo_t *edge = (siginfo_t *)(m + page - sizeof(siginfo_t));
    n = peek(pid, 0, PTRACE_PEEKSIGINFO_SHARED, 3, edge);
    err("peek into a buffer with room for one", n);
    show_peeked("edge", edge, n);

    uint64_t mask = 0;
    err("getsigmask", ptrace(PTRACE_GETSIGMASK, pid, 8, &mask));
    printf("mask %#llx\n", (unsigned long long)mask);
    mask = (1ull << (SIGUSR2 - 1)) | (1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1));
    err("setsigmask", ptrace(PTRACE_SETSIGMASK, pid, 8, &mask));
    mask = 0;
    err("getsigmask", ptrace(PTRACE_GETSIGMASK, pid, 8, &mask));
    printf("mask %#llx (SIGKILL and SIGSTOP dropped)\n", (unsigned long long)mask);
    err("getsigmask size 4", ptrace(PTRACE_GETSIGMASK, pid, 4, &mask));
    err("setsigmask size 16", ptrace(PTRACE_SETSIGMASK, pid, 16, &mask));
    err("getsigmask bad pointer", ptrace(PTRACE_GETSIGMASK, pid, 8, (void *)8));
    kill_and_reap(pid, "traced child end");
    err("peek, not a tracee", peek(getppid(), 0, 0, 1, si));
}

static void no_filter_no_rseq(void) {
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        idle();
    }
    wait_for(pid, "traced child");
    char buf[64];
    err("seccomp get filter", ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, buf));
    uint64_t md[2] = {0, 0};
    err("seccomp get metadata", ptrace(PTRACE_SECCOMP_GET_METADATA, pid, sizeof md, md));
    err("seccomp get metadata, size 4", ptrace(PTRACE_SECCOMP_GET_METADATA, pid, 4, md));
    err("seccomp get metadata, bad pointer", ptrace(PTRACE_SECCOMP_GET_METADATA, pid, sizeof md, (void *)8));
    uint32_t conf[8];
    memset(conf, 0xff, sizeof conf);
    err("rseq configuration", ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, sizeof conf, conf));
    printf("rseq: pointer %#x%08x size %u signature %#x flags %u, past it %#x\n", conf[1], conf[0], conf[2],
           conf[3], conf[4], conf[6]);
    memset(conf, 0xff, sizeof conf);
    err("rseq configuration, 8 bytes", ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, 8, conf));
    printf("rseq: pointer %#x%08x, size field untouched %d\n", conf[1], conf[0], conf[2] == 0xffffffff);
    err("rseq configuration, bad pointer", ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, 24, (void *)8));
    kill_and_reap(pid, "traced child end");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!getenv("GLIBC_TUNABLES")) {
        /* Without glibc's rseq area, as the sandbox (which has no rseq). */
        setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0", 1);
        execv("/proc/self/exe", argv);
        return 99;
    }
    listen_seized();
    sigcont_running();
    listen_not_seized();
    peeksiginfo();
    no_filter_no_rseq();
    return 0;
}
