/* Join pid 1's namespaces (the host's init on the host). */
#include "escape.h"
#include <sched.h>

int main(void) {
    int fd = open("/proc/1/ns/mnt", O_RDONLY);
    report("open /proc/1/ns/mnt", fd);
    report("setns mnt", setns(fd < 0 ? 0 : fd, CLONE_NEWNS));
    report("setns any", setns(0, 0));
    return 0;
}
