/* Control messages of UDP sockets on loopback, as Linux gives and takes
 * them: IP_PKTINFO, IP_RECVTTL, IP_RECVTOS and SO_TIMESTAMP(NS) on receive;
 * IP_PKTINFO (the source address), IP_TTL and IP_TOS on send, with
 * Linux's EINVAL for an unknown message (a source that is not the
 * machine's is left to the unit tests: no address beyond loopback here); the IPv6 counterparts; an IPv4 datagram on a dual-stack socket.
 * Prints what it saw, to be compared with a native run. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int udp(int family, const char *ip, struct sockaddr_storage *at, socklen_t *len)
{
	int s = socket(family, SOCK_DGRAM, 0);
	memset(at, 0, sizeof *at);
	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)at;
		a->sin_family = AF_INET;
		inet_pton(AF_INET, ip, &a->sin_addr);
		*len = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (void *)at;
		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, ip, &a->sin6_addr);
		*len = sizeof *a;
	}
	if (bind(s, (void *)at, *len) != 0)
		perror("bind");
	getsockname(s, (void *)at, len);
	return s;
}

static void on(int s, int level, int name, int v)
{
	if (setsockopt(s, level, name, &v, sizeof v) != 0)
		printf("setsockopt(%d, %d): %s\n", level, name, strerror(errno));
}

/* Receive one datagram and print its control messages. */
static void show(const char *what, int s)
{
	char data[64], ctl[512], from[INET6_ADDRSTRLEN] = "?";
	struct sockaddr_storage peer;
	struct iovec iov = { data, sizeof data };
	struct msghdr m = { .msg_name = &peer, .msg_namelen = sizeof peer, .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl, .msg_controllen = sizeof ctl };
	ssize_t n = recvmsg(s, &m, MSG_DONTWAIT);
	if (n < 0) {
		printf("%s: recvmsg: %s\n", what, strerror(errno));
		return;
	}
	if (peer.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, from, sizeof from);
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, from, sizeof from);
	printf("%s: %zd bytes from %s, flags %#x\n", what, n, from, m.msg_flags);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		unsigned char *d = CMSG_DATA(c);
		size_t len = c->cmsg_len - CMSG_LEN(0);
		char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP) {
			struct timeval tv, now;
			memcpy(&tv, d, sizeof tv);
			gettimeofday(&now, NULL);
			printf("  SCM_TIMESTAMP len %zu, recent: %s\n", len, labs(now.tv_sec - tv.tv_sec) < 10 ? "yes" : "no");
		} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts, now;
			memcpy(&ts, d, sizeof ts);
			clock_gettime(CLOCK_REALTIME, &now);
			printf("  SCM_TIMESTAMPNS len %zu, recent: %s\n", len, labs(now.tv_sec - ts.tv_sec) < 10 ? "yes" : "no");
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, d, sizeof pi);
			inet_ntop(AF_INET, &pi.ipi_spec_dst, a, sizeof a);
			inet_ntop(AF_INET, &pi.ipi_addr, b, sizeof b);
			printf("  IP_PKTINFO len %zu ifindex %d spec_dst %s addr %s\n", len, pi.ipi_ifindex, a, b);
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) {
			printf("  IP_TTL len %zu %d\n", len, *(int *)d);
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
			printf("  IP_TOS len %zu %#x\n", len, d[0]);
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, d, sizeof pi);
			inet_ntop(AF_INET6, &pi.ipi6_addr, a, sizeof a);
			printf("  IPV6_PKTINFO len %zu ifindex %d addr %s\n", len, pi.ipi6_ifindex, a);
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
			printf("  IPV6_HOPLIMIT len %zu %d\n", len, *(int *)d);
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
			printf("  IPV6_TCLASS len %zu %#x\n", len, *(int *)d);
		} else {
			printf("  level %d type %d len %zu\n", c->cmsg_level, c->cmsg_type, len);
		}
	}
}

