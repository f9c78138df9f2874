/* System V semaphores: every semctl command, semop's atomic multi-op
 * semantics, blocking decrements and waits for zero released by another
 * process (GETNCNT/GETZCNT while it waits), IPC_NOWAIT, semtimedop's
 * timeout, a signal interrupting a wait (EINTR even with SA_RESTART),
 * IPC_RMID waking a waiter with EIDRM, SEM_UNDO applied when a process
 * exits (and dropped by SETVAL), and the errors, EACCES/EPERM as a
 * non-root child. Natively it first moves to an IPC namespace of its own
 * (in the sandbox unshare is not offered: its IPC namespace is its own).
 * Processes are sequenced with pipes and the semaphores themselves. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY 0x5e5

union semun {
    int val;
    struct semid_ds *buf;
    unsigned short *array;
    struct seminfo *__buf;
};

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

static int op(int id, unsigned short num, short delta, short flags) {
    struct sembuf b = {num, delta, flags};
    return semop(id, &b, 1);
}

static int wait_child(pid_t pid) {
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Spin (yielding) until `cmd` on semaphore `num` reports `want`. */
static void until(int id, int num, int cmd, int want) {
    while (semctl(id, num, cmd) != want)
        sched_yield();
}

static void values(const char *when, int id) {
    unsigned short v[3];
    semctl(id, 0, GETALL, (union semun){.array = v});
    printf("%s: %u %u %u\n", when, v[0], v[1], v[2]);
}

static void on_usr1(int sig) {
    (void)sig;
}

