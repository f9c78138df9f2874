/* FIFO opens in directory argv[1], as Linux does them: O_RDONLY waits for
 * a writer and O_WRONLY for a reader; O_NONBLOCK readers do not wait and
 * O_NONBLOCK writers with no reader get ENXIO; O_RDWR never waits; a
 * signal interrupts a waiting open (EINTR without SA_RESTART, a restart
 * with it), which then counts for nothing; a reader that came first sees
 * no POLLHUP until a writer came and went. Prints what it sees; the child
 * processes only loop until the parent is where it must be, so the output
 * does not depend on timing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char path[512];
static volatile sig_atomic_t handled;

static void on_usr1(int sig) {
    (void)sig;
    handled++;
}

static const char *err(int r) {
    return r < 0 ? strerrorname_np(errno) : "ok";
}

static void handler(int flags) {
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sa.sa_flags = flags;
    sigaction(SIGUSR1, &sa, NULL);
}

/* Wait for the byte the other process writes to `fd`. */
static void await(int fd) {
    char c;
    while (read(fd, &c, 1) < 0 && errno == EINTR) {}
}

static void tell(int fd) {
    write(fd, "!", 1);
}

static int status_of(pid_t pid) {
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void nonblocking(void) {
    int w = open(path, O_WRONLY | O_NONBLOCK);
    printf("O_WRONLY|O_NONBLOCK, no reader: %s\n", err(w));
    int r = open(path, O_RDONLY | O_NONBLOCK);
    printf("O_RDONLY|O_NONBLOCK: %s\n", err(r));
    char buf[8];
    printf("  read with no writer yet: %zd\n", read(r, buf, sizeof buf));
    struct pollfd p = {r, POLLIN, 0};
    int k = poll(&p, 1, 0);
    printf("  poll: %d revents %#x\n", k, p.revents);
    w = open(path, O_WRONLY | O_NONBLOCK);
    printf("O_WRONLY|O_NONBLOCK, a reader there: %s\n", err(w));
    ssize_t n = read(r, buf, sizeof buf);
    printf("  read with a writer: %zd %s\n", n, n < 0 ? strerrorname_np(errno) : "");
    close(w);
    p.revents = 0;
    k = poll(&p, 1, 0);
    printf("  poll once it went: %d revents %#x\n", k, p.revents);
    close(r);
    int rw = open(path, O_RDWR);
    printf("O_RDWR alone: %s\n", err(rw));
    close(rw);
}

/* A reader waits until a writer opens: the child's non-blocking writer
 * open succeeds only once the parent's reader is there (waiting). */
static void reader_waits(void) {
    pid_t pid = fork();
    if (pid == 0) {
        int w;
        while ((w = open(path, O_WRONLY | O_NONBLOCK)) < 0) usleep(1000);
        write(w, "x", 1);
        _exit(0);
    }
    int r = open(path, O_RDONLY);
    char buf[8] = {0};
    ssize_t n = read(r, buf, sizeof buf - 1);
    printf("O_RDONLY waited for a writer: %s, read %zd \"%s\"\n", err(r), n, buf);
    close(r);
    status_of(pid);
}

/* A writer waits until a reader opens: opened too early, its write would
 * fail with EPIPE. */
static void writer_waits(void) {
    int go[2];
    pipe(go);
    pid_t pid = fork();
    if (pid == 0) {
        await(go[0]);
        usleep(20000);
        int r = open(path, O_RDONLY);
        char buf[8] = {0};
        ssize_t n = read(r, buf, sizeof buf - 1);
        printf("  the reader read %zd \"%s\"\n", n, buf);
        _exit(0);
    }
    signal(SIGPIPE, SIG_IGN);
    tell(go[1]);
    int w = open(path, O_WRONLY);
    ssize_t n = write(w, "hello", 5);
    int e = errno;
    close(w);
    status_of(pid);
    printf("O_WRONLY waited for a reader: %s, wrote %zd %s\n", err(w), n, n < 0 ? strerrorname_np(e) : "");
    close(go[0]);
    close(go[1]);
}

/* A signal while a reader waits: EINTR without SA_RESTART, and the
 * interrupted open leaves no reader behind. */
static void interrupted(void) {
    handler(0);
    int go[2], done[2];
    pipe(go);
    pipe(done);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        await(go[0]);
        struct pollfd p = {done[0], POLLIN, 0};
        while (poll(&p, 1, 2) == 0) kill(parent, SIGUSR1);
        _exit(0);
    }
    tell(go[1]);
    int r = open(path, O_RDONLY);
    printf("O_RDONLY and a signal, no SA_RESTART: %s (handler ran: %d)\n", err(r), handled > 0);
    tell(done[1]);
    status_of(pid);
    int w = open(path, O_WRONLY | O_NONBLOCK);
    printf("  a writer after it: %s\n", err(w));

    /* With SA_RESTART the open goes on waiting after the handler. */
    handler(SA_RESTART);
    handled = 0;
    pid = fork();
    if (pid == 0) {
        await(go[0]);
        for (int i = 0; i < 5; i++) {
            kill(parent, SIGUSR1);
            usleep(5000);
        }
        int w2 = open(path, O_WRONLY);
        write(w2, "r", 1);
        _exit(0);
    }
    tell(go[1]);
    r = open(path, O_RDONLY);
    char c = 0;
    ssize_t n = read(r, &c, 1);
    printf("O_RDONLY and signals, SA_RESTART: %s, read %zd '%c' (handler ran: %d)\n", err(r), n, c, handled > 0);
    close(r);
    status_of(pid);
    signal(SIGUSR1, SIG_DFL);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) return 2;
    mkdir(argv[1], 0755);
    snprintf(path, sizeof path, "%s/fifo", argv[1]);
    unlink(path);
    printf("mkfifo: %s\n", err(mkfifo(path, 0600)));
    nonblocking();
    reader_waits();
    writer_waits();
    interrupted();
    return 0;
}
