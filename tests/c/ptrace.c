/* ptrace between a program's own processes: PTRACE_TRACEME and the exec
 * SIGTRAP, PEEK/POKE (a read-only text page too), PEEKUSER, GETREGS/
 * SETREGS changing a syscall's result, PTRACE_SYSCALL stops with
 * TRACESYSGOOD and PTRACE_GET_SYSCALL_INFO, SEIZE/INTERRUPT, fork
 * auto-attach with TRACEFORK and GETEVENTMSG, signal suppression and
 * injection, single-stepping, detaching, /proc's TracerPid and 't' state,
 * and the errors. Prints what it sees (no pids or addresses), to compare
 * with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ptrace_check.h"

#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif

static long counter = 40;

__attribute__((noinline)) int patched(void) {
    return 1;
}

/* A child that is traced by its parent and stops itself. */
static pid_t traced_child(void (*body)(void)) {
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        body();
        _exit(0);
    }
    wait_for(pid, "traced child");
    return pid;
}

static void exec_self(void) {
    char *argv[] = {"/proc/self/exe", "execd", NULL};
    execv("/proc/self/exe", argv);
    _exit(99);
}

static void traceme_exec(void) {
    pid_t pid = traced_child(exec_self);
    ptrace(PTRACE_CONT, pid, 0, 0);
    int status = wait_for(pid, "after exec");
    siginfo_t si;
    if (WIFSTOPPED(status) && ptrace(PTRACE_GETSIGINFO, pid, 0, &si) == 0)
        printf("exec trap: signo %d code %d\n", si.si_signo, si.si_code);
    ptrace(PTRACE_CONT, pid, 0, 0);
    wait_for(pid, "execd program");
}

static void use_patched(void) {
    _exit((int)counter + patched());
}

static void peek_poke(void) {
    pid_t pid = traced_child(use_patched);
    errno = 0;
    long v = ptrace(PTRACE_PEEKDATA, pid, &counter, 0);
    printf("peek counter = %ld (errno %d)\n", v, errno);
    err("poke counter", ptrace(PTRACE_POKEDATA, pid, &counter, (void *)50));
    /* mov eax, 7; ret: into the read-only text of patched(). */
    long word = ptrace(PTRACE_PEEKTEXT, pid, (void *)patched, 0);
    unsigned char code[8];
    memcpy(code, &word, 8);
    unsigned char ret7[6] = {0xb8, 7, 0, 0, 0, 0xc3};
    memcpy(code, ret7, sizeof ret7);
    memcpy(&word, code, 8);
    err("poke text", ptrace(PTRACE_POKETEXT, pid, (void *)patched, (void *)word));
    errno = 0;
    long back = ptrace(PTRACE_PEEKTEXT, pid, (void *)patched, 0);
    printf("text reads back: %d\n", back == word);
    errno = 0;
    err("peek unmapped", ptrace(PTRACE_PEEKDATA, pid, (void *)8, 0));
    err("poke unmapped", ptrace(PTRACE_POKEDATA, pid, (void *)8, 0));
    err("getregs to a bad pointer", ptrace(PTRACE_GETREGS, pid, 0, (void *)8));
    err("peekuser unaligned", ptrace(PTRACE_PEEKUSER, pid, (void *)3, 0));
    err("pokeuser u_fpvalid", ptrace(PTRACE_POKEUSER, pid, (void *)offsetof(struct user, u_fpvalid), 0));
    err("pokeuser dr7=0", ptrace(PTRACE_POKEUSER, pid, (void *)offsetof(struct user, u_debugreg[7]), 0));
    ptrace(PTRACE_CONT, pid, 0, 0);
    wait_for(pid, "patched child (50 + 7)");
    /* The parent's own text is untouched. */
    printf("parent's patched() = %d\n", patched());
}

static void call_getpid(void) {
    long r = syscall(SYS_getpid);
    _exit(r == 12345 ? 3 : 4);
}

struct syscall_info {
    uint8_t op;
    uint8_t pad[3];
    uint32_t arch;
    uint64_t ip, sp;
    union {
        struct {
            uint64_t nr, args[6];
        } entry;
        struct {
            int64_t rval;
            uint8_t is_error;
        } exit;
    };
};

