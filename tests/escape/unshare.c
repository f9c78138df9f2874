/* New namespaces: a user namespace (which would give capabilities in it)
 * and the others. */
#include "escape.h"
#include <sched.h>

int main(void) {
    report("unshare user", unshare(CLONE_NEWUSER));
    report("unshare mount+net+pid", unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID));
    return 0;
}
