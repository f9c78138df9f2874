//! The platform contract, tested the same way on every platform of this
//! build: machine code is written into a fresh address space and run, and
//! each event, register, memory operation, clone and interruption is
//! checked against what the contract says.

use std::sync::Arc;
use std::time::Duration;

use super::*;

const CODE: u64 = 0x10_0000;
const DATA: u64 = 0x20_0000;
const STACK: u64 = 0x30_0000;
const PAGE: u64 = 4096;
const RX: Prot = Prot { read: true, write: false, exec: true };
const R: Prot = Prot { read: true, write: false, exec: false };

/// Every platform of this build, started here.
fn platforms() -> Vec<Box<dyn Platform>> {
    // What a platform logs when a test fails is worth seeing.
    let _ = env_logger::builder().is_test(true).try_init();
    PlatformKind::ALL
        .into_iter()
        .filter_map(|k| match k.available() {
            Ok(()) => Some(k.build()),
            Err(why) => {
                eprintln!("skipped {}: {why}", k.name());
                None
            }
        })
        .collect()
}

/// Machine code, assembled by hand.
#[derive(Default)]
struct Code(Vec<u8>);

impl Code {
    fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    /// `mov eax, imm32; syscall`
    fn syscall(self, nr: u32) -> Self {
        self.bytes(&[0xb8]).bytes(&nr.to_le_bytes()).bytes(&[0x0f, 0x05])
    }
    /// `mov rdi, rax`
    fn rax_to_rdi(self) -> Self {
        self.bytes(&[0x48, 0x89, 0xc7])
    }
}

/// A fresh process with `code` at CODE, a data page and a stack; returns
/// the registers to start it with.
fn load(space: &mut Box<dyn AddressSpace>, ctx: &mut Box<dyn Context>, code: &Code) -> Regs {
    space.map_anon(CODE, PAGE, Prot::RW, false).unwrap();
    space.write(CODE, &code.0).unwrap();
    space.protect(CODE, PAGE, RX).unwrap();
    space.map_anon(DATA, PAGE, Prot::RW, false).unwrap();
    space.map_anon(STACK - 4 * PAGE, 4 * PAGE, Prot::RW, false).unwrap();
    let mut regs = ctx.regs().unwrap();
    regs.rip = CODE;
    regs.rsp = STACK - 64;
    regs.eflags = 0x202;
    regs.fs_base = 0;
    regs
}

fn expect_syscall(ctx: &mut Box<dyn Context>, regs: &mut Regs, nr: u64) {
    let ev = ctx.switch(regs).unwrap();
    assert_eq!((ev, regs.orig_rax), (Event::Syscall, nr));
}

#[test]
fn syscalls_registers_fp_state_and_faults() {
    for p in platforms() {
        let name = p.name();
        let (mut space, mut ctx) = p.new_process().unwrap();
        let code = Code::default()
            .syscall(39)
            .rax_to_rdi()
            .syscall(1000)
            // mov rax, fs:[0]
            .bytes(&[0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0])
            .rax_to_rdi()
            .syscall(1001)
            // movq rax, xmm0
            .bytes(&[0x66, 0x48, 0x0f, 0x7e, 0xc0])
            .rax_to_rdi()
            .syscall(1002)
            // ud2; int3; mov byte [8], 1
            .bytes(&[0x0f, 0x0b, 0xcc, 0xc6, 0x04, 0x25, 8, 0, 0, 0, 1]);
        let mut regs = load(&mut space, &mut ctx, &code);
        expect_syscall(&mut ctx, &mut regs, 39);
        assert_eq!(regs.rip, CODE + 7, "{name}: rip is past the syscall");
        regs.rax = 4242;
        regs.r12 = 0x1234_5678_9abc;
        expect_syscall(&mut ctx, &mut regs, 1000);
        assert_eq!((regs.rdi, regs.r12), (4242, 0x1234_5678_9abc), "{name}: registers go in and out");
        // The fs base the sentry sets is the one the code sees.
        space.write(DATA, &0xfeed_f00d_u64.to_le_bytes()).unwrap();
        regs.fs_base = DATA;
        expect_syscall(&mut ctx, &mut regs, 1001);
        assert_eq!((regs.rdi, regs.fs_base), (0xfeed_f00d, DATA), "{name}: fs base");
        // FPU state: xmm0 (at 160 in the legacy area) set by the sentry.
        let mut fp = ctx.fp_state().unwrap();
        fp[160..168].copy_from_slice(&0x0bad_cafe_u64.to_le_bytes());
        if fp.len() > 512 {
            fp[512] |= 2;
        }
        ctx.set_fp_state(&fp).unwrap();
        expect_syscall(&mut ctx, &mut regs, 1002);
        assert_eq!(regs.rdi, 0x0bad_cafe, "{name}: xmm0");
        assert_eq!(&ctx.fp_state().unwrap()[160..168], &0x0bad_cafe_u64.to_le_bytes(), "{name}");
        // A bad XSAVE header is refused, not loaded.
        if fp.len() > 512 {
            let mut bad = fp.clone();
            bad[520] = 1;
            assert!(ctx.set_fp_state(&bad).is_err(), "{name}: compacted xsave refused");
        }
        let ud2 = regs.rip;
        let ev = ctx.switch(&mut regs).unwrap();
        assert!(matches!(ev, Event::Fault { signo: libc::SIGILL, .. }), "{name}: {ev:?}");
        assert_eq!(regs.rip, ud2, "{name}: a fault stops at the instruction");
        regs.rip += 2;
        let ev = ctx.switch(&mut regs).unwrap();
        assert!(matches!(ev, Event::Fault { signo: libc::SIGTRAP, .. }), "{name}: {ev:?}");
        assert_eq!(regs.rip, ud2 + 3, "{name}: int3 stops after itself");
        let ev = ctx.switch(&mut regs).unwrap();
        // SEGV_MAPERR (1): nothing is mapped at 8.
        assert_eq!(ev, Event::Fault { signo: libc::SIGSEGV, code: 1, addr: 8 }, "{name}");
    }
}

