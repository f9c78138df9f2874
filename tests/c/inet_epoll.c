/* An edge-triggered epoll echo server over TCP loopback, as event-driven
 * servers (nginx, redis) use one: non-blocking accept until EAGAIN, reads
 * until EAGAIN, EPOLLOUT after a full send buffer, EPOLLRDHUP on the
 * client's half-close, and level-triggered EPOLLIN for comparison; a
 * forked client checks every byte. Run natively and in the sandbox: the
 * output must match. */
#include "net_check.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOTAL (8 << 20)

static const char *ev(unsigned e) {
    static char buf[96];
    buf[0] = 0;
    if (e & EPOLLIN) strcat(buf, "IN ");
    if (e & EPOLLOUT) strcat(buf, "OUT ");
    if (e & EPOLLRDHUP) strcat(buf, "RDHUP ");
    if (e & EPOLLHUP) strcat(buf, "HUP ");
    if (e & EPOLLERR) strcat(buf, "ERR ");
    return buf;
}

/* The client: send TOTAL patterned bytes, half-close, read them all back. */
static int client(int port) {
    int c = connect4(port);
    static char out[65536], in[65536];
    long sent = 0, got = 0;
    fcntl(c, F_SETFL, O_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.fd = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c, &e);
    int shut = 0;
    while (got < TOTAL) {
        struct epoll_event r;
        if (epoll_wait(ep, &r, 1, 5000) != 1) return 2;
        if ((r.events & EPOLLOUT) && sent < TOTAL) {
            for (int i = 0; i < (int)sizeof out; i++) out[i] = (char)((sent + i) * 7);
            long want = TOTAL - sent < (long)sizeof out ? TOTAL - sent : (long)sizeof out;
            ssize_t n = send(c, out, want, 0);
            if (n > 0) sent += n;
        }
        if (sent == TOTAL && !shut) {
            shutdown(c, SHUT_WR);
            shut = 1;
            e.events = EPOLLIN;
            epoll_ctl(ep, EPOLL_CTL_MOD, c, &e);
        }
        if (r.events & EPOLLIN) {
            ssize_t n;
            while ((n = recv(c, in, sizeof in, 0)) > 0) {
                for (ssize_t i = 0; i < n; i++)
                    if (in[i] != (char)((got + i) * 7)) return 3;
                got += n;
            }
        }
    }
    char x;
    fcntl(c, F_SETFL, 0);
    if (recv(c, &x, 1, 0) != 0) return 4;
    return 0;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = v4("127.0.0.1", 0);
    OK(bind(l, (struct sockaddr *)&a, sizeof a));
    OK(listen(l, 16));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN | EPOLLET, .data.fd = l};
    OK(epoll_ctl(ep, EPOLL_CTL_ADD, l, &e));
    struct epoll_event r[8];
    printf("idle: %d events\n", epoll_wait(ep, r, 8, 0));
    pid_t pid = fork();
    if (pid == 0) _exit(client(port_of(l)));
    int conn = -1, accepts = 0, rdhup = 0, outs = 0, eagain_writes = 0;
    long echoed = 0, pending_len = 0;
    static char buf[1 << 16];
    static char pending[1 << 16];
    int done = 0;
    while (!done) {
        int n = epoll_wait(ep, r, 8, 5000);
        if (n <= 0) {
            printf("FAIL: no event\n");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (r[i].data.fd == l) {
                int c;
                while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    accepts++;
                    conn = c;
                    struct epoll_event ce = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = c};
                    OK(epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce));
                }
                printf("accept ended with %s\n", res(-1));
                continue;
            }
            if (r[i].events & EPOLLRDHUP) rdhup = 1;
            if (r[i].events & EPOLLOUT) outs++;
            /* Flush what is pending, then read and echo until EAGAIN. */
            for (;;) {
                if (pending_len > 0) {
                    ssize_t w = send(conn, pending, pending_len, MSG_NOSIGNAL);
                    if (w < 0) {
                        if (errno == EAGAIN) eagain_writes++;
                        break;
                    }
                    memmove(pending, pending + w, pending_len - w);
                    pending_len -= w;
                    echoed += w;
                    continue;
                }
                ssize_t got = recv(conn, buf, sizeof buf, 0);
                if (got > 0) {
                    memcpy(pending, buf, got);
                    pending_len = got;
                    continue;
                }
                if (got == 0) {
                    done = 1;
                } else if (errno != EAGAIN) {
                    printf("FAIL recv: %s\n", res(got));
                    return 1;
                }
                break;
            }
        }
    }
    /* How often writes waited depends on timing: not printed. */
    (void)outs;
    (void)eagain_writes;
    /* Whether the end of file came with its own EPOLLRDHUP edge depends on
     * timing too; the last part checks EPOLLRDHUP. */
    (void)rdhup;
    printf("accepts %d, echoed %ld\n", accepts, echoed);
    close(conn);
    int st;
    waitpid(pid, &st, 0);
    printf("client exit %d\n", WEXITSTATUS(st));
    /* Level-triggered: the same readiness is reported again. */
    int sv[2];
    int l2 = listener4("127.0.0.1", 4);
    sv[0] = connect4(port_of(l2));
    sv[1] = accept(l2, NULL, NULL);
    send(sv[0], "x", 1, 0);
    usleep(20000);
    int ep2 = epoll_create1(0);
    struct epoll_event le = {.events = EPOLLIN, .data.fd = sv[1]};
    epoll_ctl(ep2, EPOLL_CTL_ADD, sv[1], &le);
    int first = epoll_wait(ep2, r, 8, 0);
    printf("level: %d then %d\n", first, epoll_wait(ep2, r, 8, 0));
    le.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    epoll_ctl(ep2, EPOLL_CTL_MOD, sv[1], &le);
    first = epoll_wait(ep2, r, 8, 0);
    printf("edge: %d then %d\n", first, epoll_wait(ep2, r, 8, 0));
    close(sv[0]);
    usleep(20000);
    int k = epoll_wait(ep2, r, 8, 0);
    printf("after the peer's close: %d %s\n", k, k > 0 ? ev(r[0].events) : "");
    printf("done\n");
    return 0;
}
