/* openat2 and its RESOLVE_* flags in a fresh directory DIR (argv[1]): the
 * checks of struct open_how (its size, unknown flags, mode without O_CREAT,
 * O_PATH with other flags), and what each resolve flag refuses: leaving the
 * directory (RESOLVE_BENEATH), treating it as the root (RESOLVE_IN_ROOT),
 * symlinks and magic links, mount crossings, and RESOLVE_CACHED's EAGAIN.
 * Prints one line per call. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int dir;
static const char *dir_name;

static long raw(int dfd, const char *path, void *how, size_t size) {
    return syscall(SYS_openat2, dfd, path, how, size);
}

/* openat2(dfd, path, {flags, mode, resolve}); prints the outcome and, for
 * a file, the path /proc shows relative to DIR's name. */
static void try(const char *what, int dfd, const char *path, uint64_t flags, uint64_t mode,
                uint64_t resolve) {
    struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
    long fd = raw(dfd, path, &how, sizeof how);
    /* A scoped walk through ".." is EAGAIN on Linux when any rename or
     * mount raced it (the host's tests run in parallel): try again, as
     * openat2(2) tells callers to. */
    for (int i = 0; i < 1000 && fd < 0 && errno == EAGAIN && !(resolve & RESOLVE_CACHED); i++)
        fd = raw(dfd, path, &how, sizeof how);
    if (fd < 0) {
        printf("%-34s %s\n", what, strerrorname_np(errno));
        return;
    }
    char p[64], l[512] = "";
    snprintf(p, sizeof p, "/proc/self/fd/%ld", fd);
    ssize_t n = readlink(p, l, sizeof l - 1);
    l[n < 0 ? 0 : n] = 0;
    const char *base = strrchr(l, '/');
    struct stat st;
    fstat(fd, &st);
    const char *name = base ? base + 1 : l;
    if (strcmp(name, dir_name) == 0) name = "DIR";
    printf("%-34s ok %s %s\n", what, name,
           S_ISLNK(st.st_mode) ? "link" : S_ISDIR(st.st_mode) ? "dir" : "file");
    close(fd);
}

