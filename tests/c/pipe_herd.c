/* Many threads blocked on one pipe at once: 16 writers on a full pipe,
 * 16 readers on an empty one, and two epoll waiters, one for EPOLLIN on
 * the read end and one for EPOLLOUT on the write end (both edge-triggered).
 * Every write is PIPE_BUF bytes, so atomic: each read of PIPE_BUF bytes
 * must get one writer's chunk whole, each chunk must arrive exactly once,
 * and one reader must see each writer's chunks in the order written.
 * Every thread must finish; the EPOLLIN waiter ends on the EPOLLHUP of
 * the last writer's close. The output is the same wherever it runs. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define WRITERS 16
#define READERS 16
#define CHUNKS 64
#define CHUNK PIPE_BUF

static int rfd, wfd;
static atomic_int seen[WRITERS][CHUNKS];
static atomic_int bad_size, bad_data, bad_order, readers_done, writers_done;
static atomic_int writing_over;

static unsigned char pattern(uint32_t w, uint32_t seq, size_t i) {
    return (unsigned char)(w * 131 + seq * 7 + i);
}

static void *writer(void *arg) {
    uint32_t w = (uint32_t)(uintptr_t)arg;
    unsigned char buf[CHUNK];
    for (uint32_t seq = 0; seq < CHUNKS; seq++) {
        memcpy(buf, &w, 4);
        memcpy(buf + 4, &seq, 4);
        for (size_t i = 8; i < CHUNK; i++) buf[i] = pattern(w, seq, i);
        ssize_t n;
        do n = write(wfd, buf, CHUNK);
        while (n < 0 && errno == EINTR);
        if (n != CHUNK) {
            printf("writer %u: write gave %zd (%s)\n", w, n, n < 0 ? strerror(errno) : "short");
            exit(1);
        }
    }
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

static void *reader(void *arg) {
    (void)arg;
    int last[WRITERS];
    for (int i = 0; i < WRITERS; i++) last[i] = -1;
    unsigned char buf[CHUNK];
    for (;;) {
        ssize_t n = read(rfd, buf, CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) break;
        if (n != CHUNK) {
            atomic_fetch_add(&bad_size, 1);
            if (n < 0) break;
            continue;
        }
        uint32_t w, seq;
        memcpy(&w, buf, 4);
        memcpy(&seq, buf + 4, 4);
        if (w >= WRITERS || seq >= CHUNKS) {
            atomic_fetch_add(&bad_data, 1);
            continue;
        }
        for (size_t i = 8; i < CHUNK; i++) {
            if (buf[i] != pattern(w, seq, i)) {
                atomic_fetch_add(&bad_data, 1);
                break;
            }
        }
        if ((int)seq <= last[w]) atomic_fetch_add(&bad_order, 1);
        last[w] = (int)seq;
        atomic_fetch_add(&seen[w][seq], 1);
    }
    atomic_fetch_add(&readers_done, 1);
    return NULL;
}

struct watch {
    int fd;
    uint32_t events;
    uint32_t got;  /* every event bit reported */
    int waits;     /* epoll_wait calls that reported something */
};

/* An epoll instance watching `wt`'s descriptor, edge-triggered, for its
 * events. */
static int watch_epoll(struct watch *wt, uint32_t data, const char *what) {
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = wt->events | EPOLLET, .data.u32 = data};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, wt->fd, &ev) != 0) {
        perror(what);
        exit(1);
    }
    return ep;
}

/* The EPOLLIN waiter: until the writers' end is closed (EPOLLHUP). */
static void *watch_in(void *arg) {
    struct watch *wt = arg;
    int ep = watch_epoll(wt, 1, "epoll in");
    for (;;) {
        struct epoll_event out;
        int n = epoll_wait(ep, &out, 1, 5000);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            perror("epoll_wait in");
            exit(1);
        }
        if (n == 0) continue;
        wt->got |= out.events;
        wt->waits++;
        if (out.events & EPOLLHUP) break;
    }
    close(ep);
    return NULL;
}

/* The EPOLLOUT waiter: until the writers are done. */
static void *watch_out(void *arg) {
    struct watch *wt = arg;
    int ep = watch_epoll(wt, 2, "epoll out");
    while (!atomic_load(&writing_over)) {
        struct epoll_event out;
        int n = epoll_wait(ep, &out, 1, 20);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait out");
            exit(1);
        }
        if (n == 1) {
            wt->got |= out.events;
            wt->waits++;
        }
    }
    close(ep);
    return NULL;
}

int main(void) {
    /* A lost wake-up hangs: end instead, and differ from the native run. */
    alarm(50);
    int p[2];
    if (pipe(p) != 0) {
        perror("pipe");
        return 1;
    }
    rfd = p[0];
    wfd = p[1];
    pthread_t rs[READERS], ws[WRITERS], win, wout;
    struct watch in = {.fd = rfd, .events = EPOLLIN}, out = {.fd = wfd, .events = EPOLLOUT};
    pthread_create(&win, NULL, watch_in, &in);
    pthread_create(&wout, NULL, watch_out, &out);
    for (int i = 0; i < READERS; i++) pthread_create(&rs[i], NULL, reader, NULL);
    for (int i = 0; i < WRITERS; i++) pthread_create(&ws[i], NULL, writer, (void *)(uintptr_t)i);
    for (int i = 0; i < WRITERS; i++) pthread_join(ws[i], NULL);
    atomic_store(&writing_over, 1);
    pthread_join(wout, NULL);
    close(wfd);
    for (int i = 0; i < READERS; i++) pthread_join(rs[i], NULL);
    pthread_join(win, NULL);

    int once = 1, total = 0;
    for (int w = 0; w < WRITERS; w++) {
        for (int s = 0; s < CHUNKS; s++) {
            total += seen[w][s];
            if (seen[w][s] != 1) once = 0;
        }
    }
    printf("chunks: %d of %d bytes, each exactly once: %s\n", total, CHUNK, once ? "yes" : "no");
    printf("reads not one whole chunk: %d, chunks corrupted: %d, out of order: %d\n",
           atomic_load(&bad_size), atomic_load(&bad_data), atomic_load(&bad_order));
    printf("writers done: %d, readers done: %d\n", atomic_load(&writers_done), atomic_load(&readers_done));
    uint32_t in_other = in.got & ~(uint32_t)(EPOLLIN | EPOLLRDNORM | EPOLLHUP);
    printf("EPOLLIN waiter: woken %s, saw EPOLLIN %s, EPOLLHUP %s, other events %s\n",
           in.waits > 0 ? "yes" : "no", in.got & EPOLLIN ? "yes" : "no", in.got & EPOLLHUP ? "yes" : "no",
           in_other ? "yes" : "no");
    uint32_t out_other = out.got & ~(uint32_t)(EPOLLOUT | EPOLLWRNORM);
    printf("EPOLLOUT waiter: woken %s, saw EPOLLOUT %s, other events %s\n", out.waits > 0 ? "yes" : "no",
           out.got & EPOLLOUT ? "yes" : "no", out_other ? "yes" : "no");
    return 0;
}
