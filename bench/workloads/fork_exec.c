/*
 * fork_exec PROGRAM ITERATIONS: fork + execv(PROGRAM) + waitpid, ITERATIONS
 * times; PROGRAM must exit 0. RESULT is microseconds per iteration.
 */
#include "common.h"
#include <sys/wait.h>

int main(int argc, char **argv)
{
	usage_if(argc != 3, "fork_exec PROGRAM ITERATIONS");
	char *program = argv[1];
	long iters = arg_long(argv[2], "ITERATIONS");
	char *child_argv[] = {program, NULL};

	uint64_t t0 = now_ns();
	for (long i = 0; i < iters; i++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			execv(program, child_argv);
			_exit(127);
		}
		int status;
		if (waitpid(pid, &status, 0) != pid)
			die("waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			errno = 0;
			die("%s exited with status 0x%x", program, status);
		}
	}
	uint64_t t1 = now_ns();
	report((double)(t1 - t0) / 1e3 / (double)iters);
	return 0;
}
