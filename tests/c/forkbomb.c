/* A fork bomb that ends: every process forks until fork fails, notes how
 * it failed on a pipe, and waits for "go". The first process reports
 * "full" once any fork has failed, waits for a line on stdin (the test
 * looks at the host meanwhile), counts the processes in /proc (the test
 * runs it with a limit of 32), lets everyone go, and prints how the forks
 * failed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int go[2], failures[2];

/* Whether the first process let everyone go (go[0] at end of file): a
 * process still forking then stops, or the freed slots would be refilled
 * by a new wave of the bomb (on a slow host, a large one). */
static int let_go(void) {
    struct pollfd p = {.fd = go[0], .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void bomb(void) {
    close(go[1]);
    for (int i = 0; i < 64 && !let_go(); i++) {
        pid_t p = fork();
        if (p == 0)
            continue; /* the child bombs on */
        if (p < 0) {
            (void)!write(failures[1], errno == EAGAIN ? "A" : "?", 1);
            break;
        }
    }
    char c;
    (void)!read(go[0], &c, 1); /* end of file when the first process lets go */
    while (wait(NULL) > 0)
        ;
    _exit(0);
}

static int count_processes(void) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += e->d_name[0] >= '1' && e->d_name[0] <= '9';
    if (d)
        closedir(d);
    return n;
}

int main(void) {
    /* The failures are only counted at the end: a writer never waits for
     * room (any one of them will do). */
    if (pipe(go) || pipe(failures) || fcntl(failures[1], F_SETFL, O_NONBLOCK))
        return 1;
    pid_t bomber = fork();
    if (bomber == 0)
        bomb();
    close(failures[1]);
    char c;
    if (read(failures[0], &c, 1) != 1)
        return 2;
    int eagain = c == 'A', other = c != 'A';
    printf("full\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        return 3;
    /* A fork that took the last slot may still be finishing: look again
     * for a moment until it shows (more than the limit would show too). */
    int seen = 0;
    for (int i = 0; i < 200 && seen < 32; i++) {
        int n = count_processes();
        seen = n > seen ? n : seen;
        if (seen < 32)
            usleep(10000);
    }
    printf("processes %d\n", seen);
    close(go[1]);
    waitpid(bomber, NULL, 0);
    while (read(failures[0], &c, 1) == 1) {
        eagain += c == 'A';
        other += c != 'A';
    }
    printf("eagain %d other %d\n", eagain > 0, other);
    return 0;
}
