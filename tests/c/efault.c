/* A bad pointer passed to the kernel gives EFAULT and the program goes on. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <time.h>

int main(void) {
    long r = syscall(SYS_write, 1, (void *)8, 10);
    int e1 = errno;
    r = syscall(SYS_write, 1, (void *)0x7fffffffffff0000, 10) == -1 ? -1 : r;
    int e2 = errno;
    long r3 = syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)16);
    int e3 = errno;
    long r4 = syscall(SYS_uname, (void *)-4096L);
    int e4 = errno;
    printf("write=%s kernelptr=%s clock=%ld/%s uname=%ld/%s\n", strerror(e1), strerror(e2), r3,
           strerror(e3), r4, strerror(e4));
    printf("continued\n");
    return 0;
}
