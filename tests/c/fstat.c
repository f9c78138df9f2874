/* fstat, fstatat(AT_EMPTY_PATH) and statx(AT_EMPTY_PATH) of an open
 * descriptor (stdout, a pipe under the test harness) agree with each other
 * and with Linux; bad flags are EINVAL. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

int main(void) {
    struct stat a, b;
    struct statx x;
    int ra = fstat(1, &a);
    int rb = fstatat(1, "", &b, AT_EMPTY_PATH);
    int rx = statx(1, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &x);
    printf("fstat=%d fstatat=%d statx=%d fifo=%d same_ino=%d statx_ino=%d statx_mode=%d mask_basic=%d\n", ra, rb,
           rx, S_ISFIFO(a.st_mode), a.st_ino == b.st_ino, x.stx_ino == a.st_ino, x.stx_mode == a.st_mode,
           (x.stx_mask & STATX_BASIC_STATS) == STATX_BASIC_STATS);
    int bad = fstatat(1, "", &b, 0x10000000) == -1 && errno == EINVAL;
    int badfd = fstat(99, &a) == -1 && errno == EBADF;
    int nopath = fstatat(1, "", &b, 0) == -1 && errno == ENOENT;
    printf("bad_flags=%d bad_fd=%d empty_without_flag=%d\n", bad, badfd, nopath);
    return 0;
}
