/* Reads into a buffer whose end is not mapped (or PROT_NONE), as Linux
 * answers them: a file read delivers what fits and its offset stops there;
 * a pipe's or a socket's data that does not fit is not taken (EFAULT, and
 * the next read gets all of it; readv with a bad second iovec too); a
 * write from such a buffer is EFAULT. Once, the sandbox
 * took the data anyway (a later read of the pipe waited forever) and
 * moved the file's offset past what it delivered. Prints what it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void show(const char *what, long n) {
    printf("%-14s %ld %s\n", what, n, n < 0 ? strerrorname_np(errno) : "");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(p + 4096, 4096);
    char *edge = p + 4096;
    int fd = open("/etc/passwd", O_RDONLY);
    show("file read", read(fd, edge - 100, 1000));
    printf("offset now %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    show("file pread", pread(fd, edge - 10, 1000, 0));
    show("all unmapped", read(fd, edge, 10));
    int pp[2];
    pipe(pp);
    write(pp[1], "0123456789abcdefghij", 20);
    show("pipe read", read(pp[0], edge - 5, 20));
    char rest[32] = {0};
    show("pipe read all", read(pp[0], rest, sizeof rest));
    printf("pipe data: %s\n", rest);
    show("pipe write", write(pp[1], edge - 5, 20));
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    write(sv[1], "0123456789", 10);
    show("socket read", read(sv[0], edge - 3, 10));
    memset(rest, 0, sizeof rest);
    show("socket read all", read(sv[0], rest, sizeof rest));
    printf("socket data: %s\n", rest);
    /* Two writes make two pipe buffers: the first fits whole, so the read
     * returns it; the second stays whole in the pipe. */
    write(pp[1], "0123456789", 10);
    write(pp[1], "abcdefghij", 10);
    show("pipe read 2 bufs", read(pp[0], edge - 15, 20));
    memset(rest, 0, sizeof rest);
    show("pipe rest", read(pp[0], rest, sizeof rest));
    printf("pipe rest: %s\n", rest);
    /* readv whose second iovec is bad: the first is filled. */
    write(pp[1], "0123456789", 10);
    write(pp[1], "abcdefghij", 10);
    char first[10];
    struct iovec iov[2] = {{first, 10}, {edge, 10}};
    show("pipe readv", readv(pp[0], iov, 2));
    memset(rest, 0, sizeof rest);
    show("pipe rest", read(pp[0], rest, sizeof rest));
    printf("pipe rest: %s\n", rest);
    write(sv[1], "0123456789abcdefghij", 20);
    show("socket readv", readv(sv[0], iov, 2));
    memset(rest, 0, sizeof rest);
    show("socket rest", read(sv[0], rest, sizeof rest));
    printf("socket rest: %s\n", rest);
    /* Two pipe buffers, the first a whole page that would fit: Linux
     * 6.18 still gives EFAULT and takes nothing. */
    static char page[8192];
    memset(page, 'p', 4096);
    write(pp[1], page, 4096);
    write(pp[1], "0123456789", 10);
    show("pipe page", read(pp[0], edge - 4100, 5000));
    show("pipe rest", read(pp[0], page, sizeof page));
    /* A second page that is PROT_NONE rather than unmapped. */
    char *q = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(q + 4096, 4096, PROT_NONE);
    write(pp[1], "0123456789", 10);
    write(pp[1], "abcdefghij", 10);
    show("prot_none read", read(pp[0], q + 4096 - 10, 20));
    memset(rest, 0, sizeof rest);
    show("pipe rest", read(pp[0], rest, sizeof rest));
    printf("pipe rest: %s\n", rest);
    write(sv[1], "0123456789abcdefghij", 20);
    show("socket prot_none", read(sv[0], q + 4096 - 10, 20));
    memset(rest, 0, sizeof rest);
    show("socket rest", read(sv[0], rest, sizeof rest));
    printf("socket rest: %s\n", rest);
    return 0;
}
