#define _GNU_SOURCE
/* Shared file mappings are one page cache with the file (argv[1] is a
 * scratch directory): a process exec'd separately, which opens and maps
 * the file on its own, sees this one's stores and the other way round;
 * write() shows in the mapping and stores show to read(); ftruncate makes
 * access past the end SIGBUS and growing gives zeros; msync's answers;
 * mremap (grow in place, move, duplicate, shrink) stays coherent;
 * MADV_DONTNEED reads back the file; partial munmap/mprotect; mtime;
 * fork; an empty file mapped then grown; /proc/self/maps names the file;
 * files that cannot be mapped give Linux's errno. Output is deterministic:
 * the same natively and in the sandbox. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096

static const char *err(int failed) { return failed ? strerror(errno) : "ok"; }
static const char *map_err(void *p) { return err(p == MAP_FAILED); }

/* ---- Faults: touch a byte and say what happened. */

static sigjmp_buf jump;
static volatile int fault_sig, fault_code;
static volatile uintptr_t fault_addr;

static void on_fault(int sig, siginfo_t *info, void *uc) {
    (void)uc;
    fault_sig = sig;
    fault_code = info->si_code;
    fault_addr = (uintptr_t)info->si_addr;
    siglongjmp(jump, 1);
}

/* Read (or, with `store`, write 'w' to) p[off]; describe the outcome
 * relative to `base`. */
static void touch(const char *what, char *base, long off, int store) {
    static char out[128];
    fault_sig = 0;
    if (sigsetjmp(jump, 1) == 0) {
        volatile char *at = base + off;
        if (store) {
            *at = 'w';
            snprintf(out, sizeof out, "stored");
        } else {
            char c = *at;
            snprintf(out, sizeof out, "reads %d", c);
        }
    } else {
        snprintf(out, sizeof out, "%s code %d at +%ld", fault_sig == SIGBUS ? "SIGBUS" : "SIGSEGV", fault_code,
                 (long)(fault_addr - (uintptr_t)base));
    }
    printf("%s: %s\n", what, out);
}

/* `n` bytes at `p`, a NUL shown as '.'. */
static const char *shown(const char *p, int n) {
    static char out[64];
    for (int i = 0; i < n && i < 63; i++) out[i] = p[i] ? p[i] : '.';
    out[n < 63 ? n : 63] = 0;
    return out;
}

static void file_says(int fd, long off, int n, const char *what) {
    char buf[64] = {0};
    ssize_t got = pread(fd, buf, n, off);
    printf("%s: file@%ld=\"%s\" (%zd)\n", what, off, shown(buf, n), got);
}

/* ---- Two processes that share nothing but the file. */

static void wait_byte(int fd) {
    char c;
    if (read(fd, &c, 1) != 1) exit(3);
}

static void send_byte(int fd) {
    if (write(fd, "x", 1) != 1) exit(3);
}

/* The exec'd peer: opens and maps "f" itself. */
static int peer(int in, int out) {
    int fd = open("f", O_RDWR);
    char *q = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd < 0 || q == MAP_FAILED) return 4;
    wait_byte(in);
    printf("peer: sees \"%s\" stored by the first process\n", q);
    strcpy(q + 100, "from the peer's mapping");
    send_byte(out);
    wait_byte(in);
    pwrite(fd, "peer wrote this", 15, 200);
    send_byte(out);
    wait_byte(in);
    file_says(fd, 300, 12, "peer: read() after the first process stored");
    printf("peer: and in its mapping \"%.12s\"\n", q + 300);
    send_byte(out);
    return 0;
}

