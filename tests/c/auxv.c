/* /proc/self/auxv holds the auxiliary vector the program was started
 * with: the same pairs getauxval reads, AT_NULL last. Printed as
 * relations, for comparison with Linux. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(void) {
    unsigned long v[512];
    int fd = open("/proc/self/auxv", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, v, sizeof v);
    printf("readable: %d\n", n > 0);
    if (n <= 0)
        return 0;
    size_t pairs = (size_t)n / 16;
    printf("whole pairs: %d, AT_NULL last: %d\n", n % 16 == 0, v[2 * (pairs - 1)] == AT_NULL);
    unsigned long keys[] = {AT_PAGESZ, AT_PHDR, AT_ENTRY, AT_UID, AT_EUID, AT_RANDOM, AT_EXECFN, AT_PLATFORM};
    const char *names[] = {"AT_PAGESZ", "AT_PHDR", "AT_ENTRY", "AT_UID", "AT_EUID", "AT_RANDOM", "AT_EXECFN", "AT_PLATFORM"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        int found = 0, same = 0;
        for (size_t i = 0; i + 1 < pairs; i++)
            if (v[2 * i] == keys[k]) {
                found = 1;
                same = v[2 * i + 1] == getauxval(keys[k]);
            }
        printf("%s: present %d, as getauxval %d\n", names[k], found, same);
    }
    return 0;
}
