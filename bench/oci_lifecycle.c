/*
 * Run one command as an OCI container, the way an engine does: create +
 * start, wait for the container's process, delete. bench/run builds it
 * (bench/.build/oci_lifecycle) and uses it as the prefix of its OCI
 * runtimes (sandbox-oci, runsc-oci, runc):
 *
 *     oci_lifecycle RUNTIME [GLOBAL-FLAGS...] -- CMD ARGS...
 *
 * The bundle's root is a busybox tree made once under
 * /var/tmp/sandbox-bench/oci-rootfs; the config is minimal (proc, a tmpfs
 * /dev, sysfs; pid/ipc/uts/mount/network namespaces; no rlimits). This
 * process is a child subreaper, so that the container's host processes
 * stay in its process tree (bench/run's memory workload sums PSS over the
 * tree) and it can wait for the pid the runtime writes to --pid-file, as
 * conmon does. It is in C so that it adds little time and memory of its
 * own. Exits with the container's status (128+N for signal N).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BASE "/var/tmp/sandbox-bench"
#define ROOTFS BASE "/oci-rootfs"

static void die(const char *what)
{
	fprintf(stderr, "oci_lifecycle: %s: %s\n", what, strerror(errno));
	exit(125);
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (in < 0 || out < 0)
		die("copying busybox");
	for (ssize_t n; (n = read(in, buf, sizeof buf)) > 0;)
		if (write(out, buf, n) != n)
			die("copying busybox");
	close(in);
	close(out);
}

/* The busybox root, made under a temporary name and renamed into place. */
static void make_rootfs(void)
{
	if (access(ROOTFS "/bin/sh", X_OK) == 0)
		return;
	char tmp[128], path[256];
	snprintf(tmp, sizeof tmp, "%s.tmp-%d", ROOTFS, getpid());
	mkdir(BASE, 0755);
	const char *dirs[] = { "", "/bin", "/proc", "/dev", "/sys", "/tmp" };
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		snprintf(path, sizeof path, "%s%s", tmp, dirs[i]);
		if (mkdir(path, 0755) != 0)
			die(path);
	}
	snprintf(path, sizeof path, "%s/bin/busybox", tmp);
	copy_file("/bin/busybox", path);
	const char *links[] = { "sh", "true", "sleep", "echo" };
	for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
		snprintf(path, sizeof path, "%s/bin/%s", tmp, links[i]);
		if (symlink("busybox", path) != 0)
			die(path);
	}
	if (rename(tmp, ROOTFS) != 0 && access(ROOTFS "/bin/sh", X_OK) != 0)
		die("rename " ROOTFS);
}

/* `s` as a JSON string (the arguments are plain text: quotes and
 * backslashes escaped, control characters dropped). */
static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

static void write_config(const char *dir, char **argv)
{
	char path[256];
	snprintf(path, sizeof path, "%s/config.json", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		die(path);
	fputs("{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
	      "\"args\":[", f);
	for (int i = 0; argv[i]; i++) {
		if (i)
			fputc(',', f);
		json_string(f, argv[i]);
	}
	fputs("],\"env\":[\"PATH=/bin\"],\"cwd\":\"/\"},"
	      "\"root\":{\"path\":\"" ROOTFS "\",\"readonly\":true},\"hostname\":\"bench\","
	      "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	      "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"mode=755\"]},"
	      "{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\",\"options\":[\"nosuid\",\"ro\"]}],"
	      "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},"
	      "{\"type\":\"mount\"},{\"type\":\"network\"}]}}\n", f);
	if (fclose(f) != 0)
		die(path);
}

/* The container's process, once known, and how it ended (-1: not yet). */
static pid_t container;
static int container_status = -1;

static int exit_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Reap one child (any); note the container's end. Returns its pid. */
static pid_t reap(int *st)
{
	for (;;) {
		pid_t got = wait(st);
		if (got < 0 && errno == EINTR)
			continue;
		if (got > 0 && got == container)
			container_status = exit_code(*st);
		return got;
	}
}

/* Run RUNTIME FLAGS --root STATE VERB ARGS... and wait for it; its status. */
static int runtime(char **rt, int nrt, const char *state, const char *const *verb, int quiet)
{
	char *argv[64];
	int n = 0;
	for (int i = 0; i < nrt && n < 50; i++)
		argv[n++] = rt[i];
	argv[n++] = "--root";
	argv[n++] = (char *)state;
	for (int i = 0; verb[i] && n < 63; i++)
		argv[n++] = (char *)verb[i];
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		if (quiet) {
			int null = open("/dev/null", O_WRONLY);
			dup2(null, 1);
			dup2(null, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	/* Whatever else ends meanwhile is reaped too, as an engine's subreaper
	 * does (runsc's delete waits until its gofer is gone). */
	int status;
	for (;;) {
		pid_t got = reap(&status);
		if (got == pid)
			return exit_code(status);
		if (got < 0)
			die("wait");
	}
}

int main(int argc, char **argv)
{
	int sep = 1;
	while (sep < argc && strcmp(argv[sep], "--") != 0)
		sep++;
	if (sep == 1 || sep >= argc - 1) {
		fprintf(stderr, "usage: oci_lifecycle RUNTIME [GLOBAL-FLAGS...] -- CMD ARGS...\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
		die("PR_SET_CHILD_SUBREAPER");
	make_rootfs();
	char work[64], state[96], pid_file[96], id[32];
	snprintf(work, sizeof work, "%s/oci-XXXXXX", BASE);
	if (!mkdtemp(work))
		die("mkdtemp");
	snprintf(state, sizeof state, "%s/state", work);
	snprintf(pid_file, sizeof pid_file, "%s/pid", work);
	snprintf(id, sizeof id, "bench-%d", getpid());
	write_config(work, argv + sep + 1);

	int status = 125;
	const char *create[] = { "create", "--bundle", work, "--pid-file", pid_file, id, NULL };
	const char *start[] = { "start", id, NULL };
	if (runtime(argv + 1, sep - 1, state, create, 0) == 0) {
		char buf[32] = { 0 };
		int fd = open(pid_file, O_RDONLY);
		container = fd >= 0 && read(fd, buf, sizeof buf - 1) > 0 ? atoi(buf) : 0;
		if (fd >= 0)
			close(fd);
		if (container > 0 && runtime(argv + 1, sep - 1, state, start, 0) == 0) {
			/* Reap whatever comes; the container's status is its pid's. */
			int st;
			while (container_status < 0 && reap(&st) > 0)
				;
			if (container_status >= 0)
				status = container_status;
		}
	}
	const char *del[] = { "delete", "--force", id, NULL };
	runtime(argv + 1, sep - 1, state, del, 1);
	char cmd[160];
	snprintf(cmd, sizeof cmd, "%s/config.json", work);
	unlink(cmd);
	unlink(pid_file);
	rmdir(state);
	rmdir(work);
	return status;
}