static void two_processes(const char *self) {
    int fd = open("f", O_CREAT | O_TRUNC | O_RDWR, 0644);
    ftruncate(fd, 2 * PG);
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int to_peer[2], from_peer[2];
    pipe(to_peer);
    pipe(from_peer);
    pid_t pid = fork();
    if (pid == 0) {
        char in[16], out[16];
        snprintf(in, sizeof in, "%d", to_peer[0]);
        snprintf(out, sizeof out, "%d", from_peer[1]);
        execl(self, self, "--peer", in, out, (char *)NULL);
        _exit(5);
    }
    /* A peer that dies leaves these pipes at end of file. */
    close(to_peer[0]);
    close(from_peer[1]);
    strcpy(p, "from the first mapping");
    send_byte(to_peer[1]);
    wait_byte(from_peer[0]);
    printf("first: sees \"%s\" stored by the peer\n", p + 100);
    send_byte(to_peer[1]);
    wait_byte(from_peer[0]);
    printf("first: sees \"%.15s\" the peer wrote with pwrite\n", p + 200);
    memcpy(p + 300, "stored here!", 12);
    send_byte(to_peer[1]);
    wait_byte(from_peer[0]);
    int status;
    waitpid(pid, &status, 0);
    printf("peer exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    munmap(p, 2 * PG);
    close(fd);
}

/* ---- One process. */

static void write_and_read(void) {
    int fd = open("g", O_CREAT | O_TRUNC | O_RDWR, 0644);
    ftruncate(fd, 2 * PG);
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    pwrite(fd, "via write()", 11, 10);
    printf("mapping after write(): \"%.11s\"\n", p + 10);
    memcpy(p + PG + 5, "via the mapping", 15);
    file_says(fd, PG + 5, 15, "read() after a store");
    /* A second mapping of the same file in this process. */
    char *q = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, PG);
    printf("second mapping at offset %d: \"%.15s\"\n", PG, q + 5);
    munmap(q, PG);
    munmap(p, 2 * PG);
    close(fd);
}

static void truncation(void) {
    int fd = open("t", O_CREAT | O_TRUNC | O_RDWR, 0644);
    ftruncate(fd, 2 * PG);
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    memset(p, 'a', 2 * PG);
    ftruncate(fd, PG);
    touch("past the end after shrinking to one page", p, PG + 10, 0);
    touch("store past the end", p, PG, 1);
    touch("within the file", p, 10, 0);
    ftruncate(fd, 100);
    touch("after shrinking to 100 bytes, byte 99", p, 99, 0);
    touch("byte 200 (same page, past the end)", p, 200, 0);
    ftruncate(fd, 2 * PG);
    touch("grown again, byte 200", p, 200, 0);
    touch("grown again, second page", p, PG + 10, 0);
    struct stat st;
    fstat(fd, &st);
    printf("size %ld\n", (long)st.st_size);
    munmap(p, 2 * PG);
    close(fd);
}

static void empty_file(void) {
    int fd = open("e", O_CREAT | O_TRUNC | O_RDWR, 0644);
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("map an empty file: %s\n", map_err(p));
    touch("empty file, byte 0", p, 0, 0);
    ftruncate(fd, PG);
    touch("grown by ftruncate, byte 0", p, 0, 0);
    touch("store", p, 1, 1);
    file_says(fd, 0, 2, "the store in the file");
    pwrite(fd, "xyz", 3, PG + 1);
    printf("grown by write(): second page \"%s\"\n", shown(p + PG, 4));
    munmap(p, 2 * PG);
    close(fd);
}

static void msyncs(void) {
    int fd = open("s", O_CREAT | O_TRUNC | O_RDWR, 0644);
    ftruncate(fd, 2 * PG);
    char *p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    p[0] = 's';
    printf("msync MS_SYNC: %s\n", err(msync(p, 2 * PG, MS_SYNC)));
    printf("msync MS_ASYNC: %s\n", err(msync(p, PG, MS_ASYNC)));
    printf("msync MS_INVALIDATE: %s\n", err(msync(p, PG, MS_INVALIDATE)));
    printf("msync length 0: %s\n", err(msync(p, 0, MS_SYNC)));
    printf("msync unaligned: %s\n", err(msync(p + 1, PG, MS_SYNC)));
    printf("msync MS_SYNC|MS_ASYNC: %s\n", err(msync(p, PG, MS_SYNC | MS_ASYNC)));
    printf("msync bad flag: %s\n", err(msync(p, PG, 8)));
    munmap(p + 2 * PG, PG);
    printf("msync past the mapping (MS_SYNC): %s\n", err(msync(p, 3 * PG, MS_SYNC)));
    printf("msync past the mapping (MS_ASYNC): %s\n", err(msync(p, 3 * PG, MS_ASYNC)));
    printf("msync unmapped: %s\n", err(msync(p + 2 * PG, PG, MS_SYNC)));
    file_says(fd, 0, 1, "after msync");
    munmap(p, 2 * PG);
    close(fd);
}

