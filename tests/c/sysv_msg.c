/* System V message queues: typed messages and how msgrcv selects them
 * (any, a type, MSG_EXCEPT, the lowest type at most |msgtyp|, MSG_COPY),
 * MSG_NOERROR and E2BIG, IPC_NOWAIT (EAGAIN, ENOMSG), a receiver and a
 * sender that wait for another process, a signal interrupting a wait,
 * IPC_STAT/IPC_SET (msg_qbytes, and raising it as a non-root owner),
 * MSG_STAT, IPC_INFO/MSG_INFO, and the errors, EACCES/EPERM as a non-root
 * child. Natively it first moves to an IPC namespace of its own (in the
 * sandbox unshare is not offered: its IPC namespace is its own). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY 0x3e55

struct msg {
    long mtype;
    char mtext[64];
};

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
}

static int send(int id, long type, const char *text, int flags) {
    struct msg m = {type, ""};
    strncpy(m.mtext, text, sizeof m.mtext - 1);
    return msgsnd(id, &m, strlen(text), flags);
}

/* Receive as asked and print what came. */
static void receive(const char *what, int id, size_t size, long type, int flags) {
    struct msg m;
    memset(&m, 0, sizeof m);
    ssize_t n = msgrcv(id, &m, size, type, flags);
    if (n < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %zd: type %ld \"%.*s\"\n", what, n, m.mtype, (int)n, m.mtext);
}

static void stat_line(const char *when, int id) {
    struct msqid_ds ds;
    if (msgctl(id, IPC_STAT, &ds) < 0) {
        printf("%s: IPC_STAT = -1 %s\n", when, strerrorname_np(errno));
        return;
    }
    printf("%s: key=%#x mode=%#o qnum=%lu cbytes=%lu qbytes=%lu lspid=me:%d lrpid=me:%d stime=%s rtime=%s\n",
           when, ds.msg_perm.__key, ds.msg_perm.mode, ds.msg_qnum, ds.__msg_cbytes, ds.msg_qbytes,
           ds.msg_lspid == getpid(), ds.msg_lrpid == getpid(), ds.msg_stime ? "set" : "0",
           ds.msg_rtime ? "set" : "0");
}

