/* eventfd: the counter, semaphore mode, non-blocking EAGAIN, the limits,
 * readiness, and blocking reads and writes that another process ends. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void show_read(const char *what, int fd) {
    uint64_t v = 0;
    ssize_t n = read(fd, &v, sizeof v);
    if (n < 0) printf("%s: %s\n", what, strerror(errno));
    else printf("%s: %zd bytes, %llu\n", what, n, (unsigned long long)v);
}

static void show_write(const char *what, int fd, uint64_t v) {
    ssize_t n = write(fd, &v, sizeof v);
    if (n < 0) printf("%s: %s\n", what, strerror(errno));
    else printf("%s: %zd bytes\n", what, n);
}

static int revents(int fd) {
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    poll(&p, 1, 0);
    return p.revents;
}

int main(void) {
    int fd = eventfd(3, 0);
    show_read("initial", fd);
    show_write("add 5", fd, 5);
    show_write("add 2", fd, 2);
    show_read("sum", fd);
    struct stat st;
    fstat(fd, &st);
    printf("mode %o size %lld\n", st.st_mode, (long long)st.st_size);
    printf("flags %#x\n", fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK));
    close(fd);

    fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    printf("flags %#x cloexec %d\n", fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK), fcntl(fd, F_GETFD));
    printf("revents empty %#x\n", revents(fd));
    show_read("empty", fd);
    show_write("max", fd, UINT64_MAX - 1);
    printf("revents full %#x\n", revents(fd));
    show_write("over", fd, 1);
    show_write("all ones", fd, UINT64_MAX);
    char small[4];
    printf("short read: %s\n", read(fd, small, 4) < 0 ? strerror(errno) : "ok");
    printf("short write: %s\n", write(fd, small, 4) < 0 ? strerror(errno) : "ok");
    show_read("drain", fd);
    close(fd);

    fd = eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK);
    show_read("sem 1", fd);
    show_read("sem 2", fd);
    show_read("sem 3", fd);
    close(fd);

    printf("bad flags: %s\n", eventfd(0, 0x1234) < 0 ? strerror(errno) : "ok");

    /* A blocking read waits for a writer in another process. */
    fd = eventfd(0, 0);
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(50);
        uint64_t v = 42;
        write(fd, &v, sizeof v);
        _exit(0);
    }
    show_read("woken read", fd);
    waitpid(pid, NULL, 0);

    /* A blocking write waits for room. */
    uint64_t max = UINT64_MAX - 1;
    write(fd, &max, sizeof max);
    pid = fork();
    if (pid == 0) {
        sleep_ms(50);
        uint64_t v;
        read(fd, &v, sizeof v);
        _exit(0);
    }
    show_write("woken write", fd, 7);
    waitpid(pid, NULL, 0);
    show_read("after", fd);
    return 0;
}
