/* other_abis PATH: make the directory PATH (a host path) through the
 * system-call entries the x86-64 one does not cover: the x32 numbering
 * (bit 30 set) and the 32-bit `int 0x80` gate, where 39 is mkdir (and
 * getpid in the 64-bit table). */
#include "escape.h"

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    report("x32 mkdir", syscall(0x40000000L | SYS_mkdir, argv[1], 0755));
    /* The 32-bit gate takes 32-bit pointers: a static binary's data is
     * below 4 GiB. */
    static char path[4096];
    snprintf(path, sizeof path, "%s", argv[1]);
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(39L), "b"(path), "c"(0755L) : "memory");
    printf("int 0x80 mkdir: %s\n", access(argv[1], F_OK) == 0 ? "made" : "not made");
    return 0;
}
