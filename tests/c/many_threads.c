/* `many_threads TOTAL WAVE AT_ONCE`: starts TOTAL threads (64 KiB stacks,
 * each waiting on a pipe) in waves of WAVE live at once, joining each wave
 * before the next; after the first wave is up it says "peak" and waits
 * for a line on stdin (for a look at the host from outside). Then it
 * tries AT_ONCE threads at once and says how many started and how the
 * first failure failed. Under `--pids L` with AT_ONCE > L - 1, exactly
 * L - 1 start, then EAGAIN. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The wave's gate: threads wait while it is 0. */
static int gate;

static void *waiter(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&gate, __ATOMIC_ACQUIRE)) syscall(SYS_futex, &gate, FUTEX_WAIT_PRIVATE, 0, NULL);
    return NULL;
}

/* Start up to n threads, call `up` once they are, let them go, join
 * them; the number started, and in *err why the next failed (0: none). */
static long wave(long n, int *err, void (*up)(void)) {
    pthread_t *t = calloc(n, sizeof *t);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 << 10);
    long started = 0;
    *err = 0;
    __atomic_store_n(&gate, 0, __ATOMIC_RELEASE);
    for (; t && started < n; started++) {
        *err = pthread_create(&t[started], &a, waiter, NULL);
        if (*err) break;
    }
    if (up) up();
    __atomic_store_n(&gate, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &gate, FUTEX_WAKE_PRIVATE, INT_MAX);
    for (long i = 0; i < started; i++) pthread_join(t[i], NULL);
    free(t);
    return started;
}

static void peak(void) {
    char line[16];
    printf("peak\n");
    (void)!fgets(line, sizeof line, stdin);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    long total = atol(argv[1]), size = atol(argv[2]), at_once = atol(argv[3]);
    long done = 0;
    int err = 0;
    for (int first = 1; done < total && !err; first = 0) {
        long n = total - done < size ? total - done : size;
        done += wave(n, &err, first ? peak : NULL);
    }
    printf("started and joined %ld in waves of %ld, then %s\n", done, size, err ? strerrorname_np(err) : "none");
    long started = wave(at_once, &err, NULL);
    printf("at once: started %ld, then %s\n", started, err ? strerrorname_np(err) : "none");
    return 0;
}
