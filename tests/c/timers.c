/* POSIX timers with a signal value, getrusage, times, the scheduling
 * policy calls, and RLIMIT_AS refusing an allocation past it. */
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sched.h>
static volatile int n, val;
static void h(int s, siginfo_t *si, void *u){ (void)s; (void)u; n++; val = si->si_value.sival_int; }
int main(void){ struct sigaction sa = {0}; sa.sa_sigaction = h; sa.sa_flags = SA_SIGINFO; sigaction(SIGRTMIN, &sa, 0);
 struct sigevent ev = {0}; ev.sigev_notify = SIGEV_SIGNAL; ev.sigev_signo = SIGRTMIN; ev.sigev_value.sival_int = 42;
 timer_t t; timer_create(CLOCK_MONOTONIC, &ev, &t);
 struct itimerspec its = {{0, 20000000}, {0, 20000000}}; timer_settime(t, 0, &its, 0);
 while (n < 3) pause();
 timer_delete(t); printf("fired %d value %d\n", n >= 3, val);
 struct rusage ru; printf("getrusage %d\n", getrusage(RUSAGE_SELF, &ru));
 struct tms tm; printf("times ok %d\n", times(&tm) != (clock_t)-1);
 printf("sched %d %d\n", sched_getscheduler(0), sched_get_priority_max(SCHED_FIFO));
 struct rlimit rl = {64 << 20, 64 << 20}; setrlimit(RLIMIT_AS, &rl);
 void *p = malloc(128 << 20); printf("malloc beyond RLIMIT_AS %s\n", p ? "succeeded" : "failed");
 return 0; }