static int wait_child(pid_t pid) {
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void on_usr1(int sig) {
    (void)sig;
}

int main(void) {
    if (unshare(CLONE_NEWIPC) < 0 && errno != ENOSYS && errno != EPERM && errno != EINVAL)
        printf("unshare: %s\n", strerrorname_np(errno));
    setvbuf(stdout, NULL, _IOLBF, 0);

    int id = msgget(KEY, IPC_CREAT | IPC_EXCL | 0620);
    show("msgget(KEY, IPC_CREAT|IPC_EXCL) >= 0", id < 0 ? -1 : 0);
    stat_line("new", id);
    printf("msgget(KEY) finds it: %d\n", msgget(KEY, 0) == id);
    show("msgget(KEY, IPC_CREAT|IPC_EXCL)", msgget(KEY, IPC_CREAT | IPC_EXCL | 0600));
    show("msgget(unused key)", msgget(0x999, 0600));

    /* Types and selection. */
    show("msgsnd(type 3)", send(id, 3, "three", 0));
    show("msgsnd(type 1)", send(id, 1, "one", 0));
    show("msgsnd(type 2)", send(id, 2, "two", 0));
    show("msgsnd(type 1)", send(id, 1, "uno", 0));
    show("msgsnd(type 5)", send(id, 5, "a longer message", 0));
    stat_line("five queued", id);
    receive("MSG_COPY 3", id, 64, 3, MSG_COPY | IPC_NOWAIT);
    receive("MSG_COPY 9", id, 64, 9, MSG_COPY | IPC_NOWAIT);
    receive("MSG_COPY without IPC_NOWAIT", id, 64, 0, MSG_COPY);
    receive("msgrcv(type 2)", id, 64, 2, 0);
    receive("msgrcv(type -2)", id, 64, -2, 0);
    receive("msgrcv(MSG_EXCEPT 3)", id, 64, 3, MSG_EXCEPT);
    receive("msgrcv(size 4)", id, 4, 5, 0);
    receive("msgrcv(size 4, MSG_NOERROR)", id, 4, 5, MSG_NOERROR);
    receive("msgrcv(type 0)", id, 64, 0, 0);
    receive("msgrcv(empty, IPC_NOWAIT)", id, 64, 0, IPC_NOWAIT);
    stat_line("emptied", id);

    /* msgsnd's and msgctl's errors. */
    show("msgsnd(type 0)", send(id, 0, "x", 0));
    struct msg big = {1, ""};
    show("msgsnd(8193 bytes)", msgsnd(id, &big, 8193, 0));
    show("msgsnd(bad id)", send(id + 1, 1, "x", 0));
    show("msgsnd(bad buffer)", msgsnd(id, (void *)8, 1, 0));
    show("msgrcv(bad id)", msgrcv(-1, &big, 1, 0, 0));
    show("msgctl(unknown command)", msgctl(id, 1234, NULL));

    /* A receiver waits for a sender in another process. */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        receive("child: msgrcv(type 7), waiting", id, 64, 7, 0);
        _exit(0);
    }
    send(id, 6, "not this one", 0);
    send(id, 7, "for the child", 0);
    wait_child(pid);
    receive("msgrcv(type 6)", id, 64, 6, 0);

    /* A sender waits for room. */
    struct msqid_ds ds;
    msgctl(id, IPC_STAT, &ds);
    ds.msg_qbytes = 10;
    show("IPC_SET(qbytes 10)", msgctl(id, IPC_SET, &ds));
    show("msgsnd(8 bytes)", send(id, 1, "12345678", 0));
    show("msgsnd(8 bytes, IPC_NOWAIT)", send(id, 1, "abcdefgh", IPC_NOWAIT));
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        show("child: msgsnd(8 bytes), waiting", send(id, 1, "abcdefgh", 0));
        _exit(0);
    }
    struct msg m;
    ssize_t n = msgrcv(id, &m, sizeof m.mtext, 0, 0);
    wait_child(pid);
    printf("parent took %zd bytes: \"%.8s\"\n", n, m.mtext);
    receive("msgrcv", id, 64, 0, 0);

    /* A signal ends a wait, even with SA_RESTART (the handler ran); it is
     * sent until the child ends, so one that comes before the wait is
     * only a handler run. */
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigaction(SIGUSR1, &sa, NULL);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        receive("child: msgrcv with a signal", id, 64, 0, 0);
        _exit(0);
    }
    while (waitpid(pid, NULL, WNOHANG) == 0) {
        kill(pid, SIGUSR1);
        sched_yield();
    }

    /* Not root. */
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (setgid(1000) < 0 || setuid(1000) < 0)
            _exit(3);
        show("user: msgget(KEY, 0600)", msgget(KEY, 0600));
        show("user: msgsnd", send(id, 1, "x", IPC_NOWAIT));
        receive("user: msgrcv", id, 64, 0, IPC_NOWAIT);
        show("user: IPC_STAT", msgctl(id, IPC_STAT, &ds));
        show("user: IPC_RMID", msgctl(id, IPC_RMID, NULL));
        _exit(0);
    }
    wait_child(pid);
    msgctl(id, IPC_STAT, &ds);
    ds.msg_perm.uid = 1000;
    ds.msg_perm.mode = 0600;
    ds.msg_qbytes = 16384;
    show("IPC_SET(uid 1000)", msgctl(id, IPC_SET, &ds));
    stat_line("given away", id);
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        if (setgid(1000) < 0 || setuid(1000) < 0)
            _exit(3);
        show("owner: msgsnd", send(id, 4, "from the owner", 0));
        struct msqid_ds own;
        msgctl(id, IPC_STAT, &own);
        own.msg_qbytes = 16385;
        show("owner: IPC_SET(qbytes above MSGMNB)", msgctl(id, IPC_SET, &own));
        own.msg_qbytes = 100;
        show("owner: IPC_SET(qbytes 100)", msgctl(id, IPC_SET, &own));
        _exit(0);
    }
    wait_child(pid);
    stat_line("after the owner", id);

    /* IPC_INFO, MSG_INFO, MSG_STAT. */
    struct msginfo mi;
    int max = msgctl(0, IPC_INFO, (struct msqid_ds *)&mi);
    printf("IPC_INFO: msgmax=%d msgmnb=%d msgmni=%d msgssz=%d msgseg=%u msgpool=%d\n", mi.msgmax, mi.msgmnb,
           mi.msgmni, mi.msgssz, mi.msgseg, mi.msgpool);
    int other = msgget(IPC_PRIVATE, 0600);
    send(other, 1, "1234", 0);
    max = msgctl(0, MSG_INFO, (struct msqid_ds *)&mi);
    printf("MSG_INFO: queues=%d messages=%d bytes=%d\n", mi.msgpool, mi.msgmap, mi.msgtql);
    int found = 0;
    for (int i = 0; i <= max; i++)
        if (msgctl(i, MSG_STAT, &ds) == other)
            found = ds.msg_qnum;
    printf("MSG_STAT finds the other queue, with %d message\n", found);
    show("IPC_RMID", msgctl(other, IPC_RMID, NULL));
    show("msgsnd(removed queue)", send(other, 1, "x", 0));
    show("IPC_RMID", msgctl(id, IPC_RMID, NULL));
    show("msgget(KEY) after IPC_RMID", msgget(KEY, 0));
    return 0;
}
