/* fcntl's I/O signal owner and signal (F_SETOWN, F_GETOWN, F_SETOWN_EX,
 * F_GETOWN_EX, F_SETSIG, F_GETSIG) and syncfs of an O_PATH descriptor.
 * Every result is printed, without pids, for comparison with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

static void owner(int fd, const char *when) {
    struct f_owner_ex o = {7, 7};
    long r = fcntl(fd, F_GETOWN_EX, &o);
    printf("%s: F_GETOWN_EX = %ld, type %d, is me %d, is my group %d, zero %d\n", when, r, o.type, o.pid == getpid(),
           o.pid == getpgrp(), o.pid == 0);
}

int main(void) {
    int fd = open("/proc/self/exe", O_RDONLY);
    owner(fd, "new file");
    show("F_GETOWN", fcntl(fd, F_GETOWN));
    show("F_SETOWN(me)", fcntl(fd, F_SETOWN, getpid()));
    show("F_GETOWN is me", fcntl(fd, F_GETOWN) == getpid());
    owner(fd, "after F_SETOWN(me)");
    show("F_SETOWN(-my group)", fcntl(fd, F_SETOWN, -getpgrp()));
    show("F_GETOWN is -my group", fcntl(fd, F_GETOWN) == -getpgrp());
    owner(fd, "after F_SETOWN(-group)");
    show("F_SETOWN(no such pid)", fcntl(fd, F_SETOWN, 999999));
    show("F_SETOWN(no such group)", fcntl(fd, F_SETOWN, -999999));
    struct f_owner_ex t = {F_OWNER_TID, getpid()};
    show("F_SETOWN_EX(tid me)", fcntl(fd, F_SETOWN_EX, &t));
    owner(fd, "after F_SETOWN_EX(tid)");
    struct f_owner_ex bad = {5, getpid()};
    show("F_SETOWN_EX(bad type)", fcntl(fd, F_SETOWN_EX, &bad));
    struct f_owner_ex gone = {F_OWNER_PID, 999999};
    show("F_SETOWN_EX(no such pid)", fcntl(fd, F_SETOWN_EX, &gone));
    show("F_SETOWN_EX(bad pointer)", fcntl(fd, F_SETOWN_EX, (void *)8));
    show("F_SETOWN(0)", fcntl(fd, F_SETOWN, 0));
    owner(fd, "after F_SETOWN(0)");
    show("F_GETSIG", fcntl(fd, F_GETSIG));
    show("F_SETSIG(SIGUSR1)", fcntl(fd, F_SETSIG, 10));
    show("F_GETSIG", fcntl(fd, F_GETSIG));
    show("F_SETSIG(65)", fcntl(fd, F_SETSIG, 65));
    show("F_SETSIG(-1)", fcntl(fd, F_SETSIG, -1));
    show("F_GETSIG(bad fd)", fcntl(99, F_GETSIG));
    int dup = fcntl(fd, F_DUPFD, 10);
    show("a dup shares it: F_GETSIG", fcntl(dup, F_GETSIG));
    int p = open("/proc/self/exe", O_PATH);
    show("syncfs(O_PATH)", syncfs(p));
    show("syncfs(file)", syncfs(fd));
    return 0;
}
