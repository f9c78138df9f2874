/* A syscall number the kernel does not have, and one the sandbox does not
 * offer, both fail with ENOSYS; the program continues. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <stdlib.h>
#include <sys/syscall.h>

int main(int argc, char **argv) {
    long nr = argc > 1 ? atol(argv[1]) : 1000;
    long r = syscall(nr, 0, 0, 0);
    printf("syscall %ld: %ld %s\n", nr, r, strerror(errno));
    return 0;
}
