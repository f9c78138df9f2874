/* TCP under load and bad behaviour: a full backlog (non-blocking
 * connects that complete as the listener accepts), 10,000 concurrent
 * connections, a flood of refused connects, a slow reader (the writer gets
 * EAGAIN, never unbounded buffering), a peer killed mid-transfer. Run
 * natively and in the sandbox: the output must match. */
#include "net_check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONNS 10000

static void backlog(void) {
    int l = listener4("127.0.0.1", 2);
    int port = port_of(l);
    int c[4], inprogress = 0;
    for (int i = 0; i < 4; i++) {
        c[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in a = v4("127.0.0.1", port);
        if (connect(c[i], (struct sockaddr *)&a, sizeof a) < 0 && errno == EINPROGRESS) inprogress++;
    }
    printf("backlog: %d connects in progress\n", inprogress);
    /* Accept all four, however long the one that waited takes (Linux
     * retransmits its SYN after a second). */
    int accepted = 0;
    while (accepted < 4) {
        struct pollfd p = {.fd = l, .events = POLLIN};
        if (poll(&p, 1, 15000) != 1) break;
        int a = accept(l, NULL, NULL);
        if (a >= 0) accepted++, close(a);
    }
    int connected = 0;
    for (int i = 0; i < 4; i++) {
        struct pollfd p = {.fd = c[i], .events = POLLOUT};
        poll(&p, 1, 10000);
        int err = -1;
        socklen_t len = sizeof err;
        getsockopt(c[i], SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && (p.revents & POLLOUT)) connected++;
        close(c[i]);
    }
    printf("backlog: accepted %d, connected %d\n", accepted, connected);
    close(l);
}

static void many(void) {
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    int l = listener4("127.0.0.1", 4096);
    int port = port_of(l);
    pid_t pid = fork();
    if (pid == 0) {
        static int fds[CONNS];
        for (int i = 0; i < CONNS; i++) {
            fds[i] = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = v4("127.0.0.1", port);
            if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof a) < 0) {
                printf("client: connect %d: %s\n", i, res(-1));
                _exit(1);
            }
            if (send(fds[i], "x", 1, 0) != 1) _exit(2);
        }
        /* Wait for the server to answer each, then leave (all close). */
        int answered = 0;
        for (int i = 0; i < CONNS; i++) {
            char c;
            if (recv(fds[i], &c, 1, 0) == 1) answered++;
        }
        printf("client: %d answered\n", answered);
        _exit(0);
    }
    static int conns[CONNS];
    int n = 0;
    while (n < CONNS) {
        int a = accept(l, NULL, NULL);
        if (a < 0) {
            printf("server: accept: %s\n", res(a));
            break;
        }
        conns[n++] = a;
    }
    int got = 0;
    for (int i = 0; i < n; i++) {
        char c;
        if (recv(conns[i], &c, 1, 0) == 1 && send(conns[i], "y", 1, 0) == 1) got++;
    }
    int st;
    waitpid(pid, &st, 0);
    int eof = 0;
    for (int i = 0; i < n; i++) {
        char c;
        if (recv(conns[i], &c, 1, 0) == 0) eof++;
        close(conns[i]);
    }
    printf("server: %d connections, %d echoed, %d ended, client exit %d\n", n, got, eof, WEXITSTATUS(st));
    close(l);
}

static void refused(void) {
    int l = listener4("127.0.0.1", 1);
    int port = port_of(l);
    close(l);
    int refusals = 0;
    for (int i = 0; i < 2000; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = v4("127.0.0.1", port);
        if (connect(c, (struct sockaddr *)&a, sizeof a) < 0 && errno == ECONNREFUSED) refusals++;
        close(c);
    }
    printf("refused: %d of 2000\n", refusals);
}

static void slow_reader(void) {
    int l = listener4("127.0.0.1", 1);
    int c = connect4(port_of(l));
    int a = accept(l, NULL, NULL);
    fcntl(c, F_SETFL, O_NONBLOCK);
    static char chunk[65536];
    long total = 0;
    for (;;) {
        ssize_t n = send(c, chunk, sizeof chunk, 0);
        if (n < 0) break;
        total += n;
        if (total > (512L << 20)) break;
    }
    printf("slow reader: writer stopped with %s, buffered under 64 MiB: %s\n", res(-1),
           total < (64L << 20) ? "yes" : "no");
    struct pollfd p = {.fd = c, .events = POLLOUT};
    printf("slow reader: writable while full: %d\n", poll(&p, 1, 0));
    /* The reader drains; the writer may write again. */
    long drained = 0;
    static char buf[1 << 16];
    fcntl(a, F_SETFL, O_NONBLOCK);
    for (;;) {
        ssize_t n = recv(a, buf, sizeof buf, 0);
        if (n <= 0) break;
        drained += n;
    }
    printf("slow reader: drained all: %s\n", drained == total ? "yes" : "no");
    printf("slow reader: writable again: %d\n", poll(&p, 1, 1000));
    close(a);
    close(c);
    close(l);
}

static void killed_peer(void) {
    int l = listener4("127.0.0.1", 1);
    int port = port_of(l);
    int ready[2];
    OK(pipe(ready));
    pid_t pid = fork();
    if (pid == 0) {
        int c = connect4(port);
        static char chunk[1 << 20];
        memset(chunk, 'k', sizeof chunk);
        send(c, chunk, sizeof chunk, 0);
        write(ready[1], "r", 1);
        pause();
        _exit(0);
    }
    int a = accept(l, NULL, NULL);
    char r;
    read(ready[0], &r, 1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    long total = 0;
    static char buf[1 << 16];
    ssize_t n;
    while ((n = recv(a, buf, sizeof buf, 0)) > 0) total += n;
    printf("killed peer: read %ld then %s\n", total, n == 0 ? "end of file" : res(n));
    close(a);
    close(l);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    backlog();
    many();
    refused();
    slow_reader();
    killed_peer();
    printf("done\n");
    return 0;
}
