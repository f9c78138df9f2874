//! Escape attempts against the platform boundary (issue 7): a program that
//! installs its own SIGSYS handler, makes system calls from code it wrote,
//! jumps into the stub's system-call instructions with hostile registers,
//! attacks the stub's pages, and reads or trashes context pages. Each is
//! refused or harmless, and the host side shows it: marker paths that a
//! host system call would have made do not exist on the host, and a host
//! process the program tries to kill lives. The tests run on the matrix's
//! platform (both, in `scripts/test`); the context-page ones mean most on
//! systrap, where those pages exist.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command};

use common::*;

/// Where every platform keeps its stub code (`platform::STUB_BASE`) and
/// where systrap's context slots start (`systrap::layout::CTX_BASE`).
const STUB: &str = "7ffffc000000";
const CTX: &str = "7ffffc010000";

fn escape(args: &[&str]) -> std::process::Output {
    let prog = c_program("systrap_escape");
    let mut argv = vec![prog.to_str().unwrap()];
    argv.extend_from_slice(args);
    run_do(&[], &argv)
}

/// A path on the host that only a host system call could create: visible
/// read-only in the sandbox, so a sandboxed mkdir lands in the overlay.
fn marker(name: &str) -> PathBuf {
    let p = PathBuf::from(format!("/var/tmp/sandbox-escape-systrap-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir(&p);
    let _ = std::fs::remove_file(&p);
    p
}

fn assert_absent(paths: &[PathBuf]) {
    for p in paths {
        assert!(!p.exists(), "{} was created on the host", p.display());
    }
}

fn on_systrap() -> bool {
    platform().is_none_or(|p| p == "systrap")
}

/// A host process the sandboxed program will try to kill.
struct Victim(Child);

impl Victim {
    fn start() -> Victim {
        Victim(Command::new("sleep").arg("60").spawn().expect("sleep"))
    }
    fn pid(&self) -> String {
        self.0.id().to_string()
    }
    fn assert_alive(&mut self) {
        assert!(self.0.try_wait().unwrap().is_none(), "the host process was killed");
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_sigsys_handler_of_its_own_changes_nothing() {
    let m = marker("sigsys");
    let o = escape(&["sigsys", m.to_str().unwrap()]);
    assert_eq!(
        stdout(&o),
        "installed=0 pid=1 node=sandbox mkdir=0 handler_ran_for_syscalls=0 raised=1\n",
        "{}",
        stderr(&o)
    );
    assert_absent(&[m]);
}

#[test]
fn code_it_writes_itself_still_traps() {
    let m = marker("jit");
    let o = escape(&["jit", m.to_str().unwrap()]);
    assert_eq!(stdout(&o), "rwx mkdir=0 exists_inside=1 mprotect=0 rx getpid=1 same=1\n", "{}", stderr(&o));
    assert_absent(&[m]);
}

#[test]
fn jumping_into_the_stub_with_hostile_registers_reaches_no_host_call() {
    let m = marker("jump");
    let mut victim = Victim::start();
    let o = escape(&["stub-jump", STUB, m.to_str().unwrap(), &victim.pid()]);
    assert_eq!((status(&o), stdout(&o).as_str()), (0, "sites=1 children=1\n"), "{}", stderr(&o));
    let exec = PathBuf::from(format!("{}-exec", m.display()));
    let open = PathBuf::from(format!("{}-open", m.display()));
    assert_absent(&[m, exec, open]);
    victim.assert_alive();
}

#[test]
fn the_stub_pages_cannot_be_unmapped_remapped_or_written() {
    let o = escape(&["stub-pages", STUB, CTX]);
    assert_eq!(
        stdout(&o),
        "munmap=-1/1 mprotect=-1/1 mmap_fixed=1/1 ctx_fixed=1 hint_elsewhere=1 mremap_into=1 madvise=-1 \
         store_faulted=1 still_works=1\n",
        "{}",
        stderr(&o)
    );
}

#[test]
fn context_pages_are_per_process() {
    // The positive control: on systrap a thread sees its own process's
    // registers in the context region (harmless: it shares all memory).
    let o = escape(&["ctx-thread", CTX]);
    let visible = if on_systrap() { 1 } else { 0 };
    assert_eq!(stdout(&o), format!("own thread's registers visible={visible}\n"), "{}", stderr(&o));
    // A forked child, scanning the same addresses while the parent blocks
    // with the same registers, sees nothing of its parent's, and what it
    // writes there does not disturb the parent.
    let o = escape(&["ctx-fork", CTX]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (0, "forked child saw parent's registers=0 parent read ok=1\n"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn trashing_its_own_context_pages_harms_only_that_process() {
    let o = escape(&["ctx-scribble", CTX]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (0, "scribbling child ended=1 parent still works=1\n"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}
