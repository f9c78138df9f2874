/* brk grows and shrinks the heap; memory in it is usable and zeroed. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(void) {
    char *start = (char *)syscall(SYS_brk, 0);
    char *grown = (char *)syscall(SYS_brk, start + (1 << 20));
    if (grown != start + (1 << 20)) { printf("grow failed\n"); return 1; }
    for (long i = 0; i < (1 << 20); i += 4096) {
        if (start[i] != 0) { printf("not zeroed\n"); return 1; }
        start[i] = 'x';
    }
    char *shrunk = (char *)syscall(SYS_brk, start + 4096);
    if (shrunk != start + 4096) { printf("shrink failed\n"); return 1; }
    char *again = (char *)syscall(SYS_brk, start + 8192);
    printf("grow=%d shrink=%d regrow=%d first=%c second_zero=%d\n",
           grown == start + (1 << 20), shrunk == start + 4096, again == start + 8192,
           start[0], start[4096] == 0);
    /* A break below the start is refused: the break stays put. */
    char *cur = (char *)syscall(SYS_brk, 0);
    printf("below=%d\n", (char *)syscall(SYS_brk, 0x1000) == cur);
    return 0;
}
