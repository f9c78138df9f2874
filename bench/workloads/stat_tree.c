/*
 * stat_tree ROOT NDIRS NFILES [create]
 *
 * stat() every file ROOT/dDDD/fFFF (NDIRS directories of NFILES files each),
 * by known names; RESULT is ns per file. With "create", the program first
 * makes the tree itself (untimed) and removes it afterwards; otherwise the
 * tree must already exist (bench/run creates it).
 */
#include "common.h"
#include <fcntl.h>
#include <sys/stat.h>

static char path[4096];

static const char *file_path(const char *root, long d, long f)
{
	if (f < 0)
		snprintf(path, sizeof path, "%s/d%03ld", root, d);
	else
		snprintf(path, sizeof path, "%s/d%03ld/f%03ld", root, d, f);
	return path;
}

static void make_tree(const char *root, long ndirs, long nfiles)
{
	if (mkdir(root, 0755) != 0)
		die("mkdir %s", root);
	for (long d = 0; d < ndirs; d++) {
		if (mkdir(file_path(root, d, -1), 0755) != 0)
			die("mkdir %s", path);
		for (long f = 0; f < nfiles; f++) {
			int fd = open(file_path(root, d, f), O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0)
				die("create %s", path);
			close(fd);
		}
	}
}

static void remove_tree(const char *root, long ndirs, long nfiles)
{
	for (long d = 0; d < ndirs; d++) {
		for (long f = 0; f < nfiles; f++)
			if (unlink(file_path(root, d, f)) != 0)
				die("unlink %s", path);
		if (rmdir(file_path(root, d, -1)) != 0)
			die("rmdir %s", path);
	}
	if (rmdir(root) != 0)
		die("rmdir %s", root);
}

int main(int argc, char **argv)
{
	usage_if(argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "create") != 0),
		 "stat_tree ROOT NDIRS NFILES [create]");
	const char *root = argv[1];
	long ndirs = arg_long(argv[2], "NDIRS");
	long nfiles = arg_long(argv[3], "NFILES");
	int create = argc == 5;
	if (ndirs > 1000 || nfiles > 1000) {
		errno = 0;
		die("NDIRS and NFILES must be at most 1000");
	}

	if (create)
		make_tree(root, ndirs, nfiles);

	struct stat st;
	uint64_t t0 = now_ns();
	for (long d = 0; d < ndirs; d++)
		for (long f = 0; f < nfiles; f++)
			if (stat(file_path(root, d, f), &st) != 0 || !S_ISREG(st.st_mode))
				die("stat %s", path);
	uint64_t t1 = now_ns();

	if (create)
		remove_tree(root, ndirs, nfiles);
	report((double)(t1 - t0) / (double)(ndirs * nfiles));
	return 0;
}
