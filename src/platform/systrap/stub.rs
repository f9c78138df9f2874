//! The systrap stub's code: position-independent machine code copied to
//! [`CODE_BASE`] in every stub, using registers only (no stack) except where
//! the kernel puts a signal frame.
//!
//! - `handler`: entered by the kernel, on the slot's signal stack, for every
//!   signal the stub handles (SIGSYS from the seccomp trap, faults, the
//!   interrupt signal). It finds its slot from the stack pointer, records
//!   where the frame is and the fs/gs bases, publishes the event and waits.
//! - `wait`: spin on the slot's state word for a bounded number of TSC
//!   cycles, then sleep on it (futex), waking every second to check that
//!   the sentry is still its parent; then run the command:
//!   - RESUME: set the fs/gs bases and `rt_sigreturn` through the frame,
//!     which the sentry has filled with the registers to resume with;
//!   - SYSCALL: make the system call the sentry asked for, publish the
//!     result and wait again;
//!   - CLONE: `clone`; the new thread or process runs `child`: a forked
//!     one first replaces its context region (still the parent's shared
//!     memory) with its own, takes its own channel, asks to die with the
//!     sentry and says hello on the channel (the sentry learns its pid from
//!     the kernel's credentials); every new thread installs its signal
//!     stack and makes its birth trap.
//! - `entry`: where the template stub, once set up, starts: it unmaps
//!   all but the stub region and the vDSO, installs the seccomp filter and
//!   makes its birth trap.
//! - birth trap: a system call the filter traps, so a new thread enters the
//!   handler once and waits there for the sentry's first RESUME.
//!
//! Every `syscall` instruction the filter lets through has a label right
//! after it (a *site*): the filter allows each site only the system calls,
//! with the arguments, that its code makes (see [`super::filter`]).

use std::arch::global_asm;

use super::layout::{self, CODE_BASE};

