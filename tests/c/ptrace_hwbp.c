/* Hardware breakpoints and watchpoints through ptrace's u_debugreg:
 * a write watchpoint (DR0, DR7 RW=01) that stops the tracee after each
 * write that changes the word, an instruction breakpoint (RW=00) that
 * stops it before the instruction and not again when it goes on, the
 * SIGTRAP's si_code (TRAP_HWBKPT) and address, DR6 as a debugger reads
 * and clears it, and the DR7 values Linux refuses. Prints what it sees (no
 * pids or addresses), to compare with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptrace_check.h"

#ifndef TRAP_HWBKPT
#define TRAP_HWBKPT 4
#endif

volatile long target = 0;
volatile int calls = 0;

__attribute__((noinline)) void marker(void) {
    calls++;
}

static void body(void) {
    target = 1;
    target = 1; /* unchanged */
    target = 2;
    marker();
    _exit(calls == 1 ? 7 : 8);
}

static void *dr(int n) {
    return (void *)(offsetof(struct user, u_debugreg) + n * sizeof(long));
}

static long poke_dr(pid_t pid, int n, unsigned long v) {
    return ptrace(PTRACE_POKEUSER, pid, dr(n), v);
}

static void show_dr(pid_t pid, int n) {
    errno = 0;
    unsigned long v = ptrace(PTRACE_PEEKUSER, pid, dr(n), 0);
    if (errno)
        printf("dr%d: %s\n", n, strerrorname_np(errno));
    else if (n < 4)
        printf("dr%d: %s\n", n, v == 0 ? "0" : v == (unsigned long)&target ? "&target" : v == (unsigned long)marker ? "&marker" : "other");
    else
        printf("dr%d: %#lx\n", n, v);
}

/* The SIGTRAP of a stop: its code, and where it says it happened. */
static void show_trap(pid_t pid, const char *what) {
    siginfo_t si;
    struct user_regs_struct regs;
    ptrace(PTRACE_GETSIGINFO, pid, 0, &si);
    ptrace(PTRACE_GETREGS, pid, 0, &regs);
    printf("%s: signo %d code %d%s addr is rip %d, rip at marker %d, target %ld\n", what, si.si_signo, si.si_code,
           si.si_code == TRAP_HWBKPT ? " (TRAP_HWBKPT)" : "", (unsigned long)si.si_addr == regs.rip,
           regs.rip == (unsigned long)marker, ptrace(PTRACE_PEEKDATA, pid, &target, 0));
    show_dr(pid, 6);
}

/* DR7 fields: enable bit L<n>, and the RW and LEN bits of slot n. */
static unsigned long dr7(int n, int rw, int len) {
    return (1ul << (2 * n)) | ((unsigned long)rw << (16 + 4 * n)) | ((unsigned long)len << (18 + 4 * n));
}

static void refusals(pid_t pid) {
    err("dr0 = &target", poke_dr(pid, 0, (unsigned long)&target));
    err("dr7 rw=10 (I/O)", poke_dr(pid, 7, dr7(0, 2, 3)));
    err("dr7 exec len 4", poke_dr(pid, 7, dr7(0, 0, 3)));
    err("dr1 = &target + 1", poke_dr(pid, 1, (unsigned long)&target + 1));
    err("dr7 write len 8 misaligned", poke_dr(pid, 7, dr7(1, 1, 2)));
    err("dr7 write len 1 misaligned", poke_dr(pid, 7, dr7(1, 1, 0)));
    err("dr7 = 0", poke_dr(pid, 7, 0));
    err("dr4", poke_dr(pid, 4, 0));
    err("dr5", poke_dr(pid, 5, 0));
    err("dr2 kernel address", poke_dr(pid, 2, 0xffffffffff600000ul));
    err("dr1 = 0", poke_dr(pid, 1, 0));
    err("dr0 = 0", poke_dr(pid, 0, 0));
    show_dr(pid, 7);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t pid = fork();
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        body();
    }
    wait_for(pid, "traced child");
    for (int n = 0; n < 8; n++)
        show_dr(pid, n);
    refusals(pid);

    err("dr0 = &target", poke_dr(pid, 0, (unsigned long)&target));
    long armed = poke_dr(pid, 7, dr7(0, 1, 2));
    err("dr7 write watch, 8 bytes", armed);
    if (armed < 0) {
        kill(pid, SIGKILL);
        wait_for(pid, "no hardware breakpoints: child end");
        return 0;
    }
    show_dr(pid, 0);
    show_dr(pid, 7);
    err("cont", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_for(pid, "first write");
    show_trap(pid, "first write");
    err("dr6 = 0", poke_dr(pid, 6, 0));
    show_dr(pid, 6);
    err("cont", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_for(pid, "next write");
    show_trap(pid, "next write");

    err("dr7 = 0", poke_dr(pid, 7, 0));
    err("dr1 = &marker", poke_dr(pid, 1, (unsigned long)marker));
    err("dr7 exec breakpoint", poke_dr(pid, 7, dr7(1, 0, 0)));
    err("cont", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_for(pid, "breakpoint");
    show_trap(pid, "breakpoint");
    /* Going on runs the instruction: no second stop there. */
    err("cont", ptrace(PTRACE_CONT, pid, 0, 0));
    wait_for(pid, "child end");
    return 0;
}
