/* 1,000 clock_gettime calls: with the vDSO in place none of them traps
 * (the test counts application syscalls with --profile). */
#include <stdio.h>
#include <time.h>

int main(void) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 1000; i++) clock_gettime(CLOCK_MONOTONIC, &b);
    printf("monotonic: %d\n", b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec));
    return 0;
}
