/*
 * rand_read PATH MIB OPS: write a MIB-MiB file at PATH (untimed), then time
 * OPS preads of 4 KiB at random 4 KiB-aligned offsets; remove PATH.
 * RESULT is ns per pread. Each 4 KiB block starts with its own index, which
 * every read checks.
 */
#include "common.h"
#include <fcntl.h>

#define PAGE 4096

int main(int argc, char **argv)
{
	usage_if(argc != 4, "rand_read PATH MIB OPS");
	const char *path = argv[1];
	long mib = arg_long(argv[2], "MIB");
	long ops = arg_long(argv[3], "OPS");
	uint64_t nblocks = (uint64_t)mib * (1 << 20) / PAGE;
	static char chunk[1 << 20];
	char page[PAGE];

	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("create %s", path);
	uint64_t per_chunk = sizeof chunk / PAGE;
	for (uint64_t c = 0; c < nblocks / per_chunk; c++) {
		for (uint64_t b = 0; b < per_chunk; b++) {
			uint64_t index = c * per_chunk + b;
			memcpy(chunk + b * PAGE, &index, sizeof index);
		}
		write_all(fd, chunk, sizeof chunk, path);
	}

	uint64_t x = 0x9e3779b97f4a7c15ull; /* xorshift64 state, fixed seed */
	uint64_t t0 = now_ns();
	for (long i = 0; i < ops; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t block = x % nblocks, tag;
		ssize_t n = pread(fd, page, PAGE, (off_t)(block * PAGE));
		if (n != PAGE)
			die("pread %s at block %llu returned %zd", path, (unsigned long long)block, n);
		memcpy(&tag, page, sizeof tag);
		if (tag != block) {
			errno = 0;
			die("%s: block %llu holds wrong data", path, (unsigned long long)block);
		}
	}
	uint64_t t1 = now_ns();
	close(fd);
	if (unlink(path) != 0)
		die("unlink %s", path);
	report((double)(t1 - t0) / (double)ops);
	return 0;
}
