/* Small calls programs trip on: execveat of a descriptor with
 * AT_EMPTY_PATH (fexecve, also of an O_PATH descriptor), setting the clock
 * without CAP_SYS_TIME (EPERM, after EINVAL for what is no settable clock
 * or time), and FUTEX_WAKE with a count of 0, which wakes one waiter as
 * Linux does. Run as root; prints what it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *err(long r) { return r < 0 ? strerror(errno) : "ok"; }

static char *const child_argv[] = { "smallcalls", "execed", NULL };

/* Run execveat(fd, path, flags) in a child; print how it went. */
static void try_exec_path(const char *what, int fd, const char *path, int flags) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        char *envp[] = { NULL };
        syscall(SYS_execveat, fd, path, child_argv, envp, flags);
        printf("%s: %s\n", what, strerror(errno));
        exit(1);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("%s: exit %d\n", what, WEXITSTATUS(st));
}

/* Run execveat(fd, "", flags) in a child. */
static void try_exec(const char *what, int fd, int flags) { try_exec_path(what, fd, "", flags); }

static atomic_int word;
static atomic_int woken;

static void *waiter(void *arg) {
    (void)arg;
    syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    atomic_store(&woken, 1);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "execed")) {
        printf("  running from a descriptor, argv[0] %s\n", argv[0]);
        return 0;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int fd = open("/proc/self/exe", O_RDONLY);
    try_exec("execveat of a descriptor", fd, AT_EMPTY_PATH);
    int path_fd = open("/proc/self/exe", O_PATH);
    try_exec("execveat of an O_PATH descriptor", path_fd, AT_EMPTY_PATH);
    try_exec("without AT_EMPTY_PATH", fd, 0);
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    try_exec("of a directory", dir, AT_EMPTY_PATH);
    try_exec("bad flag", fd, AT_EMPTY_PATH | 0x4);
    char self[4096], link[64];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n < 0 ? 0 : n] = 0;
    snprintf(link, sizeof link, "/tmp/smallcalls-link-%d", getpid());
    symlink(self, link);
    try_exec_path("execveat of a symbolic link", AT_FDCWD, link, 0);
    try_exec_path("  with AT_SYMLINK_NOFOLLOW", AT_FDCWD, link, AT_SYMLINK_NOFOLLOW);
    try_exec_path("  of the file itself with AT_SYMLINK_NOFOLLOW", AT_FDCWD, self, AT_SYMLINK_NOFOLLOW);
    unlink(link);

    pid_t pid = fork();
    if (pid == 0) {
        if (setresuid(4242, 4242, 4242) || geteuid() == 0) {
            printf("cannot drop root: %s\n", strerror(errno));
            _exit(1);
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        printf("clock_settime realtime: %s\n", err(clock_settime(CLOCK_REALTIME, &now)));
        struct timespec bad = { now.tv_sec, 2000000000 };
        printf("clock_settime bad time: %s\n", err(clock_settime(CLOCK_REALTIME, &bad)));
        printf("clock_settime monotonic: %s\n", err(clock_settime(CLOCK_MONOTONIC, &now)));
        printf("clock_settime no such clock: %s\n", err(clock_settime(100, &now)));
        struct timeval tv;
        gettimeofday(&tv, NULL);
        printf("settimeofday: %s\n", err(settimeofday(&tv, NULL)));
        struct timeval badtv = { tv.tv_sec, 2000000 };
        printf("settimeofday bad time: %s\n", err(settimeofday(&badtv, NULL)));
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);

    printf("wake 0 with nobody waiting: %ld\n", syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 0, NULL, NULL, 0));
    pthread_t t;
    pthread_create(&t, NULL, waiter, NULL);
    long r = 0;
    for (int i = 0; i < 5000 && r == 0; i++) {
        r = syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 0, NULL, NULL, 0);
        if (r == 0) usleep(1000);
    }
    pthread_join(t, NULL);
    printf("wake 0 with a waiter: %ld, woken %d\n", r, atomic_load(&woken));
    return 0;
}
