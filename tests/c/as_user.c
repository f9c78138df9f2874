/* Run a program as another user: `as_user UID GID PROGRAM ARGS...` drops
 * the supplementary groups, takes the group and user ids (real, effective
 * and saved) and execs PROGRAM, with HOME=/tmp. For programs that refuse
 * to run as root (PostgreSQL's initdb and postgres). */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: as_user UID GID PROGRAM ARGS...\n");
        return 2;
    }
    if (setgroups(0, NULL) < 0 || setgid(atoi(argv[2])) < 0 || setuid(atoi(argv[1])) < 0) {
        perror("as_user");
        return 1;
    }
    setenv("HOME", "/tmp", 1);
    execv(argv[3], argv + 3);
    perror("as_user: exec");
    return 127;
}
