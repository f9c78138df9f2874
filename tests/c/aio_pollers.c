/* Host threads of AIO polls (issue 16): 20 processes each keep an
 * IOCB_CMD_POLL pending on a pipe nobody writes; the parent says "armed",
 * waits for its stdin to close (the test counts the sentry's host threads
 * meanwhile), then completes every poll and says how many did. */
#define _GNU_SOURCE
#include <linux/aio_abi.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 20

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int ready[2], done[2];
    if (pipe(ready) || pipe(done)) return 1;
    for (int i = 0; i < N; i++) {
        if (fork() != 0) continue;
        int p[2];
        aio_context_t ctx = 0;
        if (pipe(p) || syscall(SYS_io_setup, 4, &ctx)) _exit(2);
        struct iocb cb;
        memset(&cb, 0, sizeof cb);
        cb.aio_lio_opcode = IOCB_CMD_POLL;
        cb.aio_fildes = p[0];
        cb.aio_buf = POLLIN;
        struct iocb *l[1] = {&cb};
        if (syscall(SYS_io_submit, ctx, 1, l) != 1) _exit(3);
        char c = 'r';
        write(ready[1], &c, 1);
        /* Until the parent lets go: then the poll completes. */
        read(done[0], &c, 1);
        write(p[1], &c, 1);
        struct io_event ev;
        _exit(syscall(SYS_io_getevents, ctx, 1, 1, &ev, NULL) == 1 && (ev.res & POLLIN) ? 0 : 4);
    }
    for (int i = 0; i < N; i++) {
        char c;
        if (read(ready[0], &c, 1) != 1) return 5;
    }
    printf("armed\n");
    char c;
    while (read(0, &c, 1) > 0) {
    }
    close(done[0]);
    for (int i = 0; i < N; i++) write(done[1], "g", 1);
    int ok = 0, status;
    while (wait(&status) > 0) ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf("polls completed: %d\n", ok);
    return 0;
}
