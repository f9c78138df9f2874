/* Add a key named sandbox-escape to the session keyring, read the
 * keyrings of the kernel. */
#include "escape.h"

int main(void) {
    /* KEY_SPEC_SESSION_KEYRING = -3, KEYCTL_GET_KEYRING_ID = 0 */
    report("add_key", syscall(SYS_add_key, "user", "sandbox-escape", "x", 1, -3));
    report("keyctl", syscall(SYS_keyctl, 0, -3, 1));
    report("request_key", syscall(SYS_request_key, "user", "sandbox-escape", NULL, 0));
    return 0;
}
