/* inotify on a directory another process changes (tests/inotify.rs: the
 * host, behind the sandbox's back, on a volume): watches argv[1] and the
 * file "watched" in it for the changes, makes one change of its own
 * (the file "inside", created, written, closed, renamed "inside2":
 * the echo of a rename, whose cookie is new, is never merged with it), prints "ready", then
 * prints every event as "WATCH MASKS name=NAME cookie=C" until the
 * directory gets IN_CREATE of "stop". WATCH is "dir" or "file", never a
 * number, and C is "-" for none, else "c1", "c2", ... by first
 * appearance, so that the output can be compared with Linux's. Gives up
 * (printing "timeout") if nothing comes for 30 seconds. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

static const struct { unsigned bit; const char *name; } NAMES[] = {
    {IN_ACCESS, "ACCESS"}, {IN_MODIFY, "MODIFY"}, {IN_ATTRIB, "ATTRIB"},
    {IN_CLOSE_WRITE, "CLOSE_WRITE"}, {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"},
    {IN_OPEN, "OPEN"}, {IN_MOVED_FROM, "MOVED_FROM"}, {IN_MOVED_TO, "MOVED_TO"},
    {IN_CREATE, "CREATE"}, {IN_DELETE, "DELETE"}, {IN_DELETE_SELF, "DELETE_SELF"},
    {IN_MOVE_SELF, "MOVE_SELF"}, {IN_UNMOUNT, "UNMOUNT"}, {IN_Q_OVERFLOW, "Q_OVERFLOW"},
    {IN_IGNORED, "IGNORED"}, {IN_ISDIR, "ISDIR"},
};

static unsigned cookies[64];
static int ncookies;

static void cookie(unsigned c) {
    if (c == 0) {
        printf("-");
        return;
    }
    for (int i = 0; i < ncookies; i++)
        if (cookies[i] == c) {
            printf("c%d", i + 1);
            return;
        }
    if (ncookies < 64) cookies[ncookies++] = c;
    printf("c%d", ncookies);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const unsigned mask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE |
                          IN_MOVED_FROM | IN_MOVED_TO | IN_MOVE_SELF | IN_DELETE_SELF;
    char path[4096];
    int fd = inotify_init1(IN_CLOEXEC);
    int dir = inotify_add_watch(fd, argv[1], mask);
    snprintf(path, sizeof path, "%s/watched", argv[1]);
    int file = inotify_add_watch(fd, path, mask);
    if (fd < 0 || dir < 0 || file < 0) {
        perror("inotify");
        return 1;
    }
    snprintf(path, sizeof path, "%s/inside", argv[1]);
    int own = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    char moved[4096];
    snprintf(moved, sizeof moved, "%s/inside2", argv[1]);
    if (own < 0 || write(own, "inside\n", 7) != 7 || close(own) != 0 || rename(path, moved) != 0) {
        perror("inside");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    char buf[65536] __attribute__((aligned(8)));
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 30000) != 1) {
            printf("timeout\n");
            return 1;
        }
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            perror("read");
            return 1;
        }
        for (char *at = buf; at < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)at;
            printf("%s", e->wd == dir ? "dir" : e->wd == file ? "file" : e->wd == -1 ? "queue" : "other");
            const char *sep = " ";
            for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++)
                if (e->mask & NAMES[i].bit) {
                    printf("%s%s", sep, NAMES[i].name);
                    sep = ",";
                }
            printf(" name=%s cookie=", e->len ? e->name : "");
            cookie(e->cookie);
            printf("\n");
            if (e->wd == dir && (e->mask & IN_CREATE) && e->len && strcmp(e->name, "stop") == 0) {
                fflush(stdout);
                return 0;
            }
            at += sizeof *e + e->len;
        }
        fflush(stdout);
    }
}
