/*
 * Helpers shared by the benchmark workloads in this directory.
 *
 * Every workload prints exactly one line, "RESULT <number>", on success and
 * exits 0. On any error it prints a message to stderr and exits 1 without a
 * RESULT line, so bench/run reports it as FAILED.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Print "what: strerror(errno)" (or just the message if errno is 0) and exit 1. */
static inline void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (saved)
		fprintf(stderr, ": %s", strerror(saved));
	fputc('\n', stderr);
	exit(1);
}

/* Parse a positive integer command-line argument or die. */
static inline long arg_long(const char *s, const char *name)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v <= 0) {
		errno = 0;
		die("bad %s: '%s'", name, s);
	}
	return v;
}

static inline void usage_if(int cond, const char *usage)
{
	if (cond) {
		fprintf(stderr, "usage: %s\n", usage);
		exit(2);
	}
}

/* The one line of output bench/run accepts. */
static inline void report(double value)
{
	printf("RESULT %.3f\n", value);
	fflush(stdout);
}

/* write() all of buf, or die. */
static inline void write_all(int fd, const void *buf, size_t len, const char *what)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write %s", what);
		p += n;
		len -= (size_t)n;
	}
}

/* read() exactly len bytes (short only at EOF, which is an error), or die. */
static inline void read_all(int fd, void *buf, size_t len, const char *what)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read %s", what);
		if (n == 0) {
			errno = 0;
			die("read %s: unexpected end of file", what);
		}
		p += n;
		len -= (size_t)n;
	}
}

#endif
