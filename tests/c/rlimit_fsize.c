/* RLIMIT_FSIZE as Linux enforces it, in directory argv[1]: a write that
 * crosses the limit is cut short, one at or past it fails with EFBIG and
 * sends SIGXFSZ (pwrite, O_APPEND too), truncate and fallocate may not grow
 * a file past it (shrinking is fine), pipes are not limited, and without a
 * handler SIGXFSZ ends the writer; splice, sendfile and copy_file_range
 * into a file meet the limit the same way (cut short, then EFBIG; what
 * splice could not write stays in the pipe). Prints what it sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t xfsz;
static void on_xfsz(int s) { (void)s; xfsz++; }

static void show(const char *what, long r) {
    printf("%-26s %s", what, r < 0 ? strerrorname_np(errno) : "ok");
    if (r >= 0) printf(" %ld", r);
    printf(" (SIGXFSZ %d)\n", (int)xfsz);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) return 2;
    mkdir(argv[1], 0755);
    if (chdir(argv[1]) < 0) return 1;
    signal(SIGXFSZ, on_xfsz);
    struct rlimit r = {10000, RLIM_INFINITY};
    setrlimit(RLIMIT_FSIZE, &r);
    static char buf[8000];
    memset(buf, 'x', sizeof buf);
    int fd = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);
    show("write 8000", write(fd, buf, 8000));
    show("write 8000 more", write(fd, buf, 8000));
    show("write at the limit", write(fd, buf, 1));
    show("pwrite past it", pwrite(fd, buf, 10, 20000));
    show("pwrite below it", pwrite(fd, buf, 10, 100));
    show("ftruncate to 20000", ftruncate(fd, 20000));
    show("ftruncate to 5000", ftruncate(fd, 5000));
    show("truncate to 10001", truncate("f", 10001));
    show("fallocate to 20000", fallocate(fd, 0, 0, 20000));
    show("fallocate keep-size", fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 20000));
    int ap = open("f", O_WRONLY | O_APPEND);
    ftruncate(fd, 10000);
    show("append at the limit", write(ap, buf, 1));
    int p[2];
    pipe(p);
    show("pipe write of 8000 x 2", write(p[1], buf, 8000) + write(p[1], buf, 8000));
    /* splice from the pipe (16000 bytes in it) into a file near the limit. */
    int g = open("g", O_CREAT | O_RDWR | O_TRUNC, 0644);
    loff_t at = 6000;
    show("splice to 4000 below", splice(p[0], NULL, g, &at, 16000, 0));
    show("splice at the limit", splice(p[0], NULL, g, &at, 16000, 0));
    lseek(g, 9990, SEEK_SET);
    show("splice, own position", splice(p[0], NULL, g, NULL, 100, 0));
    show("left in the pipe", read(p[0], buf, sizeof buf) + read(p[0], buf, sizeof buf));
    /* sendfile from f (10000 bytes) into h. */
    int h = open("h", O_CREAT | O_RDWR | O_TRUNC, 0644);
    off_t from = 0;
    lseek(h, 9000, SEEK_SET);
    show("sendfile to 1000 below", sendfile(h, fd, &from, 5000));
    printf("  input offset now %ld\n", (long)from);
    show("sendfile at the limit", sendfile(h, fd, &from, 5000));
    lseek(fd, 0, SEEK_SET);
    lseek(h, 9500, SEEK_SET);
    show("sendfile, input position", sendfile(h, fd, NULL, 5000));
    printf("  input position now %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    /* copy_file_range from f into k. */
    int k = open("k", O_CREAT | O_RDWR | O_TRUNC, 0644);
    loff_t in = 0, out = 7000;
    show("copy_file_range 3000 below", copy_file_range(fd, &in, k, &out, 5000, 0));
    show("copy_file_range at limit", copy_file_range(fd, &in, k, &out, 5000, 0));
    in = 20000;
    show("  with nothing to copy", copy_file_range(fd, &in, k, &out, 5000, 0));
    pid_t c = fork();
    if (c == 0) {
        signal(SIGXFSZ, SIG_DFL);
        write(ap, buf, 1);
        _exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("without a handler: %s\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ ? "killed by SIGXFSZ" : "lived");
    return 0;
}
