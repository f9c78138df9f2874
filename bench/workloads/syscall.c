/* syscall ITERATIONS: raw syscall(SYS_getpid) in a loop; RESULT is ns per call. */
#define _GNU_SOURCE
#include "common.h"
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	usage_if(argc != 2, "syscall ITERATIONS");
	long iters = arg_long(argv[1], "ITERATIONS");
	long pid = syscall(SYS_getpid);
	if (pid <= 0)
		die("getpid returned %ld", pid);

	/* A short untimed warm-up so the first trap's set-up cost is not counted. */
	for (long i = 0; i < iters / 20 + 1; i++)
		syscall(SYS_getpid);

	uint64_t t0 = now_ns();
	for (long i = 0; i < iters; i++) {
		if (syscall(SYS_getpid) != pid) {
			errno = 0;
			die("getpid changed during the loop");
		}
	}
	uint64_t t1 = now_ns();
	report((double)(t1 - t0) / (double)iters);
	return 0;
}