static void syscall_stops(void) {
    pid_t pid = traced_child(call_getpid);
    err("setoptions TRACESYSGOOD", ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESYSGOOD));
    for (;;) {
        ptrace(PTRACE_SYSCALL, pid, 0, 0);
        int status;
        waitpid(pid, &status, __WALL);
        if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80)) {
            show_status("unexpected", status);
            return;
        }
        struct user_regs_struct regs;
        ptrace(PTRACE_GETREGS, pid, 0, &regs);
        if (regs.orig_rax != SYS_getpid)
            continue;
        long nr = ptrace(PTRACE_PEEKUSER, pid, (void *)offsetof(struct user_regs_struct, orig_rax), 0);
        struct syscall_info info;
        memset(&info, 0, sizeof info);
        long size = ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info);
        printf("getpid entry: status sig %#x, rax -ENOSYS %d, peekuser nr ok %d, info size %ld op %d arch %#x nr ok %d\n",
               SIGTRAP | 0x80, (long)regs.rax == -ENOSYS, nr == SYS_getpid, size, info.op, info.arch,
               info.entry.nr == SYS_getpid);
        ptrace(PTRACE_SYSCALL, pid, 0, 0);
        wait_for(pid, "getpid exit stop");
        ptrace(PTRACE_GETREGS, pid, 0, &regs);
        size = ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info);
        printf("getpid exit: rax is the pid %d, info size %ld op %d rval ok %d error %d\n", regs.rax == (unsigned long)pid,
               size, info.op, info.exit.rval == pid, info.exit.is_error);
        regs.rax = 12345;
        err("setregs", ptrace(PTRACE_SETREGS, pid, 0, &regs));
        break;
    }
    ptrace(PTRACE_CONT, pid, 0, 0);
    wait_for(pid, "getpid child (3: saw 12345)");
}

static void seize_interrupt(void) {
    pid_t pid = fork();
    if (pid == 0) {
        for (;;) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    err("seize", ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACESYSGOOD));
    err("seize again", ptrace(PTRACE_SEIZE, pid, 0, 0));
    err("cont while running", ptrace(PTRACE_CONT, pid, 0, 0));
    err("interrupt", ptrace(PTRACE_INTERRUPT, pid, 0, 0));
    wait_for(pid, "interrupted");
    siginfo_t si;
    err("getsiginfo", ptrace(PTRACE_GETSIGINFO, pid, 0, &si));
    printf("siginfo signo %d code %#x\n", si.si_signo, si.si_code);
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f)) {
        int tracer;
        if (sscanf(line, "TracerPid: %d", &tracer) == 1)
            printf("TracerPid is the tracer: %d\n", tracer == getpid());
        if (strncmp(line, "State:", 6) == 0)
            printf("%s", line);
    }
    if (f)
        fclose(f);
    /* A stop signal: its delivery first, then (delivered) the group-stop,
     * which a seized tracee reports as PTRACE_EVENT_STOP. */
    ptrace(PTRACE_CONT, pid, 0, 0);
    kill(pid, SIGSTOP);
    wait_for(pid, "SIGSTOP sent");
    ptrace(PTRACE_CONT, pid, 0, SIGSTOP);
    wait_for(pid, "group-stop");
    err("getsiginfo in group-stop", ptrace(PTRACE_GETSIGINFO, pid, 0, &si));
    printf("group-stop siginfo signo %d code %#x\n", si.si_signo, si.si_code);
    kill(pid, SIGKILL);
    wait_for(pid, "killed tracee");
}

static void forker(void) {
    pid_t g = fork();
    if (g == 0)
        _exit(5);
    int status;
    waitpid(g, &status, 0);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) + 10 : 1);
}

static void fork_attach(void) {
    pid_t pid = traced_child(forker);
    err("setoptions TRACEFORK", ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEFORK));
    ptrace(PTRACE_CONT, pid, 0, 0);
    int status = wait_for(pid, "forking child");
    unsigned long msg = 0;
    err("geteventmsg", ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg));
    printf("fork event: %d\n", status >> 8 == (SIGTRAP | (PTRACE_EVENT_FORK << 8)));
    pid_t g = (pid_t)msg;
    wait_for(g, "grandchild");
    ptrace(PTRACE_CONT, g, 0, 0);
    ptrace(PTRACE_CONT, pid, 0, 0);
    wait_for(g, "grandchild end (to its tracer)");
    /* The child's SIGCHLD stops it first. */
    int status2 = wait_for(pid, "forking child");
    while (WIFSTOPPED(status2)) {
        ptrace(PTRACE_CONT, pid, 0, WSTOPSIG(status2));
        status2 = wait_for(pid, "forking child end (15: its wait saw 5)");
    }
}

