/* Large reads and writes as Linux does them, in directory argv[1]: read,
 * write, pread, pwrite, readv, writev, preadv, pwritev, preadv2 and
 * pwritev2 of megabytes at unaligned offsets and across 8 MiB boundaries,
 * reads past the end, reads into and writes from buffers that are partly
 * unmapped or read-only (a short count, or EFAULT when nothing moved),
 * O_APPEND, and a file truncated by another thread while it is read (each
 * read returns a prefix of what was there). Prints what it sees.
 *
 * `bigio --reader FILE PASSES` reads the first 32 MiB of FILE in 1 MiB
 * reads PASSES times while something else (the host) truncates and
 * rewrites it, and checks every byte it got is the pattern or zero;
 * `bigio --still FILE PASSES` reads a file nothing changes, every read
 * whole and the pattern. The main run also has 8 threads read one 64 MiB
 * file at once, each in 3 MiB preads from its own starting point.
 *
 * `bigio --sparse FILE` makes FILE a 1 GiB file with one page of data in
 * the middle, reads its first 256 MiB (all holes) in 8 MiB reads, and
 * the data: reading holes allocates nothing, so this runs under a memory
 * limit smaller than what it reads. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define KiB 1024L
#define MiB (1024L * 1024L)
#define PAGE 4096L

/* The byte every file holds at offset o. */
static unsigned char pat(long o) { return (unsigned char)(o ^ (o >> 9) ^ (o >> 17) ^ 0x5a); }

static void fill(unsigned char *b, long off, long n) {
    for (long i = 0; i < n; i++) b[i] = pat(off + i);
}

/* Whether b holds the file's bytes from off (or zeros, if zeros_ok). */
static int matches(const unsigned char *b, long off, long n, int zeros_ok) {
    for (long i = 0; i < n; i++)
        if (b[i] != pat(off + i) && !(zeros_ok && b[i] == 0)) return 0;
    return 1;
}

static void show(const char *what, long r) {
    printf("%-40s %s", what, r < 0 ? strerrorname_np(errno) : "ok");
    if (r >= 0) printf(" %ld", r);
    printf("\n");
}

static long size_of(int fd) {
    struct stat st;
    return fstat(fd, &st) < 0 ? -1 : st.st_size;
}

static unsigned char *buf, *back;

/* Read the whole file; it must be the pattern (or zeros in holes, if
 * holes). */
static void whole_file(int fd, int holes) {
    long size = size_of(fd);
    memset(back, 0, 20 * MiB);
    long r = pread(fd, back, 20 * MiB, 0);
    show("  pread all, past the end", r);
    printf("  size %ld, data %s\n", size, r == size && matches(back, 0, r, holes) ? "ok" : "BAD");
}

static void big_transfers(void) {
    int fd = open("f", O_CREAT | O_RDWR | O_TRUNC, 0644);
    fill(buf, 4095, 9 * MiB + 3);
    show("pwrite 9 MiB+3 at 4095", pwrite(fd, buf, 9 * MiB + 3, 4095));
    fill(buf, 0, 4095);
    show("pwrite 4095 at 0", pwrite(fd, buf, 4095, 0));
    whole_file(fd, 0);

    memset(back, 0, 20 * MiB);
    long r = read(fd, back, 16 * MiB);
    show("read 16 MiB from 0", r);
    printf("  data %s\n", matches(back, 0, r, 0) ? "ok" : "BAD");
    show("read again: the end", read(fd, back, 1 * MiB));

    /* preadv across the 8 MiB boundary, odd sizes. */
    struct iovec v[3] = {{back, 100000}, {back + 200000, 70001}, {back + 400000, 3 * MiB}};
    long at = 8 * MiB - 123457;
    r = preadv(fd, v, 3, at);
    show("preadv 100000+70001+3MiB at 8MiB-123457", r);
    int ok = matches(back, at, 100000, 0) && matches(back + 200000, at + 100000, 70001, 0) &&
             matches(back + 400000, at + 170001, r - 170001, 0);
    printf("  data %s\n", ok ? "ok" : "BAD");

    /* readv from the offset, unaligned. */
    lseek(fd, 5, SEEK_SET);
    struct iovec u[3] = {{back, 1}, {back + 10, 65536}, {back + 70000, 200003}};
    r = readv(fd, u, 3);
    show("readv 1+65536+200003 at 5", r);
    ok = matches(back, 5, 1, 0) && matches(back + 10, 6, 65536, 0) && matches(back + 70000, 65542, 200003, 0);
    printf("  data %s, offset %ld\n", ok ? "ok" : "BAD", (long)lseek(fd, 0, SEEK_CUR));

    /* writev at the end, continuing the pattern. */
    long end = lseek(fd, 0, SEEK_END);
    fill(buf, end, 77777 + MiB);
    struct iovec w[2] = {{buf, 77777}, {buf + 77777, MiB}};
    show("writev 77777+1MiB at the end", writev(fd, w, 2));
    printf("  size %ld, offset %ld\n", size_of(fd), (long)lseek(fd, 0, SEEK_CUR));

    /* pwritev2 across the boundary, preadv2 it back. */
    at = 8 * MiB - 3;
    fill(buf, at, MiB + 5);
    struct iovec p = {buf, MiB + 5};
    show("pwritev2 1MiB+5 at 8MiB-3", pwritev2(fd, &p, 1, at, 0));
    memset(back, 0, 2 * MiB);
    struct iovec q = {back, MiB + 5};
    r = preadv2(fd, &q, 1, at, 0);
    show("preadv2 it back", r);
    printf("  data %s\n", matches(back, at, r, 0) ? "ok" : "BAD");
    /* Past the end of the file: grows it with a hole. */
    at = size_of(fd) + 3 * MiB + 11;
    fill(buf, at, 100 * KiB);
    show("pwrite 100 KiB 3 MiB past the end", pwrite(fd, buf, 100 * KiB, at));
    r = pread(fd, back, 4 * MiB, at - 3 * MiB - 11);
    show("pread over the hole", r);
    int zeros = 1;
    for (long i = 0; i < 3 * MiB + 11; i++) zeros &= back[i] == 0;
    printf("  hole %s, data %s\n", zeros ? "zeros" : "BAD", matches(back + 3 * MiB + 11, at, 100 * KiB, 0) ? "ok" : "BAD");
    whole_file(fd, 1);
    close(fd);
}

