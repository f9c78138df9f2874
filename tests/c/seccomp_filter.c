/* seccomp_filter: application seccomp as Linux gives it. Each case runs in
 * a forked child (a filter cannot be removed) and prints what it saw; the
 * output must be the same natively and in the sandbox. Run as root.
 * seccomp_filter exec-check: the re-executed half of the execve case. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
/* If the call is NR, return ACTION; else allow. */
#define ON(nr, action) LOAD_NR, BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), RET(action), RET(SECCOMP_RET_ALLOW)

static long install(unsigned flags, struct sock_filter *f, unsigned short n)
{
	struct sock_fprog prog = {n, f};
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static void show(const char *what, long r)
{
	printf("%s: %ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerrorname_np(errno) : "");
}

/* Install "on NR do ACTION" with no_new_privs; exit on failure. */
static void on(long nr, unsigned action)
{
	struct sock_filter f[] = {ON(nr, action)};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || install(0, f, LEN(f)))
		perror("install"), exit(1);
}

static void status_lines(const char *who)
{
	char line[256];
	FILE *s = fopen("/proc/self/status", "r");
	while (s && fgets(line, sizeof line, s))
		if (!strncmp(line, "Seccomp", 7))
			printf("%s %s", who, line);
	if (s)
		fclose(s);
}

/* Run CASE in a child; print how it ended unless it exited 0. */
static void child(const char *name, void (*run)(void))
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		run();
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st))
		printf("%s: killed by signal %d\n", name, WTERMSIG(st));
	else if (WEXITSTATUS(st))
		printf("%s: exit %d\n", name, WEXITSTATUS(st));
}

static void available(void)
{
	unsigned actions[] = {SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP,
			      SECCOMP_RET_ERRNO, SECCOMP_RET_USER_NOTIF, SECCOMP_RET_TRACE,
			      SECCOMP_RET_LOG, SECCOMP_RET_ALLOW, 0x12340000};
	for (unsigned i = 0; i < LEN(actions); i++) {
		char what[64];
		snprintf(what, sizeof what, "action %#x available", actions[i]);
		show(what, syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &actions[i]));
	}
	show("action avail flags", syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 1, &actions[0]));
	show("action avail EFAULT", syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, (void *)8));
	struct seccomp_notif_sizes sz;
	long r = syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz);
	printf("notif sizes: %ld %u %u %u\n", r, sz.seccomp_notif, sz.seccomp_notif_resp, sz.seccomp_data);
	show("unknown op", syscall(SYS_seccomp, 99, 0, 0));
	show("PR_GET_SECCOMP", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
}

static void bad_filters(void)
{
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	struct sock_filter unaligned[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2), RET(SECCOMP_RET_ALLOW)};
	struct sock_filter beyond[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64), RET(SECCOMP_RET_ALLOW)};
	struct sock_filter no_ret[] = {BPF_STMT(BPF_LD | BPF_IMM, 0)};
	struct sock_filter far_jump[] = {BPF_STMT(BPF_JMP | BPF_JA, 5), RET(SECCOMP_RET_ALLOW)};
	struct sock_filter mod[] = {BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 3), RET(SECCOMP_RET_ALLOW)};
	struct sock_filter byte[] = {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0), RET(SECCOMP_RET_ALLOW)};
	struct sock_filter unset[] = {BPF_STMT(BPF_LD | BPF_MEM, 1), RET(SECCOMP_RET_ALLOW)};
	struct sock_filter ok[] = {RET(SECCOMP_RET_ALLOW)};
	show("unaligned load", install(0, unaligned, LEN(unaligned)));
	show("load past seccomp_data", install(0, beyond, LEN(beyond)));
	show("no RET", install(0, no_ret, LEN(no_ret)));
	show("jump out of range", install(0, far_jump, LEN(far_jump)));
	show("BPF_MOD", install(0, mod, LEN(mod)));
	show("byte load", install(0, byte, LEN(byte)));
	show("unset scratch cell", install(0, unset, LEN(unset)));
	show("empty", install(0, ok, 0));
	show("4097 instructions", install(0, ok, 4097));
	show("bad flags", install(1 << 10, ok, 1));
	show("fprog EFAULT", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (void *)8));
	show("insns EFAULT", install(0, (struct sock_filter *)8, 1));
	show("strict with flags", syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 1, 0));
	show("PR_SET_SECCOMP 3", prctl(PR_SET_SECCOMP, 3, 0, 0, 0));
	show("PR_GET_SECCOMP still", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	show("good filter", install(SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW, ok, 1));
	show("PR_GET_SECCOMP now", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	show("strict over filter", syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, 0));
	status_lines("filtered");
}

