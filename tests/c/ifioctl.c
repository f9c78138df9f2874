/* The interface ioctls (SIOCGIF*) on an AF_INET and an AF_UNIX socket:
 * SIOCGIFCONF (sized with no buffer, then filled), and for each interface
 * its flags, MTU, index, name by index, hardware address, queue length,
 * and (AF_INET) address, netmask and broadcast address. Every result is
 * printed; run natively in a fresh network namespace with lo up, and in
 * the sandbox, the outputs must match. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int get(int fd, unsigned long req, const char *name, struct ifreq *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->ifr_name, sizeof r->ifr_name, "%s", name);
    int n = ioctl(fd, req, r);
    if (n < 0)
        printf("  %#lx = -1 %s\n", req, strerrorname_np(errno));
    return n;
}

static const char *in(const struct sockaddr *sa) {
    static char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, text, sizeof text);
    return text;
}

static void one(int fd, int inet, const char *name) {
    struct ifreq r;
    printf(" %s:\n", name);
    if (get(fd, SIOCGIFFLAGS, name, &r) == 0)
        printf("  flags %#x\n", (unsigned short)r.ifr_flags);
    if (get(fd, SIOCGIFMTU, name, &r) == 0)
        printf("  mtu %d\n", r.ifr_mtu);
    if (get(fd, SIOCGIFINDEX, name, &r) == 0) {
        int index = r.ifr_ifindex;
        printf("  index %d\n", index);
        memset(&r, 0, sizeof r);
        r.ifr_ifindex = index;
        if (ioctl(fd, SIOCGIFNAME, &r) == 0)
            printf("  name of %d: %s\n", index, r.ifr_name);
    }
    if (get(fd, SIOCGIFHWADDR, name, &r) == 0) {
        const unsigned char *a = (const unsigned char *)r.ifr_hwaddr.sa_data;
        printf("  hwaddr type %d %02x:%02x:%02x:%02x:%02x:%02x\n", r.ifr_hwaddr.sa_family, a[0], a[1], a[2],
               a[3], a[4], a[5]);
    }
    if (get(fd, SIOCGIFTXQLEN, name, &r) == 0)
        printf("  txqlen %d\n", r.ifr_qlen);
    if (get(fd, SIOCGIFADDR, name, &r) == 0)
        printf("  addr %s\n", in(&r.ifr_addr));
    if (get(fd, SIOCGIFNETMASK, name, &r) == 0)
        printf("  netmask %s\n", in(&r.ifr_netmask));
    if (inet && get(fd, SIOCGIFBRDADDR, name, &r) == 0)
        printf("  broadcast %s\n", in(&r.ifr_broadaddr));
}

static void sock(int domain) {
    int fd = socket(domain, SOCK_DGRAM, 0);
    printf("%s socket\n", domain == AF_INET ? "AF_INET" : "AF_UNIX");
    if (fd < 0) {
        printf(" socket = -1 %s\n", strerrorname_np(errno));
        return;
    }
    struct ifconf c = {.ifc_len = 0, .ifc_buf = NULL};
    if (ioctl(fd, SIOCGIFCONF, &c) < 0)
        printf(" SIOCGIFCONF = -1 %s\n", strerrorname_np(errno));
    printf(" ifconf needs %d\n", c.ifc_len);
    struct ifreq reqs[8];
    c.ifc_len = sizeof reqs;
    c.ifc_req = reqs;
    if (ioctl(fd, SIOCGIFCONF, &c) == 0) {
        for (int i = 0; i < c.ifc_len / (int)sizeof(struct ifreq); i++)
            printf(" ifconf %s %s\n", reqs[i].ifr_name, in(&reqs[i].ifr_addr));
    }
    struct if_nameindex *names = if_nameindex();
    for (struct if_nameindex *n = names; n && n->if_index; n++)
        one(fd, domain == AF_INET, n->if_name);
    if_freenameindex(names);
    one(fd, domain == AF_INET, "nope0");
    struct ifreq r = {0};
    r.ifr_ifindex = 999;
    if (ioctl(fd, SIOCGIFNAME, &r) < 0)
        printf(" SIOCGIFNAME 999 = -1 %s\n", strerrorname_np(errno));
    close(fd);
}

int main(void) {
    sock(AF_INET);
    sock(AF_UNIX);
    int fd = open("/dev/null", 0);
    struct ifreq r = {0};
    strcpy(r.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &r) < 0)
        printf("/dev/null SIOCGIFFLAGS = -1 %s\n", strerrorname_np(errno));
    return 0;
}
