/* O_DIRECT transfers on a scratch directory given as argv[1], as InnoDB
 * makes them: page-aligned buffers, offsets and lengths, through pwrite,
 * write, pread, readv and a transfer larger than a megabyte. Every result
 * is printed, so the sandbox's output can be compared with Linux's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define PAGE 4096
#define BIG (1024 * 1024 + 2 * PAGE)

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

static void fill(unsigned char *b, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 7 + seed + i / PAGE);
}

static int same(const unsigned char *b, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(i * 7 + seed + i / PAGE))
            return 0;
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    mkdir(argv[1], 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/data", argv[1]);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_DIRECT, 0644);
    show("open O_DIRECT", fd);
    if (fd < 0)
        return 1;
    show("F_GETFL has O_DIRECT", (fcntl(fd, F_GETFL) & O_DIRECT) != 0);
    unsigned char *buf, *back;
    if (posix_memalign((void **)&buf, PAGE, BIG) || posix_memalign((void **)&back, PAGE, BIG))
        return 1;

    fill(buf, 2 * PAGE, 1);
    show("pwrite 2 pages at 0", pwrite(fd, buf, 2 * PAGE, 0));
    fill(buf, PAGE, 2);
    show("lseek to page 2", lseek(fd, 2 * PAGE, SEEK_SET));
    show("write 1 page", write(fd, buf, PAGE));
    memset(back, 0, 3 * PAGE);
    show("pread 3 pages at 0", pread(fd, back, 3 * PAGE, 0));
    show("first 2 pages match", same(back, 2 * PAGE, 1));
    show("third page matches", same(back + 2 * PAGE, PAGE, 2));

    struct iovec iov[2] = {{back, PAGE}, {back + PAGE, 2 * PAGE}};
    memset(back, 0, 3 * PAGE);
    show("preadv 3 pages at 0", preadv(fd, iov, 2, 0));
    show("preadv first 2 pages match", same(back, 2 * PAGE, 1));

    fill(buf, BIG, 3);
    show("pwrite 1 MiB + 2 pages at page 4", pwrite(fd, buf, BIG, 4 * PAGE));
    memset(back, 0, BIG);
    show("pread 1 MiB + 2 pages at page 4", pread(fd, back, BIG, 4 * PAGE));
    show("big transfer matches", same(back, BIG, 3));
    struct stat st;
    show("fstat", fstat(fd, &st));
    printf("size = %lld\n", (long long)st.st_size);
    show("close", close(fd));

    /* The bytes are in the file, for a reader without O_DIRECT too. */
    fd = open(path, O_RDONLY);
    memset(back, 0, PAGE);
    show("buffered pread of page 2", pread(fd, back, PAGE, 2 * PAGE));
    show("buffered page 2 matches", same(back, PAGE, 2));
    close(fd);
    return 0;
}
