/* Eight threads contending on a mutex and a condition variable: the
 * total must be exact; joins must see every thread's result. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

#define THREADS 8
#define ROUNDS 20000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long total;
static int started;

static void *work(void *arg) {
    long id = (long)arg;
    pthread_mutex_lock(&lock);
    started++;
    pthread_cond_broadcast(&cond);
    while (started < THREADS) pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&lock);
        total++;
        pthread_mutex_unlock(&lock);
    }
    return (void *)(id * 10 + (syscall(SYS_gettid) != getpid()));
}

int main(void) {
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, work, (void *)i);
    long sum = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        sum += (long)r;
    }
    printf("total=%ld joined=%ld\n", total, sum);
    /* Create and join many short threads. */
    for (int i = 0; i < 50; i++) {
        pthread_t x;
        pthread_create(&x, NULL, work, (void *)0);
        started = THREADS;
        pthread_join(x, NULL);
    }
    printf("after 50 more: total=%ld\n", total);
    return 0;
}
