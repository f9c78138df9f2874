/*
 * pipe_latency ROUNDS: 1-byte ping-pong between the parent and a forked
 * child over two pipes. RESULT is ns per round trip.
 */
#include "common.h"
#include <sys/wait.h>

static void ping(int wfd, int rfd, char *byte)
{
	write_all(wfd, byte, 1, "ping");
	read_all(rfd, byte, 1, "pong");
}

int main(int argc, char **argv)
{
	usage_if(argc != 2, "pipe_latency ROUNDS");
	long rounds = arg_long(argv[1], "ROUNDS");
	int to_child[2], to_parent[2];
	if (pipe(to_child) != 0 || pipe(to_parent) != 0)
		die("pipe");

	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		char byte;
		for (;;) {
			ssize_t n = read(to_child[0], &byte, 1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n == 0)
				_exit(0); /* parent is done */
			if (n < 0 || write(to_parent[1], &byte, 1) != 1)
				_exit(3);
		}
	}
	close(to_child[0]);
	close(to_parent[1]);

	char byte = 'x';
	long warmup = rounds / 20 + 1;
	for (long i = 0; i < warmup; i++)
		ping(to_child[1], to_parent[0], &byte);
	uint64_t t0 = now_ns();
	for (long i = 0; i < rounds; i++)
		ping(to_child[1], to_parent[0], &byte);
	uint64_t t1 = now_ns();

	close(to_child[1]);
	int status;
	if (waitpid(child, &status, 0) != child)
		die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		errno = 0;
		die("echo child failed (status 0x%x)", status);
	}
	report((double)(t1 - t0) / (double)rounds);
	return 0;
}
