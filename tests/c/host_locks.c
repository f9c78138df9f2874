/* Locks on a volume's file meet locks that processes outside the sandbox
 * hold on it (tests/locks.rs starts the outside holder, a python3 process
 * on the host, before this runs natively and in the sandbox).
 *
 *   host_locks check DIR   DIR/f is held outside: an OFD write lock on
 *                          bytes 0..9, a process's read lock on 100..109,
 *                          a shared flock. Prints what fcntl and flock
 *                          say; outside holders' pids print as "outside"
 *                          (Linux shows 0 for a process of another pid
 *                          namespace, the host's pid natively, -1 for an
 *                          OFD lock).
 *   host_locks hold DIR    takes a write lock on bytes 200..209 of DIR/f,
 *                          an OFD read lock on 300..309 and an exclusive
 *                          flock of DIR/g, prints "held", and on each line
 *                          of stdin: "weaken" turns the write lock into a
 *                          read lock, "close" closes both files; prints
 *                          what it did, and exits at the end of stdin. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static const char *res(int r) { return r == 0 ? "ok" : strerrorname_np(r); }

static int lk(int fd, int cmd, int type, off_t start, off_t len) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &fl) == -1 ? errno : 0;
}

static const char *type_name(int t) {
    return t == F_RDLCK ? "RDLCK" : t == F_WRLCK ? "WRLCK" : t == F_UNLCK ? "UNLCK" : "?";
}

static void getlk(const char *what, int fd, int cmd, int type, off_t start, off_t len) {
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    if (fcntl(fd, cmd, &fl) == -1) {
        printf("%s: %s\n", what, strerrorname_np(errno));
    } else if (fl.l_type == F_UNLCK) {
        printf("%s: UNLCK\n", what);
    } else {
        const char *pid = fl.l_pid == -1 ? "-1" : fl.l_pid == getpid() ? "self" : "outside";
        printf("%s: %s start=%ld len=%ld pid=%s\n", what, type_name(fl.l_type), (long)fl.l_start,
               (long)fl.l_len, pid);
    }
}

static void on_alarm(int sig) { (void)sig; }

/* A wait that a signal must cut short: the holder outside never lets go. */
static void interrupted(const char *what, int fd, int cmd, int type, off_t start, off_t len, int flock_op) {
    struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    int r = flock_op ? (flock(fd, flock_op) == -1 ? errno : 0) : lk(fd, cmd, type, start, len);
    alarm(0);
    printf("%s: %s\n", what, res(r));
}

static int open_in(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    return fd;
}

static void check(const char *dir) {
    int fd = open_in(dir, "f");
    printf("setlk W 0..9: %s\n", res(lk(fd, F_SETLK, F_WRLCK, 0, 10)));
    printf("ofd setlk R 5: %s\n", res(lk(fd, F_OFD_SETLK, F_RDLCK, 5, 1)));
    getlk("getlk W 0..eof", fd, F_GETLK, F_WRLCK, 0, 0);
    getlk("ofd getlk R 9..20", fd, F_OFD_GETLK, F_RDLCK, 9, 12);
    getlk("getlk R 10..99", fd, F_GETLK, F_RDLCK, 10, 90);
    getlk("getlk W 50..150", fd, F_GETLK, F_WRLCK, 50, 101);
    getlk("getlk R 100..109", fd, F_GETLK, F_RDLCK, 100, 10);
    printf("setlk R 100..109: %s\n", res(lk(fd, F_SETLK, F_RDLCK, 100, 10)));
    printf("setlk W 100..109 (upgrade): %s\n", res(lk(fd, F_SETLK, F_WRLCK, 100, 10)));
    printf("setlk W 50..59: %s\n", res(lk(fd, F_SETLK, F_WRLCK, 50, 10)));
    printf("setlk W 10..99 (beside both): %s\n", res(lk(fd, F_SETLK, F_WRLCK, 10, 90)));
    printf("setlk U 0..eof: %s\n", res(lk(fd, F_SETLK, F_UNLCK, 0, 0)));
    printf("setlk W 0..eof: %s\n", res(lk(fd, F_SETLK, F_WRLCK, 0, 0)));
    printf("setlk W 110..eof: %s\n", res(lk(fd, F_SETLK, F_WRLCK, 110, 0)));
    interrupted("setlkw W 0..9 (interrupted)", fd, F_SETLKW, F_WRLCK, 0, 10, 0);
    interrupted("ofd setlkw W 100 (interrupted)", fd, F_OFD_SETLKW, F_WRLCK, 100, 1, 0);

    int f2 = open_in(dir, "f");
    printf("flock SH|NB: %s\n", res(flock(fd, LOCK_SH | LOCK_NB) == -1 ? errno : 0));
    printf("flock SH|NB, another description: %s\n", res(flock(f2, LOCK_SH | LOCK_NB) == -1 ? errno : 0));
    printf("flock EX|NB: %s\n", res(flock(f2, LOCK_EX | LOCK_NB) == -1 ? errno : 0));
    printf("flock UN: %s\n", res(flock(fd, LOCK_UN) == -1 ? errno : 0));
    printf("flock EX|NB: %s\n", res(flock(fd, LOCK_EX | LOCK_NB) == -1 ? errno : 0));
    interrupted("flock EX (interrupted)", fd, 0, 0, 0, 0, LOCK_EX);
    printf("flock SH|NB: %s\n", res(flock(fd, LOCK_SH | LOCK_NB) == -1 ? errno : 0));
    close(f2);
    close(fd);
}

static void hold(const char *dir) {
    int fd = open_in(dir, "f"), g = open_in(dir, "g");
    printf("setlk W 200..209: %s\n", res(lk(fd, F_SETLK, F_WRLCK, 200, 10)));
    printf("ofd setlk R 300..309: %s\n", res(lk(fd, F_OFD_SETLK, F_RDLCK, 300, 10)));
    printf("flock g EX: %s\n", res(flock(g, LOCK_EX | LOCK_NB) == -1 ? errno : 0));
    printf("held\n");
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (strcmp(line, "weaken\n") == 0) {
            printf("setlk R 200..209: %s\n", res(lk(fd, F_SETLK, F_RDLCK, 200, 10)));
            printf("flock g SH: %s\n", res(flock(g, LOCK_SH | LOCK_NB) == -1 ? errno : 0));
        } else if (strcmp(line, "close\n") == 0) {
            close(fd);
            close(g);
            printf("closed\n");
        }
        fflush(stdout);
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 3) {
        fprintf(stderr, "usage: host_locks check|hold DIR\n");
        return 2;
    }
    if (strcmp(argv[1], "check") == 0) {
        check(argv[2]);
    } else {
        hold(argv[2]);
    }
    return 0;
}