global_asm!(
    ".pushsection .text.sandbox_systrap, \"ax\"",
    ".p2align 6",
    ".globl sandbox_systrap_start",
    "sandbox_systrap_start:",
    // ---- The signal handler: rdi = signo, rsi = &siginfo, rdx = &ucontext.
    ".globl sandbox_systrap_handler",
    "sandbox_systrap_handler:",
    "mov rbx, rsp",
    "and rbx, {slot_mask}",
    "mov rax, {ctx_base}",
    "cmp rbx, rax",
    "jb sandbox_systrap_die_no_slot",
    "mov rax, {ctx_end}",
    "cmp rbx, rax",
    "jae sandbox_systrap_die_no_slot",
    // An interruption of a thread that came through the trampoline and
    // is on its way to the sentry, or waits for it, in the stub's code:
    // the sentry has the thread already. Return to where it was, touching
    // nothing (the sentry owns the slot). Anywhere else, and in the
    // trampoline's restore, it is an event as always.
    "cmp edi, {interrupt_signal}",
    "jne sandbox_systrap_handler_main",
    "cmp dword ptr [rbx + {mode}], {mode_trampoline}",
    "jne sandbox_systrap_handler_main",
    "mov rax, qword ptr [rdx + {uc_rip}]",
    "lea rcx, [rip + sandbox_systrap_start]",
    "cmp rax, rcx",
    "jb sandbox_systrap_handler_main",
    "lea rcx, [rip + sandbox_systrap_end]",
    "cmp rax, rcx",
    "jae sandbox_systrap_handler_main",
    "lea rcx, [rip + sandbox_systrap_restore]",
    "cmp rax, rcx",
    "jb sandbox_systrap_ignore",
    "lea rcx, [rip + sandbox_systrap_restore_end]",
    "cmp rax, rcx",
    "jbe sandbox_systrap_handler_main",
    "sandbox_systrap_ignore:",
    "mov rsp, rdx",
    "mov eax, {sys_rt_sigreturn}",
    "syscall",
    ".globl sandbox_systrap_site_ignore",
    "sandbox_systrap_site_ignore:",
    "jmp sandbox_systrap_die_sigreturn",
    "sandbox_systrap_handler_main:",
    "mov dword ptr [rbx + {signo}], edi",
    "mov dword ptr [rbx + {mode}], {mode_frame}",
    "mov qword ptr [rbx + {uc}], rdx",
    "mov qword ptr [rbx + {info}], rsi",
    "cmp dword ptr [rbx + {fsgsbase}], 0",
    "je sandbox_systrap_get_bases",
    // rdfsbase rax; rdgsbase rax
    ".byte 0xf3, 0x48, 0x0f, 0xae, 0xc0",
    "mov qword ptr [rbx + {fs_base}], rax",
    ".byte 0xf3, 0x48, 0x0f, 0xae, 0xc8",
    "mov qword ptr [rbx + {gs_base}], rax",
    "jmp sandbox_systrap_publish",
    "sandbox_systrap_get_bases:",
    "mov eax, {sys_arch_prctl}",
    "mov edi, {arch_get_fs}",
    "lea rsi, [rbx + {fs_base}]",
    "syscall",
    ".globl sandbox_systrap_site_get_fs",
    "sandbox_systrap_site_get_fs:",
    "mov eax, {sys_arch_prctl}",
    "mov edi, {arch_get_gs}",
    "lea rsi, [rbx + {gs_base}]",
    "syscall",
    ".globl sandbox_systrap_site_get_gs",
    "sandbox_systrap_site_get_gs:",
    "mov rax, qword ptr [rbx + {fs_base}]",
    "mov qword ptr [rbx + {fs_seen}], rax",
    "mov rax, qword ptr [rbx + {gs_base}]",
    "mov qword ptr [rbx + {gs_seen}], rax",
    // ---- Publish: the slot is the sentry's now; wake it if it sleeps.
    "sandbox_systrap_publish:",
    "mov eax, {event}",
    "xchg dword ptr [rbx + {state}], eax",
    "cmp dword ptr [rbx + {sentry_sleeps}], 0",
    "je sandbox_systrap_wait",
    "mov eax, {sys_futex}",
    "lea rdi, [rbx + {state}]",
    "mov esi, {futex_wake}",
    "mov edx, 1",
    "syscall",
    ".globl sandbox_systrap_site_wake",
    "sandbox_systrap_site_wake:",
    // ---- Wait for a command: spin until the TSC passes a deadline...
    // (no `pause`: in a VM a pause loop exits to the hypervisor): first
    // alone, then yielding the CPU in case the sentry thread waits for this
    // very CPU. How long to spin alone adapts: longer while the answer
    // comes within it, halved when it does not.
    "sandbox_systrap_wait:",
    "rdtsc",
    "shl rdx, 32",
    "or rax, rdx",
    "mov r13, rax",
    "add r13, qword ptr [rbx + {spin_alone}]",
    "mov r14, rax",
    "add r14, qword ptr [rbx + {spin}]",
    "sandbox_systrap_spin_alone:",
    "cmp dword ptr [rbx + {state}], {command}",
    "je sandbox_systrap_answered_alone",
    "rdtsc",
    "shl rdx, 32",
    "or rax, rdx",
    "cmp rax, r13",
    "jb sandbox_systrap_spin_alone",
    "shr qword ptr [rbx + {spin_alone}], 1",
    "sandbox_systrap_spin_yield:",
    "cmp dword ptr [rbx + {state}], {command}",
    "je sandbox_systrap_dispatch",
    "rdtsc",
    "shl rdx, 32",
    "or rax, rdx",
    "cmp rax, r14",
    "jae sandbox_systrap_sleep",
    "mov eax, {sys_sched_yield}",
    "syscall",
    ".globl sandbox_systrap_site_yield",
    "sandbox_systrap_site_yield:",
    "jmp sandbox_systrap_spin_yield",
    "sandbox_systrap_answered_alone:",
    "mov rax, qword ptr [rbx + {spin_alone}]",
    "lea rax, [rax + rax + 1024]",
    "cmp rax, qword ptr [rbx + {spin_alone_max}]",
    "jbe sandbox_systrap_alone_set",
    "mov rax, qword ptr [rbx + {spin_alone_max}]",
    "sandbox_systrap_alone_set:",
    "mov qword ptr [rbx + {spin_alone}], rax",
    "jmp sandbox_systrap_dispatch",
    // ...then sleep on the state word.
    "sandbox_systrap_sleep:",
    "mov eax, 1",
    "xchg dword ptr [rbx + {stub_sleeps}], eax",
    "cmp dword ptr [rbx + {state}], {command}",
    "je sandbox_systrap_woken",
    "mov eax, {sys_futex}",
    "lea rdi, [rbx + {state}]",
    "mov esi, {futex_wait}",
    "mov edx, {event}",
    "lea r10, [rbx + {timeout}]",
    "syscall",
    ".globl sandbox_systrap_site_wait",
    "sandbox_systrap_site_wait:",
    "mov dword ptr [rbx + {stub_sleeps}], 0",
    "cmp rax, {neg_etimedout}",
    "jne sandbox_systrap_recheck",
    // A second without a command: is the sentry still there?
    "mov eax, {sys_getppid}",
    "syscall",
    ".globl sandbox_systrap_site_getppid",
    "sandbox_systrap_site_getppid:",
    "cmp rax, qword ptr [rbx + {sentry_pid}]",
    "jne sandbox_systrap_die_orphan",
    "sandbox_systrap_recheck:",
    "cmp dword ptr [rbx + {state}], {command}",
    "jne sandbox_systrap_sleep",
    "sandbox_systrap_woken:",
    "mov dword ptr [rbx + {stub_sleeps}], 0",
    // ---- Run the command.
    "sandbox_systrap_dispatch:",
    "mov eax, dword ptr [rbx + {cmd}]",
    "cmp eax, {cmd_resume}",
    "je sandbox_systrap_resume",
    "cmp eax, {cmd_syscall}",
    "je sandbox_systrap_syscall",
    "cmp eax, {cmd_clone}",
    "je sandbox_systrap_clone",
    "cmp eax, {cmd_resume_fast}",
    "je sandbox_systrap_restore",
    "cmp eax, {cmd_bounce}",
    "je sandbox_systrap_restore",
    "mov qword ptr [rbx + {result}], {neg_einval}",
    "jmp sandbox_systrap_publish",
    "sandbox_systrap_syscall:",
    "mov rax, qword ptr [rbx + {nr}]",
    "mov rdi, qword ptr [rbx + {a0}]",
    "mov rsi, qword ptr [rbx + {a1}]",
    "mov rdx, qword ptr [rbx + {a2}]",
    "mov r10, qword ptr [rbx + {a3}]",
    "mov r8, qword ptr [rbx + {a4}]",
    "mov r9, qword ptr [rbx + {a5}]",
    "syscall",
    ".globl sandbox_systrap_site_command",
    "sandbox_systrap_site_command:",
    "mov qword ptr [rbx + {result}], rax",
    "jmp sandbox_systrap_publish",
    // ---- RESUME: the bases, then back to the application.
    "sandbox_systrap_resume:",
    "cmp dword ptr [rbx + {fsgsbase}], 0",
    "je sandbox_systrap_set_bases",
    "mov rax, qword ptr [rbx + {fs_base}]",
    // wrfsbase rax
    ".byte 0xf3, 0x48, 0x0f, 0xae, 0xd0",
    "mov rax, qword ptr [rbx + {gs_base}]",
    // wrgsbase rax
    ".byte 0xf3, 0x48, 0x0f, 0xae, 0xd8",
    "jmp sandbox_systrap_sigreturn",
    "sandbox_systrap_set_bases:",
    "mov rsi, qword ptr [rbx + {fs_base}]",
    "cmp rsi, qword ptr [rbx + {fs_seen}]",
    "je sandbox_systrap_fs_done",
    "mov eax, {sys_arch_prctl}",
    "mov edi, {arch_set_fs}",
    "syscall",
    ".globl sandbox_systrap_site_set_fs",
    "sandbox_systrap_site_set_fs:",
    "sandbox_systrap_fs_done:",
    "mov rsi, qword ptr [rbx + {gs_base}]",
    "cmp rsi, qword ptr [rbx + {gs_seen}]",
    "je sandbox_systrap_sigreturn",
    "mov eax, {sys_arch_prctl}",
    "mov edi, {arch_set_gs}",
    "syscall",
    ".globl sandbox_systrap_site_set_gs",
    "sandbox_systrap_site_set_gs:",
    "sandbox_systrap_sigreturn:",
    "mov rsp, qword ptr [rbx + {uc}]",
    "mov eax, {sys_rt_sigreturn}",
    "syscall",
    ".globl sandbox_systrap_site_sigreturn",
    "sandbox_systrap_site_sigreturn:",
    "jmp sandbox_systrap_die_sigreturn",
    // ---- CLONE. r15 = flags, r12/r13 = a forked child's memfd/channel.
    "sandbox_systrap_clone:",
    "mov r15, qword ptr [rbx + {a0}]",
    "mov r12, qword ptr [rbx + {clone_memfd}]",
    "mov r13, qword ptr [rbx + {clone_channel}]",
    "mov rdi, r15",
    "mov rsi, qword ptr [rbx + {a1}]",
    "xor edx, edx",
    "mov r10, qword ptr [rbx + {a3}]",
    "xor r8d, r8d",
    "mov eax, {sys_clone}",
    "syscall",
    ".globl sandbox_systrap_site_clone",
    "sandbox_systrap_site_clone:",
    "test rax, rax",
    "jz sandbox_systrap_child",
    "mov qword ptr [rbx + {result}], rax",
    "jmp sandbox_systrap_publish",
    // The new thread or process.
    "sandbox_systrap_child:",
    "test r15, {clone_vm}",
    "jnz sandbox_systrap_vm_child",
    // A forked process: its context region is still the parent's shared
    // memory, and its stack pointer is in it. Replace the region with the
    // memfd made for it, touching no memory first.
    "mov rdi, {ctx_base}",
    "mov rsi, {ctx_len}",
    "mov edx, {prot_rw}",
    "mov r10d, {map_shared_fixed}",
    "mov r8, r12",
    "xor r9d, r9d",
    "mov eax, {sys_mmap}",
    "syscall",
    ".globl sandbox_systrap_site_child_mmap",
    "sandbox_systrap_site_child_mmap:",
    "mov rcx, {ctx_base}",
    "cmp rax, rcx",
    "jne sandbox_systrap_die",
    "mov rdi, r13",
    "mov esi, {fd_channel}",
    "xor edx, edx",
    "mov eax, {sys_dup3}",
    "syscall",
    ".globl sandbox_systrap_site_child_dup",
    "sandbox_systrap_site_child_dup:",
    "cmp rax, {fd_channel}",
    "jne sandbox_systrap_die",
    "mov rdi, r12",
    "mov eax, {sys_close}",
    "syscall",
    ".globl sandbox_systrap_site_child_close_memfd",
    "sandbox_systrap_site_child_close_memfd:",
    "mov rdi, r13",
    "mov eax, {sys_close}",
    "syscall",
    ".globl sandbox_systrap_site_child_close_channel",
    "sandbox_systrap_site_child_close_channel:",
    "jmp sandbox_systrap_new_process",
    "sandbox_systrap_vm_child:",
    "test r15, {clone_thread}",
    "jnz sandbox_systrap_new_thread",
    // A new process (forked, or sharing memory): die with the sentry, and
    // say hello so that the sentry learns its pid from the kernel.
    "sandbox_systrap_new_process:",
    "mov eax, {sys_prctl}",
    "mov edi, {pr_set_pdeathsig}",
    "mov esi, {sigkill}",
    "syscall",
    ".globl sandbox_systrap_site_child_pdeathsig",
    "sandbox_systrap_site_child_pdeathsig:",
    // (a process forked from the template would keep its name)
    "mov eax, {sys_prctl}",
    "mov edi, {pr_set_name}",
    "lea rsi, [rip + sandbox_systrap_name]",
    "syscall",
    ".globl sandbox_systrap_site_child_name",
    "sandbox_systrap_site_child_name:",
    "mov eax, {sys_write}",
    "mov edi, {fd_channel}",
    "lea rsi, [rip + sandbox_systrap_hello]",
    "mov edx, 1",
    "syscall",
    ".globl sandbox_systrap_site_child_hello",
    "sandbox_systrap_site_child_hello:",
    // Every new thread: its slot, its signal stack, its birth trap.
    "sandbox_systrap_new_thread:",
    "mov rbx, rsp",
    "and rbx, {slot_mask}",
    "mov rax, {ctx_base}",
    "cmp rbx, rax",
    "jb sandbox_systrap_die",
    "mov rax, {ctx_end}",
    "cmp rbx, rax",
    "jae sandbox_systrap_die",
    "lea rdi, [rbx + {altstack}]",
    "xor esi, esi",
    "mov eax, {sys_sigaltstack}",
    "syscall",
    ".globl sandbox_systrap_site_child_altstack",
    "sandbox_systrap_site_child_altstack:",
    "jmp sandbox_systrap_birth",
    // ---- The template stub, set up: rdi..rsi = the range to keep below
    // the stub region (the vDSO), rdx = slot 0, rcx = the filter program.
    ".globl sandbox_systrap_entry",
    "sandbox_systrap_entry:",
    "mov r12, rdi",
    "mov r13, rsi",
    "mov rbx, rdx",
    "mov r14, rcx",
    "xor edi, edi",
    "mov rsi, r12",
    "mov eax, {sys_munmap}",
    "syscall",
    "mov rdi, r13",
    "mov rsi, {stub_base}",
    "sub rsi, r13",
    "mov eax, {sys_munmap}",
    "syscall",
    // The sentry thread's TLS is gone: no fs base until the sentry sets one.
    "mov eax, {sys_arch_prctl}",
    "mov edi, {arch_set_fs}",
    "xor esi, esi",
    "syscall",
    "mov eax, {sys_seccomp}",
    "mov edi, {seccomp_set_mode_filter}",
    "xor esi, esi",
    "mov rdx, r14",
    "syscall",
    "mov qword ptr [rbx + {result}], rax",
    "test rax, rax",
    "jnz sandbox_systrap_die_filter",
    // ---- The birth trap, with the stub's signals unblocked (a thread
    // cloned in the handler inherits a mask that blocks all).
    "sandbox_systrap_birth:",
    "lea rsp, [rbx + {birth_sp}]",
    "mov eax, {sys_rt_sigprocmask}",
    "mov edi, {sig_setmask}",
    "lea rsi, [rip + sandbox_systrap_stub_mask]",
    "xor edx, edx",
    "mov r10d, 8",
    "syscall",
    ".globl sandbox_systrap_site_birth_mask",
    "sandbox_systrap_site_birth_mask:",
    "mov eax, {sys_getpid}",
    "syscall",
    // ---- Something is wrong with this stub: the whole process goes, with
    // a status that says what (see `DieReason`).
    "sandbox_systrap_die_no_slot:",
    "mov edi, {die_no_slot}",
    "jmp sandbox_systrap_exit",
    "sandbox_systrap_die_orphan:",
    "mov edi, {die_orphan}",
    "jmp sandbox_systrap_exit",
    "sandbox_systrap_die_sigreturn:",
    "mov edi, {die_sigreturn}",
    "jmp sandbox_systrap_exit",
    "sandbox_systrap_die_filter:",
    "mov edi, {die_filter}",
    "jmp sandbox_systrap_exit",
    ".globl sandbox_systrap_die",
    "sandbox_systrap_die:",
    "mov edi, {die_child}",
    "sandbox_systrap_exit:",
    "mov eax, {sys_exit_group}",
    "syscall",
    ".globl sandbox_systrap_site_die",
    "sandbox_systrap_site_die:",
    "ud2",
    // ---- The trampoline: a patched system-call site jumps to its cell,
    // which does what the site's first instruction did, puts the return
    // address in rcx (as `syscall` would) and jumps here. The gs base is
    // the thread's slot (the sentry sets it so while the application's own
    // is 0); where it is not a slot, `ud2` hands the call over as a trap.
    // No stack: the application's, red zone and all, stays untouched.
    ".globl sandbox_systrap_trampoline",
    "sandbox_systrap_trampoline:",
    // rdgsbase r11
    ".byte 0xf3, 0x49, 0x0f, 0xae, 0xcb",
    "cmp r11, qword ptr [rip + sandbox_systrap_ctx_base]",
    "jb sandbox_systrap_tramp_fallback",
    "cmp r11, qword ptr [rip + sandbox_systrap_ctx_end]",
    "jae sandbox_systrap_tramp_fallback",
    "test r11d, {slot_low}",
    "jnz sandbox_systrap_tramp_fallback",
    "mov qword ptr [r11 + {g_rax}], rax",
    "mov qword ptr [r11 + {g_rbx}], rbx",
    "mov qword ptr [r11 + {g_rcx}], rcx",
    "mov qword ptr [r11 + {g_rip}], rcx",
    "mov qword ptr [r11 + {g_rdx}], rdx",
    "mov qword ptr [r11 + {g_rsi}], rsi",
    "mov qword ptr [r11 + {g_rdi}], rdi",
    "mov qword ptr [r11 + {g_rbp}], rbp",
    "mov qword ptr [r11 + {g_rsp}], rsp",
    "mov qword ptr [r11 + {g_r8}], r8",
    "mov qword ptr [r11 + {g_r9}], r9",
    "mov qword ptr [r11 + {g_r10}], r10",
    "mov qword ptr [r11 + {g_r12}], r12",
    "mov qword ptr [r11 + {g_r13}], r13",
    "mov qword ptr [r11 + {g_r14}], r14",
    "mov qword ptr [r11 + {g_r15}], r15",
    "mov rbx, r11",
    // rdfsbase rax
    ".byte 0xf3, 0x48, 0x0f, 0xae, 0xc0",
    "mov qword ptr [rbx + {fs_base}], rax",
    "mov qword ptr [rbx + {fs_seen}], rax",
    "mov qword ptr [rbx + {gs_base}], rbx",
    "mov qword ptr [rbx + {gs_seen}], rbx",
    "mov dword ptr [rbx + {mode}], {mode_trampoline}",
    "jmp sandbox_systrap_publish",
    ".globl sandbox_systrap_tramp_fallback",
    "sandbox_systrap_tramp_fallback:",
    "ud2",
    // RESUME_FAST and BOUNCE: every register from the slot (the gs base is
    // still the slot: the sentry bounces when it must change it), then
    // back to the application, or `ud2` for a frame.
    "sandbox_systrap_restore:",
    "mov dword ptr [rbx + {mode}], {mode_frame}",
    "mov rax, qword ptr [rbx + {fs_base}]",
    // wrfsbase rax
    ".byte 0xf3, 0x48, 0x0f, 0xae, 0xd0",
    "cmp dword ptr [rbx + {cmd}], {cmd_bounce}",
    "mov rax, qword ptr [rbx + {g_rax}]",
    "mov rcx, qword ptr [rbx + {g_rcx}]",
    "mov rdx, qword ptr [rbx + {g_rdx}]",
    "mov rsi, qword ptr [rbx + {g_rsi}]",
    "mov rdi, qword ptr [rbx + {g_rdi}]",
    "mov rbp, qword ptr [rbx + {g_rbp}]",
    "mov rsp, qword ptr [rbx + {g_rsp}]",
    "mov r8, qword ptr [rbx + {g_r8}]",
    "mov r9, qword ptr [rbx + {g_r9}]",
    "mov r10, qword ptr [rbx + {g_r10}]",
    "mov r11, qword ptr [rbx + {g_r11}]",
    "mov r12, qword ptr [rbx + {g_r12}]",
    "mov r13, qword ptr [rbx + {g_r13}]",
    "mov r14, qword ptr [rbx + {g_r14}]",
    "mov r15, qword ptr [rbx + {g_r15}]",
    "mov rbx, qword ptr [rbx + {g_rbx}]",
    "je sandbox_systrap_bounce",
    "jmp qword ptr gs:[{g_rip}]",
    ".globl sandbox_systrap_bounce",
    "sandbox_systrap_bounce:",
    "ud2",
    ".globl sandbox_systrap_restore_end",
    "sandbox_systrap_restore_end:",
    "int3",
    ".p2align 3",
    "sandbox_systrap_ctx_base:",
    ".quad {ctx_base}",
    "sandbox_systrap_ctx_end:",
    ".quad {ctx_end}",
    "sandbox_systrap_stub_mask:",
    ".quad {stub_mask}",
    "sandbox_systrap_hello:",
    ".byte 1",
    "sandbox_systrap_name:",
    ".asciz \"sandbox-stub\"",
    ".globl sandbox_systrap_end",
    "sandbox_systrap_end:",
    ".popsection",
    slot_mask = const -(layout::SLOT_SIZE as i64),
    slot_low = const layout::SLOT_SIZE - 1,
    interrupt_signal = const super::INTERRUPT_SIGNAL,
    uc_rip = const super::frame::UC_RIP,
    mode = const layout::MODE,
    mode_frame = const layout::mode::FRAME,
    mode_trampoline = const layout::mode::TRAMPOLINE,
    cmd_resume_fast = const layout::cmd::RESUME_FAST,
    cmd_bounce = const layout::cmd::BOUNCE,
    g_rax = const layout::GPRS + 8 * layout::gpr::RAX,
    g_rbx = const layout::GPRS + 8 * layout::gpr::RBX,
    g_rcx = const layout::GPRS + 8 * layout::gpr::RCX,
    g_rdx = const layout::GPRS + 8 * layout::gpr::RDX,
    g_rsi = const layout::GPRS + 8 * layout::gpr::RSI,
    g_rdi = const layout::GPRS + 8 * layout::gpr::RDI,
    g_rbp = const layout::GPRS + 8 * layout::gpr::RBP,
    g_rsp = const layout::GPRS + 8 * layout::gpr::RSP,
    g_r8 = const layout::GPRS + 8 * layout::gpr::R8,
    g_r9 = const layout::GPRS + 8 * layout::gpr::R9,
    g_r10 = const layout::GPRS + 8 * layout::gpr::R10,
    g_r11 = const layout::GPRS + 8 * layout::gpr::R11,
    g_r12 = const layout::GPRS + 8 * layout::gpr::R12,
    g_r13 = const layout::GPRS + 8 * layout::gpr::R13,
    g_r14 = const layout::GPRS + 8 * layout::gpr::R14,
    g_r15 = const layout::GPRS + 8 * layout::gpr::R15,
    g_rip = const layout::GPRS + 8 * layout::gpr::RIP,
    stub_mask = const super::STUB_SIGNAL_MASK,
    die_no_slot = const DieReason::NoSlot as i32,
    die_orphan = const DieReason::Orphan as i32,
    die_sigreturn = const DieReason::Sigreturn as i32,
    die_filter = const DieReason::Filter as i32,
    die_child = const DieReason::Broken as i32,
    ctx_base = const layout::CTX_BASE,
    ctx_end = const layout::CTX_END,
    ctx_len = const layout::CTX_LEN,
    stub_base = const crate::platform::STUB_BASE,
    state = const layout::STATE,
    stub_sleeps = const layout::STUB_SLEEPS,
    sentry_sleeps = const layout::SENTRY_SLEEPS,
    cmd = const layout::CMD,
    signo = const layout::SIGNO,
    fsgsbase = const layout::FSGSBASE,
    uc = const layout::UC,
    info = const layout::INFO,
    fs_base = const layout::FS_BASE,
    gs_base = const layout::GS_BASE,
    fs_seen = const layout::FS_SEEN,
    gs_seen = const layout::GS_SEEN,
    nr = const layout::NR,
    a0 = const layout::ARGS,
    a1 = const layout::ARGS + 8,
    a2 = const layout::ARGS + 16,
    a3 = const layout::ARGS + 24,
    a4 = const layout::ARGS + 32,
    a5 = const layout::ARGS + 40,
    result = const layout::RESULT,
    sentry_pid = const layout::SENTRY_PID,
    timeout = const layout::TIMEOUT,
    altstack = const layout::ALTSTACK,
    spin = const layout::SPIN_CYCLES,
    spin_alone = const layout::SPIN_ALONE_CYCLES,
    spin_alone_max = const layout::SPIN_ALONE_MAX_CYCLES,
    clone_memfd = const layout::CLONE_MEMFD,
    clone_channel = const layout::CLONE_CHANNEL,
    birth_sp = const layout::BIRTH_SP,
    event = const layout::state::EVENT,
    command = const layout::state::COMMAND,
    cmd_resume = const layout::cmd::RESUME,
    cmd_syscall = const layout::cmd::SYSCALL,
    cmd_clone = const layout::cmd::CLONE,
    fd_channel = const super::FD_CHANNEL,
    sys_arch_prctl = const libc::SYS_arch_prctl,
    sys_futex = const libc::SYS_futex,
    sys_getppid = const libc::SYS_getppid,
    sys_rt_sigreturn = const libc::SYS_rt_sigreturn,
    sys_clone = const libc::SYS_clone,
    sys_mmap = const libc::SYS_mmap,
    sys_munmap = const libc::SYS_munmap,
    sys_dup3 = const libc::SYS_dup3,
    sys_close = const libc::SYS_close,
    sys_prctl = const libc::SYS_prctl,
    sys_write = const libc::SYS_write,
    sys_sigaltstack = const libc::SYS_sigaltstack,
    sys_seccomp = const libc::SYS_seccomp,
    sys_rt_sigprocmask = const libc::SYS_rt_sigprocmask,
    sys_getpid = const libc::SYS_getpid,
    sys_sched_yield = const libc::SYS_sched_yield,
    sys_exit_group = const libc::SYS_exit_group,
    arch_get_fs = const super::arch::ARCH_GET_FS,
    arch_get_gs = const super::arch::ARCH_GET_GS,
    arch_set_fs = const super::arch::ARCH_SET_FS,
    arch_set_gs = const super::arch::ARCH_SET_GS,
    futex_wake = const libc::FUTEX_WAKE,
    futex_wait = const libc::FUTEX_WAIT,
    neg_etimedout = const -libc::ETIMEDOUT,
    neg_einval = const -libc::EINVAL,
    clone_vm = const libc::CLONE_VM,
    clone_thread = const libc::CLONE_THREAD,
    prot_rw = const libc::PROT_READ | libc::PROT_WRITE,
    map_shared_fixed = const libc::MAP_SHARED | libc::MAP_FIXED,
    pr_set_pdeathsig = const libc::PR_SET_PDEATHSIG,
    pr_set_name = const libc::PR_SET_NAME,
    sigkill = const libc::SIGKILL,
    seccomp_set_mode_filter = const libc::SECCOMP_SET_MODE_FILTER,
    sig_setmask = const libc::SIG_SETMASK,
);

