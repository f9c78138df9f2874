/*
 * create_write_unlink DIR NFILES: make DIR, then for each of NFILES files
 * create + write 4 KiB + close + unlink; remove DIR. RESULT is ns per file.
 */
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
	usage_if(argc != 3, "create_write_unlink DIR NFILES");
	const char *dir = argv[1];
	long nfiles = arg_long(argv[2], "NFILES");
	static char buf[4096];
	char path[4096];
	memset(buf, 'x', sizeof buf);
	if (mkdir(dir, 0755) != 0)
		die("mkdir %s", dir);

	uint64_t t0 = now_ns();
	for (long i = 0; i < nfiles; i++) {
		snprintf(path, sizeof path, "%s/f%05ld", dir, i);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			die("create %s", path);
		write_all(fd, buf, sizeof buf, path);
		if (close(fd) != 0)
			die("close %s", path);
		if (unlink(path) != 0)
			die("unlink %s", path);
	}
	uint64_t t1 = now_ns();

	if (rmdir(dir) != 0)
		die("rmdir %s", dir);
	report((double)(t1 - t0) / (double)nfiles);
	return 0;
}
