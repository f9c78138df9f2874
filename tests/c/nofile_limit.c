/* RLIMIT_NOFILE stops at nr_open (1,048,576 here), for root too, and poll
 * refuses more descriptors than the limit (its count is an unsigned int):
 * once, a limit of 2^46 and a poll of that many made the sentry try to
 * allocate 9 PB and abort. Prints what it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static void set(const char *what, rlim_t v) {
    struct rlimit r = {v, v};
    int e = setrlimit(RLIMIT_NOFILE, &r);
    printf("%-22s %s\n", what, e < 0 ? strerrorname_np(errno) : "ok");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    set("limit 2^46", 1ULL << 46);
    set("limit nr_open + 1", (1 << 20) + 1);
    struct pollfd p = {.fd = 0, .events = POLLIN};
    long n = syscall(SYS_poll, &p, 1ULL << 46, 0);
    printf("poll 2^46 (0 as an unsigned int): %s\n", n < 0 ? strerrorname_np(errno) : "ok");
    n = syscall(SYS_poll, &p, (1 << 20) + 1, 0);
    printf("poll nr_open + 1: %s\n", n < 0 ? strerrorname_np(errno) : "ok");
    set("limit 64", 64);
    n = syscall(SYS_poll, &p, 65, 0);
    printf("poll 65 over 64: %s\n", n < 0 ? strerrorname_np(errno) : "ok");
    n = syscall(SYS_poll, NULL, 64, 0);
    printf("poll 64 at NULL: %s\n", n < 0 ? strerrorname_np(errno) : "ok");
    return 0;
}
