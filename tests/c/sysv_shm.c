/* System V shared memory: segments shared by a parent, a forked child, an
 * unrelated program attaching by id after exec, and a futex between them;
 * SHM_RDONLY, SHM_RND, SHM_REMAP; IPC_STAT/IPC_SET/IPC_RMID (a removed
 * segment lives until its last detach), SHM_STAT, IPC_INFO, SHM_INFO;
 * the errors, EACCES and EPERM as a non-root child. Run natively it first
 * moves to an IPC namespace of its own, so the host's objects are never
 * touched (in the sandbox, whose IPC namespace is its own, unshare is not
 * offered). Every result is printed, for comparison with Linux; what
 * depends on times and pids is printed relative to them. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY 0x1234

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = ok\n", what);
}

static void stat_line(const char *when, int id) {
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) < 0) {
        printf("%s: IPC_STAT = -1 %s\n", when, strerrorname_np(errno));
        return;
    }
    printf("%s: key=%#x size=%zu mode=%#o nattch=%lu uid=%u cuid=%u cpid=me:%d lpid=me:%d atime=%s dtime=%s\n",
           when, ds.shm_perm.__key, ds.shm_segsz, ds.shm_perm.mode, (unsigned long)ds.shm_nattch,
           ds.shm_perm.uid, ds.shm_perm.cuid, ds.shm_cpid == getpid(), ds.shm_lpid == getpid(),
           ds.shm_atime ? "set" : "0", ds.shm_dtime ? "set" : "0");
}

static long futex(int *word, int op, int val) {
    return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

/* Run after exec: attach segment `id` fresh and leave a message in it. */
static int attach_by_id(int id) {
    char *p = shmat(id, NULL, 0);
    if (p == (void *)-1) {
        printf("exec'd child: shmat = -1 %s\n", strerrorname_np(errno));
        return 1;
    }
    struct shmid_ds ds;
    shmctl(id, IPC_STAT, &ds);
    printf("exec'd child: reads \"%s\", nattch=%lu\n", p + 100, (unsigned long)ds.shm_nattch);
    strcpy(p + 200, "written after exec");
    return 0;
}

