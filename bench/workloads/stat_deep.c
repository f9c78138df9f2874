/* stat_deep PATH ITERATIONS: stat() the same (deep) path in a loop; RESULT is ns per stat. */
#include "common.h"
#include <sys/stat.h>

int main(int argc, char **argv)
{
	usage_if(argc != 3, "stat_deep PATH ITERATIONS");
	const char *path = argv[1];
	long iters = arg_long(argv[2], "ITERATIONS");
	struct stat st;
	if (stat(path, &st) != 0)
		die("stat %s", path);
	ino_t ino = st.st_ino;

	uint64_t t0 = now_ns();
	for (long i = 0; i < iters; i++) {
		if (stat(path, &st) != 0)
			die("stat %s", path);
	}
	uint64_t t1 = now_ns();
	if (st.st_ino != ino) {
		errno = 0;
		die("inode of %s changed during the loop", path);
	}
	report((double)(t1 - t0) / (double)iters);
	return 0;
}
