/* What an O_PATH descriptor is refused (EBADF) and what it may do
 * (fstat, fstatfs, fcntl F_DUPFD/F_GETFD/F_SETFD/F_GETFL), as Linux:
 * every call that uses the open file itself (fdget) refuses one. Also
 * futimesat and utimensat with a null path on an ordinary descriptor.
 * Prints every result, for comparison with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <sys/sendfile.h>
#include <unistd.h>
#include <sys/syscall.h>
static void show(const char *what, long r) {
    if (r < 0) printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else printf("%s = %ld\n", what, r);
}
int main(int argc, char **argv) {
    char path[4096];
    const char *dir = argc > 1 ? argv[1] : "/tmp/opath";
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/f", dir);
    close(open(path, O_CREAT | O_WRONLY, 0644));
    int p = open(path, O_PATH);
    char buf[16];
    struct iovec iov = {buf, sizeof buf};
    struct stat st; struct statfs sf; int n = 0;
    show("read", read(p, buf, 1));
    show("write", write(p, "x", 1));
    show("pread", pread(p, buf, 1, 0));
    show("preadv", preadv(p, &iov, 1, 0));
    show("pwritev", pwritev(p, &iov, 1, 0));
    show("ioctl FIONREAD", ioctl(p, FIONREAD, &n));
    show("ioctl FIOCLEX", ioctl(p, FIOCLEX));
    show("syncfs", syncfs(p));
    show("fsync", fsync(p));
    show("fdatasync", fdatasync(p));
    show("futimesat NULL", syscall(SYS_futimesat, p, NULL, NULL));
    struct timeval tv[2] = {{1, 0}, {2, 0}};
    show("futimesat NULL times", syscall(SYS_futimesat, p, NULL, tv));
    show("futimens", futimens(p, NULL));
    show("utimensat NULL", syscall(SYS_utimensat, p, NULL, NULL, 0));
    show("fchmod", fchmod(p, 0600));
    show("fchown", fchown(p, 0, 0));
    show("fstat", fstat(p, &st));
    show("fstatfs", fstatfs(p, &sf));
    show("ftruncate", ftruncate(p, 0));
    show("fallocate", fallocate(p, 0, 0, 10));
    show("flock", flock(p, LOCK_SH));
    show("lseek", lseek(p, 0, SEEK_SET));
    show("getdents", syscall(SYS_getdents64, p, buf, sizeof buf));
    show("fgetxattr", fgetxattr(p, "user.x", buf, sizeof buf));
    show("fsetxattr", fsetxattr(p, "user.x", "1", 1, 0));
    show("flistxattr", flistxattr(p, buf, sizeof buf));
    show("fadvise", posix_fadvise(p, 0, 0, 0) ? (errno = posix_fadvise(p, 0, 0, 0), -1) : 0);
    show("readahead", readahead(p, 0, 10));
    show("mmap", (long)mmap(0, 4096, PROT_READ, MAP_SHARED, p, 0) == -1 ? -1 : 0);
    show("fchdir", fchdir(p));
    show("F_GETFL has O_PATH", (fcntl(p, F_GETFL) & O_PATH) != 0);
    show("F_SETFL", fcntl(p, F_SETFL, O_NONBLOCK));
    show("F_GETLK", ({struct flock fl = {.l_type = F_RDLCK}; fcntl(p, F_GETLK, &fl);}));
    show("F_SETOWN", fcntl(p, F_SETOWN, getpid()));
    show("F_GETOWN", fcntl(p, F_GETOWN));
    show("F_SETSIG", fcntl(p, F_SETSIG, 10));
    show("F_GETSIG", fcntl(p, F_GETSIG));
    show("F_DUPFD", fcntl(p, F_DUPFD, 50));
    show("F_GETPIPE_SZ", fcntl(p, F_GETPIPE_SZ));
    show("F_GET_SEALS", fcntl(p, F_GET_SEALS));
    show("sync_file_range", sync_file_range(p, 0, 0, 0));
    show("copy_file_range", copy_file_range(p, NULL, p, NULL, 1, 0));
    show("sendfile", sendfile(1, p, NULL, 1));
    /* With an ordinary descriptor a null path means the file itself. */
    int f = open(path, O_RDONLY);
    show("futimesat(fd, NULL)", syscall(SYS_futimesat, f, NULL, tv));
    fstat(f, &st);
    printf("mtime %ld\n", (long)st.st_mtime);
    show("utimensat(fd, NULL, flags)", syscall(SYS_utimensat, f, NULL, NULL, AT_SYMLINK_NOFOLLOW));
    show("utimensat(AT_FDCWD, NULL)", syscall(SYS_utimensat, AT_FDCWD, NULL, NULL, 0));
    struct timespec ts[2] = {{5, 0}, {6, 0}};
    show("futimens(fd)", futimens(f, ts));
    fstat(f, &st);
    printf("mtime %ld\n", (long)st.st_mtime);
    return 0;
}
