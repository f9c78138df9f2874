/* TCP over loopback: bind/listen/accept, addresses, data with MSG_PEEK and
 * MSG_WAITALL, half-close, reset on a close with unread data, writes to a
 * closed peer (ECONNRESET, then EPIPE and SIGPIPE), refused and
 * non-blocking connects with poll and SO_ERROR, port sharing
 * (EADDRINUSE, SO_REUSEADDR, SO_REUSEPORT), IPv6 dual-stack and
 * IPV6_V6ONLY. Run natively and in the sandbox: the output must match. */
#include "net_check.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void settle(void) { usleep(50 * 1000); }

static const char *events(short e) {
    static char buf[128];
    buf[0] = 0;
    if (e & POLLIN) strcat(buf, "IN ");
    if (e & POLLOUT) strcat(buf, "OUT ");
    if (e & POLLERR) strcat(buf, "ERR ");
    if (e & POLLHUP) strcat(buf, "HUP ");
    if (e & POLLRDHUP) strcat(buf, "RDHUP ");
    if (!buf[0]) strcat(buf, "none");
    return buf;
}

static short poll_now(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT | POLLRDHUP};
    OK(poll(&p, 1, 0));
    return p.revents;
}

static int sigpipes(void) {
    static int n;
    struct timespec zero = {0, 0};
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    while (sigtimedwait(&set, NULL, &zero) == SIGPIPE) n++;
    return n;
}

static void fresh(void) {
    printf("-- a fresh socket\n");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    OK(s);
    printf("poll: %s\n", events(poll_now(s)));
    printf("name: %s port %d\n", ip_of(s, 0), port_of(s));
    printf("peer: %s\n", ip_of(s, 1));
    char c;
    SHOW(recv(s, &c, 1, MSG_DONTWAIT));
    SHOW(send(s, "x", 1, MSG_NOSIGNAL));
    SHOW(accept(s, NULL, NULL));
    SHOW(shutdown(s, SHUT_RDWR));
    int s2 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in6 six = v6("::1", 0);
    SHOW(bind(s2, (struct sockaddr *)&six, sizeof six));
    struct sockaddr_in far = v4("192.0.2.1", 0);
    SHOW(bind(s2, (struct sockaddr *)&far, sizeof far));
    struct sockaddr_in low = v4("127.0.0.1", 1);
    if (geteuid() != 0) SHOW(bind(s2, (struct sockaddr *)&low, sizeof low));
    SHOW(bind(s2, (struct sockaddr *)&low, 8));
    close(s);
    close(s2);
}

static void connection(void) {
    printf("-- a connection\n");
    int l = listener4("127.0.0.1", 8);
    int port = port_of(l);
    printf("ephemeral: %s\n", port >= 32768 && port <= 60999 ? "yes" : "no");
    printf("listener poll: %s\n", events(poll_now(l)));
    int c = connect4(port);
    settle();
    printf("listener poll after connect: %s\n", events(poll_now(l)));
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int a = accept(l, (struct sockaddr *)&peer, &len);
    OK(a);
    printf("accepted from %s, len %d, ports match: %s\n", inet_ntoa(peer.sin_addr), len,
           ntohs(peer.sin_port) == port_of(c) ? "yes" : "no");
    printf("accepted name %s, same port: %s\n", ip_of(a, 0), port_of(a) == port ? "yes" : "no");
    printf("client peer %s\n", ip_of(c, 1));
    printf("connected poll: %s\n", events(poll_now(c)));
    SHOW(connect(c, (struct sockaddr *)&peer, sizeof peer));
    OK(send(c, "hello world", 11, 0));
    settle();
    int n = 0;
    OK(ioctl(a, FIONREAD, &n));
    printf("FIONREAD %d\n", n);
    printf("server poll: %s\n", events(poll_now(a)));
    char buf[64] = {0};
    printf("peek %zd\n", recv(a, buf, 5, MSG_PEEK));
    printf("read %zd %.11s\n", recv(a, buf, sizeof buf, 0), buf);
    SHOW(recv(a, buf, sizeof buf, MSG_DONTWAIT));
    int outq = -1;
    OK(ioctl(c, TIOCOUTQ, &outq));
    printf("SIOCOUTQ after the read %d\n", outq);

    /* MSG_WAITALL gathers two sends. */
    pid_t pid = fork();
    if (pid == 0) {
        send(c, "01234", 5, 0);
        usleep(100 * 1000);
        send(c, "56789", 5, 0);
        _exit(0);
    }
    memset(buf, 0, sizeof buf);
    printf("waitall %zd %s\n", recv(a, buf, 10, MSG_WAITALL), buf);
    waitpid(pid, NULL, 0);

    /* Half-close: the server reads end of file, and may still answer. */
    OK(shutdown(c, SHUT_WR));
    settle();
    printf("server poll after the client's SHUT_WR: %s\n", events(poll_now(a)));
    printf("server read %zd\n", recv(a, buf, sizeof buf, 0));
    SHOW(send(c, "x", 1, MSG_NOSIGNAL));
    OK(send(a, "bye", 3, 0));
    memset(buf, 0, sizeof buf);
    printf("client read %zd %s\n", recv(c, buf, sizeof buf, 0), buf);
    close(a);
    settle();
    printf("client poll after the server's close: %s\n", events(poll_now(c)));
    printf("client read %zd\n", recv(c, buf, sizeof buf, 0));
    close(c);
    close(l);
}

