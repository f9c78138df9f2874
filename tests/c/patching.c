/*
 * System-call sites as the sandbox patches them (systrap rewrites a site
 * to jump to a trampoline after its first trap); run natively and in the
 * sandbox, outputs compared. Every check is about the program's own view:
 *   - many threads hammer one `mov $NR, %eax; syscall` site while it is
 *     being rewritten, with registers live across it and a timer's
 *     signals arriving, and every call returns the right value;
 *   - the red zone below the stack pointer survives a patched call;
 *   - a blocking read at a patched site, interrupted by signals sent to
 *     its thread whose handler has SA_RESTART, restarts and gets its data;
 *   - a forked child keeps using the patched sites;
 *   - glibc's getppid() and syscall() give the same answers.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 8
#define CALLS 20000

static volatile sig_atomic_t ticks;

static void tick(int sig)
{
	(void)sig;
	ticks++;
}

/* lseek(fd, off, SEEK_SET) through one inline site: returns off. */
static long site_lseek(long fd, long off)
{
	long ret;
	__asm__ volatile("mov $8, %%eax\n\tsyscall"
			 : "=a"(ret)
			 : "D"(fd), "S"(off), "d"(0L)
			 : "rcx", "r11", "memory");
	return ret;
}

/* read(fd, buf, n) through one inline site. */
static long site_read(long fd, void *buf, long n)
{
	long ret;
	__asm__ volatile("mov $0, %%eax\n\tsyscall"
			 : "=a"(ret)
			 : "D"(fd), "S"(buf), "d"(n)
			 : "rcx", "r11", "memory");
	return ret;
}

static int devzero;

static void *hammer(void *arg)
{
	long id = (long)arg, bad = 0;
	/* Values the compiler keeps in callee-saved registers across the
	 * inline site (only rax, rcx and r11 are clobbered). */
	long a = id * 1000003, b = id + 17, c = 0;
	double f = id + 0.5;
	for (long i = 0; i < CALLS; i++) {
		long off = (id << 20) + i;
		if (site_lseek(devzero, off) != 0)
			bad++; /* /dev/zero's lseek returns 0 */
		a += 3;
		b ^= i;
		c += i;
		f *= 1.0000001;
	}
	long ea = id * 1000003 + 3L * CALLS, eb = id + 17, ec = (long)CALLS * (CALLS - 1) / 2;
	for (long i = 0; i < CALLS; i++)
		eb ^= i;
	if (a != ea || b != eb || c != ec || f <= id + 0.5)
		bad += 1000000;
	return (void *)bad;
}

static int red_zone_survives(void)
{
	long ok;
	/* Fill the 128 bytes below rsp, make a patched call (twice: the
	 * first traps and patches), check the bytes. */
	for (int round = 0; round < 3; round++) {
		__asm__ volatile("lea -128(%%rsp), %%rdi\n\t"
				 "mov $16, %%ecx\n\t"
				 "mov $0x5a5a5a5a5a5a5a5a, %%rdx\n\t"
				 "1: mov %%rdx, (%%rdi)\n\t"
				 "add $8, %%rdi\n\tdec %%ecx\n\tjnz 1b\n\t"
				 "mov $39, %%eax\n\tsyscall\n\t"
				 "lea -128(%%rsp), %%rdi\n\t"
				 "mov $16, %%ecx\n\tmov $1, %%eax\n\t"
				 "mov $0x5a5a5a5a5a5a5a5a, %%rdx\n\t"
				 "2: cmp %%rdx, (%%rdi)\n\tjne 3f\n\t"
				 "add $8, %%rdi\n\tdec %%ecx\n\tjnz 2b\n\tjmp 4f\n\t"
				 "3: xor %%eax, %%eax\n\t"
				 "4:"
				 : "=a"(ok)
				 :
				 : "rcx", "rdx", "rdi", "r11", "memory");
		if (!ok)
			return 0;
	}
	return 1;
}

static int pipefd[2];

static pthread_t reader;

/* Interrupt the reader (a signal for that thread: which thread takes a
 * process-wide one is the kernel's choice) while it blocks, then write. */
static void *late_writer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20; i++) {
		usleep(10000);
		pthread_kill(reader, SIGALRM);
	}
	if (write(pipefd[1], "late", 4) != 4)
		perror("write");
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	devzero = open("/dev/zero", 0);
	if (devzero < 0) {
		perror("open /dev/zero");
		return 1;
	}

	struct sigaction sa = { .sa_handler = tick, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 2000 }, { 0, 2000 } };
	setitimer(ITIMER_REAL, &it, NULL);

	pthread_t t[THREADS];
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, hammer, (void *)i);
	long bad = 0;
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += (long)r;
	}
	printf("threads: %d x %d calls, %ld wrong\n", THREADS, CALLS, bad);

	printf("red zone: %s\n", red_zone_survives() ? "kept" : "CLOBBERED");

	/* A read at a site first reached with data (it traps, and is
	 * patched), then blocking there while the timer interrupts it. */
	if (pipe(pipefd) != 0)
		return 1;
	char buf[8] = { 0 };
	if (write(pipefd[1], "now", 3) != 3 || site_read(pipefd[0], buf, 3) != 3)
		return 1;
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	reader = pthread_self();
	pthread_t w;
	pthread_create(&w, NULL, late_writer, NULL);
	int before = ticks;
	long n = site_read(pipefd[0], buf, sizeof buf);
	pthread_join(w, NULL);
	printf("restarted read: %ld bytes \"%.*s\", interrupted: %s\n", n, (int)(n > 0 ? n : 0), buf,
	       ticks > before ? "yes" : "no");

	pid_t child = fork();
	if (child == 0) {
		long wrong = 0;
		for (long i = 0; i < 1000; i++)
			wrong += site_lseek(devzero, i) != 0;
		_exit(wrong == 0 && getppid() == (pid_t)syscall(SYS_getppid) ? 0 : 1);
	}
	int status;
	waitpid(child, &status, 0);
	printf("forked child: %s\n", WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "ok" : "FAILED");

	long same = 0;
	for (int i = 0; i < 1000; i++)
		same += getppid() == (pid_t)syscall(SYS_getppid) && getpid() == (pid_t)syscall(SYS_getpid);
	printf("glibc wrappers agree: %ld of 1000\n", same);
	return 0;
}
