/* A NETLINK_ROUTE socket used by hand: autobind and getsockname, a link
 * dump read with MSG_PEEK|MSG_TRUNC sizing as iproute2 reads it, one link
 * by index with an ack and by a missing name, strict checking refusing a
 * short dump header, address dumps per family, and the errors of bad
 * socket types and options. Printed as facts that hold on Linux and in
 * the sandbox alike (sizes of Linux's messages are not compared: Linux
 * sends attributes the sandbox does not). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int seq = 1;

static void request(int fd, int type, int flags, const void *body, int len) {
    char buf[256] = {0};
    struct nlmsghdr *h = (void *)buf;
    h->nlmsg_len = NLMSG_LENGTH(len);
    h->nlmsg_type = type;
    h->nlmsg_flags = NLM_F_REQUEST | flags;
    h->nlmsg_seq = seq++;
    memcpy(NLMSG_DATA(h), body, len);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, buf, h->nlmsg_len, 0, (void *)&kernel, sizeof kernel) != (ssize_t)h->nlmsg_len)
        printf("send = -1 %s\n", strerrorname_np(errno));
}

/* Read replies until DONE or an error; print what came. */
static void replies(int fd, const char *what) {
    printf("%s:", what);
    for (;;) {
        struct sockaddr_nl from;
        struct iovec iov = {NULL, 0};
        struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
        ssize_t want = recvmsg(fd, &m, MSG_PEEK | MSG_TRUNC);
        if (want < 0) {
            printf(" peek = -1 %s\n", strerrorname_np(errno));
            return;
        }
        char *buf = malloc(want);
        iov = (struct iovec){buf, want};
        ssize_t n = recvmsg(fd, &m, 0);
        printf(" [%s from %u]", n == want && !(m.msg_flags & MSG_TRUNC) ? "whole" : "cut", from.nl_pid);
        for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) {
                printf(" done(%d)%s\n", *(int *)NLMSG_DATA(h), h->nlmsg_flags & NLM_F_DUMP_FILTERED ? " filtered" : "");
                free(buf);
                return;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = NLMSG_DATA(h);
                printf(" error(%s) flags %#x\n", e->error ? strerrorname_np(-e->error) : "0",
                       h->nlmsg_flags);
                free(buf);
                return;
            }
            if (h->nlmsg_type == RTM_NEWLINK) {
                struct ifinfomsg *i = NLMSG_DATA(h);
                printf(" link(%d multi=%d)", i->ifi_index, !!(h->nlmsg_flags & NLM_F_MULTI));
                if (!(h->nlmsg_flags & NLM_F_MULTI)) {
                    printf("\n");
                    free(buf);
                    return;
                }
            } else if (h->nlmsg_type == RTM_NEWROUTE) {
                struct rtmsg *r = NLMSG_DATA(h);
                printf(" route(%d/%d table %d type %d)", r->rtm_family, r->rtm_dst_len, r->rtm_table, r->rtm_type);
            } else if (h->nlmsg_type == RTM_NEWADDR) {
                struct ifaddrmsg *a = NLMSG_DATA(h);
                printf(" addr(%d/%d scope %d)", a->ifa_family, a->ifa_prefixlen, a->ifa_scope);
            } else {
                printf(" type %d", h->nlmsg_type);
            }
        }
        free(buf);
    }
}

int main(void) {
    int r = socket(AF_NETLINK, SOCK_STREAM, NETLINK_ROUTE);
    printf("stream: %d %s\n", r, strerrorname_np(errno));
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct sockaddr_nl me = {.nl_family = AF_NETLINK};
    socklen_t len = sizeof me;
    getsockname(fd, (void *)&me, &len);
    printf("unbound: len %u pid %u\n", len, me.nl_pid);
    if (bind(fd, (void *)&me, sizeof me))
        printf("bind = -1 %s\n", strerrorname_np(errno));
    getsockname(fd, (void *)&me, &len);
    printf("bound to the pid: %d\n", me.nl_pid == (unsigned)getpid());
    int other = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE);
    struct sockaddr_nl taken = {.nl_family = AF_NETLINK, .nl_pid = getpid()};
    r = bind(other, (void *)&taken, sizeof taken);
    printf("bind taken = %d %s\n", r, strerrorname_np(errno));
    struct sockaddr_nl auto_ = {.nl_family = AF_NETLINK};
    bind(other, (void *)&auto_, sizeof auto_);
    getsockname(other, (void *)&auto_, &len);
    printf("second is negative: %d\n", (int)auto_.nl_pid < 0);

    struct rtgenmsg g = {.rtgen_family = AF_UNSPEC};
    request(fd, RTM_GETLINK, NLM_F_DUMP, &g, sizeof g);
    replies(fd, "link dump");
    struct ifinfomsg one = {.ifi_index = 1};
    request(fd, RTM_GETLINK, NLM_F_ACK, &one, sizeof one);
    replies(fd, "link 1");
    replies(fd, "its ack");
    char named[sizeof(struct ifinfomsg) + RTA_SPACE(8)] = {0};
    struct rtattr *rta = (void *)(named + sizeof(struct ifinfomsg));
    rta->rta_type = IFLA_IFNAME;
    rta->rta_len = RTA_LENGTH(5);
    memcpy(RTA_DATA(rta), "nope", 5);
    request(fd, RTM_GETLINK, 0, named, sizeof named);
    replies(fd, "link nope");
    for (int f = 0; f < 3; f++) {
        struct ifaddrmsg a = {.ifa_family = f == 0 ? AF_UNSPEC : f == 1 ? AF_INET : AF_INET6};
        request(fd, RTM_GETADDR, NLM_F_DUMP, &a, sizeof a);
        replies(fd, f == 0 ? "addrs" : f == 1 ? "ipv4 addrs" : "ipv6 addrs");
    }
    for (int f = 0; f < 2; f++) {
        struct rtmsg rt = {.rtm_family = f == 0 ? AF_INET : AF_INET6};
        request(fd, RTM_GETROUTE, NLM_F_DUMP, &rt, sizeof rt);
        replies(fd, f == 0 ? "ipv4 routes" : "ipv6 routes");
    }
    int on = 1;
    printf("strict = %d\n", setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &on, sizeof on));
    request(fd, RTM_GETLINK, NLM_F_DUMP, &g, sizeof g);
    replies(fd, "strict short dump");
    char main_table[sizeof(struct rtmsg) + RTA_SPACE(4)] = {0};
    ((struct rtmsg *)main_table)->rtm_family = AF_INET;
    rta = (void *)(main_table + sizeof(struct rtmsg));
    rta->rta_type = RTA_TABLE;
    rta->rta_len = RTA_LENGTH(4);
    *(int *)RTA_DATA(rta) = RT_TABLE_MAIN;
    request(fd, RTM_GETROUTE, NLM_F_DUMP, main_table, sizeof main_table);
    replies(fd, "strict main table");
    struct ifaddrmsg by_index = {.ifa_family = AF_INET, .ifa_index = 1};
    request(fd, RTM_GETADDR, NLM_F_DUMP, &by_index, sizeof by_index);
    replies(fd, "strict addrs of 1");
    by_index.ifa_index = 77;
    request(fd, RTM_GETADDR, NLM_F_DUMP, &by_index, sizeof by_index);
    replies(fd, "strict addrs of 77");
    r = setsockopt(fd, 0 /* SOL_IP */, 999, &on, sizeof on);
    printf("bad level = %d %s\n", r, strerrorname_np(errno));
    int rcv = 0;
    len = sizeof rcv;
    on = 8192;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &on, sizeof on);
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len);
    printf("rcvbuf %d\n", rcv);
    return 0;
}
