/* getrandom fills buffers, large and small, with bytes that differ. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

int main(void) {
    unsigned char a[64], b[64], big[100000];
    ssize_t na = getrandom(a, sizeof a, 0);
    ssize_t nb = getrandom(b, sizeof b, GRND_NONBLOCK);
    ssize_t nbig = getrandom(big, sizeof big, 0);
    int zeros = 0;
    for (size_t i = 0; i < sizeof big; i++) zeros += big[i] == 0;
    printf("sizes=%zd,%zd,%zd differ=%d mostly_nonzero=%d\n", na, nb, nbig,
           memcmp(a, b, sizeof a) != 0, zeros < 2000);
    printf("bad_flags=%zd\n", getrandom(a, 1, 0x1000));
    return 0;
}
