/* /proc/thread-self names the calling thread, in every thread, and what
 * it names is that thread's own directory. Printed as relations, for
 * comparison with Linux. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *check(void *name) {
    char link[64] = {0}, want[64], stat[256] = {0};
    if (readlink("/proc/thread-self", link, sizeof link - 1) < 0)
        perror("readlink");
    snprintf(want, sizeof want, "%d/task/%ld", getpid(), (long)syscall(SYS_gettid));
    FILE *f = fopen("/proc/thread-self/stat", "r");
    if (f) {
        if (!fgets(stat, sizeof stat, f))
            stat[0] = 0;
        fclose(f);
    }
    long tid = 0;
    sscanf(stat, "%ld", &tid);
    printf("%s: thread-self is this thread %d, its stat is this thread's %d\n", (char *)name, strcmp(link, want) == 0,
           tid == (long)syscall(SYS_gettid));
    fflush(stdout);
    return NULL;
}

int main(void) {
    check("main");
    pthread_t t;
    pthread_create(&t, NULL, check, "second");
    pthread_join(t, NULL);
    return 0;
}
