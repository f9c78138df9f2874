/* mmap of files (argv[1] is a scratch directory): a private mapping sees
 * the file and its writes stay private; a shared mapping's writes reach
 * the file after msync and after munmap; mapping past the end reads
 * zeros within the last page; bad combinations fail as on Linux. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void file_says(const char *what) {
    char buf[32] = {0};
    int fd = open("f", O_RDONLY);
    read(fd, buf, 12);
    close(fd);
    printf("%s: file=%s\n", what, buf);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    mkdir(argv[1], 0755);
    if (chdir(argv[1]) != 0) return 1;
    int fd = open("f", O_CREAT | O_TRUNC | O_RDWR, 0644);
    write(fd, "hello world!", 12);
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    printf("private: %.12s tail_zero=%d\n", p, p[12] == 0 && p[4095] == 0);
    p[0] = 'J';
    file_says("after private write");
    munmap(p, 4096);
    file_says("after private unmap");
    char *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    s[0] = 'Y';
    msync(s, 4096, MS_SYNC);
    file_says("after shared msync");
    s[1] = 'E';
    munmap(s, 4096);
    file_says("after shared unmap");
    off_t size = lseek(fd, 0, SEEK_END);
    printf("size still %ld\n", (long)size);
    int ro = open("f", O_RDONLY);
    printf("shared write on rdonly: %s\n",
           mmap(NULL, 4096, PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED ? strerror(errno) : "ok");
    printf("private write on rdonly: %s\n",
           mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0) == MAP_FAILED ? strerror(errno) : "ok");
    printf("unaligned offset: %s\n",
           mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, ro, 1) == MAP_FAILED ? strerror(errno) : "ok");
    int wo = open("f", O_WRONLY);
    printf("map write-only: %s\n",
           mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, wo, 0) == MAP_FAILED ? strerror(errno) : "ok");
    int dir = open(".", O_RDONLY);
    printf("map a directory: %s\n",
           mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, dir, 0) == MAP_FAILED ? strerror(errno) : "ok");
    char *z = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, open("/dev/zero", O_RDONLY), 0);
    printf("dev zero: %d\n", z != MAP_FAILED && z[0] == 0 && z[8191] == 0);
    return 0;
}
