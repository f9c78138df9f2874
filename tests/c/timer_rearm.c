/* Re-arms timers thousands of times (ITIMER_REAL, ITIMER_VIRTUAL, POSIX
 * timers), then checks they still fire; between the two it prints
 * "armed" and sleeps a second, for the test to count the sentry's host
 * threads (once, each re-arm left one sleeping). Prints what it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t alrm, usr1;
static void on_alrm(int s) { (void)s; alrm++; }
static void on_usr1(int s) { (void)s; usr1++; }

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGALRM, on_alrm);
    signal(SIGUSR1, on_usr1);
    struct itimerval far = {.it_value = {.tv_sec = 100}};
    for (int i = 0; i < 2000; i++) {
        setitimer(ITIMER_REAL, &far, NULL);
        setitimer(ITIMER_VIRTUAL, &far, NULL);
    }
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    timer_t t[100];
    for (int i = 0; i < 100; i++) timer_create(CLOCK_MONOTONIC, &ev, &t[i]);
    struct itimerspec later = {.it_value = {.tv_sec = 100}};
    for (int r = 0; r < 20; r++)
        for (int i = 0; i < 100; i++) timer_settime(t[i], 0, &later, NULL);
    printf("armed\n");
    sleep(1);
    /* They still fire: each POSIX timer once, ITIMER_REAL every 10 ms. */
    struct itimerspec soon = {.it_value = {.tv_nsec = 1000000}};
    for (int i = 0; i < 100; i++) timer_settime(t[i], 0, &soon, NULL);
    struct itimerval tick = {.it_value = {.tv_usec = 10000}, .it_interval = {.tv_usec = 10000}};
    setitimer(ITIMER_REAL, &tick, NULL);
    while (alrm < 5) pause();
    struct itimerval off = {0};
    setitimer(ITIMER_REAL, &off, NULL);
    struct timespec rest = {0, 50000000};
    nanosleep(&rest, NULL);
    printf("SIGALRM at least 5: %s, SIGUSR1 seen: %s\n", alrm >= 5 ? "yes" : "no", usr1 > 0 ? "yes" : "no");
    return 0;
}