#[test]
fn memory_is_mapped_protected_moved_and_copied() {
    for p in platforms() {
        let name = p.name();
        let (mut space, mut ctx) = p.new_process().unwrap();
        let _ = load(&mut space, &mut ctx, &Code::default().syscall(39));
        let a = 0x40_0000;
        space.map_anon(a, 2 * PAGE, Prot::RW, false).unwrap();
        space.write(a + PAGE - 2, b"abcd").unwrap();
        let mut back = [0u8; 4];
        space.read(a + PAGE - 2, &mut back).unwrap();
        assert_eq!(&back, b"abcd", "{name}: across a page boundary");
        space.protect(a, PAGE, R).unwrap();
        assert!(space.write(a, b"x").is_err(), "{name}: read-only memory is not written");
        // mremap moves one mapping: make the range one again.
        space.protect(a, PAGE, Prot::RW).unwrap();
        space.remap(a, 2 * PAGE, 0x50_0000, 3 * PAGE).unwrap();
        space.read(0x50_0000 + PAGE - 2, &mut back).unwrap();
        assert_eq!(&back, b"abcd", "{name}: moved with its contents");
        assert!(space.read(a, &mut back).is_err(), "{name}: the old range is gone");
        space.unmap(0x50_0000, 3 * PAGE).unwrap();
        assert!(space.read(0x50_0000, &mut back).is_err(), "{name}");
        // A host file, mapped privately.
        let path = std::env::temp_dir().join(format!("platform-map-{}-{name}", std::process::id()));
        std::fs::write(&path, vec![b'f'; 8192]).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        space.map_file(0x60_0000, PAGE, R, std::os::fd::AsFd::as_fd(&f), PAGE, false).unwrap();
        space.read(0x60_0000, &mut back).unwrap();
        assert_eq!(&back, b"ffff", "{name}: file contents");
        // Mapped shared: one page cache with the file's reads and writes.
        let rw = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        space.map_file(0x61_0000, 2 * PAGE, Prot::RW, std::os::fd::AsFd::as_fd(&rw), 0, true).unwrap();
        space.write(0x61_0000 + PAGE, b"map!").unwrap();
        let mut in_file = [0u8; 4];
        nix::sys::uio::pread(&rw, &mut in_file, PAGE as i64).unwrap();
        assert_eq!(&in_file, b"map!", "{name}: a store through the mapping is in the file");
        nix::sys::uio::pwrite(&rw, b"file", 4).unwrap();
        space.read(0x61_0004, &mut back).unwrap();
        assert_eq!(&back, b"file", "{name}: a write to the file is in the mapping");
        drop(rw);
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn threads_forks_and_shared_memory_processes() {
    for p in platforms() {
        let name = p.name();
        let (mut space, mut ctx) = p.new_process().unwrap();
        // Each thread reports the byte at DATA, then ends with a syscall.
        let code = Code::default()
            .bytes(&[0x48, 0x8b, 0x3c, 0x25]) // mov rdi, [DATA]
            .bytes(&(DATA as u32).to_le_bytes())
            .syscall(1000);
        let mut regs = load(&mut space, &mut ctx, &code);
        space.write(DATA, &[1]).unwrap();
        for kind in [CloneKind::Thread, CloneKind::SharedVm, CloneKind::Fork] {
            let (detached, child_space) = ctx.clone_thread(kind).unwrap();
            assert_eq!(child_space.is_some(), kind == CloneKind::Fork, "{name}");
            let mut child_regs = regs;
            let runner = std::thread::spawn(move || {
                let mut child = detached.attach().unwrap();
                let mut r = child_regs;
                let ev = child.switch(&mut r).unwrap();
                child_regs = r;
                // The child's own view of DATA, after the parent wrote 2.
                let mut byte = [0u8; 1];
                if let Some(s) = &child_space {
                    s.read(DATA, &mut byte).unwrap();
                }
                (ev, child_regs.rdi, byte[0])
            });
            let (ev, rdi, forked_sees) = runner.join().unwrap();
            assert_eq!((ev, rdi), (Event::Syscall, 1), "{name} {kind:?}: the child ran");
            if kind == CloneKind::Fork {
                assert_eq!(forked_sees, 1, "{name}: the fork's memory is its own");
            }
        }
        // The parent still runs, and a write after the fork is its own.
        space.write(DATA, &[2]).unwrap();
        expect_syscall(&mut ctx, &mut regs, 1000);
        assert_eq!(regs.rdi, 2, "{name}");
    }
}

#[test]
fn a_running_thread_is_interrupted() {
    for p in platforms() {
        let name = p.name();
        let (mut space, mut ctx) = p.new_process().unwrap();
        // jmp $
        let mut regs = load(&mut space, &mut ctx, &Code::default().bytes(&[0xeb, 0xfe]));
        let interrupter = ctx.interrupter();
        let kick = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            interrupter.interrupt();
        });
        assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Interrupted, "{name}");
        assert_eq!(regs.rip, CODE, "{name}: still in the loop");
        kick.join().unwrap();
    }
}

