/* Extended attributes on a scratch directory given as argv[1]: set, get,
 * list and remove in all three forms (path, l, f), every flag and every
 * error Linux gives, printed so the sandbox's output can be compared with
 * Linux's. Lists are printed sorted (file systems order them their own
 * way). argv[2] "user" keeps to user. attributes (a volume passes only
 * those to the host); "all" adds trusted. and security. ones and what an
 * unprivileged user may do with them.
 *
 * Other modes: "show FILE" prints a file's attributes; "set FILE NAME
 * VALUE" sets one. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

/* The sorted names of a listing of `n` bytes, and each value. */
static void print_list(const char *what, const char *path, const char *buf, long n) {
    const char *names[256];
    int count = 0;
    for (long off = 0; off < n && count < 256; off += strlen(buf + off) + 1) names[count++] = buf + off;
    qsort(names, count, sizeof *names, cmp);
    printf("%s (%ld bytes):", what, n);
    for (int i = 0; i < count; i++) {
        char v[128];
        long len = lgetxattr(path, names[i], v, sizeof v - 1);
        printf(" %s=", names[i]);
        if (len < 0)
            printf("<%s>", strerrorname_np(errno));
        else
            printf("'%.*s'", (int)len, v);
    }
    printf("\n");
}

static void list(const char *path) {
    char buf[4096];
    long n = llistxattr(path, buf, sizeof buf);
    if (n < 0) {
        show("llistxattr", n);
        return;
    }
    char what[256];
    snprintf(what, sizeof what, "list %s", path);
    print_list(what, path, buf, n);
}

static void get(const char *what, const char *path, const char *name) {
    char v[256];
    long n = getxattr(path, name, v, sizeof v);
    show(what, n);
    if (n >= 0) printf("  value='%.*s'\n", (int)n, v);
}

static int changed_ctime(const struct stat *a, const struct stat *b) {
    return a->st_ctim.tv_sec != b->st_ctim.tv_sec || a->st_ctim.tv_nsec != b->st_ctim.tv_nsec;
}

/* Names, sizes, flags and buffers: the checks made before the file. */
static void limits(void) {
    char big_name[300];
    memset(big_name, 'a', sizeof big_name);
    memcpy(big_name, "user.", 5);
    big_name[256] = 0;
    show("set name of 256", setxattr("f", big_name, "x", 1, 0));
    show("get name of 256", getxattr("f", big_name, NULL, 0));
    show("remove name of 256", removexattr("f", big_name));
    big_name[255] = 0;
    show("set name of 255", setxattr("f", big_name, "x", 1, 0));
    show("get name of 255", getxattr("f", big_name, NULL, 0));
    show("remove name of 255", removexattr("f", big_name));
    show("set empty name", setxattr("f", "", "x", 1, 0));
    show("get empty name", getxattr("f", "", NULL, 0));
    show("set bad name pointer", setxattr("f", (char *)1, "x", 1, 0));
    show("set bad flags", setxattr("f", "user.a", "x", 1, 4));
    show("set bad flags first", setxattr("nowhere", "", "x", 1, 4));
    show("set name before path", setxattr("nowhere", "", "x", 1, 0));
    show("get name before path", getxattr("nowhere", "", NULL, 0));
    show("set value too big", setxattr("f", "user.a", "x", 65537, 0));
    show("set bad value pointer", setxattr("f", "user.a", (char *)1, 4, 0));
    show("set bad value before path", setxattr("nowhere", "user.a", (char *)1, 4, 0));
    show("set on nothing", setxattr("nowhere", "user.a", "x", 1, 0));
    show("get on nothing", getxattr("nowhere", "user.a", NULL, 0));
    show("list on nothing", listxattr("nowhere", NULL, 0));
    show("remove on nothing", removexattr("nowhere", "user.a"));
    show("get empty path", getxattr("", "user.a", NULL, 0));
}

