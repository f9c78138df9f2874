/* Load a kernel module named sandbox_escape (a bogus image), by memory
 * and by descriptor. */
#include "escape.h"

int main(void) {
    static char image[64] = "\x7f" "ELF sandbox_escape";
    report("init_module", syscall(SYS_init_module, image, sizeof image, ""));
    int fd = open("/proc/self/exe", O_RDONLY);
    report("finit_module", syscall(SYS_finit_module, fd, "", 0));
    return 0;
}
