/* pidfds: pidfd_open, polling for the end of a process, pidfd_send_signal,
 * pidfd_getfd, waitid(P_PIDFD), clone3's CLONE_PIDFD, and who may signal
 * whom (kill and pidfd_send_signal from an unprivileged child). Every
 * result is printed, without pids, for comparison with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
    fflush(stdout);
}

static int pidfd_open(pid_t pid, unsigned flags) { return syscall(SYS_pidfd_open, pid, flags); }
static int pidfd_send_signal(int fd, int sig, siginfo_t *info, unsigned flags) {
    return syscall(SYS_pidfd_send_signal, fd, sig, info, flags);
}
static int pidfd_getfd(int fd, int target, unsigned flags) { return syscall(SYS_pidfd_getfd, fd, target, flags); }

static int readable(int fd, int timeout) {
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, timeout);
    return n > 0 && (p.revents & POLLIN);
}

static void waited(int pidfd, pid_t expect) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    long r = waitid(P_PIDFD, pidfd, &si, WEXITED);
    if (r < 0) {
        show("waitid(P_PIDFD)", r);
        return;
    }
    printf("waitid(P_PIDFD): right child %d, code %d, status %d\n", si.si_pid == expect, si.si_code, si.si_status);
}

int main(void) {
    int self = pidfd_open(getpid(), 0);
    show("pidfd_open(self) ok", self >= 0);
    show("pidfd is close-on-exec", fcntl(self, F_GETFD) & FD_CLOEXEC);
    show("pidfd_open(bad flags)", pidfd_open(getpid(), 1));
    show("pidfd_open(0)", pidfd_open(0, 0));
    show("pidfd_open(no such pid)", pidfd_open(999999, 0));
    show("pidfd_send_signal(self, 0)", pidfd_send_signal(self, 0, NULL, 0));
    show("pidfd_send_signal(bad flags)", pidfd_send_signal(self, 0, NULL, 8));
    show("pidfd_send_signal(two scopes)", pidfd_send_signal(self, 0, NULL, 3));
    show("pidfd_send_signal(self, 0, THREAD)", pidfd_send_signal(self, 0, NULL, 1));
    show("pidfd_send_signal(self, 0, PROCESS_GROUP)", pidfd_send_signal(self, 0, NULL, 4));
    show("pidfd_send_signal(not a pidfd)", pidfd_send_signal(0, 0, NULL, 0));
    char b[8];
    show("read(pidfd)", read(self, b, sizeof b));

    /* A child that waits for its pipe to close, then exits 3. */
    int p[2];
    if (pipe(p))
        return 1;
    pid_t child = fork();
    if (child == 0) {
        close(p[1]);
        while (read(p[0], b, 1) > 0) {
        }
        _exit(3);
    }
    int fd = pidfd_open(child, 0);
    show("child's pidfd readable while it runs", readable(fd, 0));
    int taken = pidfd_getfd(fd, p[0], 0);
    show("pidfd_getfd gave a descriptor", taken >= 0);
    show("it is close-on-exec", fcntl(taken, F_GETFD) & FD_CLOEXEC);
    show("pidfd_getfd(bad target fd)", pidfd_getfd(fd, 77, 0));
    show("pidfd_getfd(bad flags)", pidfd_getfd(fd, p[0], 1));
    close(taken);
    siginfo_t forged;
    memset(&forged, 0, sizeof forged);
    forged.si_signo = SIGUSR1;
    forged.si_code = SI_QUEUE;
    show("pidfd_send_signal(info for another signal)", pidfd_send_signal(fd, SIGUSR2, &forged, 0));
    forged.si_code = SI_USER;
    show("pidfd_send_signal(kernel-looking info to another)", pidfd_send_signal(fd, SIGUSR1, &forged, 0));
    close(p[1]);
    close(p[0]);
    show("readable once it ended", readable(fd, 5000));
    waited(fd, child);
    show("pidfd_send_signal(reaped)", pidfd_send_signal(fd, SIGTERM, NULL, 0));
    close(fd);

    /* SIGKILL through a pidfd. */
    child = fork();
    if (child == 0) {
        for (;;)
            pause();
    }
    fd = pidfd_open(child, 0);
    show("pidfd_send_signal(SIGKILL)", pidfd_send_signal(fd, SIGKILL, NULL, 0));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    waitid(P_PIDFD, fd, &si, WEXITED);
    printf("killed: code %d, signal %d\n", si.si_code, si.si_status);
    close(fd);

    /* clone3 with CLONE_PIDFD. */
    int cfd = -1;
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&cfd;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0)
        _exit(7);
    show("clone3(CLONE_PIDFD) gave a pidfd", cfd >= 0);
    show("that pidfd becomes readable", readable(cfd, 5000));
    waited(cfd, (pid_t)pid);
    args.flags = CLONE_PIDFD | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM;
    show("clone3(CLONE_PIDFD|CLONE_THREAD)", syscall(SYS_clone3, &args, sizeof args));

    /* An unprivileged child may not signal its root parent. */
    fflush(stdout);
    child = fork();
    if (child == 0) {
        if (setuid(65534))
            _exit(2);
        show("kill(root parent) as nobody", kill(getppid(), 0));
        show("pidfd_send_signal(root parent) as nobody", pidfd_send_signal(self, 0, NULL, 0));
        show("kill(itself) as nobody", kill(getpid(), 0));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    return 0;
}