/// Why a stub ended itself: its exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DieReason {
    /// A signal came while its stack pointer was in no slot.
    NoSlot = 120,
    /// Its parent is no longer the sentry.
    Orphan = 121,
    /// `rt_sigreturn` failed to return to the application.
    Sigreturn = 122,
    /// The seccomp filter could not be installed.
    Filter = 123,
    /// A new thread or process could not set itself up.
    Broken = 124,
}

impl DieReason {
    pub fn from_status(status: i32) -> Option<DieReason> {
        [DieReason::NoSlot, DieReason::Orphan, DieReason::Sigreturn, DieReason::Filter, DieReason::Broken]
            .into_iter()
            .find(|r| *r as i32 == status)
    }
}

unsafe extern "C" {
    static sandbox_systrap_start: u8;
    static sandbox_systrap_end: u8;
    static sandbox_systrap_handler: u8;
    static sandbox_systrap_entry: u8;
    static sandbox_systrap_die: u8;
    static sandbox_systrap_site_get_fs: u8;
    static sandbox_systrap_site_get_gs: u8;
    static sandbox_systrap_site_set_fs: u8;
    static sandbox_systrap_site_set_gs: u8;
    static sandbox_systrap_site_wake: u8;
    static sandbox_systrap_site_yield: u8;
    static sandbox_systrap_site_wait: u8;
    static sandbox_systrap_site_getppid: u8;
    static sandbox_systrap_site_command: u8;
    static sandbox_systrap_site_sigreturn: u8;
    static sandbox_systrap_site_clone: u8;
    static sandbox_systrap_site_child_mmap: u8;
    static sandbox_systrap_site_child_dup: u8;
    static sandbox_systrap_site_child_close_memfd: u8;
    static sandbox_systrap_site_child_close_channel: u8;
    static sandbox_systrap_site_child_pdeathsig: u8;
    static sandbox_systrap_site_child_name: u8;
    static sandbox_systrap_site_child_hello: u8;
    static sandbox_systrap_site_child_altstack: u8;
    static sandbox_systrap_site_birth_mask: u8;
    static sandbox_systrap_site_die: u8;
    static sandbox_systrap_site_ignore: u8;
    static sandbox_systrap_trampoline: u8;
    static sandbox_systrap_tramp_fallback: u8;
    static sandbox_systrap_restore: u8;
    static sandbox_systrap_restore_end: u8;
}

