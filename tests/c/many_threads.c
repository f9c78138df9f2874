/* `many_threads N P`: P child processes each start threads (64 KiB
 * stacks, each waiting on a pipe) until it has N/P or one fails, all at
 * once; the parent says how many threads started in all and how the first
 * failure failed, then lets them all go and waits for everyone. Under
 * `--pids L` with N > L - P - 1, exactly L - P - 1 threads start. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int gate[2], report[2];

static void *waiter(void *arg) {
    char c;
    (void)arg;
    (void)!read(gate[0], &c, 1);
    return NULL;
}

/* Start up to n threads; report "started err"; wait at the gate; join. */
static void run(long n) {
    pthread_t *t = calloc(n, sizeof *t);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 << 10);
    long started = 0;
    int err = 0;
    for (; t && started < n; started++) {
        err = pthread_create(&t[started], &a, waiter, NULL);
        if (err) break;
    }
    long r[2] = {started, err};
    (void)!write(report[1], r, sizeof r);
    for (long i = 0; i < started; i++) pthread_join(t[i], NULL);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    long n = argc > 1 ? atol(argv[1]) : 10000, p = argc > 2 ? atol(argv[2]) : 1;
    if (pipe(gate) || pipe(report)) return 1;
    for (long i = 0; i < p; i++)
        if (fork() == 0) {
            run(n / p);
            _exit(0);
        }
    long total = 0;
    int first_err = 0;
    for (long i = 0; i < p; i++) {
        long r[2];
        if (read(report[0], r, sizeof r) != sizeof r) return 3;
        total += r[0];
        if (!first_err) first_err = (int)r[1];
    }
    printf("started %ld, then %s\n", total, first_err ? strerrorname_np(first_err) : "none");
    /* One byte per waiting thread: each read takes one. */
    for (long i = 0; i < total; i++) (void)!write(gate[1], "g", 1);
    while (wait(NULL) > 0) {
    }
    printf("joined all\n");
    return 0;
}
