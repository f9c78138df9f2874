/* memfd_create and file seals: the flags (close-on-exec, sealing allowed
 * or not, no-exec sealed), the name /proc shows, the file's attributes,
 * what each seal forbids (shrinking, growing, writing, adding seals),
 * reopening through /proc/self/fd, mapping, and the errors for a bad name
 * or flags. Prints what it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

static const char *err(long r) { return r < 0 ? strerror(errno) : "ok"; }

static void link_of(int fd) {
    char p[64], l[512];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(p, l, sizeof l - 1);
    l[n < 0 ? 0 : n] = 0;
    printf("  link %s\n", l);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int fd = memfd_create("test/one", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    struct stat st;
    fstat(fd, &st);
    printf("memfd: mode %o nlink %lu size %ld flags %#x cloexec %d seals %#x\n", st.st_mode,
           (unsigned long)st.st_nlink, (long)st.st_size, fcntl(fd, F_GETFL), fcntl(fd, F_GETFD),
           fcntl(fd, F_GET_SEALS));
    link_of(fd);
    printf("write: %zd\n", write(fd, "0123456789", 10));

    printf("seal shrink: %s\n", err(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK)));
    printf("  truncate to 5: %s\n", err(ftruncate(fd, 5)));
    printf("  truncate to 8192: %s\n", err(ftruncate(fd, 8192)));
    printf("seal grow: %s\n", err(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW)));
    printf("  write at the end: %s\n", err(pwrite(fd, "x", 1, 8192)));
    printf("  write across the end: %s\n", err(pwrite(fd, "xy", 2, 8191)));
    printf("  write within: %zd\n", pwrite(fd, "ab", 2, 4));
    printf("  truncate to 9000: %s\n", err(ftruncate(fd, 9000)));
    printf("  allocate past the end: %s\n", err(fallocate(fd, 0, 0, 10000)));
    printf("  allocate within: %s\n", err(fallocate(fd, 0, 0, 100)));
    void *map = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
    printf("  mapped: %.10s\n", map == MAP_FAILED ? strerror(errno) : (char *)map);
    /* A shared mapping of a descriptor open for writing may become
     * writable: no F_SEAL_WRITE while it lasts. A private one is no bar. */
    printf("seal write while mapped shared: %s\n", err(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE)));
    munmap(map, 8192);
    char *priv = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    printf("seal write: %s\n", err(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE)));
    printf("  write: %s\n", err(pwrite(fd, "z", 1, 0)));
    char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("  map shared writable: %s\n", m == MAP_FAILED ? strerror(errno) : "ok");
    m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    printf("  map shared read-only: %s\n", m == MAP_FAILED ? strerror(errno) : "ok");
    printf("  then writable: %s\n", err(mprotect(m, 4096, PROT_READ | PROT_WRITE)));
    priv[0] = 'P';
    printf("  private copy written: %c, file still %c\n", priv[0], m[0]);
    munmap(m, 4096);
    munmap(priv, 4096);
    char buf[11] = { 0 };
    printf("  read: %zd %s\n", pread(fd, buf, 10, 0), buf);
    printf("  seals %#x\n", fcntl(fd, F_GET_SEALS));
    printf("unknown seal: %s\n", err(fcntl(fd, F_ADD_SEALS, 0x100)));
    printf("seal seal: %s\n", err(fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL)));
    printf("  then future write: %s\n", err(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE)));
    printf("  seals %#x\n", fcntl(fd, F_GET_SEALS));

    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int ro = open(path, O_RDONLY);
    printf("reopened read-only: %s\n", err(ro));
    printf("  own offset %ld, seals %#x\n", (long)lseek(ro, 0, SEEK_CUR), fcntl(ro, F_GET_SEALS));
    printf("  add seals through it: %s\n", err(fcntl(ro, F_ADD_SEALS, F_SEAL_GROW)));

    int plain = memfd_create("plain", 0);
    printf("plain: cloexec %d seals %#x\n", fcntl(plain, F_GETFD), fcntl(plain, F_GET_SEALS));
    printf("  add: %s\n", err(fcntl(plain, F_ADD_SEALS, F_SEAL_GROW)));
    int fw = memfd_create("fw", MFD_ALLOW_SEALING);
    write(fw, "abc", 3);
    char *before = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fw, 0);
    printf("future write: %s\n", err(fcntl(fw, F_ADD_SEALS, F_SEAL_FUTURE_WRITE)));
    printf("  write: %s\n", err(write(fw, "d", 1)));
    m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fw, 0);
    printf("  map shared writable: %s\n", m == MAP_FAILED ? strerror(errno) : "ok");
    /* A mapping made before the seal may still become writable. */
    printf("  earlier mapping made writable: %s\n", err(mprotect(before, 4096, PROT_READ | PROT_WRITE)));
    before[0] = 'A';
    char c = 0;
    pread(fw, &c, 1, 0);
    printf("  stored through it: %c\n", c);
    munmap(before, 4096);
    printf("  shrink still: %s\n", err(ftruncate(fw, 1)));
    int busy = memfd_create("busy", MFD_ALLOW_SEALING);
    write(busy, "abc", 3);
    snprintf(path, sizeof path, "/proc/self/fd/%d", busy);
    int busy_ro = open(path, O_RDONLY);
    m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, busy_ro, 0);
    printf("mapped shared from a read-only descriptor: seal write %s\n",
           err(fcntl(busy, F_ADD_SEALS, F_SEAL_WRITE)));
    printf("  then writable: %s\n", err(mprotect(m, 4096, PROT_READ | PROT_WRITE)));
    int ex = memfd_create("exec", MFD_ALLOW_SEALING);
    printf("seal exec on an executable memfd: %s\n", err(fcntl(ex, F_ADD_SEALS, F_SEAL_EXEC)));
    printf("  seals %#x\n", fcntl(ex, F_GET_SEALS));
    int nx = memfd_create("noexec", MFD_NOEXEC_SEAL);
    fstat(nx, &st);
    printf("noexec sealed: mode %o seals %#x\n", st.st_mode, fcntl(nx, F_GET_SEALS));
    printf("  chmod +x: %s\n", err(fchmod(nx, 0777)));
    printf("  chmod 0644: %s\n", err(fchmod(nx, 0644)));
    printf("  write: %s\n", err(write(nx, "ok", 2)));

    char name[260];
    memset(name, 'n', sizeof name);
    name[249] = 0;
    int longest = memfd_create(name, 0);
    printf("name of 249: %s\n", err(longest));
    name[249] = 'n';
    name[250] = 0;
    printf("name of 250: %s\n", err(memfd_create(name, 0)));
    printf("unknown flag: %s\n", err(memfd_create("x", 0x100)));
    printf("exec and noexec: %s\n", err(memfd_create("x", MFD_EXEC | MFD_NOEXEC_SEAL)));
    printf("bad name pointer: %s\n", err(memfd_create((char *)8, 0)));

    int shm = open("/dev/shm/memfd-test", O_RDWR | O_CREAT, 0600);
    printf("a tmpfs file: seals %#x\n", fcntl(shm, F_GET_SEALS));
    printf("  add: %s\n", err(fcntl(shm, F_ADD_SEALS, F_SEAL_GROW)));
    unlink("/dev/shm/memfd-test");
    printf("not a tmpfs file: %s\n", err(fcntl(0, F_GET_SEALS)));
    return 0;
}