/// The stub's machine code, to be copied to [`CODE_BASE`].
pub fn code() -> &'static [u8] {
    // SAFETY: the two symbols delimit one contiguous read-only text section
    // defined above, start <= end, so the range is valid initialized memory
    // for the life of the program.
    unsafe {
        let start = &raw const sandbox_systrap_start;
        let end = &raw const sandbox_systrap_end;
        std::slice::from_raw_parts(start, end as usize - start as usize)
    }
}

/// Where `label` (a symbol of the code above) is in a stub.
fn at(label: *const u8) -> u64 {
    CODE_BASE + (label as u64 - &raw const sandbox_systrap_start as u64)
}

/// The signal handler's address in a stub.
pub fn handler() -> u64 {
    at(&raw const sandbox_systrap_handler)
}

/// Where a new stub starts.
pub fn entry() -> u64 {
    at(&raw const sandbox_systrap_entry)
}

/// Code that ends the stub process; the restorer the kernel is given
/// (the handler never returns through it).
pub fn die() -> u64 {
    at(&raw const sandbox_systrap_die)
}

/// Where a patched system-call site's cell jumps (see
/// [`super::trampoline`]).
pub fn trampoline() -> u64 {
    at(&raw const sandbox_systrap_trampoline)
}

/// The trampoline's `ud2` for a thread whose gs base is not its slot: a
/// SIGILL there is the system call in `rax`, returning to `rcx`.
pub fn trampoline_fallback() -> u64 {
    at(&raw const sandbox_systrap_tramp_fallback)
}

