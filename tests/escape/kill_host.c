/* kill_host PID: send SIGKILL to PID (a host process), and to every pid
 * up to 400 but our own, our parent and pid 1 (whatever they are). */
#include "escape.h"
#include <signal.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    report("kill host pid", kill(atoi(argv[1]), SIGKILL));
    int hit = 0;
    for (pid_t p = 2; p <= 400; p++)
        if (p != getpid() && p != getppid() && kill(p, 0) == 0) hit++;
    printf("other pids signalable: %d\n", hit);
    return 0;
}
