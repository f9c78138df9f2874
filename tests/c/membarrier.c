/* membarrier: the query, every barrier command before and after its
 * registration (the private ones are EPERM until registered), and the
 * errors for unknown commands and flags. Once made the sandbox's sentry
 * die on a host call its own filter forbids. Prints what it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void call(const char *what, int cmd, unsigned flags) {
    long r = syscall(SYS_membarrier, cmd, flags, 0);
    printf("%-28s %s\n", what, r < 0 ? strerrorname_np(errno) : "ok");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    /* Newer hosts offer more (rseq, registrations): only the first seven. */
    printf("query %#lx\n", q & 0x7f);
    call("private expedited", MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0);
    call("private sync core", MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0);
    call("global", MEMBARRIER_CMD_GLOBAL, 0);
    call("global expedited", MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0);
    call("register private", MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0);
    call("private expedited", MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0);
    call("register sync core", MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0);
    call("private sync core", MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0);
    call("register global", MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0);
    call("query with flags", MEMBARRIER_CMD_QUERY, 1);
    call("barrier with flags", MEMBARRIER_CMD_GLOBAL, 2);
    call("two commands", 3, 0);
    call("unknown command", 1 << 20, 0);
    pid_t p = fork();
    if (p == 0) {
        call("child: private expedited", MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0);
        _exit(0);
    }
    waitpid(p, NULL, 0);
    return 0;
}