static void remaps(void) {
    int fd = open("r", O_CREAT | O_TRUNC | O_RDWR, 0644);
    ftruncate(fd, 4 * PG);
    /* Room after the mapping: reserve 4 pages, map the file over 2. */
    char *area = mmap(NULL, 4 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *p = mmap(area, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    munmap(area + 2 * PG, 2 * PG);
    char *g = mremap(p, 2 * PG, 3 * PG, 0);
    printf("grow in place: %s, same address %d\n", map_err(g), g == p);
    g[2 * PG + 7] = 'G';
    file_says(fd, 2 * PG + 7, 1, "a store in the grown part");
    pwrite(fd, "W", 1, 2 * PG + 8);
    printf("write() seen in the grown part: %c\n", g[2 * PG + 8]);
    char *m = mremap(g, 3 * PG, 4 * PG, MREMAP_MAYMOVE);
    printf("grow by moving: %s, kept %c%c\n", map_err(m), m[2 * PG + 7], m[2 * PG + 8]);
    m[3 * PG] = 'M';
    file_says(fd, 3 * PG, 1, "a store in the moved mapping");
    /* A second mapping of the same pages (old size 0). */
    char *d = mremap(m + PG, 0, PG, MREMAP_MAYMOVE);
    printf("duplicate: %s\n", map_err(d));
    d[1] = 'D';
    printf("the duplicate shares the pages: %c\n", m[PG + 1]);
    printf("duplicate without MREMAP_MAYMOVE: %s\n", map_err(mremap(m, 0, PG, 0)));
    char *priv = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("duplicate of a private mapping: %s\n", map_err(mremap(priv, 0, PG, MREMAP_MAYMOVE)));
    /* Move a piece from the middle to a fixed place. */
    char *to = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *f = mremap(m + 3 * PG, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    printf("moved to a fixed place: %s at it %d, reads %c\n", map_err(f), f == to, f[0]);
    touch("the old place of the moved page", m, 3 * PG, 0);
    char *s = mremap(m, 3 * PG, PG, 0);
    printf("shrink: %s, same address %d\n", map_err(s), s == m);
    touch("the shrunk-off part", m, PG, 0);
    printf("grow across the end: %s\n", map_err(mremap(m, 2 * PG, 3 * PG, MREMAP_MAYMOVE)));
    printf("unmapped: %s\n", map_err(mremap(m + PG, PG, 2 * PG, MREMAP_MAYMOVE)));
    printf("grow without room or MREMAP_MAYMOVE: %s\n", map_err(mremap(d, PG, 2 * PG, 0)));
    printf("unaligned: %s\n", map_err(mremap(m + 1, PG, 2 * PG, MREMAP_MAYMOVE)));
    printf("MREMAP_FIXED without MREMAP_MAYMOVE: %s\n", map_err(mremap(m, PG, PG, MREMAP_FIXED, to)));
    printf("new size 0: %s\n", map_err(mremap(m, PG, 0, MREMAP_MAYMOVE)));
    munmap(s, PG);
    munmap(d, PG);
    munmap(f, PG);
    munmap(priv, PG);
    close(fd);
}

static void dontneed(void) {
    int fd = open("d", O_CREAT | O_TRUNC | O_RDWR, 0644);
    pwrite(fd, "file", 4, 0);
    ftruncate(fd, PG);
    char *s = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    s[0] = 'F';
    p[1] = 'P';
    printf("before: shared \"%.4s\" private \"%.4s\"\n", s, p);
    printf("MADV_DONTNEED shared: %s\n", err(madvise(s, PG, MADV_DONTNEED)));
    printf("MADV_DONTNEED private: %s\n", err(madvise(p, PG, MADV_DONTNEED)));
    printf("after: shared \"%.4s\" private \"%.4s\"\n", s, p);
    pwrite(fd, "!", 1, 3);
    printf("after a write(): private \"%.4s\"\n", p);
    munmap(s, PG);
    munmap(p, PG);
    close(fd);
}

static void partial(void) {
    int fd = open("p", O_CREAT | O_TRUNC | O_RDWR, 0644);
    ftruncate(fd, 4 * PG);
    char *p = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    munmap(p + PG, PG);
    touch("an unmapped page", p, PG, 0);
    p[2 * PG] = 'u';
    file_says(fd, 2 * PG, 1, "a store after the hole");
    mprotect(p + 3 * PG, PG, PROT_READ);
    touch("store to a read-only page", p, 3 * PG, 1);
    mprotect(p + 3 * PG, PG, PROT_READ | PROT_WRITE);
    touch("store once writable again", p, 3 * PG, 1);
    file_says(fd, 3 * PG, 1, "that store");
    int ro = open("p", O_RDONLY);
    char *r = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0);
    printf("mprotect PROT_WRITE, file open read-only: %s\n", err(mprotect(r, PG, PROT_READ | PROT_WRITE)));
    char *rp = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, ro, 0);
    printf("the same, private: %s\n", err(mprotect(rp, PG, PROT_READ | PROT_WRITE)));
    munmap(r, PG);
    munmap(rp, PG);
    munmap(p, PG);
    munmap(p + 2 * PG, 2 * PG);
    close(ro);
    close(fd);
}

/* A store through a shared mapping moves the file's modification time
 * (by msync at the latest). */
static void mtime_moves(void) {
    int fd = open("c", O_CREAT | O_TRUNC | O_RDWR, 0644);
    ftruncate(fd, PG);
    char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    struct stat before, after;
    fstat(fd, &before);
    usleep(50000);
    p[0] = 'c';
    msync(p, PG, MS_SYNC);
    fstat(fd, &after);
    int moved = after.st_mtim.tv_sec > before.st_mtim.tv_sec ||
                (after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec > before.st_mtim.tv_nsec);
    printf("a store through the mapping moves mtime: %d\n", moved);
    munmap(p, PG);
    close(fd);
}

static void forked(void) {
    int fd = open("k", O_CREAT | O_TRUNC | O_RDWR, 0644);
    ftruncate(fd, PG);
    char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    pid_t pid = fork();
    if (pid == 0) {
        strcpy(p, "child");
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    printf("after fork, the child's store: \"%s\"\n", p);
    munmap(p, PG);
    close(fd);
}

static void maps_line(void) {
    int fd = open("m", O_CREAT | O_TRUNC | O_RDWR, 0644);
    ftruncate(fd, 2 * PG);
    char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, PG);
    char want[32], line[512];
    snprintf(want, sizeof want, "%lx-", (unsigned long)p);
    FILE *maps = fopen("/proc/self/maps", "r");
    while (fgets(line, sizeof line, maps)) {
        if (strncmp(line, want, strlen(want)) != 0) continue;
        char perms[8];
        unsigned long off;
        sscanf(line, "%*x-%*x %7s %lx", perms, &off);
        const char *name = strrchr(line, '/');
        printf("maps: %s offset %lx name %s", perms, off, name ? name + 1 : "(none)\n");
    }
    fclose(maps);
    munmap(p, PG);
    close(fd);
}

static void unmappable(void) {
    const char *files[] = {"/proc/self/status", "/proc/cpuinfo", "/proc/self/maps",
                           "/sys/devices/system/cpu/online", "/dev/null"};
    for (unsigned i = 0; i < sizeof files / sizeof *files; i++) {
        int fd = open(files[i], O_RDONLY);
        printf("map %s shared: %s", files[i], map_err(mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0)));
        printf(", private: %s\n", map_err(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0)));
        close(fd);
    }
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 4 && strcmp(argv[1], "--peer") == 0) return peer(atoi(argv[2]), atoi(argv[3]));
    if (argc < 2) return 2;
    char self[4096];
    if (!realpath(argv[0], self)) return 2;
    mkdir(argv[1], 0755);
    if (chdir(argv[1]) != 0) return 1;
    struct sigaction sa = {0};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    two_processes(self);
    write_and_read();
    truncation();
    empty_file();
    msyncs();
    remaps();
    dontneed();
    partial();
    mtime_moves();
    forked();
    maps_line();
    unmappable();
    return 0;
}
