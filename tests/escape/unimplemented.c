/* Raw system calls the sentry does not implement, and numbers no kernel
 * has: each must fail inside without reaching the host. */
#include "escape.h"

int main(void) {
    report("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
    report("quotactl", syscall(SYS_quotactl, 0, "/", 0, 0));
    report("nr 335", syscall(335, 0, 0, 0, 0, 0, 0));
    report("nr 1000", syscall(1000, 0, 0, 0, 0, 0, 0));
    report("nr -1", syscall(-1L, 0, 0, 0, 0, 0, 0));
    return 0;
}