static void user_attributes(void) {
    struct stat before, after;
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    show("list new file", listxattr("f", NULL, 0));
    stat("f", &before);
    show("set user.a", setxattr("f", "user.a", "hello", 5, 0));
    stat("f", &after);
    printf("  ctime changed: %d\n", changed_ctime(&before, &after));
    show("set user.a create", setxattr("f", "user.a", "again", 5, XATTR_CREATE));
    show("set user.b replace", setxattr("f", "user.b", "b", 1, XATTR_REPLACE));
    show("set user.a both", setxattr("f", "user.a", "x", 1, XATTR_CREATE | XATTR_REPLACE));
    show("set user.b both", setxattr("f", "user.b", "x", 1, XATTR_CREATE | XATTR_REPLACE));
    show("set user.a replace", setxattr("f", "user.a", "world!", 6, XATTR_REPLACE));
    show("set user.b create", setxattr("f", "user.b", "bee", 3, XATTR_CREATE));
    show("set user.empty", setxattr("f", "user.empty", "", 0, 0));
    show("set user.null value", setxattr("f", "user.null", NULL, 0, 0));
    get("get user.a", "f", "user.a");
    get("get user.empty", "f", "user.empty");
    show("get user.a size 0", getxattr("f", "user.a", NULL, 0));
    char small[3];
    show("get user.a small", getxattr("f", "user.a", small, sizeof small));
    show("get user.a bad buffer", getxattr("f", "user.a", (char *)1, 100));
    show("get user.empty bad buffer", getxattr("f", "user.empty", (char *)1, 100));
    show("get user.missing", getxattr("f", "user.missing", NULL, 0));
    show("get user. alone", getxattr("f", "user.", NULL, 0));
    show("set user. alone", setxattr("f", "user.", "x", 1, 0));
    show("get no namespace", getxattr("f", "user", NULL, 0));
    show("set unknown namespace", setxattr("f", "foo.bar", "x", 1, 0));
    show("get unknown namespace", getxattr("f", "foo.bar", NULL, 0));
    show("set system.foo", setxattr("f", "system.foo", "x", 1, 0));
    show("list size 0", listxattr("f", NULL, 0));
    char lbuf[4096];
    show("list small", listxattr("f", lbuf, 5));
    show("list bad buffer", listxattr("f", (char *)1, sizeof lbuf));
    list("f");
    limits();

    /* The descriptor forms. */
    show("fsetxattr", fsetxattr(fd, "user.fd", "via fd", 6, 0));
    char v[64];
    long n = fgetxattr(fd, "user.fd", v, sizeof v);
    show("fgetxattr", n);
    if (n >= 0) printf("  value='%.*s'\n", (int)n, v);
    n = flistxattr(fd, lbuf, sizeof lbuf);
    if (n >= 0) print_list("flistxattr", "f", lbuf, n);
    show("fremovexattr", fremovexattr(fd, "user.fd"));
    show("fremovexattr again", fremovexattr(fd, "user.fd"));
    show("fgetxattr bad fd", fgetxattr(999, "user.fd", v, sizeof v));
    show("fgetxattr bad name before bad fd", fgetxattr(999, "", v, sizeof v));
    close(fd);
    int path_fd = open("f", O_PATH);
    show("fgetxattr O_PATH", fgetxattr(path_fd, "user.a", v, sizeof v));
    show("fsetxattr O_PATH", fsetxattr(path_fd, "user.a", "x", 1, 0));
    show("flistxattr O_PATH", flistxattr(path_fd, lbuf, sizeof lbuf));
    show("fremovexattr O_PATH", fremovexattr(path_fd, "user.a"));
    close(path_fd);
    int pipes[2];
    if (pipe(pipes) == 0) {
        show("fgetxattr pipe", fgetxattr(pipes[0], "user.a", v, sizeof v));
        show("fsetxattr pipe", fsetxattr(pipes[0], "user.a", "x", 1, 0));
        show("flistxattr pipe", flistxattr(pipes[0], lbuf, sizeof lbuf));
        close(pipes[0]);
        close(pipes[1]);
    }

    /* Removal. */
    show("remove user.b", removexattr("f", "user.b"));
    show("remove user.b again", removexattr("f", "user.b"));
    show("remove unknown namespace", removexattr("f", "foo.bar"));
    list("f");

    /* Directories have them; symlinks and FIFOs may not. */
    mkdir("d", 0755);
    show("set on dir", setxattr("d", "user.dir", "yes", 3, 0));
    get("get on dir", "d", "user.dir");
    list("d");
    symlink("f", "l");
    show("lsetxattr symlink", lsetxattr("l", "user.a", "x", 1, 0));
    show("lgetxattr symlink", lgetxattr("l", "user.a", v, sizeof v));
    show("llistxattr symlink", llistxattr("l", lbuf, sizeof lbuf));
    show("lremovexattr symlink", lremovexattr("l", "user.a"));
    get("getxattr through symlink", "l", "user.a");
    show("setxattr through symlink", setxattr("l", "user.via", "link", 4, 0));
    get("get user.via on target", "f", "user.via");
    mkfifo("p", 0644);
    show("set on fifo", setxattr("p", "user.a", "x", 1, 0));
    show("get on fifo", getxattr("p", "user.a", v, sizeof v));
    show("list on fifo", listxattr("p", lbuf, sizeof lbuf));

    /* inotify hears IN_ATTRIB for sets and removals. */
    int in = inotify_init1(IN_NONBLOCK);
    inotify_add_watch(in, "f", IN_ATTRIB | IN_MODIFY);
    setxattr("f", "user.watched", "w", 1, 0);
    removexattr("f", "user.watched");
    char ev[4096];
    n = read(in, ev, sizeof ev);
    for (long off = 0; n > 0 && off < n;) {
        struct inotify_event *e = (struct inotify_event *)(ev + off);
        printf("inotify mask=%#x\n", e->mask);
        off += sizeof *e + e->len;
    }
    close(in);

    /* Permissions of user. attributes, as someone else. */
    chmod("f", 0600);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) || setuid(65534)) _exit(3);
        show("other: get user.a of 0600", getxattr("f", "user.a", v, sizeof v));
        show("other: set user.a of 0600", setxattr("f", "user.a", "x", 1, 0));
        show("other: remove user.a of 0600", removexattr("f", "user.a"));
        n = listxattr("f", lbuf, sizeof lbuf);
        if (n >= 0) print_list("other: list of 0600", "f", lbuf, n);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d\n", status);
    chmod("f", 0644);
}

