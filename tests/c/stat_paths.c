/* stat_paths N PATH [READS FILE]: stat PATH N times; then, if given, open
 * FILE once and read one byte from it READS times. Used with --profile to
 * count the gofer requests each costs. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    struct stat st;
    int n = atoi(argv[1]);
    for (int i = 0; i < n; i++)
        if (stat(argv[2], &st) != 0) { perror("stat"); return 1; }
    if (argc >= 5) {
        int fd = open(argv[4], O_RDONLY);
        if (fd < 0) { perror("open"); return 1; }
        char c;
        for (int i = 0; i < atoi(argv[3]); i++)
            if (pread(fd, &c, 1, i) != 1) { perror("pread"); return 1; }
        close(fd);
    }
    return 0;
}
