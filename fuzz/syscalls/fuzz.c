/* A system-call fuzzer run inside the sandbox, in the spirit of syzkaller
 * on gVisor, in miniature: random system-call numbers with edge-value
 * arguments (small and huge numbers, every kind of descriptor, valid,
 * unmapped, read-only, stub-region and kernel pointers, paths), in batches,
 * each batch in a forked child with an alarm. The sandbox must survive all
 * of it: no sentry panic, abort or forbidden host call, and every child
 * must end (a child that outlives its alarm is killed; one that cannot be
 * killed within 10 s is a hang, and the fuzzer fails).
 *
 *   fuzz SEED CALLS [PER_CHILD]      deterministic for a seed
 *
 * Prints one line at the end: the calls made, children, how they ended. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng;

static uint64_t next(void) {
    /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1DULL;
}

static uint64_t below(uint64_t n) { return next() % n; }

/* Calls that would end the fuzzer's own child early in ways that test
 * nothing (exit), stop it for good (pause, vfork waits), or reach beyond
 * the child (signals to others, new processes, exec). */
static int skipped(long nr) {
    switch (nr) {
    case SYS_exit: case SYS_exit_group: case SYS_pause: case SYS_vfork: case SYS_fork:
    case SYS_clone: case SYS_clone3: case SYS_execve: case SYS_execveat: case SYS_kill:
    case SYS_tkill: case SYS_tgkill: case SYS_rt_sigqueueinfo: case SYS_rt_tgsigqueueinfo:
    case SYS_pidfd_send_signal: case SYS_rt_sigsuspend: case SYS_rt_sigreturn: case SYS_setsid:
    case SYS_setpgid: case SYS_ptrace: case SYS_process_vm_writev: case SYS_prctl:
    /* A child could take the fuzzer's own stdout (pidfd_getfd of pid 1's
     * descriptor 1) and flood the run's output. */
    case SYS_pidfd_open: case SYS_pidfd_getfd:
        return 1;
    }
    return 0;
}

static int fds[32];
static int nfds;
static unsigned char *buf;
static const size_t BUF = 1 << 16;
static const char *paths[] = {"/tmp/fz", "/tmp", "/", "/proc/self/status", "/dev/null", "/tmp/fz/a/b",
                              "/etc/passwd", "/proc/self/fd/0", "..", "", "/sys", "/dev/ptmx"};

static void add_fd(int fd) {
    if (fd >= 0 && nfds < 32) fds[nfds++] = fd;
}

/* The descriptors every child inherits: one of each kind. */
static void make_fds(void) {
    mkdir("/tmp/fz", 0777);
    add_fd(open("/tmp/fz/file", O_CREAT | O_RDWR, 0644));
    add_fd(open("/tmp/fz", O_DIRECTORY | O_RDONLY));
    add_fd(open("/", O_PATH));
    add_fd(open("/dev/null", O_RDWR));
    add_fd(open("/dev/zero", O_RDONLY));
    add_fd(open("/proc/self/status", O_RDONLY));
    int p[2];
    if (pipe2(p, O_NONBLOCK) == 0) { add_fd(p[0]); add_fd(p[1]); }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0) { add_fd(sv[0]); add_fd(sv[1]); }
    add_fd(socket(AF_UNIX, SOCK_DGRAM, 0));
    add_fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    add_fd(socket(AF_INET, SOCK_DGRAM, 0));
    add_fd(socket(AF_INET6, SOCK_STREAM, 0));
    add_fd(socket(AF_NETLINK, SOCK_RAW, 0));
    add_fd(eventfd(0, EFD_NONBLOCK));
    add_fd(epoll_create1(0));
    add_fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
    add_fd((int)syscall(SYS_memfd_create, "fz", 0));
    add_fd(posix_openpt(O_RDWR | O_NONBLOCK));
    add_fd((int)syscall(SYS_inotify_init1, O_NONBLOCK));
    add_fd((int)syscall(SYS_signalfd4, -1, &(uint64_t){0}, 8, 0));
}

static uint64_t arg(void) {
    switch (below(14)) {
    case 0: return below(16);
    case 1: return (uint64_t)fds[below(nfds)];
    case 2: return (uint64_t)-1;
    case 3: return (uint64_t)1 << below(64);
    case 4: return 0xffffffffULL;
    case 5: return (uint64_t)(buf + below(BUF - 64));          /* valid memory */
    case 6: return (uint64_t)paths[below(sizeof paths / sizeof *paths)];
    case 7: return below(2) ? 0x10 : 0xdead0000ULL;             /* unmapped */
    case 8: return (uint64_t)&make_fds;                         /* read-only text */
    case 9: return 0x7ffffc000000ULL + 8 * below(0x4000);       /* the stub region */
    case 10: return 0xffffffff81000000ULL;                      /* a kernel address */
    case 11: return (uint64_t)1 << 47;
    case 12: return below(4096);
    default: return next();
    }
}

/* One child's batch: `count` calls. */
static void batch(int count) {
    /* End at the alarm, whatever blocks. */
    struct itimerval t = {.it_value = {.tv_usec = 200000}};
    setitimer(ITIMER_REAL, &t, NULL);
    for (int i = 0; i < count; i++) {
        long nr = below(8) ? (long)below(462) : (long)next();
        if (skipped(nr)) continue;
        uint64_t a[6];
        for (int j = 0; j < 6; j++) a[j] = arg();
        if (below(64) == 0) memset(buf, (int)next(), BUF);
        syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
    _exit(0);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3) {
        fprintf(stderr, "usage: fuzz SEED CALLS [PER_CHILD]\n");
        return 2;
    }
    rng = strtoull(argv[1], NULL, 0) * 2654435761ULL + 1;
    long calls = strtol(argv[2], NULL, 0);
    int per = argc > 3 ? atoi(argv[3]) : 500;
    buf = mmap(NULL, BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    make_fds();
    long made = 0, children = 0, clean = 0, signaled = 0, killed = 0;
    while (made < calls) {
        int count = per;
        uint64_t seed = next();
        pid_t c = fork();
        if (c == 0) {
            /* Not the fuzzer's own output: a child may write anywhere. */
            int null = open("/dev/null", O_RDWR);
            dup2(null, 0), dup2(null, 1), dup2(null, 2);
            rng = seed | 1;
            batch(count);
        }
        if (c < 0) {
            perror("fork");
            return 1;
        }
        children++;
        made += count;
        int st = 0;
        /* The alarm ends a blocked child; a child that outlives it by 2 s
         * (it reset its own timer) is killed; one that does not die is a
         * hang. */
        int waited = 0;
        pid_t r;
        while ((r = waitpid(c, &st, WNOHANG)) == 0 && waited < 15000) {
            if (waited == 2000) { kill(c, SIGKILL); killed++; }
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
            waited++;
        }
        if (r == 0) {
            printf("fuzz: HANG: child %ld (seed %#llx) did not end after SIGKILL\n", children,
                   (unsigned long long)seed);
            return 1;
        }
        if (WIFEXITED(st)) clean++;
        else signaled++;
    }
    printf("fuzz: %ld calls in %ld children (%ld exited, %ld by a signal, %ld killed at the deadline)\n", made,
           children, clean, signaled, killed);
    return 0;
}
