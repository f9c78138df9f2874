/* A userfaultfd (a classic way to stall the kernel at a chosen moment). */
#include "escape.h"

int main(void) {
    report("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
    int fd = open("/dev/userfaultfd", O_RDWR);
    report("open /dev/userfaultfd", fd);
    return 0;
}
