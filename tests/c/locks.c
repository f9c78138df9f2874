/* File locks between processes on a scratch directory given as argv[1]:
 * fcntl record locks (POSIX and OFD) and flock, between a parent and
 * forked children that open the file on their own. Every result is
 * printed, with process ids shown as "parent"/"child", so the sandbox's
 * output can be compared with Linux's. Waits are sequenced with pipes;
 * where two outcomes race, only what both orders share is printed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t parent_pid, child_pid, exec_pid;
static const char *path = "f";

static const char *res(int r) { return r == 0 ? "ok" : strerrorname_np(-r); }

static int lk(int fd, int cmd, int type, int whence, off_t start, off_t len) {
    struct flock fl = {.l_type = type, .l_whence = whence, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &fl) == -1 ? -errno : 0;
}

static void setlk(const char *what, int fd, int cmd, int type, int whence, off_t start, off_t len) {
    printf("%s: %s\n", what, res(lk(fd, cmd, type, whence, start, len)));
}

static const char *who(pid_t pid) {
    static char buf[32];
    if (pid == parent_pid) return "parent";
    if (pid == child_pid) return "child";
    if (pid == exec_pid) return "exec'd child";
    if (pid == -1) return "-1";
    snprintf(buf, sizeof buf, "other");
    return buf;
}

static const char *type_name(int t) {
    return t == F_RDLCK ? "RDLCK" : t == F_WRLCK ? "WRLCK" : t == F_UNLCK ? "UNLCK" : "?";
}

static void getlk(const char *what, int fd, int cmd, int type, int whence, off_t start, off_t len) {
    struct flock fl = {.l_type = type, .l_whence = whence, .l_start = start, .l_len = len};
    if (fcntl(fd, cmd, &fl) == -1) {
        printf("%s: %s\n", what, strerrorname_np(errno));
    } else if (fl.l_type == F_UNLCK) {
        printf("%s: UNLCK\n", what);
    } else {
        printf("%s: %s start=%ld len=%ld whence=%d pid=%s\n", what, type_name(fl.l_type), (long)fl.l_start,
               (long)fl.l_len, fl.l_whence, who(fl.l_pid));
    }
}

static void fl(const char *what, int fd, int op) {
    printf("%s: %s\n", what, res(flock(fd, op) == -1 ? -errno : 0));
}

static int open_f(int flags) {
    int fd = open(path, flags);
    if (fd < 0) { perror("open"); exit(1); }
    return fd;
}

/* Run `fn` in a child, which opens the file on its own, and wait for it. */
static void in_child(void (*fn)(int)) {
    fflush(stdout);
    pid_t p = fork();
    if (p == 0) {
        child_pid = getpid();
        fn(open_f(O_RDWR));
        fflush(stdout);
        _exit(0);
    }
    child_pid = p;
    waitpid(p, NULL, 0);
}

/* A child that runs alongside: `fn` gets its own descriptor and the two
 * pipe ends to talk to the parent (`to` the parent, `from` the parent). */
static int to_parent[2], to_child[2];
static pid_t start_child(void (*fn)(int)) {
    fflush(stdout);
    if (pipe(to_parent) || pipe(to_child)) exit(1);
    pid_t p = fork();
    if (p == 0) {
        child_pid = getpid();
        close(to_parent[0]);
        close(to_child[1]);
        fn(open_f(O_RDWR));
        fflush(stdout);
        _exit(0);
    }
    child_pid = p;
    close(to_parent[1]);
    close(to_child[0]);
    return p;
}
static void tell(int fd) {
    if (write(fd, "x", 1) != 1) exit(1);
}
static void hear(int fd) {
    char c;
    if (read(fd, &c, 1) != 1) exit(1);
}
/* Whether the other side said something within `ms`. */
static int heard_within(int fd, int ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}
static void finish_child(pid_t p) {
    waitpid(p, NULL, 0);
    close(to_parent[0]);
    close(to_child[1]);
}

/* --- the children's parts --- */

