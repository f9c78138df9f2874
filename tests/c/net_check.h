/* What the network tests' C programs share: printing the outcome of a
 * call the same way natively and in the sandbox (never a port number,
 * address that differs between runs, or pid), and failing loudly. */
#ifndef NET_CHECK_H
#define NET_CHECK_H
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* "ok" for a non-negative result, else the errno's name. */
static inline const char *res(long r) {
    static char buf[32];
    if (r >= 0) return "ok";
    switch (errno) {
#define E(x) case x: return #x;
        E(EAGAIN) E(EINPROGRESS) E(ECONNREFUSED) E(ECONNRESET) E(EPIPE) E(ENOTCONN) E(EISCONN)
        E(EADDRINUSE) E(EADDRNOTAVAIL) E(EINVAL) E(EAFNOSUPPORT) E(EOPNOTSUPP) E(ENOPROTOOPT)
        E(EDESTADDRREQ) E(EMSGSIZE) E(EALREADY) E(EACCES) E(EPERM) E(ENETUNREACH) E(EFAULT)
        E(EBADF) E(ENOTSOCK) E(EPROTONOSUPPORT) E(ESOCKTNOSUPPORT) E(ETIMEDOUT) E(EINTR)
#undef E
    default:
        snprintf(buf, sizeof buf, "errno %d", errno);
        return buf;
    }
}

static inline void must(int ok, const char *what) {
    if (!ok) {
        printf("FAIL %s: %s\n", what, strerror(errno));
        exit(1);
    }
}
#define OK(x) must((x) >= 0, #x)
/* Print a call and its outcome. */
#define SHOW(x) printf("%s: %s\n", #x, res(x))

/* The port a socket is bound to. */
static inline int port_of(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    OK(getsockname(fd, (struct sockaddr *)&ss, &len));
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* An IPv4 address and port. */
static inline struct sockaddr_in v4(const char *ip, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static inline struct sockaddr_in6 v6(const char *ip, int port) {
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

/* A socket's or peer's address without its port ("127.0.0.1", "::1"). */
static inline const char *ip_of(int fd, int peer) {
    static char buf[64];
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (r < 0) return res(r);
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, sizeof buf);
    else
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, sizeof buf);
    return buf;
}

/* A listening TCP socket on an ephemeral port of `ip` (IPv4). */
static inline int listener4(const char *ip, int backlog) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    OK(s);
    struct sockaddr_in a = v4(ip, 0);
    OK(bind(s, (struct sockaddr *)&a, sizeof a));
    OK(listen(s, backlog));
    return s;
}

/* A blocking TCP connection to 127.0.0.1:port. */
static inline int connect4(int port) {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    OK(c);
    struct sockaddr_in a = v4("127.0.0.1", port);
    OK(connect(c, (struct sockaddr *)&a, sizeof a));
    return c;
}
#endif
