/* Reads into a buffer whose end is not mapped, as Linux answers them: a
 * file read delivers what fits and its offset stops there; a pipe's or a
 * socket's data that does not fit is not taken (EFAULT, and the next read
 * gets all of it); a write from such a buffer is EFAULT. Once, the sandbox
 * took the data anyway (a later read of the pipe waited forever) and
 * moved the file's offset past what it delivered. Prints what it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
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
    return 0;
}