static void sizes(void) {
    char buf[8192] = {0};
    struct open_how *how = (struct open_how *)buf;
    how->flags = O_RDONLY;
    long r;
    r = raw(dir, "a/b/f", buf, 0);
    printf("size 0: %s\n", r < 0 ? strerrorname_np(errno) : "ok");
    r = raw(dir, "a/b/f", buf, 23);
    printf("size 23: %s\n", r < 0 ? strerrorname_np(errno) : "ok");
    r = raw(dir, "a/b/f", buf, 40);
    printf("size 40, zero tail: %s\n", r < 0 ? strerrorname_np(errno) : "ok");
    if (r >= 0) close(r);
    buf[39] = 1;
    r = raw(dir, "a/b/f", buf, 40);
    printf("size 40, nonzero tail: %s\n", r < 0 ? strerrorname_np(errno) : "ok");
    buf[39] = 0;
    r = raw(dir, "a/b/f", buf, 4097);
    printf("size 4097: %s\n", r < 0 ? strerrorname_np(errno) : "ok");
    r = raw(dir, "a/b/f", (void *)8, sizeof(struct open_how));
    printf("bad pointer: %s\n", r < 0 ? strerrorname_np(errno) : "ok");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) return 2;
    const char *d = argv[1];
    dir_name = strrchr(d, '/') ? strrchr(d, '/') + 1 : d;
    if (mkdir(d, 0755) < 0 && errno != EEXIST) return perror("mkdir"), 1;
    dir = open(d, O_DIRECTORY | O_RDONLY);
    mkdirat(dir, "a", 0755);
    mkdirat(dir, "a/b", 0755);
    int f = openat(dir, "a/b/f", O_CREAT | O_WRONLY, 0644);
    close(f);
    symlinkat("/etc", dir, "a/abs");
    symlinkat("b/f", dir, "a/rel");
    symlinkat("../../outside", dir, "a/up");
    symlinkat("/a/b/f", dir, "a/rootrel");

    sizes();
    try("plain", dir, "a/b/f", O_RDONLY, 0, 0);
    try("empty path", dir, "", O_RDONLY, 0, 0);
    try("unknown flag", dir, "a/b/f", 1ULL << 40, 0, 0);
    try("mode without O_CREAT", dir, "a/b/f", O_RDONLY, 0644, 0);
    try("bad mode with O_CREAT", dir, "a/new", O_CREAT | O_WRONLY, 0170000, 0);
    try("unknown resolve", dir, "a/b/f", O_RDONLY, 0, 0x40);
    try("beneath|in_root", dir, "a/b/f", O_RDONLY, 0, RESOLVE_BENEATH | RESOLVE_IN_ROOT);
    try("O_PATH|O_RDWR", dir, "a/b/f", O_PATH | O_RDWR, 0, 0);
    try("O_PATH|O_CLOEXEC", dir, "a/b/f", O_PATH | O_CLOEXEC, 0, 0);
    try("O_TMPFILE read-only", dir, "a", O_TMPFILE | O_RDONLY, 0600, 0);
    try("create", dir, "a/made", O_CREAT | O_EXCL | O_WRONLY, 0600, 0);

    try("beneath: inside", dir, "a/b/f", O_RDONLY, 0, RESOLVE_BENEATH);
    try("beneath: down and up", dir, "a/b/../../a/b/f", O_RDONLY, 0, RESOLVE_BENEATH);
    try("beneath: dotdot", dir, "../x", O_RDONLY, 0, RESOLVE_BENEATH);
    try("beneath: absolute", dir, "/etc/passwd", O_RDONLY, 0, RESOLVE_BENEATH);
    try("beneath: absolute link", dir, "a/abs/passwd", O_RDONLY, 0, RESOLVE_BENEATH);
    try("beneath: relative link", dir, "a/rel", O_RDONLY, 0, RESOLVE_BENEATH);
    try("beneath: escaping link", dir, "a/up", O_RDONLY, 0, RESOLVE_BENEATH);
    try("beneath: create", dir, "a/made2", O_CREAT | O_WRONLY, 0600, RESOLVE_BENEATH);
    try("beneath: create outside", dir, "../made3", O_CREAT | O_WRONLY, 0600, RESOLVE_BENEATH);
    try("beneath: magic link", dir, "/proc/self/exe", O_RDONLY, 0, RESOLVE_BENEATH);

    try("in_root: absolute", dir, "/a/b/f", O_RDONLY, 0, RESOLVE_IN_ROOT);
    try("in_root: above the root", dir, "../../../a/b/f", O_RDONLY, 0, RESOLVE_IN_ROOT);
    try("in_root: absolute link", dir, "a/abs/passwd", O_RDONLY, 0, RESOLVE_IN_ROOT);
    try("in_root: link to its root", dir, "a/rootrel", O_RDONLY, 0, RESOLVE_IN_ROOT);
    try("in_root: escaping link", dir, "a/up", O_RDONLY, 0, RESOLVE_IN_ROOT);

    try("no_symlinks: link", dir, "a/rel", O_RDONLY, 0, RESOLVE_NO_SYMLINKS);
    try("no_symlinks: link in path", dir, "a/abs/passwd", O_RDONLY, 0, RESOLVE_NO_SYMLINKS);
    try("no_symlinks: O_PATH|O_NOFOLLOW", dir, "a/rel", O_PATH | O_NOFOLLOW, 0,
        RESOLVE_NO_SYMLINKS);
    try("no_symlinks: plain", dir, "a/b/f", O_RDONLY, 0, RESOLVE_NO_SYMLINKS);

    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", dir);
    try("no_magiclinks: fd link", AT_FDCWD, fdpath, O_RDONLY, 0, RESOLVE_NO_MAGICLINKS);
    try("no_magiclinks: exe", AT_FDCWD, "/proc/self/exe", O_RDONLY, 0, RESOLVE_NO_MAGICLINKS);
    try("no_magiclinks: O_PATH|O_NOFOLLOW", AT_FDCWD, "/proc/self/exe", O_PATH | O_NOFOLLOW, 0,
        RESOLVE_NO_MAGICLINKS);
    try("no_magiclinks: ordinary link", dir, "a/rel", O_RDONLY, 0, RESOLVE_NO_MAGICLINKS);
    try("magic link allowed", AT_FDCWD, fdpath, O_RDONLY, 0, 0);

    int root = open("/", O_DIRECTORY | O_RDONLY);
    try("no_xdev: same mount", root, "etc/passwd", O_RDONLY, 0, RESOLVE_NO_XDEV);
    try("no_xdev: into /proc", root, "proc/self/status", O_RDONLY, 0, RESOLVE_NO_XDEV);
    int proc = open("/proc", O_DIRECTORY | O_RDONLY);
    try("no_xdev: dotdot out of /proc", proc, "..", O_RDONLY, 0, RESOLVE_NO_XDEV);
    try("no_xdev: absolute from /proc", proc, "/etc", O_RDONLY, 0, RESOLVE_NO_XDEV);
    try("no_xdev: inside", dir, "a/b/f", O_RDONLY, 0, RESOLVE_NO_XDEV);

    try("cached: create", dir, "a/c", O_CREAT | O_WRONLY, 0600, RESOLVE_CACHED);
    try("cached: truncate", dir, "a/b/f", O_WRONLY | O_TRUNC, 0, RESOLVE_CACHED);
    return 0;
}