static volatile int got[65];

static void count(int sig) {
    got[sig]++;
}

static void raiser(void) {
    signal(SIGUSR1, count);
    signal(SIGUSR2, count);
    raise(SIGUSR1);
    raise(SIGUSR1);
    raise(SIGUSR2);
    _exit(got[SIGUSR1] * 10 + got[SIGUSR2]);
}

static void signals(void) {
    pid_t pid = traced_child(raiser);
    ptrace(PTRACE_CONT, pid, 0, 0);
    wait_for(pid, "first SIGUSR1");
    ptrace(PTRACE_CONT, pid, 0, 0); /* suppressed */
    wait_for(pid, "second SIGUSR1");
    ptrace(PTRACE_CONT, pid, 0, SIGUSR2); /* changed */
    wait_for(pid, "raised SIGUSR2");
    siginfo_t si;
    ptrace(PTRACE_GETSIGINFO, pid, 0, &si);
    printf("raised signal's code: %d\n", si.si_code);
    ptrace(PTRACE_CONT, pid, 0, SIGUSR2);
    wait_for(pid, "signal child (0 USR1, 2 USR2)");
}

static void stepper(void) {
    __asm__ volatile("int3; nop; nop; nop; nop; nop; nop; nop; nop" ::: "memory");
    _exit(6);
}

static void single_step(void) {
    pid_t pid = traced_child(stepper);
    ptrace(PTRACE_CONT, pid, 0, 0);
    wait_for(pid, "int3");
    siginfo_t si;
    ptrace(PTRACE_GETSIGINFO, pid, 0, &si);
    printf("int3 code %#x\n", si.si_code);
    struct user_regs_struct regs;
    ptrace(PTRACE_GETREGS, pid, 0, &regs);
    unsigned long rip = regs.rip;
    for (int i = 0; i < 4; i++) {
        err("singlestep", ptrace(PTRACE_SINGLESTEP, pid, 0, 0));
        int status;
        waitpid(pid, &status, __WALL);
        ptrace(PTRACE_GETSIGINFO, pid, 0, &si);
        ptrace(PTRACE_GETREGS, pid, 0, &regs);
        printf("step %d: stopped %d sig %d code %d moved %ld tf %d\n", i, WIFSTOPPED(status), WSTOPSIG(status),
               si.si_code, (long)(regs.rip - rip), (int)(regs.eflags >> 8) & 1);
        rip = regs.rip;
    }
    ptrace(PTRACE_CONT, pid, 0, 0);
    wait_for(pid, "stepped child");
}

static void sleeper(void) {
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    _exit(9);
}

static void detach(void) {
    pid_t pid = traced_child(sleeper);
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f && fgets(line, sizeof line, f))
        printf("stat state while stopped: %c\n", strrchr(line, ')')[2]);
    if (f)
        fclose(f);
    err("attach to a traced process", ptrace(PTRACE_ATTACH, pid, 0, 0));
    err("detach", ptrace(PTRACE_DETACH, pid, 0, 0));
    err("peek after detach", ptrace(PTRACE_PEEKDATA, pid, &counter, 0));
    wait_for(pid, "detached child");
}

static void errors(void) {
    err("cont a non-tracee", ptrace(PTRACE_CONT, getppid(), 0, 0));
    err("attach to self", ptrace(PTRACE_ATTACH, getpid(), 0, 0));
    err("attach to nobody", ptrace(PTRACE_ATTACH, 999999, 0, 0));
    err("seize with bad options", ptrace(PTRACE_SEIZE, getppid(), 0, 1 << 30));
    pid_t pid = fork();
    if (pid == 0) {
        long a = ptrace(PTRACE_TRACEME, 0, 0, 0);
        long b = ptrace(PTRACE_TRACEME, 0, 0, 0);
        _exit(a == 0 && b == -1 && errno == EPERM ? 0 : 1);
    }
    wait_for(pid, "traceme twice (0: EPERM the second time)");
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "execd") == 0)
        return 8;
    setvbuf(stdout, NULL, _IONBF, 0);
    traceme_exec();
    peek_poke();
    syscall_stops();
    seize_interrupt();
    fork_attach();
    signals();
    single_step();
    detach();
    errors();
    return 0;
}
