/* O_TMPFILE in directory argv[1]: an unnamed regular file (no links, the
 * umask applied, owned by the caller), read and written like any other,
 * which leaves no name in the directory; and the errors for a read-only
 * open, a path that is not a directory, and a missing one. Then naming
 * such files: linkat(fd, "", AT_EMPTY_PATH) and linkat of
 * /proc/self/fd/N with AT_SYMLINK_FOLLOW give one a name (and more names
 * after), O_EXCL forbids it, and a file whose name was removed again
 * cannot get one. Prints what it sees. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void show(const char *what, int fd) {
    printf("%-22s %s\n", what, fd < 0 ? strerrorname_np(errno) : "ok");
}

static void said(const char *what, int r) {
    printf("%-22s %s\n", what, r < 0 ? strerrorname_np(errno) : "ok");
}

/* Name `dir`/`name` as a C string in a static buffer. */
static const char *in(const char *dir, const char *name) {
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static const char *proc_fd(int fd) {
    static char buf[64];
    snprintf(buf, sizeof buf, "/proc/self/fd/%d", fd);
    return buf;
}

/* The link count of the open file `fd` and of the file at `path`, and what
 * the latter holds. */
static void show_named(int fd, const char *path) {
    struct stat a, b;
    fstat(fd, &a);
    if (stat(path, &b) < 0) {
        printf("  %s\n", strerrorname_np(errno));
        return;
    }
    char buf[16] = {0};
    int r = open(path, O_RDONLY);
    ssize_t n = read(r, buf, sizeof buf - 1);
    close(r);
    printf("  fd nlink %lu, name nlink %lu same %d mode %o, holds %zd \"%s\"\n", (unsigned long)a.st_nlink,
           (unsigned long)b.st_nlink, a.st_ino == b.st_ino, b.st_mode, n, buf);
}

static void link_tmpfiles(const char *dir, int fd) {
    char buf[8] = {0};
    int again = open(proc_fd(fd), O_RDONLY);
    said("reopened by /proc", again);
    printf("  holds %zd \"%s\"\n", pread(again, buf, sizeof buf - 1, 0), buf);
    close(again);
    said("link by AT_EMPTY_PATH", linkat(fd, "", AT_FDCWD, in(dir, "named"), AT_EMPTY_PATH));
    show_named(fd, in(dir, "named"));
    said("a second name", linkat(fd, "", AT_FDCWD, in(dir, "second"), AT_EMPTY_PATH));
    show_named(fd, in(dir, "second"));
    said("onto an existing name", linkat(fd, "", AT_FDCWD, in(dir, "named"), AT_EMPTY_PATH));
    said("empty, no AT_EMPTY_PATH", linkat(fd, "", AT_FDCWD, in(dir, "third"), 0));
    printf("write after %zd\n", pwrite(fd, "HELLO", 5, 0));
    show_named(fd, in(dir, "named"));

    int p = open(dir, O_TMPFILE | O_WRONLY, 0600);
    write(p, "proc", 4);
    said("link by /proc/self/fd", linkat(AT_FDCWD, proc_fd(p), AT_FDCWD, in(dir, "by-proc"), AT_SYMLINK_FOLLOW));
    show_named(p, in(dir, "by-proc"));
    said("/proc, no FOLLOW", linkat(AT_FDCWD, proc_fd(p), AT_FDCWD, in(dir, "by-proc2"), 0));
    close(p);

    int x = open(dir, O_TMPFILE | O_EXCL | O_RDWR, 0600);
    said("O_TMPFILE|O_EXCL", x);
    said("O_EXCL, AT_EMPTY_PATH", linkat(x, "", AT_FDCWD, in(dir, "excl"), AT_EMPTY_PATH));
    said("O_EXCL, /proc", linkat(AT_FDCWD, proc_fd(x), AT_FDCWD, in(dir, "excl"), AT_SYMLINK_FOLLOW));
    close(x);

    int u = open(dir, O_TMPFILE | O_RDWR, 0600);
    said("named once", linkat(u, "", AT_FDCWD, in(dir, "once"), AT_EMPTY_PATH));
    said("unnamed again", unlink(in(dir, "once")));
    said("then named again", linkat(u, "", AT_FDCWD, in(dir, "again"), AT_EMPTY_PATH));
    close(u);

    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    printf("names in the directory now: %d\n", n);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) return 2;
    mkdir(argv[1], 0755);
    umask(022);
    int fd = open(argv[1], O_TMPFILE | O_RDWR, 0666);
    show("O_TMPFILE|O_RDWR", fd);
    if (fd < 0) return 1;
    struct stat st;
    fstat(fd, &st);
    printf("mode %o nlink %lu size %ld uid %d\n", st.st_mode, (unsigned long)st.st_nlink, (long)st.st_size,
           st.st_uid == getuid());
    printf("write %zd\n", write(fd, "hello", 5));
    char b[8] = {0};
    printf("pread %zd %s\n", pread(fd, b, 5, 0), b);
    fstat(fd, &st);
    printf("size now %ld\n", (long)st.st_size);
    int n = 0;
    DIR *d = opendir(argv[1]);
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    printf("names in the directory: %d\n", n);
    show("O_TMPFILE|O_RDONLY", open(argv[1], O_TMPFILE | O_RDONLY, 0600));
    show("O_TMPFILE|O_WRONLY", open(argv[1], O_TMPFILE | O_WRONLY, 0600));
    char file[512];
    snprintf(file, sizeof file, "%s/plain", argv[1]);
    close(open(file, O_CREAT | O_WRONLY, 0600));
    show("on a file", open(file, O_TMPFILE | O_RDWR, 0600));
    snprintf(file, sizeof file, "%s/missing", argv[1]);
    show("on a missing dir", open(file, O_TMPFILE | O_RDWR, 0600));
    link_tmpfiles(argv[1], fd);
    return 0;
}
