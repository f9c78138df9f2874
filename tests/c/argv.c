/* Prints its arguments, one per line: the interpreter of the #! tests, so
 * that the argument vector exec built can be compared with Linux's. */
#include <stdio.h>

int main(int argc, char **argv) {
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    return 0;
}
