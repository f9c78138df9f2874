/*
 * pipe MIB CHUNK_KIB: the parent writes MIB MiB in CHUNK_KIB-KiB writes into a
 * pipe; a forked child reads it all. Timed from the first write to the
 * child's exit. RESULT is MB/s (10^6 bytes per second).
 */
#include "common.h"
#include <sys/wait.h>

int main(int argc, char **argv)
{
	usage_if(argc != 3, "pipe MIB CHUNK_KIB");
	long long total = arg_long(argv[1], "MIB") * (1ll << 20);
	size_t chunk = (size_t)arg_long(argv[2], "CHUNK_KIB") * 1024;
	char *buf = malloc(chunk);
	if (!buf)
		die("malloc");
	memset(buf, 'p', chunk);
	int fds[2];
	if (pipe(fds) != 0)
		die("pipe");

	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		close(fds[1]);
		long long got = 0;
		for (;;) {
			ssize_t n = read(fds[0], buf, chunk);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				_exit(3);
			if (n == 0)
				break;
			got += n;
		}
		_exit(got == total ? 0 : 4);
	}

	close(fds[0]);
	uint64_t t0 = now_ns();
	for (long long sent = 0; sent < total; sent += (long long)chunk)
		write_all(fds[1], buf, chunk, "pipe");
	close(fds[1]);
	int status;
	if (waitpid(child, &status, 0) != child)
		die("waitpid");
	uint64_t t1 = now_ns();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		errno = 0;
		die("reader child failed (status 0x%x)", status);
	}
	report((double)total / 1e6 / ((double)(t1 - t0) / 1e9));
	return 0;
}