static void access_rules(void)
{
	struct sock_filter ok[] = {RET(SECCOMP_RET_ALLOW)};
	if (setuid(65534))
		perror("setuid"), exit(1);
	show("unprivileged without no_new_privs", install(0, ok, 1));
	show("PR_SET_SECCOMP without no_new_privs", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, NULL, 0, 0));
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	struct sock_fprog prog = {1, ok};
	show("PR_SET_SECCOMP with no_new_privs", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0));
}

static void root_without_nnp(void)
{
	struct sock_filter ok[] = {RET(SECCOMP_RET_ALLOW)};
	show("root without no_new_privs", install(0, ok, 1));
	show("no_new_privs after", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
}

static void errno_action(void)
{
	on(SYS_getppid, SECCOMP_RET_ERRNO | EPERM);
	struct sock_filter big[] = {ON(SYS_getpgrp, SECCOMP_RET_ERRNO | 5000)};
	install(0, big, LEN(big));
	/* Two filters on one call: the newest datum among equal actions. */
	struct sock_filter first[] = {ON(SYS_getsid, SECCOMP_RET_ERRNO | 3)};
	struct sock_filter second[] = {ON(SYS_getsid, SECCOMP_RET_ERRNO | 4)};
	install(0, first, LEN(first));
	install(0, second, LEN(second));
	/* LOG lets the call run. */
	struct sock_filter logged[] = {ON(SYS_getuid, SECCOMP_RET_LOG)};
	install(0, logged, LEN(logged));
	show("getppid", syscall(SYS_getppid));
	show("getpgrp capped", syscall(SYS_getpgrp));
	errno = 0;
	long r = syscall(SYS_getpgrp);
	printf("getpgrp errno %d\n", errno);
	(void)r;
	show("getsid newest", syscall(SYS_getsid, 0));
	show("getuid logged", syscall(SYS_getuid));
	show("getpid allowed", syscall(SYS_getpid) > 0);
	struct sock_filter traced[] = {ON(SYS_getgid, SECCOMP_RET_TRACE | 1)};
	install(0, traced, LEN(traced));
	show("TRACE without a tracer", syscall(SYS_getgid));
	struct sock_filter notif[] = {ON(SYS_getegid, SECCOMP_RET_USER_NOTIF)};
	install(0, notif, LEN(notif));
	show("USER_NOTIF without a listener", syscall(SYS_getegid));
	status_lines("errno");
}

static volatile siginfo_t trapped;
static volatile int trap_count;

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	trapped = *si;
	trap_count++;
}

