/* A thread that ends itself on the host: it jumps to each system-call
 * instruction of the systrap stub's code page with the registers of
 * exit(0), so where the stub's filter lets exit through, the host thread
 * ends without the sentry being told. Each attempt runs in a child: a
 * second thread (or, with "leader", the first) jumps, then the child's
 * other thread ends the process with exit_group(7) after 100 ms. The
 * sentry must notice the thread is gone and the child must end with 7;
 * once, the child could not end, or be killed, and neither could the
 * sandbox. On other platforms the jump faults (SIGSEGV) and the child
 * ends with it. Prints one line per instruction tried.
 *
 *   stub_exit STUB [leader]       STUB: the stub's code address (hex) */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned long target;

/* exit(0) through the instruction at `target`. */
static void *jump(void *arg) {
    (void)arg;
    __asm__ volatile("mov $60, %%eax\n\txor %%edi, %%edi\n\tjmp *%0" : : "r"(target) : "rax", "rdi", "memory");
    return NULL;
}

static void *end_later(void *arg) {
    (void)arg;
    struct timespec t = {0, 100000000};
    nanosleep(&t, NULL);
    syscall(SYS_exit_group, 7);
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) return 2;
    unsigned long stub = strtoul(argv[1], NULL, 16);
    int leader = argc > 2 && !strcmp(argv[2], "leader");
    /* The stub page, with plain loads (the sentry will not copy it), in
     * a child in case it is not readable. */
    static unsigned char code[4096];
    int p[2];
    pipe(p);
    if (fork() == 0) {
        for (size_t i = 0; i < sizeof code; i++) code[i] = ((volatile unsigned char *)stub)[i];
        write(p[1], code, sizeof code);
        _exit(0);
    }
    close(p[1]);
    size_t got = 0;
    ssize_t n;
    while (got < sizeof code && (n = read(p[0], code + got, sizeof code - got)) > 0) got += n;
    wait(NULL);
    int tried = 0;
    for (size_t i = 0; i + 1 < got; i++) {
        if (code[i] != 0x0f || code[i + 1] != 0x05) continue;
        target = stub + i;
        tried++;
        pid_t c = fork();
        if (c == 0) {
            pthread_t t;
            if (leader) {
                pthread_create(&t, NULL, end_later, NULL);
                jump(NULL);
            } else {
                pthread_create(&t, NULL, jump, NULL);
                end_later(NULL);
            }
            _exit(1);
        }
        int st = 0;
        waitpid(c, &st, 0);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 7) && !(WIFSIGNALED(st)))
            printf("instruction +%#zx: child ended %#x\n", i, st);
    }
    printf("tried %s, every child ended\n", tried ? "some" : "none");
    return 0;
}
