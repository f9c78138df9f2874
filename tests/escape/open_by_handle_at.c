/* Open a file by a guessed handle (the "shocker" escape from containers):
 * inode 2 of ext4 is the root directory of the host's file system. */
#include "escape.h"

int main(void) {
    struct {
        unsigned int handle_bytes;
        int handle_type;
        unsigned char f_handle[8];
    } h = {8, 1, {2, 0, 0, 0, 0, 0, 0, 0}};
    int root = open("/", O_RDONLY | O_DIRECTORY);
    report("open_by_handle_at", syscall(SYS_open_by_handle_at, root, &h, O_RDONLY));
    report("name_to_handle_at", syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &h, &root, 0));
    return 0;
}
