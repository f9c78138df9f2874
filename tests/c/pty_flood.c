/* Flooding a pty master nobody reads: sendfile from /dev/zero, write in
 * canonical and raw mode. The pty takes a bounded amount, then the writer
 * waits, and an alarm ends the wait (sendfile and write return what they
 * moved). Once this grew the sentry's memory without end and could not be
 * killed. Prints what it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t rang;
static void on_alarm(int s) { (void)s; rang = 1; }

static void report(const char *what, long n) {
    if (n < 0)
        printf("%s: %s\n", what, strerrorname_np(errno));
    else
        printf("%s: took %s\n", what, n > 0 && n < (1 << 20) ? "a bounded amount" : n ? "too much" : "nothing");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    unlockpt(m);
    int s = open(ptsname(m), O_RDWR | O_NOCTTY);
    int z = open("/dev/zero", O_RDONLY);
    alarm(1);
    /* Canonical mode drops what does not fit in a line, so this takes
     * as much as time allows (how much depends on the machine): it must
     * end at the alarm with a count. */
    long sent = sendfile(m, z, NULL, 1L << 34);
    printf("sendfile /dev/zero, canonical: %s\n", sent > 0 ? "ended with a count" : strerrorname_np(errno));

    static char lines[1 << 16];
    for (size_t i = 0; i < sizeof lines; i++) lines[i] = i % 8 == 7 ? '\n' : 'a';
    tcflush(s, TCIOFLUSH);
    rang = 0;
    alarm(1);
    long total = 0, n = 0;
    while (!rang && (n = write(m, lines, sizeof lines)) > 0) total += n;
    report("write of lines, canonical", total ? total : n);

    struct termios t;
    tcgetattr(s, &t);
    cfmakeraw(&t);
    tcsetattr(s, TCSAFLUSH, &t);
    rang = 0;
    alarm(1);
    total = 0;
    while (!rang && (n = write(m, lines, sizeof lines)) > 0) total += n;
    /* Linux moves a pty's input to its line discipline from a worker
     * thread: on a loaded host that worker may not have drained what the
     * canonical writes left before the alarm rings, and the first raw
     * write then waits from its first byte and ends in EINTR. Either way
     * the writer was held and let go with a bounded amount taken. */
    int interrupted = total == 0 && n < 0 && errno == EINTR;
    if (interrupted || (total > 0 && total < (1 << 20)))
        printf("write, raw: held, then interrupted\n");
    else
        report("write, raw", total ? total : n);
    return 0;
}
