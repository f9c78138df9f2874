/* Dies of SIGSEGV in a named function, for a debugger's backtrace. */
#include <stdio.h>

__attribute__((noinline)) void crash_here(volatile int *p) {
    *p = 42;
}

__attribute__((noinline)) void caller_of_crash(void) {
    crash_here((volatile int *)16);
}

int main(void) {
    puts("about to crash");
    fflush(stdout);
    caller_of_crash();
    return 0;
}
