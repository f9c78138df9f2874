/* Pseudo-terminals: a ptmx/pts pair, canonical input with erase, ONLCR,
 * ^C to the foreground group of a session, TIOCSWINSZ and SIGWINCH, and
 * what the slave sees after the master closes. Prints what it sees, the
 * same natively and in the sandbox. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void shown(const char *what, const char *buf, ssize_t n) {
    printf("%s: %zd \"", what, n);
    for (ssize_t i = 0; i < n; i++) {
        unsigned char c = buf[i];
        if (c == '\r') printf("\\r");
        else if (c == '\n') printf("\\n");
        else if (c < 32 || c == 127) printf("\\x%02x", c);
        else putchar(c);
    }
    printf("\"\n");
}

/* Read what is there within a moment. */
static ssize_t drain(int fd, char *buf, size_t len) {
    usleep(100000);
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    ssize_t n = read(fd, buf, len);
    fcntl(fd, F_SETFL, fl);
    return n;
}

static int open_pair(int *slave, char *name) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) || unlockpt(m)) { perror("ptmx"); exit(1); }
    strcpy(name, ptsname(m));
    *slave = open(name, O_RDWR | O_NOCTTY);
    if (*slave < 0) { perror("open slave"); exit(1); }
    return m;
}

static volatile sig_atomic_t winched;
static void on_winch(int s) { (void)s; winched = 1; }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    char name[64], buf[256];
    int s, m = open_pair(&s, name);
    printf("slave is /dev/pts/N: %d\n", strncmp(name, "/dev/pts/", 9) == 0);
    printf("isatty slave %d master %d\n", isatty(s), isatty(m));
    int locked = -1;
    ioctl(m, TIOCGPTLCK, &locked);
    printf("locked after unlockpt: %d\n", locked);

    write(s, "hi\n", 3);
    ssize_t n = read(m, buf, sizeof buf);
    shown("master reads", buf, n);

    /* Canonical input: nothing until the line ends; DEL erases. */
    write(m, "abx\x7f", 4);
    n = drain(s, buf, sizeof buf);
    printf("before newline: %zd %s\n", n, n < 0 && errno == EAGAIN ? "EAGAIN" : "?");
    write(m, "c\r", 2);
    n = read(s, buf, sizeof buf);
    shown("slave reads", buf, n);
    n = drain(m, buf, sizeof buf);
    shown("echo", buf, n);
    /* ^D: end of file on an empty line. */
    write(m, "\x04", 1);
    n = read(s, buf, sizeof buf);
    printf("after ^D: %zd\n", n);

    /* Raw mode: bytes as they come, no echo. */
    struct termios t;
    tcgetattr(s, &t);
    struct termios saved = t;
    cfmakeraw(&t);
    tcsetattr(s, TCSANOW, &t);
    write(m, "q\r", 2);
    n = read(s, buf, sizeof buf);
    shown("raw read", buf, n);
    write(s, "x\n", 2);
    n = drain(m, buf, sizeof buf);
    shown("raw output", buf, n);
    tcsetattr(s, TCSANOW, &saved);

    /* Window size. */
    struct winsize ws = {.ws_row = 33, .ws_col = 101};
    ioctl(m, TIOCSWINSZ, &ws);
    struct winsize got = {0};
    ioctl(s, TIOCGWINSZ, &got);
    printf("winsize %d x %d\n", got.ws_row, got.ws_col);

    /* A child in its own session with the slave as controlling tty: ^C
     * kills it, TIOCSWINSZ gives it SIGWINCH. */
    int ready[2];
    pipe(ready);
    pid_t pid = fork();
    if (pid == 0) {
        close(m);
        setsid();
        /* It left the test's process group: make sure it cannot outlive
         * the test. SIGWINCH stays blocked but in sigsuspend, so one that
         * comes before the wait is not lost. */
        alarm(30);
        sigset_t winch, others;
        sigemptyset(&winch);
        sigaddset(&winch, SIGWINCH);
        sigprocmask(SIG_BLOCK, &winch, &others);
        signal(SIGWINCH, on_winch);
        /* ^C must kill it, even if the test was started with SIGINT
         * ignored (as a background job of a script is). */
        signal(SIGINT, SIG_DFL);
        int fd = open(name, O_RDWR);
        if (fd < 0) { perror("child open"); _exit(2); }
        pid_t fg = tcgetpgrp(fd);
        int tty = open("/dev/tty", O_RDWR);
        char r = (fg == getpid() && tty >= 0) ? 'y' : 'n';
        write(ready[1], &r, 1);
        while (!winched) sigsuspend(&others);
        write(ready[1], "w", 1);
        for (;;) pause();
    }
    char r = 0;
    read(ready[0], &r, 1);
    printf("child has the tty as controlling terminal: %c\n", r);
    ws.ws_row = 40;
    ioctl(m, TIOCSWINSZ, &ws);
    read(ready[0], &r, 1);
    printf("child got SIGWINCH: %c\n", r);
    write(m, "\x03", 1);
    int st;
    waitpid(pid, &st, 0);
    printf("child killed by signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
    n = drain(m, buf, sizeof buf);
    shown("echo of ^C", buf, n);

    /* /dev/tty without a controlling terminal. */
    int tty = open("/dev/tty", O_RDWR);
    printf("/dev/tty without one: %s\n", tty < 0 ? strerror(errno) : "opened");

    /* Hangup: the master closes. */
    close(m);
    n = read(s, buf, sizeof buf);
    printf("slave read after master close: %zd %s\n", n, n < 0 ? strerror(errno) : "");
    n = write(s, "x", 1);
    printf("slave write after master close: %zd %s\n", n, n < 0 ? strerror(errno) : "");

    /* Slave closes: the master reads EIO. */
    int s2, m2 = open_pair(&s2, name);
    close(s2);
    n = read(m2, buf, sizeof buf);
    printf("master read after slave close: %zd %s\n", n, n < 0 ? strerror(errno) : "");
    return 0;
}