#[test]
fn many_processes_start_and_end() {
    let p: Arc<Vec<Box<dyn Platform>>> = Arc::new(platforms());
    for p in p.iter() {
        for _ in 0..40 {
            let (mut space, mut ctx) = p.new_process().unwrap();
            let mut regs = load(&mut space, &mut ctx, &Code::default().syscall(39));
            expect_syscall(&mut ctx, &mut regs, 39);
        }
    }
}

#[test]
fn threads_come_and_go_more_times_than_a_process_has_slots() {
    for p in platforms() {
        let name = p.name();
        let (mut space, mut ctx) = p.new_process().unwrap();
        let regs = load(&mut space, &mut ctx, &Code::default().syscall(1000));
        // More than systrap's 2,047 slots per address space: each thread's
        // slot must come back once the thread is gone.
        for i in 0..2100 {
            let (detached, _) =
                ctx.clone_thread(CloneKind::Thread).unwrap_or_else(|e| panic!("{name} #{i}: {e}"));
            let mut r = regs;
            let ev = std::thread::spawn(move || detached.attach().unwrap().switch(&mut r).unwrap())
                .join()
                .unwrap();
            assert_eq!(ev, Event::Syscall, "{name} #{i}");
        }
    }
}

#[test]
fn kinds_are_named_as_on_the_command_line() {
    for k in PlatformKind::ALL {
        assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.name()));
        assert_eq!(serde_json::from_str::<PlatformKind>(&format!("\"{}\"", k.name())).unwrap(), k);
        assert_eq!(k.name().parse::<PlatformKind>().unwrap(), k);
    }
    assert_eq!(
        choose(Some("warp")).unwrap_err().to_string(),
        "unknown platform \"warp\" (this build has: systrap, ptrace)"
    );
    assert_eq!(choose(Some("ptrace")).unwrap(), PlatformKind::Ptrace);
    assert_eq!(choose(None).unwrap(), default_kind());
}

#[test]
fn a_file_mapped_shared_is_the_same_memory_in_every_address_space() {
    use std::os::fd::AsFd;
    for p in platforms() {
        let name = p.name();
        let memfd = nix::sys::memfd::memfd_create(c"platform-shared", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .unwrap();
        nix::unistd::ftruncate(&memfd, 2 * PAGE as i64).unwrap();
        let mut back = [0u8; 4];
        {
            let (mut space, mut ctx) = p.new_process().unwrap();
            let _ = load(&mut space, &mut ctx, &Code::default().syscall(39));
            space.map_file(0x60_0000, 2 * PAGE, Prot::RW, memfd.as_fd(), 0, true).unwrap();
            space.write(0x60_0000 + PAGE, b"seen").unwrap();
            nix::sys::uio::pread(&memfd, &mut back, PAGE as i64).unwrap();
            assert_eq!(&back, b"seen", "{name}: a store through the mapping is in the file");
        }
        // Another process, mapping the second page read-only.
        let (mut space, mut ctx) = p.new_process().unwrap();
        let _ = load(&mut space, &mut ctx, &Code::default().syscall(39));
        space.map_file(0x70_0000, PAGE, R, memfd.as_fd(), PAGE, true).unwrap();
        space.read(0x70_0000, &mut back).unwrap();
        assert_eq!(&back, b"seen", "{name}: the other process's store");
        assert!(space.write(0x70_0000, b"x").is_err(), "{name}: mapped read-only");
        nix::sys::uio::pwrite(&memfd, b"more", PAGE as i64).unwrap();
        space.read(0x70_0000, &mut back).unwrap();
        assert_eq!(&back, b"more", "{name}: one memory with the file");
    }
}
