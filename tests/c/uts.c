/* The sandbox's UTS names and personality: sethostname/setdomainname as
 * uname and gethostname then see them, their errors, and personality's
 * ADDR_NO_RANDOMIZE giving the same layout on every exec. Run natively it
 * first moves to a UTS namespace of its own, so the host's names are
 * never touched. Every result is printed, for comparison with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %#lx\n", what, r);
}

/* The addresses of this exec's stack and first mapping. */
static int layout(void) {
    int local;
    void *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("%p %p\n", (void *)&local, m);
    return 0;
}

/* Run this program's `layout` twice; 1 if both runs had one layout. */
static int same_layout(void) {
    char out[2][128];
    for (int i = 0; i < 2; i++) {
        int p[2];
        if (pipe(p))
            return -1;
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(p[1], 1);
            execl("/proc/self/exe", "uts", "layout", (char *)NULL);
            _exit(127);
        }
        close(p[1]);
        ssize_t n = read(p[0], out[i], sizeof out[i] - 1);
        out[i][n > 0 ? n : 0] = 0;
        close(p[0]);
        waitpid(pid, NULL, 0);
    }
    return strcmp(out[0], out[1]) == 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "layout") == 0)
        return layout();
    /* Natively: our own UTS namespace (in the sandbox the names are the
     * sandbox's own already, and unshare is not offered). */
    unshare(CLONE_NEWUTS);

    show("personality(query)", personality(0xffffffff));
    show("personality(ADDR_NO_RANDOMIZE)", personality(ADDR_NO_RANDOMIZE));
    show("personality(query)", personality(0xffffffff));
    printf("same layout with ADDR_NO_RANDOMIZE = %d\n", same_layout());
    show("personality(PER_LINUX)", personality(PER_LINUX));
    printf("same layout without = %d\n", same_layout());

    show("sethostname", sethostname("sandbox-uts-test", 16));
    show("setdomainname", setdomainname("example.test", 12));
    struct utsname u;
    uname(&u);
    printf("nodename = %s\ndomainname = %s\n", u.nodename, u.domainname);
    char name[128];
    gethostname(name, sizeof name);
    printf("gethostname = %s\n", name);
    char long_name[80];
    memset(long_name, 'x', sizeof long_name);
    show("sethostname(65 bytes)", sethostname(long_name, 65));
    show("sethostname(64 bytes)", sethostname(long_name, 64));
    uname(&u);
    printf("nodename length = %zu\n", strlen(u.nodename));
    show("sethostname(bad pointer)", sethostname((char *)8, 4));

    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (setuid(65534))
            _exit(2);
        show("sethostname as nobody", sethostname("nope", 4));
        fflush(stdout);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    return 0;
}