static void resets(void) {
    printf("-- resets\n");
    int l = listener4("127.0.0.1", 8);
    int c = connect4(port_of(l));
    int a = accept(l, NULL, NULL);
    OK(a);
    /* Closed with unread data: the peer is reset. */
    OK(send(c, "unread", 6, 0));
    OK(send(a, "for you", 7, 0));
    settle();
    close(a);
    settle();
    printf("poll: %s\n", events(poll_now(c)));
    char buf[16] = {0};
    printf("read %zd %.7s\n", recv(c, buf, sizeof buf, 0), buf);
    SHOW(recv(c, buf, sizeof buf, 0));
    SHOW(recv(c, buf, sizeof buf, 0));
    SHOW(send(c, "x", 1, MSG_NOSIGNAL));
    close(c);

    /* Writes to a peer that closed: one goes out, the reset comes back. */
    c = connect4(port_of(l));
    a = accept(l, NULL, NULL);
    close(a);
    settle();
    printf("read %zd\n", recv(c, buf, sizeof buf, 0));
    SHOW(send(c, "a", 1, MSG_NOSIGNAL));
    settle();
    SHOW(send(c, "b", 1, MSG_NOSIGNAL));
    SHOW(send(c, "c", 1, MSG_NOSIGNAL));
    int before = sigpipes();
    SHOW(send(c, "d", 1, 0));
    SHOW(write(c, "e", 1));
    printf("SIGPIPEs %d\n", sigpipes() - before);
    close(c);

    /* SO_LINGER zero: close resets at once. */
    c = connect4(port_of(l));
    a = accept(l, NULL, NULL);
    struct linger lg = {1, 0};
    OK(setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    close(a);
    settle();
    SHOW(recv(c, buf, sizeof buf, 0));
    close(c);
    close(l);
}

static void connects(void) {
    printf("-- connects\n");
    int gone = listener4("127.0.0.1", 1);
    int port = port_of(gone);
    close(gone);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = v4("127.0.0.1", port);
    SHOW(connect(c, (struct sockaddr *)&to, sizeof to));
    printf("poll after refusal: %s\n", events(poll_now(c)));
    close(c);

    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    SHOW(connect(c, (struct sockaddr *)&to, sizeof to));
    struct pollfd p = {.fd = c, .events = POLLOUT};
    OK(poll(&p, 1, 1000));
    printf("poll: %s\n", events(p.revents));
    int err = -1;
    socklen_t len = sizeof err;
    OK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len));
    printf("SO_ERROR %s\n", err == ECONNREFUSED ? "ECONNREFUSED" : strerror(err));
    OK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len));
    printf("SO_ERROR again %d\n", err);
    close(c);

    int l = listener4("127.0.0.1", 8);
    c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    to = v4("127.0.0.1", port_of(l));
    SHOW(connect(c, (struct sockaddr *)&to, sizeof to));
    p.fd = c;
    OK(poll(&p, 1, 1000));
    printf("poll: %s\n", events(p.revents));
    OK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len));
    printf("SO_ERROR %d\n", err);
    SHOW(connect(c, (struct sockaddr *)&to, sizeof to));
    int a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    OK(a);
    printf("accepted flags: nonblock %d cloexec %d\n", !!(fcntl(a, F_GETFL) & O_NONBLOCK),
           !!(fcntl(a, F_GETFD) & FD_CLOEXEC));
    fcntl(l, F_SETFL, O_NONBLOCK);
    SHOW(accept(l, NULL, NULL));
    fcntl(l, F_SETFL, 0);
    close(a);
    close(c);
    /* Connecting to the wildcard address reaches the machine itself. */
    struct sockaddr_in any = v4("0.0.0.0", port_of(l));
    c = socket(AF_INET, SOCK_STREAM, 0);
    SHOW(connect(c, (struct sockaddr *)&any, sizeof any));
    printf("peer %s\n", ip_of(c, 1));
    close(c);
    close(l);
}