/* sendmsg of "x" to `to` with one control message; its result. */
static const char *send_with(int s, struct sockaddr_storage *to, socklen_t tolen, int level, int type, void *v,
			     size_t vlen)
{
	static char out[64];
	char ctl[CMSG_SPACE(64)] = { 0 };
	struct iovec iov = { "x", 1 };
	struct msghdr m = { .msg_name = to, .msg_namelen = tolen, .msg_iov = &iov, .msg_iovlen = 1 };
	if (vlen) {
		m.msg_control = ctl;
		m.msg_controllen = CMSG_SPACE(vlen);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = level;
		c->cmsg_type = type;
		c->cmsg_len = CMSG_LEN(vlen);
		memcpy(CMSG_DATA(c), v, vlen);
	}
	ssize_t n = sendmsg(s, &m, 0);
	snprintf(out, sizeof out, "%s", n < 0 ? strerror(errno) : "sent");
	return out;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sockaddr_storage ra, sa, wa;
	socklen_t rl, sl, wl;
	int r = udp(AF_INET, "127.0.0.1", &ra, &rl);
	int s = udp(AF_INET, "127.0.0.1", &sa, &sl);
	show("nothing asked", (sendto(s, "a", 1, 0, (void *)&ra, rl), r));

	on(r, IPPROTO_IP, IP_PKTINFO, 1);
	on(r, IPPROTO_IP, IP_RECVTTL, 1);
	on(r, IPPROTO_IP, IP_RECVTOS, 1);
	on(r, SOL_SOCKET, SO_TIMESTAMP, 1);
	on(s, IPPROTO_IP, IP_TTL, 33);
	on(s, IPPROTO_IP, IP_TOS, 0x20);
	sendto(s, "bb", 2, 0, (void *)&ra, rl);
	show("all asked", r);

	int v = -1;
	socklen_t vl = sizeof v;
	on(r, SOL_SOCKET, SO_TIMESTAMPNS, 1);
	getsockopt(r, SOL_SOCKET, SO_TIMESTAMP, &v, &vl);
	printf("SO_TIMESTAMP after SO_TIMESTAMPNS: %d\n", v);
	printf("ttl 5: %s\n", send_with(s, &ra, rl, IPPROTO_IP, IP_TTL, &(int){ 5 }, sizeof(int)));
	show("per-datagram ttl, ns stamp", r);
	on(r, SOL_SOCKET, SO_TIMESTAMP, 0);
	printf("tos byte: %s\n", send_with(s, &ra, rl, IPPROTO_IP, IP_TOS, &(unsigned char){ 0x48 }, 1));
	show("per-datagram tos", r);
	printf("ttl 0: %s\n", send_with(s, &ra, rl, IPPROTO_IP, IP_TTL, &(int){ 0 }, sizeof(int)));
	printf("unknown type: %s\n", send_with(s, &ra, rl, IPPROTO_IP, 9999, &(int){ 0 }, sizeof(int)));
	printf("other level: %s\n", send_with(s, &ra, rl, 9999, 1, &(int){ 0 }, sizeof(int)));
	show("other level", r);

	/* A wildcard receiver sees the address a datagram was sent to; a
	 * wildcard sender chooses its source with IP_PKTINFO. */
	int w = udp(AF_INET, "0.0.0.0", &wa, &wl);
	on(w, IPPROTO_IP, IP_PKTINFO, 1);
	struct sockaddr_in to2 = *(struct sockaddr_in *)&wa;
	inet_pton(AF_INET, "127.0.0.2", &to2.sin_addr);
	int ws = udp(AF_INET, "0.0.0.0", &sa, &sl);
	struct in_pktinfo pi = { 0 };
	inet_pton(AF_INET, "127.0.0.3", &pi.ipi_spec_dst);
	printf("source 127.0.0.3: %s\n", send_with(ws, (void *)&to2, sizeof to2, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi));
	show("to 127.0.0.2", w);

	/* IPv6, and IPv4 on a dual-stack socket. */
	struct sockaddr_storage r6a, s6a, d6a;
	socklen_t r6l, s6l, d6l;
	int r6 = udp(AF_INET6, "::1", &r6a, &r6l);
	int s6 = udp(AF_INET6, "::1", &s6a, &s6l);
	on(r6, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
	on(r6, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
	on(r6, IPPROTO_IPV6, IPV6_RECVTCLASS, 1);
	on(s6, IPPROTO_IPV6, IPV6_UNICAST_HOPS, 7);
	on(s6, IPPROTO_IPV6, IPV6_TCLASS, 0x40);
	sendto(s6, "six", 3, 0, (void *)&r6a, r6l);
	show("ipv6", r6);
	printf("hoplimit 3: %s\n", send_with(s6, &r6a, r6l, IPPROTO_IPV6, IPV6_HOPLIMIT, &(int){ 3 }, sizeof(int)));
	show("per-datagram hop limit", r6);
	int d6 = udp(AF_INET6, "::", &d6a, &d6l);
	on(d6, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
	on(d6, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
	on(d6, IPPROTO_IP, IP_PKTINFO, 1);
	struct sockaddr_in to4 = { .sin_family = AF_INET, .sin_port = ((struct sockaddr_in6 *)&d6a)->sin6_port };
	inet_pton(AF_INET, "127.0.0.1", &to4.sin_addr);
	sendto(s, "four", 4, 0, (void *)&to4, sizeof to4);
	show("ipv4 on dual stack", d6);
	printf("done\n");
	return 0;
}
