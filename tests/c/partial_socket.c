/* recvmsg and readv on AF_UNIX sockets (stream, seqpacket, datagram)
 * into iovecs of which a later one (or the first) is a bad pointer, as
 * Linux 6.18 answers them: EFAULT, though the good iovecs could have held
 * part of the data; a stream's data stays queued for the next read, a
 * datagram or record is gone (but stays with MSG_PEEK); when what is
 * queued fits in the good iovecs the bad one is never touched and the
 * read succeeds. Prints what it sees, to compare with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void show(const char *what, long n) {
    printf("%-28s %ld %s\n", what, n, n < 0 ? strerrorname_np(errno) : "");
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(p + 4096, 4096);
    char *edge = p + 4096;
    int kinds[] = {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};
    const char *names[] = {"stream", "seqpacket", "dgram"};
    for (int k = 0; k < 3; k++) {
        int sv[2];
        socketpair(AF_UNIX, kinds[k], 0, sv);
        printf("%s:\n", names[k]);
        char first[10], rest[64];
        /* readv, a later iovec bad */
        write(sv[1], "0123456789abcdefghij", 20);
        write(sv[1], "ABCDEFGHIJ", 10);
        struct iovec iov[2] = {{first, 10}, {edge, 10}};
        show("  readv", readv(sv[0], iov, 2));
        memset(rest, 0, sizeof rest);
        show("  next read", recv(sv[0], rest, sizeof rest, MSG_DONTWAIT));
        printf("  next: %s\n", rest);
        /* recvmsg, a later iovec bad, middle partly good */
        write(sv[1], "0123456789abcdefghij", 20);
        struct iovec iov3[3] = {{first, 4}, {edge - 3, 10}, {rest, 10}};
        struct msghdr m = {.msg_iov = iov3, .msg_iovlen = 3};
        show("  recvmsg", recvmsg(sv[0], &m, MSG_DONTWAIT));
        printf("  flags %#x\n", m.msg_flags);
        memset(rest, 0, sizeof rest);
        show("  next read", recv(sv[0], rest, sizeof rest, MSG_DONTWAIT));
        printf("  next: %s\n", rest);
        /* first iovec bad */
        write(sv[1], "0123456789", 10);
        struct iovec bad[2] = {{edge, 10}, {first, 10}};
        struct msghdr mb = {.msg_iov = bad, .msg_iovlen = 2};
        show("  recvmsg first bad", recvmsg(sv[0], &mb, MSG_DONTWAIT));
        memset(rest, 0, sizeof rest);
        show("  next read", recv(sv[0], rest, sizeof rest, MSG_DONTWAIT));
        printf("  next: %s\n", rest);
        /* peek into a partly bad buffer */
        write(sv[1], "0123456789", 10);
        struct msghdr mp = {.msg_iov = iov, .msg_iovlen = 2};
        iov[0].iov_len = 4;
        show("  recvmsg peek", recvmsg(sv[0], &mp, MSG_PEEK | MSG_DONTWAIT));
        iov[0].iov_len = 10;
        memset(rest, 0, sizeof rest);
        show("  next read", recv(sv[0], rest, sizeof rest, MSG_DONTWAIT));
        printf("  next: %s\n", rest);
        /* what is queued fits in the good iovecs: the bad one is never touched */
        write(sv[1], "01234", 5);
        show("  readv fits", readv(sv[0], iov, 2));
        printf("  got: %.5s\n", first);
        close(sv[0]);
        close(sv[1]);
    }
    return 0;
}
