/*
 * seq_io write|read PATH MIB: sequential I/O in 1 MiB blocks.
 *   write: time create + MIB writes of 1 MiB + close of PATH.
 *   read:  write PATH (untimed), then time open + MIB reads of 1 MiB + close.
 * PATH is removed afterwards. RESULT is MB/s (10^6 bytes per second).
 * Every block is tagged with its index so a read of wrong data is caught.
 */
#include "common.h"
#include <fcntl.h>

#define BLOCK (1 << 20)

static char buf[BLOCK];

static void write_file(const char *path, long mib)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("create %s", path);
	for (long i = 0; i < mib; i++) {
		memset(buf, (int)(i & 0xff), 64);
		memcpy(buf, &i, sizeof i);
		write_all(fd, buf, BLOCK, path);
	}
	if (close(fd) != 0)
		die("close %s", path);
}

static void read_file(const char *path, long mib)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open %s", path);
	for (long i = 0; i < mib; i++) {
		long tag;
		read_all(fd, buf, BLOCK, path);
		memcpy(&tag, buf, sizeof tag);
		if (tag != i) {
			errno = 0;
			die("%s: block %ld holds the data of block %ld", path, i, tag);
		}
	}
	if (read(fd, buf, 1) != 0) {
		errno = 0;
		die("%s: longer than written", path);
	}
	close(fd);
}

int main(int argc, char **argv)
{
	usage_if(argc != 4 || (strcmp(argv[1], "write") && strcmp(argv[1], "read")),
		 "seq_io write|read PATH MIB");
	int reading = strcmp(argv[1], "read") == 0;
	const char *path = argv[2];
	long mib = arg_long(argv[3], "MIB");
	memset(buf, 0x5a, sizeof buf);

	if (reading)
		write_file(path, mib);
	uint64_t t0 = now_ns();
	if (reading)
		read_file(path, mib);
	else
		write_file(path, mib);
	uint64_t t1 = now_ns();
	if (unlink(path) != 0)
		die("unlink %s", path);
	double bytes = (double)mib * BLOCK;
	report(bytes / 1e6 / ((double)(t1 - t0) / 1e9));
	return 0;
}
