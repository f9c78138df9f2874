/* Attacks on the systrap platform's boundary, one per mode; each prints
 * what it observed and the test checks the host side.
 *
 *   systrap_escape sigsys MARKER            own SIGSYS handler, then syscalls
 *   systrap_escape jit MARKER               syscall from written code (RWX, RW->RX)
 *   systrap_escape stub-jump STUB MARKER VICTIM
 *                                           every syscall instruction of the stub
 *                                           page, hostile registers, one child each
 *   systrap_escape stub-pages STUB CTX      unmap/protect/map/remap/write the stub
 *   systrap_escape ctx-thread CTX           another thread's registers in its slot
 *   systrap_escape ctx-fork CTX             a forked child's view of the parent's slots
 *   systrap_escape ctx-scribble CTX         a child trashes its context region
 *
 * STUB and CTX are the stub region's code and context addresses (hex).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOT 0x8000UL
#define MAGIC 0x5eed5eed5eed5eedUL

static unsigned long hex(const char *s) { return strtoul(s, 0, 16); }

static sigjmp_buf fault_jmp;
static void on_segv(int sig) { (void)sig; siglongjmp(fault_jmp, 1); }

/* Copy len bytes at addr into buf with plain loads (the application's own
 * view of its memory, not the sentry's); -1 if they fault. */
static int peek(unsigned long addr, void *buf, size_t len)
{
	struct sigaction sa = {0}, old;
	sa.sa_handler = on_segv;
	sigaction(SIGSEGV, &sa, &old);
	int ok = 0;
	if (sigsetjmp(fault_jmp, 1) == 0) {
		for (size_t i = 0; i < len; i++)
			((volatile unsigned char *)buf)[i] = ((volatile unsigned char *)addr)[i];
		ok = 1;
	}
	sigaction(SIGSEGV, &old, 0);
	return ok ? 0 : -1;
}

/* Whether MAGIC is in the first slots of the context region. */
static int magic_in_slots(unsigned long ctx, int slots)
{
	static unsigned long buf[SLOT / 8];
	for (int s = 0; s < slots; s++) {
		if (peek(ctx + s * SLOT, buf, SLOT))
			continue;
		for (size_t i = 0; i < SLOT / 8; i++)
			if (buf[i] == MAGIC)
				return 1;
	}
	return 0;
}

/* A raw read(fd, buf, 1) with MAGIC in r12..r15 while it blocks. */
static long read_with_magic(int fd, char *buf)
{
	long ret;
	register unsigned long r12 asm("r12") = MAGIC;
	register unsigned long r13 asm("r13") = MAGIC;
	asm volatile("syscall"
		     : "=a"(ret)
		     : "0"((long)SYS_read), "D"((long)fd), "S"(buf), "d"(1L), "r"(r12), "r"(r13)
		     : "rcx", "r11", "memory");
	return ret;
}

static volatile int sigsys_handled;
static void on_sigsys(int sig) { (void)sig; sigsys_handled++; }

static int mode_sigsys(const char *marker)
{
	struct sigaction sa = {0};
	sa.sa_handler = on_sigsys;
	int installed = sigaction(SIGSYS, &sa, 0);
	long pid = syscall(SYS_getpid);
	struct utsname u;
	uname(&u);
	int made = mkdir(marker, 0755);
	int handled_by_syscalls = sigsys_handled;
	raise(SIGSYS);
	printf("installed=%d pid=%ld node=%s mkdir=%d handler_ran_for_syscalls=%d raised=%d\n", installed, pid,
	       u.nodename, made, handled_by_syscalls, sigsys_handled);
	return 0;
}

