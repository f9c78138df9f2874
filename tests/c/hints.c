/* Hints about files and memory, on a scratch directory given as argv[1]:
 * readahead, sync_file_range, mincore, mlockall and munlockall, with their
 * errors. Every result is printed, for comparison with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    mkdir(argv[1], 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/data", argv[1]);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    char block[8192];
    memset(block, 'x', sizeof block);
    show("write", write(fd, block, sizeof block));
    int wr = open(path, O_WRONLY);
    int p[2];
    if (pipe(p))
        return 1;

    show("readahead(file)", readahead(fd, 0, 8192));
    show("readahead(write-only file)", readahead(wr, 0, 8192));
    show("readahead(pipe)", readahead(p[0], 0, 10));
    show("readahead(bad fd)", readahead(99, 0, 10));

    show("sync_file_range(WRITE|WAIT_AFTER)",
         sync_file_range(fd, 0, 4096, SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER));
    show("sync_file_range(all, write-only fd)", sync_file_range(wr, 0, 0, SYNC_FILE_RANGE_WRITE));
    show("sync_file_range(bad flags)", sync_file_range(fd, 0, 0, 8));
    show("sync_file_range(negative offset)", sync_file_range(fd, -1, 0, 0));
    show("sync_file_range(pipe)", sync_file_range(p[1], 0, 0, SYNC_FILE_RANGE_WRITE));
    show("sync_file_range(bad fd)", sync_file_range(99, 0, 0, 0));

    long page = sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(m, 1, 4 * page);
    unsigned char vec[4] = {9, 9, 9, 9};
    show("mincore(4 touched pages)", mincore(m, 4 * page, vec));
    printf("resident = %d %d %d %d\n", vec[0] & 1, vec[1] & 1, vec[2] & 1, vec[3] & 1);
    show("mincore(partial last page)", mincore(m, 3 * page + 1, vec));
    show("mincore(unaligned)", mincore(m + 1, page, vec));
    show("mincore(bad vector)", mincore(m, page, (unsigned char *)8));
    munmap(m + page, page);
    show("mincore(hole)", mincore(m, 4 * page, vec));
    show("mincore(length 0)", mincore(m, 0, vec));

    show("mlockall(0)", mlockall(0));
    show("mlockall(MCL_ONFAULT alone)", mlockall(MCL_ONFAULT));
    show("mlockall(bad flag)", mlockall(MCL_CURRENT | 0x100));
    show("mlockall(MCL_CURRENT|MCL_FUTURE)", mlockall(MCL_CURRENT | MCL_FUTURE));
    show("munlockall", munlockall());
    return 0;
}
