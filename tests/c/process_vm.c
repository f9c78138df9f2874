/* process_vm_readv and process_vm_writev: on itself, on a forked child,
 * partial transfers at an unmapped page, the errors, and an unprivileged
 * process refused. Every result is printed, for comparison with Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long r) {
    if (r < 0)
        printf("%s = -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s = %ld\n", what, r);
    fflush(stdout);
}

static char shared_text[64] = "the child's own words";

int main(void) {
    long page = sysconf(_SC_PAGESIZE);
    char src[32] = "hello, myself", dst[32] = {0};
    struct iovec l = {dst, 13}, r = {src, 13};
    show("readv(self)", process_vm_readv(getpid(), &l, 1, &r, 1, 0));
    printf("read: %s\n", dst);
    show("readv(flags 1)", process_vm_readv(getpid(), &l, 1, &r, 1, 1));
    show("readv(1025 iovecs)", process_vm_readv(getpid(), &l, 1025, &r, 1, 0));
    show("readv(no such pid)", process_vm_readv(999999, &l, 1, &r, 1, 0));
    struct iovec bad_remote = {(void *)8, 13};
    show("readv(bad remote)", process_vm_readv(getpid(), &l, 1, &bad_remote, 1, 0));
    struct iovec bad_local = {(void *)8, 13};
    show("readv(bad local)", process_vm_readv(getpid(), &bad_local, 1, &r, 1, 0));

    /* Two pages, the second unmapped: the read stops after the first. */
    char *two = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(two, 'a', page);
    munmap(two + page, page);
    static char big[8192 * 2];
    struct iovec lb = {big, 2 * page}, rb = {two, 2 * page};
    show("readv(second page unmapped)", process_vm_readv(getpid(), &lb, 1, &rb, 1, 0));
    /* Scatter: remote split over two local iovecs. */
    char a[5] = {0}, b[9] = {0};
    struct iovec ls[2] = {{a, 4}, {b, 8}};
    struct iovec rs = {src, 12};
    show("readv(scatter)", process_vm_readv(getpid(), ls, 2, &rs, 1, 0));
    printf("scatter: [%s] [%s]\n", a, b);

    int to_child[2], to_parent[2];
    if (pipe(to_child) || pipe(to_parent))
        return 1;
    pid_t child = fork();
    if (child == 0) {
        char c;
        if (write(to_parent[1], "r", 1) != 1 || read(to_child[0], &c, 1) != 1)
            _exit(1);
        printf("child sees: %s\n", shared_text);
        fflush(stdout);
        _exit(0);
    }
    char c;
    if (read(to_parent[0], &c, 1) != 1)
        return 1;
    char got[64] = {0};
    struct iovec lc = {got, 21}, rc = {shared_text, 21};
    show("readv(child)", process_vm_readv(child, &lc, 1, &rc, 1, 0));
    printf("parent read: %s\n", got);
    struct iovec lw = {"the parent's new text", 22}, rw = {shared_text, 22};
    show("writev(child)", process_vm_writev(child, &lw, 1, &rw, 1, 0));
    if (write(to_child[1], "w", 1) != 1)
        return 1;
    waitpid(child, NULL, 0);

    pid_t parent = getpid();
    child = fork();
    if (child == 0) {
        if (setuid(65534))
            _exit(2);
        show("readv(root parent) as nobody", process_vm_readv(parent, &l, 1, &r, 1, 0));
        show("readv(itself) as nobody", process_vm_readv(getpid(), &l, 1, &r, 1, 0));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    return 0;
}