static int wait_child(pid_t pid) {
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "attach") == 0)
        return attach_by_id(atoi(argv[2]));
    if (unshare(CLONE_NEWIPC) < 0 && errno != ENOSYS && errno != EPERM && errno != EINVAL)
        printf("unshare: %s\n", strerrorname_np(errno));
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* A segment, as IPC_STAT sees it before and after an attach. */
    int id = shmget(KEY, 10000, IPC_CREAT | IPC_EXCL | 0640);
    show("shmget(KEY, 10000, IPC_CREAT|IPC_EXCL)", id);
    stat_line("new", id);
    char *p = shmat(id, NULL, 0);
    show("shmat", p == (void *)-1 ? -1 : 0);
    printf("zeroed: %d, page aligned: %d\n", p[0] == 0 && p[9999] == 0, ((unsigned long)p & 4095) == 0);
    stat_line("attached", id);
    strcpy(p + 100, "from the parent");

    /* The same key finds it; errors of shmget. */
    printf("shmget(KEY) finds it: %d\n", shmget(KEY, 0, 0) == id);
    show("shmget(KEY, IPC_CREAT|IPC_EXCL)", shmget(KEY, 10, IPC_CREAT | IPC_EXCL | 0600));
    show("shmget(KEY, bigger than the segment)", shmget(KEY, 20000, 0));
    show("shmget(unused key, no IPC_CREAT)", shmget(0x4321, 10, 0600));
    show("shmget(IPC_PRIVATE, size 0)", shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
    show("shmat(-1)", shmat(-1, NULL, 0) == (void *)-1 ? -1 : 0);
    show("shmat(id + 1)", shmat(id + 1, NULL, 0) == (void *)-1 ? -1 : 0);
    show("shmctl(unknown command)", shmctl(id, 1234, NULL));
    show("shmdt(not an attachment)", shmdt(p + 4096));
    show("shmdt(unaligned)", shmdt(p + 1));

    /* A forked child shares the attachment; a futex in the segment wakes
     * across the two processes. */
    int *word = (int *)(p + 4096);
    int sync[2];
    if (pipe(sync) < 0)
        return 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        stat_line("child after fork", id);
        printf("child reads \"%s\"\n", p + 100);
        strcpy(p + 300, "from the forked child");
        close(sync[0]);
        if (write(sync[1], "w", 1) != 1)
            _exit(2);
        while (__atomic_load_n(word, __ATOMIC_SEQ_CST) == 0)
            futex(word, FUTEX_WAIT, 0);
        printf("child: futex word is %d\n", *word);
        _exit(0);
    }
    close(sync[1]);
    char c;
    if (read(sync[0], &c, 1) != 1)
        return 1;
    close(sync[0]);
    __atomic_store_n(word, 7, __ATOMIC_SEQ_CST);
    futex(word, FUTEX_WAKE, 1);
    printf("child exit %d\n", wait_child(pid));
    printf("parent reads \"%s\"\n", p + 300);
    stat_line("child gone", id);

    /* An unrelated program attaches by id after exec. */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char arg[16];
        snprintf(arg, sizeof arg, "%d", id);
        execl("/proc/self/exe", "sysv_shm", "attach", arg, (char *)NULL);
        _exit(127);
    }
    printf("exec'd child exit %d\n", wait_child(pid));
    printf("parent reads \"%s\"\n", p + 200);
    stat_line("exec'd child gone", id);

    /* A read-only attachment stays read-only. */
    char *ro = shmat(id, NULL, SHM_RDONLY);
    printf("read-only attachment reads \"%s\"\n", ro + 100);
    show("mprotect(read-only attachment, PROT_WRITE)", mprotect(ro, 4096, PROT_READ | PROT_WRITE));
    show("shmdt(read-only attachment)", shmdt(ro));

    /* SHM_RND rounds an address down; without it, unaligned is EINVAL;
     * an address in use needs SHM_REMAP. */
    char *hole = mmap(NULL, 5 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, 5 * 4096);
    char *at = shmat(id, hole + 10, SHM_RND);
    printf("SHM_RND: %s\n", at == hole ? "rounded down" : "elsewhere");
    show("shmat(unaligned, no SHM_RND)", shmat(id, hole + 10, 0) == (void *)-1 ? -1 : 0);
    show("shmat(in use, no SHM_REMAP)", shmat(id, hole, 0) == (void *)-1 ? -1 : 0);
    show("shmat(NULL, SHM_REMAP)", shmat(id, NULL, SHM_REMAP) == (void *)-1 ? -1 : 0);
    char *again = shmat(id, hole, SHM_REMAP);
    printf("SHM_REMAP: %s, reads \"%s\"\n", again == hole ? "same address" : "elsewhere", again + 100);
    stat_line("two attachments", id);
    show("shmdt", shmdt(hole));

    /* Not root: no access without permission, no removal. */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (setgid(1000) < 0 || setuid(1000) < 0)
            _exit(3);
        show("user: shmget(KEY, 0600)", shmget(KEY, 0, 0600));
        show("user: shmget(KEY, 0)", shmget(KEY, 0, 0));
        show("user: shmat", shmat(id, NULL, 0) == (void *)-1 ? -1 : 0);
        struct shmid_ds ds;
        show("user: IPC_STAT", shmctl(id, IPC_STAT, &ds));
        show("user: IPC_RMID", shmctl(id, IPC_RMID, NULL));
        _exit(0);
    }
    wait_child(pid);
    /* IPC_SET: the child's group may read. */
    struct shmid_ds ds;
    shmctl(id, IPC_STAT, &ds);
    ds.shm_perm.gid = 1000;
    ds.shm_perm.mode = 0640;
    show("IPC_SET", shmctl(id, IPC_SET, &ds));
    stat_line("after IPC_SET", id);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (setgid(1000) < 0 || setuid(1000) < 0)
            _exit(3);
        show("user in group: shmat(SHM_RDONLY)", shmat(id, NULL, SHM_RDONLY) == (void *)-1 ? -1 : 0);
        show("user in group: shmat(read-write)", shmat(id, NULL, 0) == (void *)-1 ? -1 : 0);
        show("user in group: IPC_SET", shmctl(id, IPC_SET, &ds));
        _exit(0);
    }
    wait_child(pid);

    /* SHM_STAT by index, IPC_INFO, SHM_INFO. */
    int max = shmctl(0, IPC_INFO, (struct shmid_ds *)&(struct shminfo){0});
    int found = 0;
    for (int i = 0; i <= max; i++) {
        struct shmid_ds s;
        if (shmctl(i, SHM_STAT, &s) == id)
            found = 1;
    }
    printf("SHM_STAT finds it: %d\n", found);
    struct shminfo info;
    shmctl(0, IPC_INFO, (struct shmid_ds *)&info);
    printf("IPC_INFO: shmmax=%lu shmmin=%lu shmmni=%lu shmseg=%lu shmall=%lu\n", info.shmmax, info.shmmin,
           info.shmmni, info.shmseg, info.shmall);
    int other = shmget(IPC_PRIVATE, 3 * 4096 + 1, 0600);
    struct shm_info used;
    shmctl(0, SHM_INFO, (struct shmid_ds *)&used);
    printf("SHM_INFO: used_ids=%d shm_tot=%lu\n", used.used_ids, used.shm_tot);

    /* /proc's view: each segment's row (pids and times left out), and
     * the limits of the namespace. */
    FILE *rows = fopen("/proc/sysvipc/shm", "r");
    char row[512];
    while (rows && fgets(row, sizeof row, rows)) {
        int key, shmid, cpid, lpid;
        unsigned perms, uid, gid;
        unsigned long size, nattch;
        if (sscanf(row, "%d %d %o %lu %d %d %lu %u %u", &key, &shmid, &perms, &size, &cpid, &lpid, &nattch, &uid,
                   &gid) == 9)
            printf("/proc/sysvipc/shm: key=%#x %s perms=%o size=%lu nattch=%lu uid=%u gid=%u\n", key,
                   shmid == id ? "id" : shmid == other ? "other" : "?", perms, size, nattch, uid, gid);
    }
    if (rows)
        fclose(rows);
    const char *sysctls[] = {"kernel/shmmax", "kernel/shmall", "kernel/shmmni", "kernel/msgmax",
                             "kernel/msgmnb", "kernel/msgmni", "fs/mqueue/queues_max", "fs/mqueue/msg_max",
                             "fs/mqueue/msgsize_max", "fs/mqueue/msg_default", "fs/mqueue/msgsize_default"};
    for (unsigned i = 0; i < sizeof sysctls / sizeof *sysctls; i++) {
        char path[64], value[64] = "?\n";
        snprintf(path, sizeof path, "/proc/sys/%s", sysctls[i]);
        FILE *f = fopen(path, "r");
        if (f && !fgets(value, sizeof value, f))
            strcpy(value, "?\n");
        if (f)
            fclose(f);
        printf("%s: %s", path, value);
    }
    shmctl(other, IPC_RMID, NULL);

    /* /proc/self/maps names the attachment. */
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    while (maps && fgets(line, sizeof line, maps))
        if (strstr(line, "SYSV")) {
            char perms[8];
            sscanf(line, "%*s %7s", perms);
            printf("maps: %s %s", perms, strstr(line, "/SYSV"));
        }
    if (maps)
        fclose(maps);

    /* IPC_RMID while attached: the key is free, the id lives until the
     * last detach. */
    show("IPC_RMID", shmctl(id, IPC_RMID, NULL));
    stat_line("removed, attached", id);
    show("shmget(KEY) after IPC_RMID", shmget(KEY, 0, 0));
    char *late = shmat(id, NULL, 0);
    printf("attach after IPC_RMID: %s\n", late == (void *)-1 ? strerrorname_np(errno) : "ok");
    if (late != (void *)-1)
        shmdt(late);
    printf("still reads \"%s\"\n", p + 100);
    show("shmdt", shmdt(p));
    stat_line("last detach", id);
    return 0;
}