/// The trampoline's restore, `[start, end]`: a frame whose `rip` is in it
/// holds registers on their way to those of the slot's [`layout::GPRS`].
pub fn restore_range() -> std::ops::RangeInclusive<u64> {
    at(&raw const sandbox_systrap_restore)..=at(&raw const sandbox_systrap_restore_end)
}

/// A `syscall` instruction of the stub the filter lets through: the filter
/// sees the address right after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The handler reads the fs/gs bases (hosts without FSGSBASE).
    GetFs,
    GetGs,
    /// RESUME sets changed fs/gs bases (hosts without FSGSBASE).
    SetFs,
    SetGs,
    /// The hand-off: wake the sentry, yield while spinning, sleep for a
    /// command.
    Wake,
    Yield,
    Wait,
    /// After a second's sleep: is the sentry still the parent?
    Getppid,
    /// The system calls the sentry asks for (address-space operations).
    Command,
    /// RESUME: back to the application.
    Sigreturn,
    /// CLONE.
    Clone,
    /// A forked child maps its own context region...
    ChildMmap,
    /// ...takes its own channel...
    ChildDup,
    /// ...and closes the descriptors it came with.
    ChildCloseMemfd,
    ChildCloseChannel,
    /// A new process dies with the sentry, takes a stub's name...
    ChildPdeathsig,
    ChildName,
    /// ...and says hello on its channel.
    ChildHello,
    /// A new thread installs its signal stack...
    ChildAltstack,
    /// ...and unblocks signals before its birth trap.
    BirthMask,
    /// A broken stub ends its process.
    Die,
    /// An interruption that found the thread in the stub returns at once.
    Ignore,
}

