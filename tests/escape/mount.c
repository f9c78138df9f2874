/* mount DIR: mount a tmpfs named "sandbox-escape" on DIR. */
#include "escape.h"
#include <sys/mount.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    report("mount", mount("sandbox-escape", argv[1], "tmpfs", 0, "size=4k"));
    report("umount2 /", umount2("/", MNT_DETACH));
    return 0;
}
