/* O_TMPFILE in directory argv[1]: an unnamed regular file (no links, the
 * umask applied, owned by the caller), read and written like any other,
 * which leaves no name in the directory; and the errors for a read-only
 * open, a path that is not a directory, and a missing one. Prints what it
 * sees. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void show(const char *what, int fd) {
    printf("%-22s %s\n", what, fd < 0 ? strerrorname_np(errno) : "ok");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) return 2;
    mkdir(argv[1], 0755);
    umask(022);
    int fd = open(argv[1], O_TMPFILE | O_RDWR, 0666);
    show("O_TMPFILE|O_RDWR", fd);
    if (fd < 0) return 1;
    struct stat st;
    fstat(fd, &st);
    printf("mode %o nlink %lu size %ld uid %d\n", st.st_mode, (unsigned long)st.st_nlink, (long)st.st_size,
           st.st_uid == getuid());
    printf("write %zd\n", write(fd, "hello", 5));
    char b[8] = {0};
    printf("pread %zd %s\n", pread(fd, b, 5, 0), b);
    fstat(fd, &st);
    printf("size now %ld\n", (long)st.st_size);
    int n = 0;
    DIR *d = opendir(argv[1]);
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    printf("names in the directory: %d\n", n);
    show("O_TMPFILE|O_RDONLY", open(argv[1], O_TMPFILE | O_RDONLY, 0600));
    show("O_TMPFILE|O_WRONLY", open(argv[1], O_TMPFILE | O_WRONLY, 0600));
    char file[512];
    snprintf(file, sizeof file, "%s/plain", argv[1]);
    close(open(file, O_CREAT | O_WRONLY, 0600));
    show("on a file", open(file, O_TMPFILE | O_RDWR, 0600));
    snprintf(file, sizeof file, "%s/missing", argv[1]);
    show("on a missing dir", open(file, O_TMPFILE | O_RDWR, 0600));
    return 0;
}