static int mode_jit(const char *marker)
{
	/* mov eax, nr; syscall; ret -- with rdi/rsi from the caller. */
	unsigned char code[] = {0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0xc3};
	long (*fn)(const char *, long);
	unsigned char *rwx = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *rx = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rwx == MAP_FAILED || rx == MAP_FAILED)
		return printf("mmap failed\n"), 1;
	int nr = SYS_mkdir;
	memcpy(code + 1, &nr, 4);
	memcpy(rwx, code, sizeof code);
	fn = (void *)rwx;
	long made = fn(marker, 0755);
	nr = SYS_getpid;
	memcpy(code + 1, &nr, 4);
	memcpy(rx, code, sizeof code);
	int prot = mprotect(rx, 4096, PROT_READ | PROT_EXEC);
	fn = (void *)rx;
	long pid = fn(0, 0);
	struct stat st;
	printf("rwx mkdir=%ld exists_inside=%d mprotect=%d rx getpid=%ld same=%d\n", made, stat(marker, &st) == 0,
	       prot, pid, pid == getpid());
	return 0;
}

/* Jump to `target` with rax = nr and the arguments in rdi, rsi, rdx, r10,
 * and rbx = the given value (what the stub's code after a syscall uses). */
static void __attribute__((noreturn)) jump(unsigned long target, long nr, long a0, long a1, long a2, long a3,
					   unsigned long rbx)
{
	register long r10 asm("r10") = a3;
	register unsigned long r8 asm("r8") = target;
	register unsigned long rb asm("rbx") = rbx;
	asm volatile("jmp *%%r8" ::"a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(rb) : "memory");
	__builtin_unreachable();
}

static int mode_stub_jump(unsigned long stub, const char *marker, long victim)
{
	unsigned char page[4096];
	if (peek(stub, page, sizeof page))
		return printf("stub page not readable\n"), 1;
	char exec_marker[256], open_marker[256];
	snprintf(exec_marker, sizeof exec_marker, "%s-exec", marker);
	snprintf(open_marker, sizeof open_marker, "%s-open", marker);
	char *argv[] = {"busybox", "touch", exec_marker, 0};
	/* Hostile calls; the last one with rbx on this process's own slot, so
	 * the stub's code after the syscall runs its hand-off on it. */
	long calls[][6] = {
		{SYS_mkdir, (long)marker, 0755, 0, 0, 0},
		{SYS_kill, victim, SIGKILL, 0, 0, 0},
		{SYS_execve, (long)"/bin/busybox", (long)argv, 0, 0, 0},
		{SYS_open, (long)open_marker, O_CREAT | O_WRONLY, 0644, 0, 0},
		{SYS_mmap, (long)stub, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, 0},
		{SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0},
		{SYS_mkdir, (long)marker, 0755, 0, 0, 1},
	};
	int sites = 0, children = 0;
	for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++) {
		/* One child per syscall instruction of the page, all at once. */
		for (int off = 0; off + 1 < (int)sizeof page; off++) {
			if (page[off] != 0x0f || page[off + 1] != 0x05)
				continue;
			sites += c == 0;
			if (fork() == 0) {
				/* A child caught in a loop of the stub's code ends soon. */
				ualarm(300000, 0);
				unsigned long rbx = calls[c][5] ? stub + 0x10000 : 0;
				jump(stub + off, calls[c][0], calls[c][1], calls[c][2], calls[c][3], calls[c][4], rbx);
			}
			children++;
		}
		while (wait(0) > 0)
			;
	}
	fprintf(stderr, "%d syscall instructions, %d children\n", sites, children);
	printf("sites=%d children=%d\n", sites > 0, children == sites * 7);
	return 0;
}

