/* The interfaces as glibc shows them: getifaddrs (a NETLINK_ROUTE dump of
 * links and addresses) and if_nameindex, each entry printed in a fixed
 * form. Run natively in a fresh network namespace with lo up, and in the
 * sandbox, the outputs must match. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static void addr(const char *what, const struct sockaddr *sa) {
    char text[INET6_ADDRSTRLEN] = "?";
    if (!sa) {
        printf(" %s=none", what);
        return;
    }
    switch (sa->sa_family) {
    case AF_INET:
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof text);
        break;
    case AF_INET6:
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof text);
        break;
    case AF_PACKET: {
        const struct sockaddr_ll *ll = (const void *)sa;
        int n = 0;
        for (int i = 0; i < ll->sll_halen && n < (int)sizeof text - 3; i++)
            n += snprintf(text + n, sizeof text - n, "%s%02x", i ? ":" : "", ll->sll_addr[i]);
        printf(" %s=ll(index %d type %d len %d %s)", what, ll->sll_ifindex, ll->sll_hatype, ll->sll_halen,
               text);
        return;
    }
    }
    printf(" %s=%s", what, text);
}

int main(void) {
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs)) {
        printf("getifaddrs = -1 %s\n", strerrorname_np(errno));
        return 1;
    }
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        int family = i->ifa_addr ? i->ifa_addr->sa_family : -1;
        printf("%s family %d flags %#x", i->ifa_name, family, i->ifa_flags);
        addr("addr", i->ifa_addr);
        addr("mask", i->ifa_netmask);
        if (family == AF_INET && (i->ifa_flags & IFF_BROADCAST))
            addr("brd", i->ifa_broadaddr);
        printf(" data=%s\n", i->ifa_data ? "yes" : "no");
    }
    freeifaddrs(ifs);
    struct if_nameindex *names = if_nameindex();
    if (!names) {
        printf("if_nameindex = NULL %s\n", strerrorname_np(errno));
        return 1;
    }
    for (struct if_nameindex *n = names; n->if_index; n++) {
        char back[IF_NAMESIZE] = "";
        printf("index %u name %s nametoindex %u indextoname %s\n", n->if_index, n->if_name,
               if_nametoindex(n->if_name), if_indextoname(n->if_index, back) ? back : "NULL");
    }
    if_freenameindex(names);
    errno = 0;
    unsigned int none = if_nametoindex("nope");
    printf("nametoindex(nope) = %u %s\n", none, strerrorname_np(errno));
    return 0;
}
