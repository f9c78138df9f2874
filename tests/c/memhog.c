/* Allocates memory 1 MiB at a time and writes every page, up to 1 GiB;
 * says how far it got only if it survives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    for (int mib = 1; mib <= 1024; mib++) {
        char *p = malloc(1 << 20);
        if (!p) {
            printf("malloc failed at %d MiB\n", mib);
            return 1;
        }
        memset(p, mib, 1 << 20);
    }
    printf("survived 1024 MiB\n");
    return 0;
}
