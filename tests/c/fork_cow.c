/* fork gives the child a copy of memory: writes on either side after the
 * fork are not seen by the other; the exit status comes back through wait. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int global = 1;

int main(void) {
    char *heap = malloc(64);
    strcpy(heap, "parent heap");
    char *anon = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    anon[0] = 'P';
    anon[(1 << 20) - 1] = 'Q';
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
        printf("child sees: global=%d heap=%s anon=%c%c\n", global, heap, anon[0], anon[(1 << 20) - 1]);
        global = 2;
        strcpy(heap, "child heap");
        anon[0] = 'C';
        fflush(stdout);
        _exit(global + 40);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) { perror("waitpid"); return 1; }
    printf("child exited: %d status=%d\n", WIFEXITED(status), WEXITSTATUS(status));
    printf("parent keeps: global=%d heap=%s anon=%c\n", global, heap, anon[0]);
    /* A child killed by a signal. */
    pid = fork();
    if (pid == 0) { raise(SIGKILL); _exit(0); }
    waitpid(pid, &status, 0);
    printf("killed child: signaled=%d sig=%d\n", WIFSIGNALED(status), WTERMSIG(status));
    /* No children left. */
    printf("wait with no children: %d\n", wait(NULL) == -1);
    return 0;
}
