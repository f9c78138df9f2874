/* Capabilities as root: capget/capset with the three header versions
 * (version negotiation), another task's sets, the bounding and ambient
 * sets, keepcaps, securebits and no_new_privs through prctl, what leaving
 * uid 0 does to the sets, what execve makes of them, and the permission
 * checks that ask for a capability (kill, chroot, setgroups). Run as root;
 * prints what it sees. Sets are printed without CAP_SYS_RESOURCE (a host
 * may run its root without it) and as "all" when complete. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define ALL ((1ULL << 41) - 1)
#define MASK (ALL & ~(1ULL << CAP_SYS_RESOURCE))
#define BIT(c) (1ULL << (c))

struct sets { uint64_t e, p, i; };

static int capget_v3(pid_t pid, struct sets *s) {
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, pid };
    struct __user_cap_data_struct d[2];
    int r = syscall(SYS_capget, &h, d);
    if (r == 0) {
        s->e = d[0].effective | (uint64_t)d[1].effective << 32;
        s->p = d[0].permitted | (uint64_t)d[1].permitted << 32;
        s->i = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
    }
    return r;
}

static int capset_v3(const struct sets *s) {
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2] = {
        { (uint32_t)s->e, (uint32_t)s->p, (uint32_t)s->i },
        { (uint32_t)(s->e >> 32), (uint32_t)(s->p >> 32), (uint32_t)(s->i >> 32) },
    };
    return syscall(SYS_capset, &h, d);
}

static const char *set(uint64_t v) {
    static char buf[4][32];
    static int n;
    char *b = buf[n++ % 4];
    v &= MASK;
    if (v == MASK) return "all";
    if (v == 0) return "none";
    snprintf(b, 32, "%#llx", (unsigned long long)v);
    return b;
}

static void show(const char *when) {
    struct sets s;
    if (capget_v3(0, &s)) { printf("%s: capget %s\n", when, strerror(errno)); return; }
    printf("%s: eff=%s prm=%s inh=%s amb(kill)=%d\n", when, set(s.e), set(s.p), set(s.i),
           prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 0, 0));
}

static const char *err(int r) { return r < 0 ? strerror(errno) : "ok"; }

/* The status line `key` of /proc/self/status, as a set. */
static const char *status_set(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long v = 0;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') v = strtoull(line + n + 1, NULL, 16);
    if (f) fclose(f);
    return set(v);
}

static void wait_child(pid_t pid) {
    int st;
    waitpid(pid, &st, 0);
    fflush(stdout);
}

/* After an exec: what the new program has. */
static int report(const char *what) {
    struct sets s;
    capget_v3(0, &s);
    printf("after exec %s: eff=%s prm=%s amb(kill)=%d bnd(sys_boot)=%d\n", what, set(s.e), set(s.p),
           prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 0, 0),
           prctl(PR_CAPBSET_READ, CAP_SYS_BOOT));
    return 0;
}