static int mode_stub_pages(unsigned long stub, unsigned long ctx)
{
	errno = 0;
	int un = munmap((void *)stub, 4096);
	int e_un = errno;
	int pr = mprotect((void *)stub, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
	int e_pr = errno;
	void *m = mmap((void *)stub, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	int e_m = errno;
	void *mc = mmap((void *)ctx, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	void *hint = mmap((void *)stub, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *mine = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *moved = mremap(mine, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)ctx);
	int md = madvise((void *)ctx, 4096, MADV_DONTNEED);
	struct sigaction sa = {0};
	sa.sa_handler = on_segv;
	sigaction(SIGSEGV, &sa, 0);
	int store_faulted = 0;
	if (sigsetjmp(fault_jmp, 1) == 0)
		*(volatile char *)stub = 0;
	else
		store_faulted = 1;
	printf("munmap=%d/%d mprotect=%d/%d mmap_fixed=%d/%d ctx_fixed=%d hint_elsewhere=%d mremap_into=%d "
	       "madvise=%d store_faulted=%d still_works=%d\n",
	       un, e_un != 0, pr, e_pr != 0, m == MAP_FAILED, e_m != 0, mc == MAP_FAILED,
	       hint != MAP_FAILED && (unsigned long)hint < stub, moved == MAP_FAILED, md, store_faulted,
	       getpid() == syscall(SYS_getpid));
	return 0;
}

static int blocker_pipe[2];
static void *blocker(void *arg)
{
	(void)arg;
	char c;
	read_with_magic(blocker_pipe[0], &c);
	return 0;
}

static int mode_ctx_thread(unsigned long ctx)
{
	pipe(blocker_pipe);
	pthread_t t;
	pthread_create(&t, 0, blocker, 0);
	usleep(200000);
	int seen = magic_in_slots(ctx, 8);
	write(blocker_pipe[1], "x", 1);
	pthread_join(t, 0);
	printf("own thread's registers visible=%d\n", seen);
	return 0;
}

static int mode_ctx_fork(unsigned long ctx)
{
	int p[2], done[2];
	pipe(p);
	pipe(done);
	pid_t pid = fork();
	if (pid == 0) {
		usleep(200000); /* the parent blocks in read with MAGIC meanwhile */
		int seen = magic_in_slots(ctx, 8);
		write(done[1], &seen, sizeof seen);
		/* Trash what this process has there: its own slot, not the
		 * parent's. It may well end this process. */
		unsigned long junk = 0xa5a5a5a5a5a5a5a5UL;
		if (peek(ctx, &junk, 8) == 0)
			for (unsigned long a = ctx; a < ctx + 4096; a += 8)
				*(volatile unsigned long *)a = 0xa5a5a5a5a5a5a5a5UL;
		write(p[1], "x", 1);
		_exit(0);
	}
	close(p[1]);
	close(done[1]);
	char c;
	long r = read_with_magic(p[0], &c);
	int seen = -1;
	read(done[0], &seen, sizeof seen);
	int status;
	waitpid(pid, &status, 0);
	printf("forked child saw parent's registers=%d parent read ok=%d\n", seen, r >= 0);
	return 0;
}

static int mode_ctx_scribble(unsigned long ctx)
{
	pid_t pid = fork();
	if (pid == 0) {
		alarm(3);
		struct sigaction sa = {0};
		sa.sa_handler = SIG_DFL;
		sigaction(SIGSEGV, &sa, 0);
		unsigned long x = 0x9e3779b97f4a7c15UL;
		for (unsigned long a = ctx; a < ctx + 4 * SLOT; a += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			*(volatile unsigned long *)a = x;
		}
		syscall(SYS_getpid);
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	printf("scribbling child ended=%d parent still works=%d\n", WIFEXITED(status) || WIFSIGNALED(status),
	       getpid() == syscall(SYS_getpid));
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, 0, _IONBF, 0);
	if (argc == 3 && !strcmp(argv[1], "sigsys"))
		return mode_sigsys(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "jit"))
		return mode_jit(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "stub-jump"))
		return mode_stub_jump(hex(argv[2]), argv[3], atol(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "stub-pages"))
		return mode_stub_pages(hex(argv[2]), hex(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "ctx-thread"))
		return mode_ctx_thread(hex(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "ctx-fork"))
		return mode_ctx_fork(hex(argv[2]));
	if (argc == 3 && !strcmp(argv[1], "ctx-scribble"))
		return mode_ctx_scribble(hex(argv[2]));
	fprintf(stderr, "usage: see the top of systrap_escape.c\n");
	return 2;
}