static void c_conflicts(int fd) {
    setlk("child setlk W 5..6 over parent's W 0..10", fd, F_SETLK, F_WRLCK, SEEK_SET, 5, 1);
    setlk("child setlk R 5..6", fd, F_SETLK, F_RDLCK, SEEK_SET, 5, 1);
    setlk("child setlk R 10..20", fd, F_SETLK, F_RDLCK, SEEK_SET, 10, 10);
    getlk("child getlk W 0..eof", fd, F_GETLK, F_WRLCK, SEEK_SET, 0, 0);
    getlk("child getlk W 50..60", fd, F_GETLK, F_WRLCK, SEEK_SET, 50, 10);
    getlk("child ofd getlk W 9..10", fd, F_OFD_GETLK, F_WRLCK, SEEK_SET, 9, 1);
}

static void c_split(int fd) {
    getlk("child getlk W 3..5 (the hole)", fd, F_GETLK, F_WRLCK, SEEK_SET, 3, 2);
    getlk("child getlk W 4..7", fd, F_GETLK, F_WRLCK, SEEK_SET, 4, 3);
    getlk("child getlk W 2..3", fd, F_GETLK, F_WRLCK, SEEK_SET, 2, 1);
    setlk("child setlk W 3..5 (the hole)", fd, F_SETLK, F_WRLCK, SEEK_SET, 3, 2);
}

static void c_probe_0_10(int fd) {
    getlk("child getlk W 9..10", fd, F_GETLK, F_WRLCK, SEEK_SET, 9, 1);
    getlk("child getlk R 0..10", fd, F_GETLK, F_RDLCK, SEEK_SET, 0, 10);
    setlk("child setlk R 0..10", fd, F_SETLK, F_RDLCK, SEEK_SET, 0, 10);
    setlk("child setlk W 0..1", fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1);
}

static void c_probe_all(int fd) {
    getlk("child getlk W 0..eof", fd, F_GETLK, F_WRLCK, SEEK_SET, 0, 0);
}

static void c_probe_ranges(int fd) {
    getlk("child getlk W 0..eof", fd, F_GETLK, F_WRLCK, SEEK_SET, 0, 0);
    getlk("child getlk W 46..eof", fd, F_GETLK, F_WRLCK, SEEK_SET, 46, 0);
    getlk("child getlk W 80..eof", fd, F_GETLK, F_WRLCK, SEEK_SET, 80, 0);
    getlk("child getlk W from end-5", fd, F_GETLK, F_WRLCK, SEEK_END, -5, 0);
}

static void c_holds_read_then_waits(int fd) {
    setlk("child setlk R 0..10", fd, F_SETLK, F_RDLCK, SEEK_SET, 0, 10);
    fflush(stdout);
    tell(to_parent[1]);
    hear(to_child[0]);
}

static void c_waits_for_lock(int fd) {
    tell(to_parent[1]);
    setlk("child setlkw W 0..1", fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1);
    fflush(stdout);
    tell(to_parent[1]);
}

static void c_deadlock(int fd) {
    setlk("child setlk W 1..2", fd, F_SETLK, F_WRLCK, SEEK_SET, 1, 1);
    tell(to_parent[1]);
    int r = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1);
    char c = r == -EDEADLK ? 'D' : r == 0 ? 'G' : 'E';
    if (write(to_parent[1], &c, 1) != 1) exit(1);
    /* Exiting releases what it holds, which lets the other side go on. */
}

static void on_alarm(int sig) { (void)sig; }

static void c_interrupted(int fd) {
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {.it_value = {.tv_usec = 200000}};
    setitimer(ITIMER_REAL, &it, NULL);
    setlk("child setlkw W 0..1 with a signal", fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1);
    setitimer(ITIMER_REAL, &it, NULL);
    fl("child flock EX with a signal", fd, LOCK_EX);
}

static void c_ofd(int fd) {
    getlk("child getlk W 20..21", fd, F_GETLK, F_WRLCK, SEEK_SET, 20, 1);
    getlk("child ofd getlk W 0..eof", fd, F_OFD_GETLK, F_WRLCK, SEEK_SET, 0, 0);
    setlk("child ofd setlk R 25..26", fd, F_OFD_SETLK, F_RDLCK, SEEK_SET, 25, 1);
    setlk("child setlk W 40..41", fd, F_SETLK, F_WRLCK, SEEK_SET, 40, 1);
}

static int inherited = -1;
static void c_inherited_ofd(int fd) {
    (void)fd;
    setlk("child ofd setlk W 20..30 on the inherited description", inherited, F_OFD_SETLK, F_WRLCK, SEEK_SET,
          20, 10);
    setlk("child setlk W 20..21 (posix, own process)", inherited, F_SETLK, F_WRLCK, SEEK_SET, 20, 1);
}

