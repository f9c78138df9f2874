/* escape OUTSIDE: from a sandbox whose /vol is a read-write volume holding
 * the symlinks `root -> /`, `up -> ../../../../../../..` and
 * `out -> OUTSIDE`, try to write into OUTSIDE (a host directory outside
 * the volume) by every route; and into /ro (a read-only volume). Prints
 * each attempt's result; the test checks the host afterwards. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void attempt(const char *what, int r) {
    printf("%s: %s\n", what, r < 0 ? strerrorname_np(errno) : "done");
}

static int create(const char *path) {
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    if (fd < 0) return -1;
    write(fd, "pwned\n", 6);
    return close(fd);
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *out = argv[1];
    char p[4096];
    snprintf(p, sizeof p, "/vol/root%s/via-root", out);
    attempt("symlink to /", create(p));
    snprintf(p, sizeof p, "/vol/up%s/via-up", out);
    attempt("symlink with ..", create(p));
    attempt("symlink to outside", create("/vol/out/via-out"));
    int vol = open("/vol", O_RDONLY | O_DIRECTORY);
    snprintf(p, sizeof p, "../../../../../../..%s/via-openat", out);
    attempt("openat .. chain", openat(vol, p, O_CREAT | O_WRONLY, 0644) < 0 ? -1 : 0);
    snprintf(p, sizeof p, "/proc/self/root%s/via-proc-root", out);
    attempt("/proc/self/root", create(p));
    snprintf(p, sizeof p, "%s/via-hardlink", out);
    attempt("hard link out of the volume", link("/vol/inside", p));
    attempt("rename out of the volume", rename("/vol/inside", p));
    snprintf(p, sizeof p, "%s/secret", out);
    attempt("hard link into the volume", link(p, "/vol/secret-link"));
    attempt("write to read-only volume", create("/ro/new"));
    attempt("unlink in read-only volume", unlink("/ro/kept"));
    attempt("mkdir in read-only volume", mkdir("/ro/dir", 0755));
    /* Writes that land in the sandbox's own overlay are visible inside. */
    snprintf(p, sizeof p, "%s/via-root", out);
    attempt("overlay copy visible inside", access(p, F_OK));
    return 0;
}
