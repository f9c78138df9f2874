/* inotify on a scratch directory (argv[1]): watches on the directory, on
 * files and directories in it, the events every change makes, read back
 * after each step and printed as "WATCH MASKS name=NAME len=LEN cookie",
 * where WATCH is a label for the watch descriptor and the cookie is shown
 * only as "new" or "same" (as the last one), never as a number; then the
 * errors, readiness (poll, edge-triggered epoll, FIONREAD), a blocking
 * read another process ends, coalescing and the queue's overflow.
 * Nothing printed depends on the directory's path, inode numbers, watch
 * descriptor numbers or times, so the output can be compared with Linux's.
 *
 * If the directory holds a file "old" already (the overlay test puts one
 * in the host directory below the overlay) it is used as it is, else it
 * is made first: its first change is then the overlay's copy-up. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IN_MASK_CREATE
#define IN_MASK_CREATE 0x10000000
#endif

static int ifd;

/* Labels of watch descriptors: watch descriptor numbers are never printed. */
static struct { int wd; const char *label; } labels[32];
static int nlabels;

static void label(int wd, const char *l) {
    if (wd < 0) {
        printf("add_watch %s = -1 %s\n", l, strerrorname_np(errno));
        return;
    }
    for (int i = 0; i < nlabels; i++)
        if (labels[i].wd == wd) {
            printf("add_watch %s = watch %s\n", l, labels[i].label);
            return;
        }
    labels[nlabels].wd = wd;
    labels[nlabels++].label = l;
    printf("add_watch %s = new watch\n", l);
}

static const char *wd_label(int wd) {
    if (wd == -1) return "-1";
    for (int i = nlabels - 1; i >= 0; i--)
        if (labels[i].wd == wd) return labels[i].label;
    return "?";
}

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