int main(void) {
    if (unshare(CLONE_NEWIPC) < 0 && errno != ENOSYS && errno != EPERM && errno != EINVAL)
        printf("unshare: %s\n", strerrorname_np(errno));
    setvbuf(stdout, NULL, _IOLBF, 0);

    int id = semget(KEY, 3, IPC_CREAT | IPC_EXCL | 0600);
    show("semget(KEY, 3, IPC_CREAT|IPC_EXCL) >= 0", id < 0 ? -1 : 0);
    struct semid_ds ds;
    semctl(id, 0, IPC_STAT, (union semun){.buf = &ds});
    printf("IPC_STAT: key=%#x nsems=%lu mode=%#o otime=%s ctime=%s\n", ds.sem_perm.__key, ds.sem_nsems,
           ds.sem_perm.mode, ds.sem_otime ? "set" : "0", ds.sem_ctime ? "set" : "0");
    values("new", id);

    /* semget's errors. */
    printf("semget(KEY) finds it: %d\n", semget(KEY, 0, 0) == id);
    show("semget(KEY, IPC_CREAT|IPC_EXCL)", semget(KEY, 3, IPC_CREAT | IPC_EXCL | 0600));
    show("semget(KEY, more semaphores)", semget(KEY, 4, 0));
    show("semget(unused key)", semget(0x777, 1, 0));
    show("semget(IPC_PRIVATE, 0)", semget(IPC_PRIVATE, 0, 0600));
    show("semget(IPC_PRIVATE, 32001)", semget(IPC_PRIVATE, 32001, 0600));
    show("semget(IPC_PRIVATE, -1)", semget(IPC_PRIVATE, -1, 0600));

    /* SETVAL, SETALL, GETVAL, GETALL, GETPID. */
    show("SETVAL 0 = 1", semctl(id, 0, SETVAL, (union semun){.val = 1}));
    show("SETVAL 40000", semctl(id, 0, SETVAL, (union semun){.val = 40000}));
    show("SETVAL -1", semctl(id, 0, SETVAL, (union semun){.val = -1}));
    show("SETVAL semnum 3", semctl(id, 3, SETVAL, (union semun){.val = 1}));
    show("GETVAL 0", semctl(id, 0, GETVAL));
    show("GETVAL 5", semctl(id, 5, GETVAL));
    printf("GETPID 0 is me: %d\n", semctl(id, 0, GETPID) == getpid());
    unsigned short all[3] = {4, 0, 2};
    show("SETALL 4 0 2", semctl(id, 0, SETALL, (union semun){.array = all}));
    unsigned short big[3] = {1, 40000, 1};
    show("SETALL with 40000", semctl(id, 0, SETALL, (union semun){.array = big}));
    values("after SETALL", id);
    show("semctl(unknown command)", semctl(id, 0, 1234));

    /* semop: all or nothing, in order, and its errors. */
    struct sembuf two[2] = {{0, -1, 0}, {1, -1, IPC_NOWAIT}};
    show("semop(0 -1, 1 -1 IPC_NOWAIT)", semop(id, two, 2));
    values("nothing applied", id);
    struct sembuf seq[3] = {{1, 2, 0}, {1, -1, 0}, {0, -4, 0}};
    show("semop(1 +2, 1 -1, 0 -4)", semop(id, seq, 3));
    values("all applied", id);
    show("semop(1 wait for zero, IPC_NOWAIT)", op(id, 1, 0, IPC_NOWAIT));
    show("semop(0 -1, IPC_NOWAIT)", op(id, 0, -1, IPC_NOWAIT));
    show("semop(2 +32767)", op(id, 2, 32767, 0));
    show("semop(semnum 3)", op(id, 3, 1, 0));
    show("semop(no operations)", semop(id, two, 0));
    static struct sembuf many[501];
    show("semop(501 operations)", semop(id, many, 501));
    show("semop(bad id)", op(id + 1, 0, 1, 0));
    struct timespec ms = {0, 1000000};
    struct sembuf dec = {0, -1, 0};
    show("semtimedop(0 -1, 1 ms)", semtimedop(id, &dec, 1, &ms));
    struct timespec bad = {0, 1000000000};
    show("semtimedop(bad timeout)", semtimedop(id, &dec, 1, &bad));
    show("semtimedop(0 +1, timeout not needed)", semtimedop(id, (struct sembuf[]){{0, 1, 0}}, 1, &ms));

    /* A decrement that waits, released by another process. */
    semctl(id, 0, SETVAL, (union semun){.val = 0});
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        show("child: semop(0 -2) after waiting", op(id, 0, -2, 0));
        _exit(0);
    }
    until(id, 0, GETNCNT, 1);
    printf("GETNCNT 0 = %d, GETZCNT 0 = %d\n", semctl(id, 0, GETNCNT), semctl(id, 0, GETZCNT));
    show("semop(0 +1)", op(id, 0, 1, 0));
    printf("still waiting: GETNCNT 0 = %d\n", semctl(id, 0, GETNCNT));
    int r = op(id, 0, 1, 0);
    wait_child(pid);
    show("semop(0 +1)", r);
    printf("GETPID 0 is the child: %d\n", semctl(id, 0, GETPID) == pid);
    values("after the child", id);

    /* A wait for zero, released by SETVAL. */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        show("child: semop(1 wait for zero)", op(id, 1, 0, 0));
        _exit(0);
    }
    until(id, 1, GETZCNT, 1);
    printf("GETZCNT 1 = %d\n", semctl(id, 1, GETZCNT));
    semctl(id, 1, SETVAL, (union semun){.val = 0});
    wait_child(pid);

    /* A signal interrupts a wait, SA_RESTART or not. */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
        sigaction(SIGUSR1, &sa, NULL);
        show("child: semop(0 -1) with a signal", op(id, 0, -1, 0));
        _exit(0);
    }
    until(id, 0, GETNCNT, 1);
    kill(pid, SIGUSR1);
    wait_child(pid);
    printf("GETNCNT 0 after the signal = %d\n", semctl(id, 0, GETNCNT));

    /* SEM_UNDO: what a process did is undone when it exits. */
    semctl(id, 2, SETVAL, (union semun){.val = 5});
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        struct sembuf u[2] = {{2, -3, SEM_UNDO}, {1, 4, SEM_UNDO}};
        show("child: semop(2 -3 UNDO, 1 +4 UNDO)", semop(id, u, 2));
        values("child sees", id);
        _exit(0);
    }
    wait_child(pid);
    values("undone at exit", id);
    printf("GETPID 2 is the child: %d\n", semctl(id, 2, GETPID) == pid);

    /* SETVAL drops the undo of that semaphore. */
    int go[2], done[2];
    if (pipe(go) < 0 || pipe(done) < 0)
        return 1;
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        char c;
        op(id, 0, 1, SEM_UNDO);
        op(id, 2, 1, SEM_UNDO);
        if (write(done[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(2);
        _exit(0);
    }
    char c;
    if (read(done[0], &c, 1) != 1)
        return 1;
    values("child added 1 to 0 and 2", id);
    semctl(id, 2, SETVAL, (union semun){.val = 9});
    if (write(go[1], "x", 1) != 1)
        return 1;
    wait_child(pid);
    values("0 undone, 2 kept", id);

    /* Not root. */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (setgid(1000) < 0 || setuid(1000) < 0)
            _exit(3);
        show("user: semget(KEY, 0600)", semget(KEY, 0, 0600));
        show("user: semop", op(id, 0, 1, 0));
        show("user: semop(wait for zero)", op(id, 0, 0, IPC_NOWAIT));
        show("user: GETVAL", semctl(id, 0, GETVAL));
        show("user: SETVAL", semctl(id, 0, SETVAL, (union semun){.val = 1}));
        show("user: IPC_RMID", semctl(id, 0, IPC_RMID));
        _exit(0);
    }
    wait_child(pid);
    semctl(id, 0, IPC_STAT, (union semun){.buf = &ds});
    ds.sem_perm.uid = 1000;
    ds.sem_perm.mode = 0604;
    show("IPC_SET", semctl(id, 0, IPC_SET, (union semun){.buf = &ds}));
    semctl(id, 0, IPC_STAT, (union semun){.buf = &ds});
    printf("IPC_STAT: uid=%u cuid=%u mode=%#o otime=%s\n", ds.sem_perm.uid, ds.sem_perm.cuid, ds.sem_perm.mode,
           ds.sem_otime ? "set" : "0");
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (setgid(1001) < 0 || setuid(1001) < 0)
            _exit(3);
        show("other user: GETVAL", semctl(id, 0, GETVAL));
        show("other user: semop", op(id, 0, 1, 0));
        _exit(0);
    }
    wait_child(pid);

    /* IPC_INFO, SEM_INFO, SEM_STAT. */
    struct seminfo si;
    int max = semctl(0, 0, IPC_INFO, (union semun){.__buf = &si});
    printf("IPC_INFO: semmni=%d semmsl=%d semopm=%d semvmx=%d semume=%d semusz=%d\n", si.semmni, si.semmsl,
           si.semopm, si.semvmx, si.semume, si.semusz);
    int other = semget(IPC_PRIVATE, 7, 0600);
    semctl(0, 0, SEM_INFO, (union semun){.__buf = &si});
    printf("SEM_INFO: sets=%d semaphores=%d\n", si.semusz, si.semaem);
    int found = 0;
    max = semctl(0, 0, SEM_INFO, (union semun){.__buf = &si});
    for (int i = 0; i <= max; i++)
        if (semctl(i, 0, SEM_STAT, (union semun){.buf = &ds}) == other)
            found = ds.sem_nsems;
    printf("SEM_STAT finds the other set, of %d\n", found);

    /* IPC_RMID wakes a waiter with EIDRM. */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        show("child: semop(other 0 -1) as the set goes", op(other, 0, -1, 0));
        _exit(0);
    }
    until(other, 0, GETNCNT, 1);
    r = semctl(other, 0, IPC_RMID);
    wait_child(pid);
    show("IPC_RMID", r);
    show("GETVAL of the removed set", semctl(other, 0, GETVAL));
    show("IPC_RMID", semctl(id, 0, IPC_RMID));
    show("semget(KEY) after IPC_RMID", semget(KEY, 0, 0));
    return 0;
}
