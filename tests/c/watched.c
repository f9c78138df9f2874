/* A global changed a few times, for a debugger's watchpoint. */
#include <stdio.h>

volatile int watched = 0;

__attribute__((noinline)) void bump(int by) {
    watched += by;
}

int main(void) {
    for (int i = 1; i <= 3; i++)
        bump(i);
    printf("watched %d\n", watched);
    return 0;
}
