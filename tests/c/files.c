/* File-system calls on a scratch directory given as argv[1]: every result
 * is printed, so the sandbox's output can be compared with Linux's.
 * Nothing printed depends on the directory's path, inode numbers or times. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

/* Sorted names of a directory, read with getdents64 in small batches. */
static void list(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    char buf[256], *names[64];
    int n = 0;
    long r;
    while ((r = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < r;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            if (n < 64) names[n++] = strdup(d->d_name);
            off += d->d_reclen;
        }
    }
    qsort(names, n, sizeof *names, cmp);
    printf("ls %s:", dir);
    for (int i = 0; i < n; i++) printf(" %s", names[i]);
    printf("\n");
    close(fd);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    mkdir(argv[1], 0755);
    if (chdir(argv[1]) != 0) { perror("chdir"); return 1; }
    umask(022);
    struct stat st;
    char buf[64];

    /* create, write, read back, append, truncate */
    int fd = open("a", O_CREAT | O_EXCL | O_RDWR, 0640);
    show("open a", fd >= 0 ? 0 : -1);
    show("open a excl again", open("a", O_CREAT | O_EXCL | O_RDWR, 0640));
    show("write", write(fd, "hello world", 11));
    show("lseek cur", lseek(fd, 0, SEEK_CUR));
    show("lseek set", lseek(fd, 6, SEEK_SET));
    memset(buf, 0, sizeof buf);
    show("read", read(fd, buf, sizeof buf));
    printf("  data=%s\n", buf);
    show("pread", pread(fd, buf, 5, 0));
    printf("  data=%.5s\n", buf);
    show("lseek end", lseek(fd, 0, SEEK_END));
    show("lseek neg", lseek(fd, -100, SEEK_SET));
    show("ftruncate", ftruncate(fd, 5));
    fstat(fd, &st);
    printf("  size=%ld mode=%o nlink=%ld\n", (long)st.st_size, st.st_mode, (long)st.st_nlink);
    close(fd);
    fd = open("a", O_WRONLY | O_APPEND);
    show("append", write(fd, "!!", 2));
    show("pwrite appends", pwrite(fd, "?", 1, 0));
    close(fd);
    fd = open("a", O_RDONLY);
    memset(buf, 0, sizeof buf);
    show("read all", read(fd, buf, sizeof buf));
    printf("  data=%s\n", buf);
    show("write on rdonly", write(fd, "x", 1));
    close(fd);
    show("read on closed", read(fd, buf, 1));
    fd = open("a", O_RDWR | O_TRUNC);
    fstat(fd, &st);
    printf("  truncated size=%ld\n", (long)st.st_size);
    struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
    show("writev", writev(fd, iov, 2));
    close(fd);

    /* directories */
    show("mkdir d", mkdir("d", 0755));
    show("mkdir d again", mkdir("d", 0755));
    show("mkdir d/e/f", mkdir("d/e/f", 0755));
    show("mkdir d/e", mkdir("d/e", 0700));
    show("open d write", open("d", O_WRONLY));
    show("open a as dir", open("a", O_RDONLY | O_DIRECTORY));
    show("mkdir under file", mkdir("a/x", 0755));
    show("rmdir d", rmdir("d"));
    show("rmdir a", rmdir("a"));
    show("unlink d", unlink("d"));
    show("rmdir .", rmdir("d/e/."));
    show("stat d/e/../../a", stat("d/e/../../a", &st));
    show("stat a/", stat("a/", &st));
    show("stat missing", stat("nothere/x", &st));
    stat("d/e", &st);
    printf("  d/e mode=%o\n", st.st_mode);

    /* links */
    show("link", link("a", "d/a2"));
    stat("a", &st);
    printf("  nlink=%ld\n", (long)st.st_nlink);
    show("link dir", link("d", "d2"));
    show("symlink", symlink("../a", "d/sl"));
    show("symlink dangling", symlink("nowhere", "dl"));
    memset(buf, 0, sizeof buf);
    show("readlink", readlink("d/sl", buf, sizeof buf));
    printf("  target=%s\n", buf);
    show("readlink file", readlink("a", buf, sizeof buf));
    show("stat via symlink", stat("d/sl", &st));
    printf("  size=%ld\n", (long)st.st_size);
    show("lstat symlink", lstat("d/sl", &st));
    printf("  is_link=%d\n", S_ISLNK(st.st_mode));
    show("open dangling", open("dl", O_RDONLY));
    show("open nofollow", open("d/sl", O_RDONLY | O_NOFOLLOW));
    show("symlink loop", symlink("loop", "loop"));
    show("open loop", open("loop", O_RDONLY));
    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    show("openat relative", openat(dfd, "a2", O_RDONLY) >= 0 ? 0 : -1);
    show("fstatat", fstatat(dfd, "sl", &st, AT_SYMLINK_NOFOLLOW));
    show("unlinkat dir flag on file", unlinkat(dfd, "a2", AT_REMOVEDIR));
    show("unlinkat", unlinkat(dfd, "a2", 0));
    stat("a", &st);
    printf("  nlink after unlink=%ld\n", (long)st.st_nlink);

    /* rename */
    show("rename a b", rename("a", "b"));
    show("stat a", stat("a", &st));
    show("rename into own subtree", rename("d", "d/e/x"));
    show("rename dir over file", rename("d", "b"));
    show("rename file over dir", rename("b", "d"));
    show("rename over empty dir", (mkdir("z", 0755), rename("d/e/f", "z")));
    show("rename over nonempty dir", rename("z", "d"));
    show("rename noreplace", syscall(SYS_renameat2, AT_FDCWD, "b", AT_FDCWD, "dl", RENAME_NOREPLACE));
    show("rename exchange", syscall(SYS_renameat2, AT_FDCWD, "b", AT_FDCWD, "dl", RENAME_EXCHANGE));
    memset(buf, 0, sizeof buf);
    show("readlink b", readlink("b", buf, sizeof buf));
    printf("  target=%s\n", buf);
    list(".");
    list("d");

    /* attributes */
    show("chmod", chmod("dl", 0600));
    stat("dl", &st);
    printf("  mode=%o\n", st.st_mode);
    struct timespec ts[2] = {{1000000000, 5}, {1200000000, 7}};
    show("utimensat", utimensat(AT_FDCWD, "dl", ts, 0));
    stat("dl", &st);
    printf("  atime=%ld.%ld mtime=%ld.%ld\n", (long)st.st_atim.tv_sec, st.st_atim.tv_nsec, (long)st.st_mtim.tv_sec,
           st.st_mtim.tv_nsec);
    show("access r", access("dl", R_OK));
    show("access x", access("dl", X_OK));
    show("access missing", access("nope", F_OK));
    show("truncate", truncate("dl", 3));
    stat("dl", &st);
    printf("  size=%ld\n", (long)st.st_size);
    show("truncate dir", truncate("d", 0));

    /* cwd */
    show("chdir d", chdir("d"));
    char *cwd = getcwd(NULL, 0);
    const char *base = strrchr(cwd, '/');
    printf("  cwd ends with %s\n", base);
    show("chdir file", chdir("../dl"));
    show("fchdir", fchdir(dfd));
    show("rmdir cwd's child e", (rmdir("e/f"), rmdir("e")));
    list(".");

    /* dup, pipes */
    int p[2];
    show("pipe", pipe(p));
    show("pipe write", write(p[1], "ping", 4));
    memset(buf, 0, sizeof buf);
    show("pipe read", read(p[0], buf, sizeof buf));
    printf("  data=%s\n", buf);
    show("pipe lseek", lseek(p[0], 0, SEEK_SET));
    int d2 = dup(p[1]);
    close(p[1]);
    show("write via dup", write(d2, "x", 1));
    close(d2);
    show("read rest", read(p[0], buf, sizeof buf));
    show("read eof", read(p[0], buf, sizeof buf));
    show("fcntl getfl", fcntl(p[0], F_GETFL) & O_ACCMODE);
    close(p[0]);
    return 0;
}