static void exec_self(const char *what) {
    fflush(stdout);
    execl("/proc/self/exe", "caps", "report", what, (char *)NULL);
    printf("exec: %s\n", strerror(errno));
    exit(1);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "report")) return report(argv[2]);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Version negotiation: a null data pointer asks for the version. */
    struct __user_cap_header_struct h = { 0, 0 };
    int r = syscall(SYS_capget, &h, NULL);
    printf("probe: r=%d version=%#x\n", r, h.version);
    struct __user_cap_data_struct d[2];
    h.version = 0x12345678;
    r = syscall(SYS_capget, &h, d);
    printf("bad version: %s, written back %#x\n", err(r), h.version);
    h.version = 0x12345678;
    r = syscall(SYS_capset, &h, d);
    printf("capset bad version: %s, written back %#x\n", err(r), h.version);
    h = (struct __user_cap_header_struct){ _LINUX_CAPABILITY_VERSION_1, 0 };
    memset(d, 0xff, sizeof d);
    r = syscall(SYS_capget, &h, d);
    printf("v1: %s eff=%#x untouched=%d\n", err(r), d[0].effective & (uint32_t)MASK, d[1].effective == 0xffffffff);
    h = (struct __user_cap_header_struct){ _LINUX_CAPABILITY_VERSION_2, -1 };
    printf("negative pid: %s\n", err(syscall(SYS_capget, &h, d)));
    show("root");
    printf("status: CapEff=%s CapPrm=%s CapInh=%s CapBnd=%s CapAmb=%s\n", status_set("CapEff"),
           status_set("CapPrm"), status_set("CapInh"), status_set("CapBnd"), status_set("CapAmb"));

    /* Another task's sets, and one that does not exist. */
    int p[2];
    pipe(p);
    pid_t child = fork();
    if (child == 0) {
        struct sets s = { BIT(CAP_KILL), BIT(CAP_KILL) | BIT(CAP_CHOWN), 0 };
        capset_v3(&s);
        char c = 0;
        write(p[1], &c, 1);
        pause();
        _exit(0);
    }
    char c;
    read(p[0], &c, 1);
    struct sets o;
    r = capget_v3(child, &o);
    printf("child's sets: %s eff=%s prm=%s\n", err(r), set(o.e), set(o.p));
    kill(child, SIGKILL);
    wait_child(child);
    printf("no such task: %s\n", err(capget_v3(4194000, &o)));
    h = (struct __user_cap_header_struct){ _LINUX_CAPABILITY_VERSION_3, child };
    printf("capset of another: %s\n", err(syscall(SYS_capset, &h, d)));

    /* capset: drop and regain an effective capability; a dropped permitted
     * one is gone. */
    child = fork();
    if (child == 0) {
        struct sets s;
        capget_v3(0, &s);
        s.e &= ~BIT(CAP_NET_RAW);
        printf("drop effective net_raw: %s\n", err(capset_v3(&s)));
        show("  then");
        s.e |= BIT(CAP_NET_RAW);
        printf("regain it: %s\n", err(capset_v3(&s)));
        s.e &= ~BIT(CAP_NET_RAW);
        s.p &= ~BIT(CAP_NET_RAW);
        printf("drop permitted net_raw: %s\n", err(capset_v3(&s)));
        s.e |= BIT(CAP_NET_RAW);
        printf("effective beyond permitted: %s\n", err(capset_v3(&s)));
        s.e &= ~BIT(CAP_NET_RAW);
        s.p |= BIT(CAP_NET_RAW);
        printf("regain permitted: %s\n", err(capset_v3(&s)));
        s.p &= ~BIT(CAP_NET_RAW);
        s.p &= ~BIT(CAP_SETPCAP);
        s.e &= ~BIT(CAP_SETPCAP);
        capset_v3(&s);
        s.i = BIT(CAP_NET_RAW);
        printf("inheritable outside permitted, no setpcap: %s\n", err(capset_v3(&s)));
        printf("bounding drop without setpcap: %s\n", err(prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT)));
        printf("securebits without setpcap: %s\n", err(prctl(PR_SET_SECUREBITS, 0x10)));
        _exit(0);
    }
    wait_child(child);

    /* Bounding set. */
    printf("bounding read net_raw=%d\n", prctl(PR_CAPBSET_READ, CAP_NET_RAW));
    printf("bounding read 63: %s\n", err(prctl(PR_CAPBSET_READ, 63)));
    child = fork();
    if (child == 0) {
        printf("bounding drop sys_boot: %s\n", err(prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT)));
        printf("  then %d\n", prctl(PR_CAPBSET_READ, CAP_SYS_BOOT));
        printf("bounding drop bad: %s\n", err(prctl(PR_CAPBSET_DROP, 99)));
        /* Root's exec takes the bounding set as permitted. */
        exec_self("as root without sys_boot");
    }
    wait_child(child);

    /* Ambient set. */
    child = fork();
    if (child == 0) {
        printf("ambient raise without inheritable: %s\n", err(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0)));
        struct sets s;
        capget_v3(0, &s);
        s.i = BIT(CAP_KILL);
        capset_v3(&s);
        printf("ambient raise: %s\n", err(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0)));
        printf("ambient is set: %d\n", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 0, 0));
        printf("bad cap: %s\n", err(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, 77, 0, 0)));
        printf("bad op: %s\n", err(prctl(PR_CAP_AMBIENT, 9, CAP_KILL, 0, 0)));
        printf("extra arg: %s\n", err(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 1, 0, 0)));
        printf("ambient lower: %s\n", err(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_KILL, 0, 0)));
        printf("  then %d\n", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 0, 0));
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0);
        s.i = 0;
        capset_v3(&s);
        printf("inheritable dropped: ambient %d\n", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 0, 0));
        s.i = BIT(CAP_KILL);
        capset_v3(&s);
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0);
        printf("clear all: %s\n", err(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)));
        printf("  then %d\n", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 0, 0));
        /* A user keeps only its ambient set across exec. */
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0);
        prctl(PR_SET_KEEPCAPS, 1);
        printf("setresuid 1000 with keepcaps: %s\n", err(setresuid(1000, 1000, 1000)));
        show("  then");
        printf("ambient raise again: %s\n", err(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0)));
        exec_self("as user 1000 with ambient kill");
    }
    wait_child(child);

    /* keepcaps and securebits. */
    child = fork();
    if (child == 0) {
        printf("keepcaps %d\n", prctl(PR_GET_KEEPCAPS));
        printf("set 2: %s\n", err(prctl(PR_SET_KEEPCAPS, 2)));
        printf("set 1: %s\n", err(prctl(PR_SET_KEEPCAPS, 1)));
        printf("keepcaps %d, securebits %#x\n", prctl(PR_GET_KEEPCAPS), prctl(PR_GET_SECUREBITS));
        printf("lock keepcaps: %s\n", err(prctl(PR_SET_SECUREBITS, 0x30)));
        printf("securebits %#x\n", prctl(PR_GET_SECUREBITS));
        printf("keepcaps off when locked: %s\n", err(prctl(PR_SET_KEEPCAPS, 0)));
        printf("unlock: %s\n", err(prctl(PR_SET_SECUREBITS, 0x10)));
        printf("unknown bit: %s\n", err(prctl(PR_SET_SECUREBITS, 0x30 | 0x1000)));
        exec_self("with keepcaps locked");
    }
    wait_child(child);

    /* no_new_privs. */
    child = fork();
    if (child == 0) {
        printf("nnp %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
        printf("set 0: %s\n", err(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0)));
        printf("extra arg: %s\n", err(prctl(PR_SET_NO_NEW_PRIVS, 1, 1, 0, 0)));
        printf("set 1: %s\n", err(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)));
        printf("nnp %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
        printf("get with arg: %s\n", err(prctl(PR_GET_NO_NEW_PRIVS, 1, 0, 0, 0)));
        _exit(0);
    }
    wait_child(child);

    /* Leaving uid 0. */
    char secret[64];
    snprintf(secret, sizeof secret, "/tmp/caps-secret-%d", getpid());
    close(open(secret, O_CREAT | O_WRONLY, 0600));
    child = fork();
    if (child == 0) {
        printf("seteuid 1000: %s\n", err(seteuid(1000)));
        show("  then");
        /* access checks with the real uid (0: root's permitted set). */
        printf("  access to root's 0600 file: real %s, effective %s\n", err(access(secret, R_OK)),
               err(faccessat(AT_FDCWD, secret, R_OK, AT_EACCESS)));
        printf("seteuid 0: %s\n", err(seteuid(0)));
        show("  then");
        printf("setresuid 1000: %s\n", err(setresuid(1000, 1000, 1000)));
        show("  then");
        printf("  access to root's 0600 file: real %s, effective %s\n", err(access(secret, R_OK)),
               err(faccessat(AT_FDCWD, secret, R_OK, AT_EACCESS)));
        printf("back to 0: %s\n", err(setuid(0)));
        printf("kill root's process: %s\n", err(kill(getppid(), 0)));
        printf("SIGCONT in the session: %s\n", err(kill(getppid(), SIGCONT)));
        printf("chroot: %s\n", err(chroot("/")));
        gid_t g = 5;
        printf("setgroups: %s\n", err(setgroups(1, &g)));
        printf("setgid 5: %s\n", err(setgid(5)));
        exec_self("as user 1000");
    }
    wait_child(child);
    unlink(secret);
    show("root at the end");
    return 0;
}
