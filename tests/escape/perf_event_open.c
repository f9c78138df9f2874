/* Count CPU cycles of every process on CPU 0 (pid -1). */
#include "escape.h"
#include <linux/perf_event.h>

int main(void) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.type = PERF_TYPE_SOFTWARE;
    a.size = sizeof a;
    a.config = PERF_COUNT_SW_CPU_CLOCK;
    report("perf_event_open all", syscall(SYS_perf_event_open, &a, -1, 0, -1, 0));
    report("perf_event_open self", syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
    return 0;
}