static void sharing(void) {
    printf("-- sharing ports\n");
    int one = 1;
    int a = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in at = v4("127.0.0.1", 0);
    OK(bind(a, (struct sockaddr *)&at, sizeof at));
    at.sin_port = htons(port_of(a));
    SHOW(bind(b, (struct sockaddr *)&at, sizeof at));
    struct sockaddr_in any = v4("0.0.0.0", port_of(a));
    SHOW(bind(b, (struct sockaddr *)&any, sizeof any));
    close(a);
    close(b);
    a = socket(AF_INET, SOCK_STREAM, 0);
    b = socket(AF_INET, SOCK_STREAM, 0);
    OK(setsockopt(a, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    OK(setsockopt(b, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    at.sin_port = 0;
    OK(bind(a, (struct sockaddr *)&at, sizeof at));
    at.sin_port = htons(port_of(a));
    SHOW(bind(b, (struct sockaddr *)&at, sizeof at));
    SHOW(listen(a, 1));
    SHOW(listen(b, 1));
    close(a);
    close(b);
    /* SO_REUSEPORT: both listen, and connections reach both. */
    a = socket(AF_INET, SOCK_STREAM, 0);
    b = socket(AF_INET, SOCK_STREAM, 0);
    OK(setsockopt(a, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one));
    OK(setsockopt(b, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one));
    at.sin_port = 0;
    OK(bind(a, (struct sockaddr *)&at, sizeof at));
    at.sin_port = htons(port_of(a));
    SHOW(bind(b, (struct sockaddr *)&at, sizeof at));
    SHOW(listen(a, 128));
    SHOW(listen(b, 128));
    int got_a = 0, got_b = 0;
    for (int i = 0; i < 64; i++) {
        int c = connect4(port_of(a));
        close(c);
    }
    settle();
    fcntl(a, F_SETFL, O_NONBLOCK);
    fcntl(b, F_SETFL, O_NONBLOCK);
    int x;
    while ((x = accept(a, NULL, NULL)) >= 0) got_a++, close(x);
    while ((x = accept(b, NULL, NULL)) >= 0) got_b++, close(x);
    printf("reuseport: total %d, both got some: %s\n", got_a + got_b, got_a && got_b ? "yes" : "no");
    close(a);
    close(b);
}

static void ipv6(void) {
    printf("-- IPv6\n");
    int l = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 any = v6("::", 0);
    OK(bind(l, (struct sockaddr *)&any, sizeof any));
    OK(listen(l, 8));
    printf("listener name %s\n", ip_of(l, 0));
    int c = connect4(port_of(l));
    int a = accept(l, NULL, NULL);
    printf("v4 client seen as %s, accepted name %s\n", ip_of(a, 1), ip_of(a, 0));
    close(a);
    close(c);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 lo = v6("::1", port_of(l));
    SHOW(connect(c, (struct sockaddr *)&lo, sizeof lo));
    a = accept(l, NULL, NULL);
    printf("v6 client seen as %s, client name %s\n", ip_of(a, 1), ip_of(c, 0));
    close(a);
    close(c);
    c = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 mapped = v6("::ffff:127.0.0.1", port_of(l));
    SHOW(connect(c, (struct sockaddr *)&mapped, sizeof mapped));
    printf("mapped client name %s\n", ip_of(c, 0));
    close(accept(l, NULL, NULL));
    close(c);
    struct sockaddr_in four = v4("127.0.0.1", port_of(l));
    c = socket(AF_INET6, SOCK_STREAM, 0);
    SHOW(connect(c, (struct sockaddr *)&four, sizeof four));
    SHOW(bind(c, (struct sockaddr *)&four, sizeof four));
    close(c);
    close(l);
    /* A v6-only listener does not take IPv4, and leaves the port to it. */
    l = socket(AF_INET6, SOCK_STREAM, 0);
    int one = 1, v = -1;
    socklen_t len = sizeof v;
    OK(getsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len));
    printf("V6ONLY default %d\n", v);
    OK(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    OK(bind(l, (struct sockaddr *)&any, sizeof any));
    SHOW(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    OK(listen(l, 8));
    int l4 = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in four_any = v4("127.0.0.1", port_of(l));
    SHOW(bind(l4, (struct sockaddr *)&four_any, sizeof four_any));
    c = socket(AF_INET, SOCK_STREAM, 0);
    four = v4("127.0.0.1", port_of(l));
    SHOW(connect(c, (struct sockaddr *)&four, sizeof four));
    close(c);
    close(l4);
    close(l);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, NULL);
    fresh();
    connection();
    resets();
    connects();
    sharing();
    ipv6();
    printf("done\n");
    return 0;
}