static const struct { unsigned bit; const char *name; } names[] = {
    {IN_ACCESS, "ACCESS"},         {IN_MODIFY, "MODIFY"},         {IN_ATTRIB, "ATTRIB"},
    {IN_CLOSE_WRITE, "CLOSE_WRITE"}, {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"}, {IN_OPEN, "OPEN"},
    {IN_MOVED_FROM, "MOVED_FROM"}, {IN_MOVED_TO, "MOVED_TO"},     {IN_CREATE, "CREATE"},
    {IN_DELETE, "DELETE"},         {IN_DELETE_SELF, "DELETE_SELF"}, {IN_MOVE_SELF, "MOVE_SELF"},
    {IN_UNMOUNT, "UNMOUNT"},       {IN_Q_OVERFLOW, "Q_OVERFLOW"}, {IN_IGNORED, "IGNORED"},
    {IN_ISDIR, "ISDIR"},
};

static void print_mask(unsigned mask) {
    int first = 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (mask & names[i].bit) {
            printf("%s%s", first ? "" : "|", names[i].name);
            first = 0;
            mask &= ~names[i].bit;
        }
    if (mask) printf("%s%#x", first ? "" : "|", mask);
}

static unsigned last_cookie;

/* Print the events in `buf`. */
static void print_events(const char *buf, long n) {
    for (long off = 0; off < n;) {
        const struct inotify_event *e = (const struct inotify_event *)(buf + off);
        printf("  %s ", wd_label(e->wd));
        print_mask(e->mask);
        if (e->len) {
            printf(" name=%s len=%u", e->name, e->len);
            /* The padding is zeros. */
            for (unsigned i = strlen(e->name); i < e->len; i++)
                if (e->name[i]) printf(" (padding not zero)");
        }
        if (e->cookie) {
            printf(" cookie=%s", e->cookie == last_cookie ? "same" : "new");
            last_cookie = e->cookie;
        }
        printf("\n");
        off += sizeof *e + e->len;
    }
}

/* The events queued now, after a step. */
static void drain(const char *step) {
    int avail = -1;
    ioctl(ifd, FIONREAD, &avail);
    printf("%s: %d bytes queued\n", step, avail);
    char buf[4096] __attribute__((aligned(8)));
    long n;
    while ((n = read(ifd, buf, sizeof buf)) > 0) print_events(buf, n);
    if (n < 0 && errno != EAGAIN) printf("  read: %s\n", strerrorname_np(errno));
}

static void write_file(const char *path, int flags, const char *data) {
    int fd = open(path, flags, 0644);
    if (fd < 0) {
        printf("open %s: %s\n", path, strerrorname_np(errno));
        return;
    }
    if (data && write(fd, data, strlen(data)) < 0) printf("write %s: %s\n", path, strerrorname_np(errno));
    close(fd);
}

static void read_file(const char *path) {
    int fd = open(path, O_RDONLY);
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
}

static void sleep_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void errors(void) {
    int file = open("old", O_RDONLY);
    show("inotify_init1 bad flags", inotify_init1(0x1234));
    show("add_watch mask 0", inotify_add_watch(ifd, ".", 0));
    show("add_watch bad fd", inotify_add_watch(9999, ".", IN_ALL_EVENTS));
    show("add_watch bad fd mask 0", inotify_add_watch(9999, ".", 0));
    show("add_watch not inotify", inotify_add_watch(file, ".", IN_ALL_EVENTS));
    show("add_watch missing", inotify_add_watch(ifd, "missing", IN_ALL_EVENTS));
    show("add_watch empty path", inotify_add_watch(ifd, "", IN_ALL_EVENTS));
    show("add_watch onlydir file", inotify_add_watch(ifd, "old", IN_ALL_EVENTS | IN_ONLYDIR));
    show("add_watch mask_create existing", inotify_add_watch(ifd, ".", IN_ALL_EVENTS | IN_MASK_CREATE));
    show("add_watch mask_add+mask_create", inotify_add_watch(ifd, ".", IN_MODIFY | IN_MASK_ADD | IN_MASK_CREATE));
    show("rm_watch unknown", inotify_rm_watch(ifd, 12345));
    show("rm_watch bad fd", inotify_rm_watch(9999, 1));
    show("rm_watch not inotify", inotify_rm_watch(file, 1));
    close(file);
    drain("errors");
    char c;
    show("read empty", read(ifd, &c, 1));
}

/* Edge-triggered epoll: a new event reports, an event merged into the
 * last one does not. */
static void epoll_edges(void) {
    int fd = inotify_init1(IN_NONBLOCK);
    inotify_add_watch(fd, "old", IN_ATTRIB | IN_MODIFY);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    struct epoll_event out;
    show("epoll empty", epoll_wait(ep, &out, 1, 0));
    chmod("old", 0644);
    show("epoll after chmod", epoll_wait(ep, &out, 1, 0));
    show("epoll again", epoll_wait(ep, &out, 1, 0));
    chmod("old", 0644);
    show("epoll after the same chmod (merged)", epoll_wait(ep, &out, 1, 0));
    write_file("old", O_WRONLY | O_APPEND, "3");
    show("epoll after a write", epoll_wait(ep, &out, 1, 0));
    int avail = -1;
    ioctl(fd, FIONREAD, &avail);
    printf("epoll: %d bytes queued on its instance\n", avail);
    close(ep);
    close(fd);
    drain("epoll");
}

/* A blocking read that a change made by another process ends. */
static void blocking_read(void) {
    int fd = inotify_init();
    int wd = inotify_add_watch(fd, ".", IN_CREATE);
    pid_t child = fork();
    if (child == 0) {
        sleep_ms(100);
        write_file("late", O_CREAT | O_WRONLY, NULL);
        _exit(0);
    }
    char buf[256] __attribute__((aligned(8)));
    long n = read(fd, buf, sizeof buf);
    const struct inotify_event *e = (const struct inotify_event *)buf;
    printf("blocking read: %ld bytes, %s", n, e->wd == wd ? "its watch " : "another watch ");
    print_mask(e->mask);
    printf(" name=%s\n", e->name);
    waitpid(child, NULL, 0);
    close(fd);
    drain("blocking read");
}

/* More events than the queue holds: the last is one IN_Q_OVERFLOW. */
static void overflow(void) {
    int fd = inotify_init1(IN_NONBLOCK);
    inotify_add_watch(fd, "old", IN_MODIFY | IN_ACCESS);
    int file = open("old", O_RDWR);
    char c = 'x';
    for (int i = 0; i < 8300; i++) {
        pwrite(file, &c, 1, 0);
        pread(file, &c, 1, 0);
    }
    close(file);
    char buf[4096] __attribute__((aligned(8)));
    long n, events = 0;
    struct inotify_event last = {0};
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (long off = 0; off < n;) {
            const struct inotify_event *e = (const struct inotify_event *)(buf + off);
            events++;
            last = *e;
            off += sizeof *e + e->len;
        }
    printf("overflow: %ld events, the last ", events);
    print_mask(last.mask);
    printf(" wd=%d\n", last.wd);
    close(fd);
    drain("overflow");
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    mkdir(argv[1], 0755);
    if (chdir(argv[1]) != 0) {
        perror("chdir");
        return 1;
    }
    umask(022);
    if (access("old", F_OK) != 0) write_file("old", O_CREAT | O_WRONLY, "old\n");

    ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    printf("init1: flags %#x cloexec %d\n", fcntl(ifd, F_GETFL) & (O_ACCMODE | O_NONBLOCK),
           fcntl(ifd, F_GETFD) & FD_CLOEXEC);
    struct stat st;
    fstat(ifd, &st);
    printf("fstat: mode %o\n", st.st_mode);

    label(inotify_add_watch(ifd, ".", IN_ALL_EVENTS), "D");
    label(inotify_add_watch(ifd, "old", IN_ALL_EVENTS), "O");
    errors();

    write_file("old", O_WRONLY | O_APPEND, "more\n");
    drain("append to old");
    read_file("old");
    drain("read old");

    write_file("f", O_CREAT | O_WRONLY | O_TRUNC, "x\n");
    drain("echo x > f");
    label(inotify_add_watch(ifd, "f", IN_ALL_EVENTS), "F");
    label(inotify_add_watch(ifd, "./f", IN_ALL_EVENTS), "F again");
    write_file("f", O_WRONLY | O_TRUNC, "yy\n");
    drain("rewrite f with O_TRUNC");
    int fd = open("f", O_WRONLY | O_APPEND);
    write(fd, "a", 1);
    write(fd, "b", 1);
    close(fd);
    drain("two writes (merged)");
    chmod("f", 0600);
    drain("chmod f");
    show("chown f", chown("f", getuid(), -1));
    drain("chown f");
    utimensat(AT_FDCWD, "f", NULL, 0);
    drain("utimes f");
    struct timespec atime_only[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
    utimensat(AT_FDCWD, "f", atime_only, 0);
    drain("atime only");
    struct timespec mtime_only[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    utimensat(AT_FDCWD, "f", mtime_only, 0);
    drain("mtime only");
    truncate("f", 1);
    drain("truncate f");
    fd = open("f", O_RDWR);
    drain("open f");
    ftruncate(fd, 0);
    drain("ftruncate f");
    close(fd);
    drain("close f");

    link("f", "g");
    drain("link f g");
    unlink("g");
    drain("unlink g");
    rename("f", "h");
    drain("rename f h");
    mkdir("sub", 0755);
    mkdir("out", 0755);
    drain("mkdir sub out");
    label(inotify_add_watch(ifd, "sub", IN_ALL_EVENTS), "S");
    DIR *d = opendir(".");
    while (readdir(d)) {
    }
    closedir(d);
    drain("list the directory");
    rename("h", "sub/h");
    drain("rename h sub/h");
    rename("sub/h", "out/h");
    drain("rename sub/h out/h");
    write_file("out/h", O_WRONLY | O_APPEND, "z");
    drain("write out/h");
    rename("out/h", "h2");
    drain("rename out/h h2");
    write_file("k", O_CREAT | O_WRONLY, NULL);
    drain("create k");
    show("exchange h2 k", renameat2(AT_FDCWD, "h2", AT_FDCWD, "k", RENAME_EXCHANGE));
    drain("exchange h2 k");
    write_file("r", O_CREAT | O_WRONLY, NULL);
    drain("create r");
    rename("r", "k");
    drain("rename r over k");
    label(inotify_add_watch(ifd, "k", IN_ALL_EVENTS), "K");
    unlink("k");
    drain("unlink k");
    unlink("h2");
    drain("unlink h2");
    rmdir("sub");
    drain("rmdir sub");
    label(inotify_add_watch(ifd, "out", IN_ALL_EVENTS), "OUT");
    chmod("out", 0700);
    drain("chmod out");
    rename("out", "out2");
    drain("rename out out2");

    symlink("old", "lnk");
    drain("symlink old lnk");
    label(inotify_add_watch(ifd, "lnk", IN_ALL_EVENTS | IN_DONT_FOLLOW), "L");
    label(inotify_add_watch(ifd, "lnk", IN_ALL_EVENTS), "lnk followed");
    show("add_watch onlydir dir", inotify_add_watch(ifd, "out2", IN_ALL_EVENTS | IN_ONLYDIR) > 0);
    label(inotify_add_watch(ifd, "out2", IN_ALL_EVENTS | IN_ONLYDIR), "out2");
    label(inotify_add_watch(ifd, "lnk", IN_ALL_EVENTS | IN_ONLYDIR), "lnk onlydir");
    rename("lnk", "out2/lnk");
    drain("rename lnk out2/lnk");
    unlink("out2/lnk");
    drain("unlink out2/lnk");

    /* Masks: replaced, added to, and made once. */
    label(inotify_add_watch(ifd, "old", IN_MODIFY), "old modify only");
    chmod("old", 0600);
    write_file("old", O_WRONLY | O_APPEND, "1");
    drain("chmod and append with O watching IN_MODIFY");
    label(inotify_add_watch(ifd, "old", IN_ATTRIB | IN_MASK_ADD), "old mask add attrib");
    chmod("old", 0644);
    write_file("old", O_WRONLY | O_APPEND, "2");
    drain("chmod and append with O watching IN_MODIFY|IN_ATTRIB");
    mkdir("one", 0755);
    drain("mkdir one");
    label(inotify_add_watch(ifd, "one", IN_CREATE | IN_ONESHOT), "ONE");
    write_file("one/a", O_CREAT | O_WRONLY, NULL);
    write_file("one/b", O_CREAT | O_WRONLY, NULL);
    drain("two files in one (oneshot)");
    label(inotify_add_watch(ifd, "one", IN_CREATE | IN_MASK_CREATE), "ONE again");
    write_file("one/c", O_CREAT | O_WRONLY, NULL);
    drain("one more file in one");

    /* A file unlinked while open: IN_EXCL_UNLINK, and its own watch. */
    label(inotify_add_watch(ifd, ".", IN_ALL_EVENTS | IN_EXCL_UNLINK), "D excl_unlink");
    fd = open("t", O_CREAT | O_WRONLY, 0644);
    label(inotify_add_watch(ifd, "t", IN_ALL_EVENTS), "T");
    unlink("t");
    write(fd, "x", 1);
    drain("unlink t, then write to it (excl_unlink)");
    close(fd);
    drain("close t");
    label(inotify_add_watch(ifd, ".", IN_ALL_EVENTS), "D again");
    fd = open("t2", O_CREAT | O_WRONLY, 0644);
    label(inotify_add_watch(ifd, "t2", IN_ALL_EVENTS), "T2");
    unlink("t2");
    write(fd, "x", 1);
    drain("unlink t2, then write to it");
    close(fd);
    drain("close t2");

    /* Reading: a buffer too small, readiness. */
    chmod("old", 0600);
    char c;
    show("read into 1 byte", read(ifd, &c, 1));
    struct pollfd p = {ifd, POLLIN | POLLOUT, 0};
    show("poll", poll(&p, 1, 0));
    printf("  revents %#x\n", p.revents);
    drain("after a small read");
    p.revents = 0;
    show("poll empty", poll(&p, 1, 0));
    epoll_edges();
    blocking_read();

    show("rm_watch D", inotify_rm_watch(ifd, labels[0].wd));
    drain("rm_watch D");
    show("rm_watch D again", inotify_rm_watch(ifd, labels[0].wd));
    write_file("after", O_CREAT | O_WRONLY, NULL);
    drain("create after rm_watch");
    overflow();
    return 0;
}
