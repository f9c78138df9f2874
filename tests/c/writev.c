/* writev gathers several buffers into one write; readv of /dev/null-free
 * stdin is not needed: the count returned is checked. */
#include <stdio.h>
#include <sys/uio.h>
#include <unistd.h>

int main(void) {
    struct iovec iov[3] = {
        {"hello", 5}, {", ", 2}, {"world\n", 6},
    };
    ssize_t n = writev(1, iov, 3);
    printf("wrote %zd\n", n);
    struct iovec empty[2] = {{NULL, 0}, {"", 0}};
    printf("empty %zd\n", writev(1, empty, 2));
    return 0;
}
