/* Raw getpid/gettid/getppid through the syscall instruction: inside the
 * sandbox these are the sentry's numbers, not the host's. */
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(void) {
    printf("pid=%ld tid=%ld ppid=%ld\n", syscall(SYS_getpid), syscall(SYS_gettid), syscall(SYS_getppid));
    return 0;
}
