/* A memory cgroup's OOM killer takes the largest process, not the whole
 * group: a child that touches memory without end is killed (SIGKILL)
 * while its parent, small, lives on and can allocate again. Run in a
 * cgroup (or sandbox) limited to far less than 1 GiB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    pid_t pid = fork();
    if (pid == 0) {
        for (int mib = 1; mib <= 1024; mib++) {
            char *p = malloc(1 << 20);
            if (!p) _exit(1);
            memset(p, mib, 1 << 20);
        }
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st))
        printf("child: killed by signal %d\n", WTERMSIG(st));
    else
        printf("child: exited %d\n", WEXITSTATUS(st));
    char *p = malloc(16 << 20);
    memset(p, 1, 16 << 20);
    printf("parent: 16 MiB touched after\n");
    return 0;
}
