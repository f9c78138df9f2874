/* `many_threads N`: start threads (64 KiB stacks, each waiting on a pipe)
 * until N exist or one fails; say how many started and why the next did
 * not, then let them all go and join them. Under `--pids N` (the main
 * thread counts) the last one fails with EAGAIN. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int gate[2];

static void *waiter(void *arg) {
    char c;
    (void)arg;
    read(gate[0], &c, 1);
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    long n = argc > 1 ? atol(argv[1]) : 10000;
    pthread_t *t = calloc(n, sizeof *t);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 << 10);
    if (!t || pipe(gate)) return 1;
    long started = 0;
    int err = 0;
    for (; started < n; started++) {
        err = pthread_create(&t[started], &a, waiter, NULL);
        if (err) break;
    }
    printf("started %ld, then %s\n", started, err ? strerrorname_np(err) : "none");
    /* One byte per thread: each read takes one. */
    for (long i = 0; i < started; i++) write(gate[1], "g", 1);
    for (long i = 0; i < started; i++) pthread_join(t[i], NULL);
    printf("joined all\n");
    return 0;
}