static void trap_action(void)
{
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
	sigaction(SIGSYS, &sa, NULL);
	/* TRAP wins over a newer filter's ERRNO. */
	on(SYS_getppid, SECCOMP_RET_TRAP | 7);
	struct sock_filter errno_too[] = {ON(SYS_getppid, SECCOMP_RET_ERRNO | 1)};
	install(0, errno_too, LEN(errno_too));
	unsigned long after;
	long ret;
	__asm__ volatile("lea 1f(%%rip), %1\n\tsyscall\n1:"
			 : "=a"(ret), "=&r"(after)
			 : "a"((long)SYS_getppid)
			 : "rcx", "r11", "memory");
	printf("trap: count %d ret %ld signo %d code %d errno %d syscall %d arch %#x at the call %d\n", trap_count,
	       ret, trapped.si_signo, trapped.si_code, trapped.si_errno, trapped.si_syscall, trapped.si_arch,
	       (unsigned long)trapped.si_call_addr == after);
	/* Blocked, the forced SIGSYS kills. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fflush(stdout);
	syscall(SYS_getppid);
	printf("trap: survived a blocked SIGSYS\n");
}

static void kill_process(void)
{
	on(SYS_getppid, SECCOMP_RET_KILL_PROCESS);
	syscall(SYS_getppid);
	printf("kill process: survived\n");
}

static void kill_thread(void)
{
	on(SYS_getppid, SECCOMP_RET_KILL_THREAD);
	syscall(SYS_getppid);
	printf("kill thread: survived\n");
}

static void unknown_action(void)
{
	on(SYS_getppid, 0x12340000);
	syscall(SYS_getppid);
	printf("unknown action: survived\n");
}

static void grandchild(void)
{
	show("grandchild getppid", syscall(SYS_getppid));
	status_lines("grandchild");
}

static void fork_inherits(void)
{
	on(SYS_getppid, SECCOMP_RET_ERRNO | EAGAIN);
	struct sock_filter more[] = {ON(SYS_getpgrp, SECCOMP_RET_ERRNO | EIO)};
	install(0, more, LEN(more));
	child("grandchild", grandchild);
}

static const char *self;

static void exec_keeps(void)
{
	on(SYS_getppid, SECCOMP_RET_ERRNO | ENOKEY);
	execl(self, self, "exec-check", (char *)NULL);
	perror("execl");
}

static void exec_check(void)
{
	show("after exec getppid", syscall(SYS_getppid));
	show("after exec PR_GET_SECCOMP", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	status_lines("after exec");
}

static volatile int go, done;
static volatile long thread_tid;
static long thread_result;
static int thread_errno;

static void *waiter(void *own_filter)
{
	thread_tid = syscall(SYS_gettid);
	if (own_filter) {
		struct sock_filter f[] = {ON(SYS_getpgrp, SECCOMP_RET_ERRNO | EIO)};
		install(0, f, LEN(f));
	}
	done = 1;
	while (!go)
		usleep(1000);
	thread_result = syscall(SYS_getppid);
	thread_errno = errno;
	status_lines("thread");
	return NULL;
}

static void tsync(void)
{
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	pthread_t t;
	pthread_create(&t, NULL, waiter, NULL);
	while (!done)
		usleep(1000);
	struct sock_filter f[] = {ON(SYS_getppid, SECCOMP_RET_ERRNO | EXDEV)};
	show("TSYNC", install(SECCOMP_FILTER_FLAG_TSYNC, f, LEN(f)));
	go = 1;
	pthread_join(t, NULL);
	printf("thread getppid: %s\n", thread_result < 0 ? strerrorname_np(thread_errno) : "ran");
}

static void tsync_refused(void)
{
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	pthread_t t;
	pthread_create(&t, NULL, waiter, (void *)1);
	while (!done)
		usleep(1000);
	struct sock_filter f[] = {ON(SYS_getppid, SECCOMP_RET_ERRNO | EXDEV)};
	long r = install(SECCOMP_FILTER_FLAG_TSYNC, f, LEN(f));
	printf("TSYNC over a foreign chain: the thread's tid %d\n", r == thread_tid);
	show("TSYNC_ESRCH", install(SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH, f, LEN(f)));
	show("no TSYNC", install(0, f, LEN(f)));
	go = 1;
	pthread_join(t, NULL);
	printf("thread getppid: %s\n", thread_result < 0 ? strerrorname_np(thread_errno) : "ran");
}

static void strict_ok(void)
{
	fflush(stdout);
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0))
		perror("strict"), exit(1);
	static const char msg[] = "strict: write works\n";
	write(1, msg, sizeof msg - 1);
	syscall(SYS_exit, 0);
}

static void strict_killed(void)
{
	fflush(stdout);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 0, 0))
		perror("strict"), exit(1);
	syscall(SYS_getpid);
	static const char msg[] = "strict: survived getpid\n";
	write(1, msg, sizeof msg - 1);
	syscall(SYS_exit, 0);
}

static void too_many(void)
{
	static struct sock_filter f[4096];
	for (int i = 0; i < 4095; i++)
		f[i] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_IMM, 0);
	f[4095] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	int n = 0;
	long r;
	while ((r = install(0, f, 4096)) == 0 && n < 100)
		n++;
	printf("4096-instruction filters installed: %d, then %s\n", n, strerrorname_np(errno));
	/* A short one still fits: 7 * 4100 + 3 <= 32768. */
	show("a 3-instruction filter", install(0, f + 4093, 3));
	status_lines("many");
}

