/* Try to attach to every pid from 1 to 400 (the sentry, its stubs and the
 * gofer are low in their namespaces; host pids are anywhere), and to be
 * traced by the parent. Prints how many attaches worked. */
#include "escape.h"
#include <sys/ptrace.h>

int main(void) {
    int attached = 0;
    int last_errno = 0;
    for (pid_t p = 1; p <= 400; p++) {
        if (ptrace(PTRACE_ATTACH, p, 0, 0) == 0) attached++;
        else last_errno = errno;
    }
    printf("attached: %d (%s)\n", attached, last_errno ? strerrorname_np(last_errno) : "-");
    report("PTRACE_TRACEME", ptrace(PTRACE_TRACEME, 0, 0, 0));
    report("PTRACE_SEIZE 1", ptrace(PTRACE_SEIZE, 1, 0, 0));
    return 0;
}