static void c_flock_shared(int fd) {
    fl("child flock SH|NB", fd, LOCK_SH | LOCK_NB);
    fflush(stdout);
    tell(to_parent[1]);
    hear(to_child[0]);
    /* A conversion that fails loses the old lock: the parent has none now. */
    fl("child flock EX|NB after the parent's failed conversion", fd, LOCK_EX | LOCK_NB);
}

static void c_flock_vs_fcntl(int fd) {
    fl("child flock EX|NB while the parent holds flock EX", fd, LOCK_EX | LOCK_NB);
    setlk("child setlk W 0..eof while the parent holds flock EX", fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0);
    setlk("child ofd setlk W 0..eof", fd, F_OFD_SETLK, F_WRLCK, SEEK_SET, 0, 0);
}

static void c_flock_waits(int fd) {
    tell(to_parent[1]);
    fl("child flock EX (waited)", fd, LOCK_EX);
    fflush(stdout);
    tell(to_parent[1]);
}

static void c_flock_nb(int fd) { fl("child flock EX|NB", fd, LOCK_EX | LOCK_NB); }

static void c_exits_holding(int fd) {
    setlk("child setlk W 0..eof", fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0);
    fl("child flock EX", fd, LOCK_EX);
}

/* --- the parent's script --- */

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[2], "after-exec") == 0) {
        /* The exec'd image: say so, wait for the word, and go. */
        tell(atoi(argv[3]));
        hear(atoi(argv[4]));
        return 0;
    }
    if (argc < 2) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    mkdir(argv[1], 0755);
    if (chdir(argv[1]) != 0) { perror("chdir"); return 1; }
    parent_pid = getpid();
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    char block[100];
    memset(block, 'x', sizeof block);
    if (write(fd, block, sizeof block) != (ssize_t)sizeof block) return 1;

    printf("== conflicts between processes\n");
    setlk("parent setlk W 0..10", fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10);
    getlk("parent getlk W 0..eof (its own lock)", fd, F_GETLK, F_WRLCK, SEEK_SET, 0, 0);
    in_child(c_conflicts);

    printf("== split and merge\n");
    setlk("parent unlock 3..5", fd, F_SETLK, F_UNLCK, SEEK_SET, 3, 2);
    in_child(c_split);
    setlk("parent setlk W 3..5 again", fd, F_SETLK, F_WRLCK, SEEK_SET, 3, 2);
    in_child(c_probe_0_10);

    printf("== downgrade and upgrade\n");
    setlk("parent setlk R 0..10 (downgrade)", fd, F_SETLK, F_RDLCK, SEEK_SET, 0, 10);
    in_child(c_probe_0_10);
    pid_t p = start_child(c_holds_read_then_waits);
    hear(to_parent[0]);
    setlk("parent setlk W 0..10 while the child reads", fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10);
    setlk("parent setlk W 10..20 (free)", fd, F_SETLK, F_WRLCK, SEEK_SET, 10, 10);
    tell(to_child[1]);
    finish_child(p);
    setlk("parent setlk W 0..10 after the child left", fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10);
    in_child(c_probe_0_10);

    printf("== closing any descriptor of the file drops the process's locks\n");
    int other = open_f(O_RDONLY);
    getlk("parent getlk W via another open (own locks)", other, F_GETLK, F_WRLCK, SEEK_SET, 0, 0);
    close(other);
    in_child(c_probe_all);
    setlk("parent setlk W 0..10", fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10);
    int dup_fd = dup(fd);
    close(dup_fd);
    in_child(c_probe_all);

    printf("== ranges from the position, the end, negative lengths\n");
    lseek(fd, 50, SEEK_SET);
    setlk("parent setlk W cur-10 len 5", fd, F_SETLK, F_WRLCK, SEEK_CUR, -10, 5);
    setlk("parent setlk R end-10 len 0", fd, F_SETLK, F_RDLCK, SEEK_END, -10, 0);
    setlk("parent setlk W start 60 len -10", fd, F_SETLK, F_WRLCK, SEEK_SET, 60, -10);
    in_child(c_probe_ranges);
    setlk("parent unlock all", fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    in_child(c_probe_all);

    printf("== bad requests\n");
    int ro = open_f(O_RDONLY), wo = open_f(O_WRONLY);
    setlk("setlk W on a read-only descriptor", ro, F_SETLK, F_WRLCK, SEEK_SET, 0, 1);
    setlk("setlk R on a write-only descriptor", wo, F_SETLK, F_RDLCK, SEEK_SET, 0, 1);
    setlk("setlk R on a read-only descriptor", ro, F_SETLK, F_RDLCK, SEEK_SET, 0, 1);
    setlk("unlock on a read-only descriptor", ro, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    setlk("setlk type 42", fd, F_SETLK, 42, SEEK_SET, 0, 1);
    setlk("setlk whence 7", fd, F_SETLK, F_WRLCK, 7, 0, 1);
    setlk("setlk before the start", fd, F_SETLK, F_WRLCK, SEEK_SET, -1, 1);
    setlk("setlk negative length past the start", fd, F_SETLK, F_WRLCK, SEEK_SET, 5, -6);
    getlk("getlk UNLCK", fd, F_GETLK, F_UNLCK, SEEK_SET, 0, 1);
    struct flock bad = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1, .l_pid = 5};
    printf("ofd setlk with l_pid set: %s\n", res(fcntl(fd, F_OFD_SETLK, &bad) == -1 ? -errno : 0));
    printf("ofd getlk with l_pid set: %s\n", res(fcntl(fd, F_OFD_GETLK, &bad) == -1 ? -errno : 0));
    printf("setlk on a bad descriptor: %s\n", res(lk(999, F_SETLK, F_WRLCK, SEEK_SET, 0, 1)));
    int opath = open(path, O_PATH);
    setlk("setlk on an O_PATH descriptor", opath, F_SETLK, F_UNLCK, SEEK_SET, 0, 1);
    fl("flock SH on an O_PATH descriptor", opath, LOCK_SH);
    fl("flock 0", fd, 0);
    close(opath);
    close(ro);
    close(wo);
    setlk("parent unlock all", fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);

    printf("== F_SETLKW waits for the holder\n");
    setlk("parent setlk W 0..1", fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1);
    p = start_child(c_waits_for_lock);
    hear(to_parent[0]);
    printf("child done before the unlock: %s\n", heard_within(to_parent[0], 300) ? "yes" : "no");
    /* Printed once the child has printed: the two would race. */
    int u = lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 1);
    int done = heard_within(to_parent[0], 10000);
    printf("parent unlock 0..1: %s\n", res(u));
    printf("child done after the unlock: %s\n", done ? "yes" : "no");
    finish_child(p);

    printf("== a signal interrupts the wait\n");
    setlk("parent setlk W 0..1", fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1);
    fl("parent flock EX", fd, LOCK_EX);
    in_child(c_interrupted);
    fl("parent flock UN", fd, LOCK_UN);

    printf("== deadlock\n");
    p = start_child(c_deadlock);
    hear(to_parent[0]);
    poll(NULL, 0, 300); /* let the child block, if it will */
    int r = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 1, 1);
    if (r == -EDEADLK) lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 1);
    char c = '?';
    if (read(to_parent[0], &c, 1) != 1) c = '?';
    finish_child(p);
    int one_deadlock = (r == -EDEADLK && c == 'G') || (r == 0 && c == 'D');
    printf("one side got EDEADLK, the other the lock: %s\n", one_deadlock ? "yes" : "no");
    setlk("parent unlock all", fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);

    printf("== OFD locks\n");
    int a = open_f(O_RDWR), b = open_f(O_RDWR);
    setlk("parent setlk W 0..10", fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10);
    setlk("ofd A setlk W 5..6 over the process's own posix lock", a, F_OFD_SETLK, F_WRLCK, SEEK_SET, 5, 1);
    getlk("ofd A getlk W 0..eof", a, F_OFD_GETLK, F_WRLCK, SEEK_SET, 0, 0);
    setlk("ofd A setlk W 20..30", a, F_OFD_SETLK, F_WRLCK, SEEK_SET, 20, 10);
    setlk("ofd B setlk W 25..26", b, F_OFD_SETLK, F_WRLCK, SEEK_SET, 25, 1);
    getlk("ofd B getlk R 25..26", b, F_OFD_GETLK, F_RDLCK, SEEK_SET, 25, 1);
    setlk("posix setlk W 25..26 over ofd A", fd, F_SETLK, F_WRLCK, SEEK_SET, 25, 1);
    getlk("posix getlk W 21..22", fd, F_GETLK, F_WRLCK, SEEK_SET, 21, 1);
    setlk("ofd A setlkw W 40..41", a, F_OFD_SETLKW, F_WRLCK, SEEK_SET, 40, 1);
    in_child(c_ofd);
    inherited = a;
    in_child(c_inherited_ofd);
    /* Closing a descriptor drops the process's posix locks, not OFD ones. */
    close(b);
    getlk("posix getlk W 0..eof after closing B", fd, F_GETLK, F_WRLCK, SEEK_SET, 0, 0);
    int a2 = dup(a);
    close(a);
    getlk("posix getlk W 21..22 with A's description still open", fd, F_GETLK, F_WRLCK, SEEK_SET, 21, 1);
    close(a2);
    getlk("posix getlk W 21..22 after the last close of A", fd, F_GETLK, F_WRLCK, SEEK_SET, 21, 1);
    /* The posix lock went with the close of B. */
    in_child(c_probe_all);

    printf("== flock\n");
    int s = open_f(O_RDONLY);
    fl("parent flock SH", s, LOCK_SH);
    fl("parent flock SH again", s, LOCK_SH);
    p = start_child(c_flock_shared);
    hear(to_parent[0]);
    fl("parent flock EX|NB (a conversion; the child holds SH)", s, LOCK_EX | LOCK_NB);
    tell(to_child[1]);
    finish_child(p);
    fl("parent flock EX", s, LOCK_EX);
    in_child(c_flock_vs_fcntl);
    setlk("parent setlk W 0..eof while holding flock EX", fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0);
    setlk("parent unlock all", fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    p = start_child(c_flock_waits);
    hear(to_parent[0]);
    printf("child done before the unlock: %s\n", heard_within(to_parent[0], 300) ? "yes" : "no");
    u = flock(s, LOCK_UN) == -1 ? -errno : 0;
    done = heard_within(to_parent[0], 10000);
    printf("parent flock UN: %s\n", res(u));
    printf("child done after the unlock: %s\n", done ? "yes" : "no");
    finish_child(p);
    fl("parent flock EX again", s, LOCK_EX);
    inherited = s;
    fflush(stdout);
    pid_t q = fork();
    if (q == 0) {
        child_pid = getpid();
        fl("child flock EX on the inherited description", s, LOCK_EX | LOCK_NB);
        fflush(stdout);
        _exit(0);
    }
    waitpid(q, NULL, 0);
    int s2 = dup(s);
    close(s);
    in_child(c_flock_nb);
    close(s2);
    in_child(c_flock_nb);
    fl("flock UN without a lock", fd, LOCK_UN);

    printf("== a process's exit drops its locks\n");
    in_child(c_exits_holding);
    setlk("parent setlk W 0..eof", fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0);
    fl("parent flock EX|NB", fd, LOCK_EX | LOCK_NB);

    setlk("parent unlock all", fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    fl("parent flock UN", fd, LOCK_UN);

    printf("== exec keeps them, unless it closes a descriptor of the file\n");
    for (int cloexec = 0; cloexec <= 1; cloexec++) {
        if (pipe(to_parent) || pipe(to_child)) return 1;
        fflush(stdout);
        pid_t e = fork();
        if (e == 0) {
            int mine = open_f(O_RDWR);
            if (cloexec) open_f(O_RDONLY | O_CLOEXEC);
            lk(mine, F_SETLK, F_WRLCK, SEEK_SET, 0, 0);
            char w[16], rd[16];
            snprintf(w, sizeof w, "%d", to_parent[1]);
            snprintf(rd, sizeof rd, "%d", to_child[0]);
            execl(argv[0], argv[0], argv[1], "after-exec", w, rd, (char *)NULL);
            _exit(127);
        }
        exec_pid = e;
        hear(to_parent[0]);
        in_child(c_probe_all);
        tell(to_child[1]);
        waitpid(e, NULL, 0);
        close(to_parent[0]);
        close(to_parent[1]);
        close(to_child[0]);
        close(to_child[1]);
    }
    close(fd);
    return 0;
}
