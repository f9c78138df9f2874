/* Shared by the escape programs: each tries one way out of the sandbox and
 * prints what happened, one line per attempt, as "what: done" or
 * "what: ERRNO_NAME". tests/escape.rs runs them inside (and natively where
 * that shows something) and checks the host afterwards. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *what, long r) {
    printf("%s: %s\n", what, r < 0 ? strerrorname_np(errno) : "done");
    fflush(stdout);
}
