/* What execve does to ids and capabilities: a set-user-ID and
 * set-group-ID root program run by a user (effective ids and every
 * capability, AT_SECURE), the same under no_new_privs (nothing gained),
 * root's exec with another effective uid (saved ids follow, no effective
 * capabilities, AT_SECURE), and a plain exec, each started with
 * ADDR_NO_RANDOMIZE, which a privileged exec clears; and what chown leaves of
 * a file's set-ID bits (root's too). Run as root in a directory
 * that allows set-user-ID programs (the one it lives in); prints what it
 * sees. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define ALL ((1ULL << 41) - 1)
#define MASK (ALL & ~(1ULL << CAP_SYS_RESOURCE))

static const char *set(uint64_t v) {
    static char buf[2][32];
    static int n;
    char *b = buf[n++ % 2];
    v &= MASK;
    snprintf(b, 32, "%s", v == MASK ? "all" : v == 0 ? "none" : "some");
    return b;
}

static const char *err(int r) { return r < 0 ? strerror(errno) : "ok"; }

/* What the program runs with; `secret` is a file only root may read. */
static int report(const char *what, const char *secret) {
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    syscall(SYS_capget, &h, d);
    uint64_t eff = d[0].effective | (uint64_t)d[1].effective << 32;
    uint64_t prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
    printf("%s: uid %u %u %u gid %u %u %u secure %lu eff %s prm %s norandom %d\n", what, r, e, s, gr, ge,
           gs, getauxval(AT_SECURE), set(eff), set(prm), (personality(0xffffffff) & ADDR_NO_RANDOMIZE) != 0);
    /* access asks as the real user, AT_EACCESS as the effective one. */
    printf("  access to root's 0600 file: real %s, effective %s\n", err(access(secret, R_OK)),
           err(faccessat(AT_FDCWD, secret, R_OK, AT_EACCESS)));
    return 0;
}

static char secret[4200];

static void run(const char *path, const char *what, int user, int nnp, int euid_only) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (nnp) prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        /* A privileged exec clears it. */
        personality(ADDR_NO_RANDOMIZE);
        if (user && (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))) _exit(2);
        if (euid_only && seteuid(1000)) _exit(3);
        execl(path, "setuid_exec", "report", what, secret, (char *)NULL);
        printf("%s: exec %s\n", what, strerror(errno));
        _exit(1);
    }
    int st;
    waitpid(pid, &st, 0);
}

/* Change `path`'s mode to `mode`, chown it to uid:gid (as user `as`, if
 * not -1, after making it `as`'s with group 5, which `as` is not in),
 * and print what is left of its set-ID bits. */
static void chown_keeps(const char *path, mode_t mode, uid_t uid, gid_t gid, uid_t as) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (as != (uid_t)-1 && (chown(path, as, 5) || setgroups(0, NULL) || setresuid(as, as, as))) _exit(2);
        chmod(path, mode);
        int r = chown(path, uid, gid);
        struct stat st;
        stat(path, &st);
        printf("chown of %04o as %d: %s, mode %04o\n", mode, as == (uid_t)-1 ? 0 : (int)as,
               r ? strerror(errno) : "ok", st.st_mode & 07777);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "report")) return report(argv[2], argv[3]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    char self[4096], copy[4200];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n < 0 ? 0 : n] = 0;
    snprintf(copy, sizeof copy, "%s/setuid-copy-%d", dirname(strdup(self)), getpid());
    int in = open(self, O_RDONLY), out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0700);
    char buf[65536];
    for (ssize_t k; (k = read(in, buf, sizeof buf)) > 0;)
        write(out, buf, k);
    close(in);
    close(out);
    if (chown(copy, 0, 0) || chmod(copy, 06755)) {
        printf("cannot make the copy: %s\n", strerror(errno));
        return 1;
    }
    /* chown clears set-user-ID (even for root), and set-group-ID of a
     * group-executable file or for a caller outside the group. */
    chown_keeps(copy, 06755, 0, 0, -1);
    chown_keeps(copy, 06745, -1, 0, -1);
    chown_keeps(copy, 02745, 1000, -1, 1000);
    chown_keeps(copy, 02745, -1, 0, 1000);
    chown_keeps(copy, 02745, -1, 5, 1000);
    chown_keeps(copy, 00755, 0, -1, 1000);
    if (chown(copy, 0, 0) || chmod(copy, 06755)) return 1;
    snprintf(secret, sizeof secret, "%s/setuid-secret-%d", dirname(strdup(self)), getpid());
    close(open(secret, O_CREAT | O_WRONLY, 0600));
    run(copy, "set-ID root program run by a user", 1, 0, 0);
    run(copy, "  the same with no_new_privs", 1, 1, 0);
    run(self, "plain program run by a user", 1, 0, 0);
    run(self, "root with effective uid 1000", 0, 0, 1);
    run(self, "root", 0, 0, 0);
    unlink(copy);
    unlink(secret);
    return 0;
}
