/* Write into the program's own executable through /proc/self/exe, and
 * into the sentry's (pid 1's) through /proc/1/exe. */
#include "escape.h"

static void overwrite(const char *what, const char *path) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) {
        report(what, -1);
        return;
    }
    report(what, write(fd, "\x7f" "BAD", 4));
}

int main(void) {
    overwrite("write /proc/self/exe", "/proc/self/exe");
    overwrite("write /proc/1/exe", "/proc/1/exe");
    return 0;
}
