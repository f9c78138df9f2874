/* timerfd: one-shot and interval timers, absolute times, blocking and
 * non-blocking reads, gettime/settime results, readiness and errors. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static struct itimerspec spec(long value_ms, long interval_ms) {
    struct itimerspec t = {
        {interval_ms / 1000, (interval_ms % 1000) * 1000000L},
        {value_ms / 1000, (value_ms % 1000) * 1000000L},
    };
    return t;
}

int main(void) {
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec t = spec(50, 0), cur;
    long long start = now_ms();
    printf("settime %d\n", timerfd_settime(fd, 0, &t, NULL));
    uint64_t n = 0;
    ssize_t r = read(fd, &n, sizeof n);
    long long took = now_ms() - start;
    printf("one-shot: %zd bytes, %llu expiration, waited enough %d\n", r, (unsigned long long)n, took >= 45);
    timerfd_gettime(fd, &cur);
    printf("after: value %ld.%09ld interval %ld.%09ld\n", cur.it_value.tv_sec, cur.it_value.tv_nsec,
           cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
    close(fd);

    fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    r = read(fd, &n, sizeof n);
    printf("disarmed read: %s\n", r < 0 ? strerror(errno) : "data");
    t = spec(20, 20);
    timerfd_settime(fd, 0, &t, NULL);
    struct pollfd p = {fd, POLLIN, 0};
    printf("poll before: %d\n", poll(&p, 1, 0));
    sleep_ms(110);
    int ready = poll(&p, 1, 0);
    printf("poll after: %d revents %#x\n", ready, p.revents);
    r = read(fd, &n, sizeof n);
    printf("interval: %zd bytes, at least 4 expirations %d\n", r, n >= 4);
    r = read(fd, &n, sizeof n);
    printf("again at once: %s\n", r < 0 ? strerror(errno) : "data");
    timerfd_gettime(fd, &cur);
    printf("interval kept: %ld.%09ld\n", cur.it_interval.tv_sec, cur.it_interval.tv_nsec);
    t = spec(0, 0);
    struct itimerspec old;
    timerfd_settime(fd, 0, &t, &old);
    printf("disarm: old interval %ld.%09ld, old value set %d\n", old.it_interval.tv_sec,
           old.it_interval.tv_nsec, old.it_value.tv_nsec > 0 || old.it_value.tv_sec > 0);
    close(fd);

    /* An absolute time on the clock. */
    fd = timerfd_create(CLOCK_REALTIME, 0);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    t.it_interval.tv_sec = 0;
    t.it_interval.tv_nsec = 0;
    t.it_value = now;
    t.it_value.tv_nsec += 30000000;
    if (t.it_value.tv_nsec >= 1000000000) {
        t.it_value.tv_sec++;
        t.it_value.tv_nsec -= 1000000000;
    }
    printf("abstime settime %d\n", timerfd_settime(fd, TFD_TIMER_ABSTIME, &t, NULL));
    r = read(fd, &n, sizeof n);
    printf("abstime: %zd bytes, %llu expiration\n", r, (unsigned long long)n);
    /* A time in the past expires at once. */
    t.it_value.tv_sec = 1;
    timerfd_settime(fd, TFD_TIMER_ABSTIME, &t, NULL);
    r = read(fd, &n, sizeof n);
    printf("past: %zd bytes, %llu expiration\n", r, (unsigned long long)n);
    close(fd);

    /* Re-arming reports the old setting. */
    fd = timerfd_create(CLOCK_BOOTTIME, 0);
    t = spec(10000, 0);
    timerfd_settime(fd, 0, &t, NULL);
    t = spec(20000, 0);
    timerfd_settime(fd, 0, &t, &old);
    printf("old value about 10s: %d\n", old.it_value.tv_sec == 9 || old.it_value.tv_sec == 10);
    char small[4];
    printf("short read: %s\n", read(fd, small, 4) < 0 ? strerror(errno) : "ok");
    close(fd);

    printf("bad clock: %s\n", timerfd_create(12345, 0) < 0 ? strerror(errno) : "ok");
    printf("bad flags: %s\n", timerfd_create(CLOCK_MONOTONIC, 0x40) < 0 ? strerror(errno) : "ok");
    fd = timerfd_create(CLOCK_MONOTONIC, 0);
    t = spec(10, 0);
    t.it_value.tv_nsec = 1000000000;
    printf("bad time: %s\n", timerfd_settime(fd, 0, &t, NULL) < 0 ? strerror(errno) : "ok");
    t = spec(10, 0);
    printf("bad settime flags: %s\n", timerfd_settime(fd, 0x100, &t, NULL) < 0 ? strerror(errno) : "ok");
    int efd = eventfd(0, 0);
    printf("not a timer: %s\n", timerfd_settime(efd, 0, &t, NULL) < 0 ? strerror(errno) : "ok");
    printf("not a timer get: %s\n", timerfd_gettime(efd, &cur) < 0 ? strerror(errno) : "ok");
    printf("bad fd: %s\n", timerfd_gettime(999, &cur) < 0 ? strerror(errno) : "ok");
    printf("bad pointer: %s\n", timerfd_settime(fd, 0, (void *)8, NULL) < 0 ? strerror(errno) : "ok");
    return 0;
}
