/* Load a BPF socket filter ("return 0") and make a map. */
#include "escape.h"
#include <linux/bpf.h>

int main(void) {
    struct bpf_insn prog[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
        {.code = BPF_JMP | BPF_EXIT},
    };
    union bpf_attr a;
    memset(&a, 0, sizeof a);
    a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    a.insn_cnt = 2;
    a.insns = (unsigned long)prog;
    a.license = (unsigned long)"GPL";
    report("bpf PROG_LOAD", syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof a));
    memset(&a, 0, sizeof a);
    a.map_type = BPF_MAP_TYPE_ARRAY;
    a.key_size = 4;
    a.value_size = 4;
    a.max_entries = 1;
    report("bpf MAP_CREATE", syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a));
    return 0;
}
