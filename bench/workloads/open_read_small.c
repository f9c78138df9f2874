/*
 * open_read_small DIR NFILES: for each DIR/fNNNNN (made by bench/run, 4 KiB
 * each), open + read 4 KiB + close; RESULT is ns per file.
 */
#include "common.h"
#include <fcntl.h>

int main(int argc, char **argv)
{
	usage_if(argc != 3, "open_read_small DIR NFILES");
	const char *dir = argv[1];
	long nfiles = arg_long(argv[2], "NFILES");
	static char buf[4096];
	char path[4096];

	uint64_t t0 = now_ns();
	for (long i = 0; i < nfiles; i++) {
		snprintf(path, sizeof path, "%s/f%05ld", dir, i);
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			die("open %s", path);
		read_all(fd, buf, sizeof buf, path);
		close(fd);
	}
	uint64_t t1 = now_ns();
	report((double)(t1 - t0) / (double)nfiles);
	return 0;
}