static void privileged_attributes(void) {
    show("set trusted.t", setxattr("f", "trusted.t", "tee", 3, 0));
    show("set security.s", setxattr("f", "security.s", "ess", 3, 0));
    get("get trusted.t", "f", "trusted.t");
    get("get security.s", "f", "security.s");
    show("set trusted.", setxattr("f", "trusted.", "x", 1, 0));
    show("lsetxattr trusted on symlink", lsetxattr("l", "trusted.t", "x", 1, 0));
    char v[64], lbuf[4096];
    show("lgetxattr trusted on symlink", lgetxattr("l", "trusted.t", v, sizeof v));
    list("l");
    list("f");
    chmod("f", 0600);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(65534) || setuid(65534)) _exit(3);
        show("other: get trusted.t", getxattr("f", "trusted.t", v, sizeof v));
        show("other: set trusted.t", setxattr("f", "trusted.t", "x", 1, 0));
        show("other: remove trusted.t", removexattr("f", "trusted.t"));
        long n = getxattr("f", "security.s", v, sizeof v);
        show("other: get security.s of 0600", n);
        show("other: set security.s", setxattr("f", "security.s", "x", 1, 0));
        show("other: remove security.s", removexattr("f", "security.s"));
        n = listxattr("f", lbuf, sizeof lbuf);
        if (n >= 0) print_list("other: list", "f", lbuf, n);
        _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child status %d\n", status);
    show("remove trusted.t", removexattr("f", "trusted.t"));
    show("remove security.s", removexattr("f", "security.s"));
    list("f");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "show") == 0) {
        char buf[4096];
        long n = listxattr(argv[2], buf, sizeof buf);
        if (n < 0) {
            show("listxattr", n);
            return 1;
        }
        print_list("show", argv[2], buf, n);
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "set") == 0) {
        show("set", setxattr(argv[2], argv[3], argv[4], strlen(argv[4]), 0));
        return 0;
    }
    if (argc < 3) return 2;
    mkdir(argv[1], 0755);
    chmod(argv[1], 0755);
    if (chdir(argv[1]) != 0) {
        perror("chdir");
        return 1;
    }
    umask(022);
    user_attributes();
    if (strcmp(argv[2], "all") == 0) privileged_attributes();
    /* Left for the caller to find on the host. */
    show("set user.kept", setxattr("f", "user.kept", "for the host", 12, 0));
    return 0;
}
