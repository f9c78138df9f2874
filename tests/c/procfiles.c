// The shapes of /proc/self's files as tools parse them: the keys of
// smaps (a block), smaps_rollup, io and status, the rows of limits, the
// field counts of stat and statm, the namespace links, and the writable
// settings (oom_score_adj, timerslack_ns) with their errors. Prints what
// it sees, so that the output compares with Linux's.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static char text[1 << 16];

static int slurp(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("%s: open %s\n", path, strerrorname_np(errno));
        return -1;
    }
    ssize_t n = 0, r;
    while ((r = read(fd, text + n, sizeof text - 1 - n)) > 0)
        n += r;
    text[n] = 0;
    close(fd);
    return (int)n;
}

// Print the part of each line before the first ':' (up to `stop`, a key
// printed last), skipping lines that start like an address range.
static void keys(const char *path, const char *stop) {
    if (slurp(path) < 0)
        return;
    printf("%s:", path);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *colon = strchr(line, ':');
        char *dash = strchr(line, '-');
        if (dash && (!colon || dash < colon))
            continue;
        if (colon)
            *colon = 0;
        printf(" %s", line);
        if (stop && strcmp(line, stop) == 0)
            break;
    }
    printf("\n");
}

static void fields(const char *path) {
    if (slurp(path) < 0)
        return;
    char *p = strrchr(text, ')');
    int n = p ? 2 : 0;
    for (char *t = strtok(p ? p + 1 : text, " \n"); t; t = strtok(NULL, " \n"))
        n++;
    printf("%s: %d fields\n", path, n);
}

static void write_file(const char *path, const char *value) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) {
        printf("open %s for writing: %s\n", path, strerrorname_np(errno));
        return;
    }
    ssize_t r = write(fd, value, strlen(value));
    if (r < 0)
        printf("write %s to %s: %s\n", value, path, strerrorname_np(errno));
    else
        printf("write %s to %s: %zd\n", value, path, r);
    close(fd);
}

static void show(const char *path) {
    if (slurp(path) >= 0)
        printf("%s: %s%s", path, text, text[0] && text[strlen(text) - 1] == '\n' ? "" : "\n");
}

int main(void) {
    keys("/proc/self/smaps", "VmFlags");
    keys("/proc/self/smaps_rollup", NULL);
    keys("/proc/self/io", NULL);
    keys("/proc/self/status", NULL);
    if (slurp("/proc/self/limits") >= 0) {
        // The row names: the columns before the numbers.
        printf("limits:");
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
            printf(" [%.26s]", line);
        printf("\n");
    }
    fields("/proc/self/stat");
    fields("/proc/self/statm");

    const char *ns[] = {"cgroup", "ipc",  "mnt",  "net",  "pid", "pid_for_children",
                        "time",   "time_for_children", "user", "uts"};
    for (unsigned i = 0; i < sizeof ns / sizeof *ns; i++) {
        char path[64], target[64] = {0};
        snprintf(path, sizeof path, "/proc/self/ns/%s", ns[i]);
        ssize_t n = readlink(path, target, sizeof target - 1);
        char *bracket = n > 0 ? strchr(target, '[') : NULL;
        if (bracket)
            bracket[1] = 0;
        printf("%s -> %s\n", path, n > 0 ? target : strerrorname_np(errno));
    }

    show("/proc/self/oom_score_adj");
    write_file("/proc/self/oom_score_adj", "500");
    show("/proc/self/oom_score_adj");
    // Its exact value depends on the program's resident memory: about
    // (1000 + 500) * 2/3.
    if (slurp("/proc/self/oom_score") >= 0)
        printf("oom_score near 1000: %s\n", abs(atoi(text) - 1000) <= 5 ? "yes" : text);
    write_file("/proc/self/oom_score_adj", "1001");
    write_file("/proc/self/oom_score_adj", "-1001");
    write_file("/proc/self/oom_score_adj", "abc");
    write_file("/proc/self/oom_score_adj", " 0x10\n");
    show("/proc/self/oom_score_adj");
    write_file("/proc/self/oom_score_adj", "0");

    write_file("/proc/self/timerslack_ns", "100000");
    show("/proc/self/timerslack_ns");
    printf("PR_GET_TIMERSLACK: %d\n", prctl(PR_GET_TIMERSLACK));
    prctl(PR_SET_TIMERSLACK, 70000);
    show("/proc/self/timerslack_ns");
    write_file("/proc/self/timerslack_ns", "-1");
    write_file("/proc/self/timerslack_ns", "12ab");
    write_file("/proc/self/timerslack_ns", "0");
    show("/proc/self/timerslack_ns");

    show("/proc/self/personality");
    show("/proc/self/wchan");
    write_file("/proc/self/wchan", "1");
    write_file("/proc/self/smaps", "1");
    return 0;
}