static void get_filter(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		struct sock_filter a[] = {RET(SECCOMP_RET_ALLOW)};
		struct sock_filter b[] = {BPF_STMT(BPF_LD | BPF_IMM, 9), RET(SECCOMP_RET_ALLOW)};
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		install(0, a, 1);
		install(SECCOMP_FILTER_FLAG_LOG, b, 2);
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	struct sock_filter got[2];
	show("GET_FILTER 0", ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, NULL));
	show("GET_FILTER 1", ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 1, got));
	printf("filter 1: %#x %u\n", got[0].code, got[0].k);
	show("GET_FILTER 2", ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 2, NULL));
	struct __ptrace_seccomp_metadata md = {1, 0};
	long r = ptrace(PTRACE_SECCOMP_GET_METADATA, pid, sizeof md, &md);
	printf("metadata 1: %ld flags %llu\n", r, (unsigned long long)md.flags);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

static void traced(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		on(SYS_getppid, SECCOMP_RET_TRACE | 0x55);
		errno = 0;
		long skipped = syscall(SYS_getppid);
		printf("traced: skipped %ld\n", skipped);
		printf("traced: changed to getpid %d\n", syscall(SYS_getppid) == getpid());
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACESECCOMP);
	ptrace(PTRACE_CONT, pid, 0, 0);
	for (int stops = 0; stops < 2; stops++) {
		waitpid(pid, &st, 0);
		if (!WIFSTOPPED(st) || st >> 8 != (SIGTRAP | PTRACE_EVENT_SECCOMP << 8)) {
			printf("tracer: unexpected status %#x\n", st);
			break;
		}
		unsigned long msg;
		ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg);
		struct user_regs_struct r;
		ptrace(PTRACE_GETREGS, pid, 0, &r);
		struct __ptrace_syscall_info info;
		long n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, &info);
		printf("tracer: seccomp stop msg %#lx nr %lld rax %lld info %ld op %u nr %llu ret_data %#x\n", msg,
		       r.orig_rax, (long long)r.rax, n, info.op, (unsigned long long)info.seccomp.nr,
		       info.seccomp.ret_data);
		if (stops == 0) {
			r.orig_rax = -1;
			r.rax = 1234;
		} else {
			r.orig_rax = SYS_getpid;
		}
		ptrace(PTRACE_SETREGS, pid, 0, &r);
		ptrace(PTRACE_CONT, pid, 0, 0);
	}
	waitpid(pid, &st, 0);
	printf("tracer: child exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* A traced child with a filter on getppid; the tracer asks for
 * PTRACE_O_SUSPEND_SECCOMP. */
static void suspended_child(const char *what)
{
	pid_t pid = fork();
	if (pid == 0) {
		on(SYS_getppid, SECCOMP_RET_ERRNO | EPERM);
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		raise(SIGSTOP);
		printf("%s: getppid %s\n", what, syscall(SYS_getppid) > 0 ? "ran" : strerrorname_np(errno));
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(pid, &st, 0);
	show(what, ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_SUSPEND_SECCOMP));
	fflush(stdout);
	ptrace(PTRACE_CONT, pid, 0, 0);
	waitpid(pid, &st, 0);
}

static void suspend(void)
{
	suspended_child("suspend as root");
	/* A tracer under seccomp may not. */
	struct sock_filter ok[] = {RET(SECCOMP_RET_ALLOW)};
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	install(0, ok, 1);
	suspended_child("suspend under seccomp");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	self = argv[0];
	if (argc > 1 && !strcmp(argv[1], "exec-check")) {
		exec_check();
		return 0;
	}
	child("available", available);
	child("bad filters", bad_filters);
	child("access", access_rules);
	child("root", root_without_nnp);
	child("errno", errno_action);
	child("trap", trap_action);
	child("kill process", kill_process);
	child("kill thread", kill_thread);
	child("unknown action", unknown_action);
	child("fork", fork_inherits);
	child("exec", exec_keeps);
	child("tsync", tsync);
	child("tsync refused", tsync_refused);
	child("strict ok", strict_ok);
	child("strict killed", strict_killed);
	child("too many", too_many);
	child("get filter", get_filter);
	child("traced", traced);
	child("suspend", suspend);
	show("parent PR_GET_SECCOMP", prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	status_lines("parent");
	return 0;
}
