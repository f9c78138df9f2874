/* Supplementary groups: setgroups/getgroups as root (kept sorted, a short
 * buffer is EINVAL), and file access granted through a supplementary group
 * after dropping to an unprivileged uid, and refused without it. Run as
 * root; prints what it sees. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *when) {
    gid_t g[16];
    int n = getgroups(16, g);
    printf("%s: %d:", when, n);
    for (int i = 0; i < n; i++)
        printf(" %u", g[i]);
    printf("\n");
}

/* In a child: take `groups`, become uid/gid 1000, and try to read `path`. */
static void try_read(const char *path, const gid_t *groups, int n) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(n, groups) || setgid(1000) || setuid(1000)) {
            printf("drop: %s\n", strerror(errno));
            exit(1);
        }
        int fd = open(path, O_RDONLY);
        printf("read with %d group(s): %s\n", n, fd >= 0 ? "ok" : strerror(errno));
        exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
}

int main(void) {
    gid_t set[] = {27, 4, 100};
    if (setgroups(3, set) != 0) {
        perror("setgroups");
        return 1;
    }
    show("after setgroups 27 4 100");
    gid_t small[2];
    printf("short buffer: %d %s\n", getgroups(2, small), strerror(errno));
    printf("count: %d\n", getgroups(0, NULL));

    char dir[] = "/tmp/groups-XXXXXX";
    if (!mkdtemp(dir) || chmod(dir, 0755)) {
        perror("mkdtemp");
        return 1;
    }
    char path[64];
    snprintf(path, sizeof path, "%s/secret", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0640);
    if (fd < 0 || fchown(fd, 0, 4) || fchmod(fd, 0640)) {
        perror("secret");
        return 1;
    }
    close(fd);
    gid_t with[] = {4}, without[] = {5};
    try_read(path, with, 1);
    try_read(path, without, 1);
    unlink(path);
    rmdir(dir);
    return 0;
}
