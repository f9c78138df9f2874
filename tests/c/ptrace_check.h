/* What the ptrace tests' C programs share: printing a wait status, waiting
 * for one traced process (failing loudly if waitpid does), and printing a
 * call's result with its errno's name, the same way natively and in the
 * sandbox. */
#ifndef PTRACE_CHECK_H
#define PTRACE_CHECK_H
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>

static inline void show_status(const char *what, int status) {
    if (WIFEXITED(status))
        printf("%s: exited %d\n", what, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        printf("%s: killed by %s\n", what, strsignal(WTERMSIG(status)));
    else if (WIFSTOPPED(status))
        printf("%s: stopped sig %d event %d\n", what, WSTOPSIG(status), status >> 16);
    else
        printf("%s: status %#x\n", what, status);
}

/* Wait for `pid` (any kind of child: __WALL), print its status and return
 * it; exit if waitpid fails. */
static inline int wait_for(pid_t pid, const char *what) {
    int status = 0;
    if (waitpid(pid, &status, __WALL) != pid) {
        printf("%s: waitpid: %s\n", what, strerror(errno));
        exit(1);
    }
    show_status(what, status);
    return status;
}

static inline void err(const char *what, long r) {
    printf("%s = %ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerrorname_np(errno) : "");
}

#endif