static void bad_buffers(void) {
    int fd = open("f", O_RDWR);
    /* 48 pages: 24..31 unmapped, 32..47 read-only. */
    unsigned char *m = mmap(NULL, 48 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(m + 24 * PAGE, 8 * PAGE);
    mprotect(m + 32 * PAGE, 16 * PAGE, PROT_READ);

    lseek(fd, 100, SEEK_SET);
    long r = read(fd, m, 32 * PAGE);
    show("read into 24 good pages of 32", r);
    printf("  data %s, offset %ld\n", matches(m, 100, r, 0) ? "ok" : "BAD", (long)lseek(fd, 0, SEEK_CUR));
    show("read, first page unmapped", read(fd, m + 24 * PAGE, 16 * PAGE));
    show("read into a read-only buffer", read(fd, m + 32 * PAGE, 16 * PAGE));
    printf("  offset %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    show("pread into 20 good pages of 28", pread(fd, m + 4 * PAGE, 28 * PAGE, 0));
    struct iovec v[2] = {{m, 70000}, {m + 24 * PAGE, 70000}};
    show("readv, the second buffer unmapped", readv(fd, v, 2));

    int w = open("w", O_CREAT | O_RDWR | O_TRUNC, 0644);
    fill(m, 0, 24 * PAGE);
    show("write from 24 good pages of 32", write(w, m, 32 * PAGE));
    printf("  size %ld\n", size_of(w));
    show("write, first page unmapped", write(w, m + 24 * PAGE, 16 * PAGE));
    show("pwrite, first page unmapped", pwrite(w, m + 24 * PAGE, 16 * PAGE, 0));
    printf("  size %ld\n", size_of(w));
    struct iovec x[2] = {{m, 70000}, {m + 24 * PAGE, 70000}};
    show("pwritev, the second buffer unmapped", pwritev(w, x, 2, 10));
    printf("  size %ld\n", size_of(w));
    r = pread(w, back, MiB, 0);
    printf("  data %s\n", r == 24 * PAGE && matches(back, 0, 10, 0) && matches(back + 10, 0, 70000, 0) &&
                              matches(back + 70010, 70010, r - 70010, 0) ? "ok" : "BAD");
    close(w);
    munmap(m, 48 * PAGE);
    close(fd);
}

static void append(void) {
    int fd = open("a", O_CREAT | O_RDWR | O_APPEND | O_TRUNC, 0644);
    fill(buf, 0, 200 * KiB);
    show("O_APPEND write 100 KiB", write(fd, buf, 100 * KiB));
    show("O_APPEND pwrite 100 KiB at 0", pwrite(fd, buf + 100 * KiB, 100 * KiB, 0));
    printf("  size %ld, offset %ld\n", size_of(fd), (long)lseek(fd, 0, SEEK_CUR));
    lseek(fd, 0, SEEK_SET);
    show("O_APPEND write after seeking to 0", write(fd, buf, 100 * KiB));
    long r = pread(fd, back, MiB, 0);
    printf("  size %ld, data %s\n", r,
           r == 300 * KiB && matches(back, 0, 200 * KiB, 0) && matches(back + 200 * KiB, 0, 100 * KiB, 0) ? "ok" : "BAD");
    close(fd);
}

/* A reader of a file another thread keeps truncating and regrowing. */
static int tfd;
static volatile int stop;

static void *truncator(void *arg) {
    (void)arg;
    static const long sizes[] = {0, PAGE, 5 * MiB + 1, 16 * MiB, 8 * MiB - 1};
    for (int i = 0; !stop; i++) ftruncate(tfd, sizes[i % 5]);
    return NULL;
}

/* Read the first `limit` bytes of fd in `chunk` reads `passes` times:
 * every read gives at most what was asked, and every byte is the pattern
 * or zero (a regrown tail is zeros); if the file stands `still`, every
 * read gives all it asked, and only the pattern. */
static int read_while_changing(int fd, long chunk, int passes, long limit, int still) {
    unsigned char *b = malloc(chunk);
    for (int p = 0; p < passes; p++) {
        for (long at = 0; at < limit; at += chunk) {
            long r = pread(fd, b, chunk, at);
            if (r < 0 || r > chunk || !matches(b, at, r, !still) || (still && r != chunk)) {
                printf("  pass %d at %ld: %ld %s\n", p, at, r, r < 0 ? strerrorname_np(errno) : "");
                return 0;
            }
        }
    }
    free(b);
    return 1;
}

static void concurrent_truncate(void) {
    tfd = open("t", O_CREAT | O_RDWR | O_TRUNC, 0644);
    fill(buf, 0, 16 * MiB);
    pwrite(tfd, buf, 16 * MiB, 0);
    pthread_t t;
    pthread_create(&t, NULL, truncator, NULL);
    int ok = read_while_changing(tfd, 4 * MiB, 20, 16 * MiB, 0);
    stop = 1;
    pthread_join(t, NULL);
    printf("read while another thread truncates       %s\n", ok ? "ok" : "BAD");
    close(tfd);
}

/* Readers of one file at once: each reads the whole file from its own
 * starting point, wrapping around, twice. */
#define READERS 8
#define SHARED (64 * MiB)
static int sfd;

static void *shared_reader(void *arg) {
    long id = (long)arg, chunk = 3 * MiB, bad = 0;
    unsigned char *b = malloc(chunk);
    for (long done = 0; done < 2 * SHARED; done += chunk) {
        long at = (id * 7 * MiB + 12345 * id + done) % SHARED;
        long want = at + chunk > SHARED ? SHARED - at : chunk;
        long r = pread(sfd, b, want, at);
        if (r != want || !matches(b, at, r, 0)) bad++;
    }
    free(b);
    return (void *)bad;
}

static void concurrent_readers(void) {
    sfd = open("shared", O_CREAT | O_RDWR | O_TRUNC, 0644);
    for (long at = 0; at < SHARED; at += 16 * MiB) {
        fill(buf, at, 16 * MiB);
        pwrite(sfd, buf, 16 * MiB, at);
    }
    pthread_t t[READERS];
    for (long i = 0; i < READERS; i++) pthread_create(&t[i], NULL, shared_reader, (void *)i);
    long bad = 0;
    for (int i = 0; i < READERS; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += (long)r;
    }
    printf("%d threads read one file at once           %s\n", READERS, bad == 0 ? "ok" : "BAD");
    close(sfd);
    unlink("shared");
}

static int sparse(const char *path) {
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, 1024 * MiB) < 0) return 1;
    fill(buf, 512 * MiB, PAGE);
    if (pwrite(fd, buf, PAGE, 512 * MiB) != PAGE) return 1;
    long zeros = 1;
    for (long at = 0; at < 256 * MiB; at += 8 * MiB) {
        long r = pread(fd, back, 8 * MiB, at);
        if (r != 8 * MiB) zeros = 0;
        for (long i = 0; zeros && i < 8 * MiB; i++) zeros = back[i] == 0;
    }
    long r = pread(fd, back, 4 * MiB, 510 * MiB);
    int data = r == 4 * MiB && matches(back + 2 * MiB, 512 * MiB, PAGE, 0);
    for (long i = 0; data && i < 4 * MiB; i++) data = (i >= 2 * MiB && i < 2 * MiB + PAGE) || back[i] == 0;
    printf("sparse: holes %s, data %s\n", zeros ? "ok" : "BAD", data ? "ok" : "BAD");
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int still = argc == 4 && strcmp(argv[1], "--still") == 0;
    if (argc == 4 && (still || strcmp(argv[1], "--reader") == 0)) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) return 1;
        int ok = read_while_changing(fd, MiB, atoi(argv[3]), 32 * MiB, still);
        printf("reader: %s\n", ok ? "ok" : "BAD");
        return ok ? 0 : 1;
    }
    if (argc == 3 && strcmp(argv[1], "--sparse") == 0) {
        buf = malloc(PAGE);
        back = malloc(8 * MiB);
        return sparse(argv[2]);
    }
    if (argc < 2) return 2;
    mkdir(argv[1], 0755);
    if (chdir(argv[1]) < 0) return 1;
    buf = malloc(20 * MiB);
    back = malloc(20 * MiB);
    big_transfers();
    bad_buffers();
    append();
    concurrent_truncate();
    concurrent_readers();
    return 0;
}