impl Site {
    #[cfg(test)]
    pub const ALL: &'static [Site] = &[
        Site::GetFs,
        Site::GetGs,
        Site::SetFs,
        Site::SetGs,
        Site::Wake,
        Site::Yield,
        Site::Wait,
        Site::Getppid,
        Site::Command,
        Site::Sigreturn,
        Site::Clone,
        Site::ChildMmap,
        Site::ChildDup,
        Site::ChildCloseMemfd,
        Site::ChildCloseChannel,
        Site::ChildPdeathsig,
        Site::ChildName,
        Site::ChildHello,
        Site::ChildAltstack,
        Site::BirthMask,
        Site::Die,
        Site::Ignore,
    ];

    /// The address the filter sees for a system call made here (the
    /// instruction after `syscall`).
    pub fn addr(self) -> u64 {
        let label = match self {
            Site::GetFs => &raw const sandbox_systrap_site_get_fs,
            Site::GetGs => &raw const sandbox_systrap_site_get_gs,
            Site::SetFs => &raw const sandbox_systrap_site_set_fs,
            Site::SetGs => &raw const sandbox_systrap_site_set_gs,
            Site::Wake => &raw const sandbox_systrap_site_wake,
            Site::Yield => &raw const sandbox_systrap_site_yield,
            Site::Wait => &raw const sandbox_systrap_site_wait,
            Site::Getppid => &raw const sandbox_systrap_site_getppid,
            Site::Command => &raw const sandbox_systrap_site_command,
            Site::Sigreturn => &raw const sandbox_systrap_site_sigreturn,
            Site::Clone => &raw const sandbox_systrap_site_clone,
            Site::ChildMmap => &raw const sandbox_systrap_site_child_mmap,
            Site::ChildDup => &raw const sandbox_systrap_site_child_dup,
            Site::ChildCloseMemfd => &raw const sandbox_systrap_site_child_close_memfd,
            Site::ChildCloseChannel => &raw const sandbox_systrap_site_child_close_channel,
            Site::ChildPdeathsig => &raw const sandbox_systrap_site_child_pdeathsig,
            Site::ChildName => &raw const sandbox_systrap_site_child_name,
            Site::ChildHello => &raw const sandbox_systrap_site_child_hello,
            Site::ChildAltstack => &raw const sandbox_systrap_site_child_altstack,
            Site::BirthMask => &raw const sandbox_systrap_site_birth_mask,
            Site::Die => &raw const sandbox_systrap_site_die,
            Site::Ignore => &raw const sandbox_systrap_site_ignore,
        };
        at(label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_fits_its_room_and_every_site_follows_a_syscall() {
        let code = code();
        assert!(code.len() as u64 <= layout::CODE_LEN, "{} bytes", code.len());
        for &site in Site::ALL {
            let off = (site.addr() - CODE_BASE) as usize;
            assert_eq!(&code[off - 2..off], &[0x0f, 0x05], "{site:?} is not right after a syscall");
        }
        let mut addrs: Vec<u64> = Site::ALL.iter().map(|s| s.addr()).collect();
        addrs.sort();
        addrs.dedup();
        assert_eq!(addrs.len(), Site::ALL.len(), "two sites at one address");
        for a in [handler(), entry(), die()] {
            assert!((CODE_BASE..CODE_BASE + code.len() as u64).contains(&a));
        }
    }
}
