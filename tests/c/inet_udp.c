/* UDP over loopback: bind and ephemeral ports, sendto/recvfrom with the
 * sender's address, MSG_PEEK, MSG_TRUNC both ways, FIONREAD, empty
 * datagrams, connected sockets (EDESTADDRREQ, ECONNREFUSED from a port
 * nobody has, filtering other senders), EMSGSIZE, dual-stack IPv6,
 * sendmmsg/recvmmsg, shutdown. Run natively and in the sandbox: the
 * output must match. */
#include "net_check.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void settle(void) { usleep(50 * 1000); }

static int bound4(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    OK(s);
    struct sockaddr_in a = v4("127.0.0.1", 0);
    OK(bind(s, (struct sockaddr *)&a, sizeof a));
    return s;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int r = bound4(), s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = v4("127.0.0.1", port_of(r));
    printf("unbound name %s port %d\n", ip_of(s, 0), port_of(s));
    SHOW(send(s, "x", 1, 0));
    SHOW(sendto(s, "hello", 5, 0, (struct sockaddr *)&to, sizeof to));
    printf("autobound: %s, name %s\n", port_of(s) >= 32768 ? "yes" : "no", ip_of(s, 0));
    SHOW(sendto(s, "", 0, 0, (struct sockaddr *)&to, sizeof to));
    SHOW(sendto(s, "second", 6, 0, (struct sockaddr *)&to, sizeof to));
    settle();
    int n = -1;
    OK(ioctl(r, FIONREAD, &n));
    printf("FIONREAD %d\n", n);
    struct pollfd p = {.fd = r, .events = POLLIN | POLLOUT};
    poll(&p, 1, 0);
    printf("poll %#x\n", p.revents);
    char buf[64] = {0};
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    printf("peek %zd\n", recvfrom(r, buf, 2, MSG_PEEK, NULL, NULL));
    printf("trunc read %zd\n", recvfrom(r, buf, 2, MSG_TRUNC, (struct sockaddr *)&from, &len));
    printf("from %s, port matches %s, len %d\n", inet_ntoa(from.sin_addr),
           ntohs(from.sin_port) == port_of(s) ? "yes" : "no", len);
    printf("empty %zd\n", recv(r, buf, sizeof buf, 0));
    struct iovec iov = {buf, 3};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t got_m = recvmsg(r, &m, 0);
    printf("recvmsg %zd flags %s\n", got_m, m.msg_flags & MSG_TRUNC ? "MSG_TRUNC" : "0");
    SHOW(recv(r, buf, sizeof buf, MSG_DONTWAIT));

    /* Too big. */
    static char big[70000];
    SHOW(sendto(s, big, sizeof big, 0, (struct sockaddr *)&to, sizeof to));
    SHOW(sendto(s, big, 65507, 0, (struct sockaddr *)&to, sizeof to));
    SHOW(sendto(s, big, 65508, 0, (struct sockaddr *)&to, sizeof to));
    settle();
    printf("big %zd\n", recv(r, big, sizeof big, 0));

    /* Connected: only the peer's datagrams arrive. */
    int c = bound4();
    struct sockaddr_in cto = v4("127.0.0.1", port_of(c));
    OK(connect(r, (struct sockaddr *)&cto, sizeof cto));
    printf("peer %s\n", ip_of(r, 1));
    SHOW(sendto(s, "not from the peer", 17, 0, (struct sockaddr *)&to, sizeof to));
    SHOW(sendto(c, "from the peer", 13, 0, (struct sockaddr *)&to, sizeof to));
    settle();
    memset(buf, 0, sizeof buf);
    printf("got %zd %s\n", recv(r, buf, sizeof buf, MSG_DONTWAIT), buf);
    SHOW(recv(r, buf, sizeof buf, MSG_DONTWAIT));
    SHOW(send(r, "reply", 5, 0));
    settle();
    memset(buf, 0, sizeof buf);
    printf("c got %zd %s\n", recv(c, buf, sizeof buf, MSG_DONTWAIT), buf);
    /* A connected socket learns its peer is gone. */
    int gone = bound4();
    struct sockaddr_in gto = v4("127.0.0.1", port_of(gone));
    close(gone);
    int g = socket(AF_INET, SOCK_DGRAM, 0);
    OK(connect(g, (struct sockaddr *)&gto, sizeof gto));
    SHOW(send(g, "anyone?", 7, 0));
    settle();
    SHOW(recv(g, buf, sizeof buf, MSG_DONTWAIT));
    SHOW(send(g, "anyone?", 7, 0));
    settle();
    SHOW(send(g, "anyone?", 7, 0));
    int err = -1;
    socklen_t el = sizeof err;
    getsockopt(g, SOL_SOCKET, SO_ERROR, &err, &el);
    printf("SO_ERROR %s\n", err == ECONNREFUSED ? "ECONNREFUSED" : err == 0 ? "0" : "other");
    struct sockaddr_in unspec = {.sin_family = AF_UNSPEC};
    SHOW(connect(g, (struct sockaddr *)&unspec, sizeof unspec));
    printf("peer after AF_UNSPEC %s\n", ip_of(g, 1));
    SHOW(shutdown(s, SHUT_RD));
    OK(connect(g, (struct sockaddr *)&to, sizeof to));
    SHOW(shutdown(g, SHUT_RD));
    SHOW(recv(g, buf, sizeof buf, 0));

    /* Dual stack. */
    int six = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 any = v6("::", 0);
    OK(bind(six, (struct sockaddr *)&any, sizeof any));
    struct sockaddr_in to6 = v4("127.0.0.1", port_of(six));
    SHOW(sendto(s, "to six", 6, 0, (struct sockaddr *)&to6, sizeof to6));
    settle();
    struct sockaddr_in6 from6;
    len = sizeof from6;
    printf("six got %zd, len %d\n", recvfrom(six, buf, sizeof buf, 0, (struct sockaddr *)&from6, &len), len);
    char text[64];
    inet_ntop(AF_INET6, &from6.sin6_addr, text, sizeof text);
    printf("six from %s\n", text);
    SHOW(sendto(six, "back", 4, 0, (struct sockaddr *)&from, sizeof from));
    struct sockaddr_in6 lo6 = v6("::1", port_of(six));
    SHOW(sendto(six, "self", 4, 0, (struct sockaddr *)&lo6, sizeof lo6));
    settle();
    len = sizeof from6;
    printf("self got %zd\n", recvfrom(six, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from6, &len));
    inet_ntop(AF_INET6, &from6.sin6_addr, text, sizeof text);
    printf("self from %s\n", text);

    /* glibc's getaddrinfo sorts candidates by connecting one IPv6 socket
     * to each in turn (dissolving the association between): the name
     * follows each destination. */
    struct sockaddr reset = {.sa_family = AF_UNSPEC};
    int probe = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 p6 = v6("::1", 9);
    OK(connect(probe, (struct sockaddr *)&p6, sizeof p6));
    printf("probe name %s\n", ip_of(probe, 0));
    struct sockaddr_in p4 = v4("127.0.0.1", 9);
    OK(connect(probe, &reset, sizeof reset));
    printf("probe name after AF_UNSPEC %s\n", ip_of(probe, 0));
    OK(connect(probe, (struct sockaddr *)&p4, sizeof p4));
    printf("probe name %s peer %s\n", ip_of(probe, 0), ip_of(probe, 1));
    struct sockaddr_in any4 = v4("0.0.0.0", 9);
    OK(connect(probe, &reset, sizeof reset));
    OK(connect(probe, (struct sockaddr *)&any4, sizeof any4));
    printf("probe name %s peer %s\n", ip_of(probe, 0), ip_of(probe, 1));

    /* sendmmsg / recvmmsg. */
    int mr = bound4(), ms = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in mto = v4("127.0.0.1", port_of(mr));
    OK(connect(ms, (struct sockaddr *)&mto, sizeof mto));
    struct mmsghdr msgs[3];
    struct iovec iovs[3];
    char *words[] = {"one", "three", "five5"};
    for (int i = 0; i < 3; i++) {
        iovs[i].iov_base = words[i];
        iovs[i].iov_len = strlen(words[i]);
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    printf("sendmmsg %d\n", sendmmsg(ms, msgs, 3, 0));
    settle();
    char rb[3][8];
    for (int i = 0; i < 3; i++) {
        memset(rb[i], 0, 8);
        iovs[i].iov_base = rb[i];
        iovs[i].iov_len = 4;
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(mr, msgs, 3, MSG_DONTWAIT, NULL);
    printf("recvmmsg %d:", got);
    for (int i = 0; i < got; i++)
        printf(" %s/%u/%s", rb[i], msgs[i].msg_len, msgs[i].msg_hdr.msg_flags & MSG_TRUNC ? "T" : "-");
    printf("\n");
    printf("done\n");
    return 0;
}
