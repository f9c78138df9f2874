//! Executing a program, as Linux's `execve` does, in two steps so that a
//! failure leaves the caller's process as it was:
//!
//! 1. [`prepare`] (or [`prepare_file`]) finds and opens the program in the
//!    sandbox's file system (the sentry never reads a program from the
//!    host), follows a chain of `#!` scripts to the ELF file that runs,
//!    opens that program's dynamic loader (`PT_INTERP`), and checks the
//!    arguments against Linux's limits. Every failure is an [`ExecError`]
//!    with the errno `execve` returns.
//! 2. [`load_prepared`] maps the result into a fresh address space (the
//!    point of no return).
//!
//! [`find_program`] is the shell's PATH search, for `sandbox do`.
//! [`loader`] reads ELF files and `#!` scripts and lays out the initial
//! stack; [`execve`] replaces a running process's program.

pub mod execve;
pub mod loader;

use std::sync::Arc;

use nix::errno::Errno;
use thiserror::Error;

use crate::platform::Regs;
use crate::sentry::exec::loader::elf::{self, ElfError};
use crate::sentry::exec::loader::script::{self, BINPRM_BUF_SIZE, ShebangError};
use crate::sentry::exec::loader::{Ids, Image, LoadError, LoadSpec};
use crate::sentry::mm::{Mm, PAGE, STACK_SIZE};
use crate::vfs::file::OpenFile;
use crate::vfs::inode::{Ctx, FileType};
use crate::vfs::ops::At;
use crate::vfs::path::path_of;
use crate::vfs::perm::{MAY_EXEC, may_access};
use crate::vfs::{Location, Vfs};

/// The PATH searched when the environment has none (as glibc's `execvp`).
const DEFAULT_PATH: &[u8] = b"/usr/local/bin:/usr/bin:/bin";

/// Linux's limit on one argument or environment string, NUL included
/// (MAX_ARG_STRLEN).
pub const MAX_ARG_STRLEN: u64 = 32 * PAGE;
/// The space for strings that is always allowed, whatever the stack limit
/// (ARG_MAX, 32 pages).
const ARG_MIN_SPACE: u64 = 32 * PAGE;
/// Linux's default stack limit (_STK_LIM); strings never get more than
/// three quarters of it.
const STK_LIM: u64 = 8 << 20;
/// How many times a `#!` interpreter may be a script itself: Linux's
/// `exec_binprm` gives up with ELOOP on the sixth rewrite (five nested
/// scripts run, six do not).
const MAX_REWRITES: usize = 5;

#[derive(Debug, Error)]
pub enum ExecError {
    #[error("no such file in the sandbox's root")]
    NotFound,
    #[error("{0}")]
    Denied(&'static str),
    #[error("exec format error: {0}")]
    Format(#[from] ElfError),
    #[error("exec format error: {0}")]
    Script(#[from] ShebangError),
    #[error("too many levels of #! interpreters")]
    Loop,
    #[error("argument list too long")]
    TooBig,
    /// The `#!` or `PT_INTERP` interpreter cannot be executed.
    #[error("interpreter {path}: {source}")]
    Interpreter { path: String, source: Box<ExecError> },
    /// The `PT_INTERP` file is not a loadable ELF file.
    #[error("bad ELF interpreter {path}: {source}")]
    BadInterpreter { path: String, source: ElfError },
    #[error("{0}")]
    Io(Errno),
}

impl ExecError {
    fn from_errno(e: Errno) -> ExecError {
        match e {
            Errno::ENOENT => ExecError::NotFound,
            Errno::EACCES | Errno::EPERM => ExecError::Denied("permission denied"),
            Errno::EISDIR => ExecError::Denied("is a directory"),
            e => ExecError::Io(e),
        }
    }

    /// The errno `execve` fails with.
    pub fn errno(&self) -> Errno {
        match self {
            ExecError::NotFound => Errno::ENOENT,
            ExecError::Denied(_) => Errno::EACCES,
            ExecError::Format(ElfError::Io(e)) => *e,
            ExecError::Format(_) | ExecError::Script(_) => Errno::ENOEXEC,
            ExecError::Loop => Errno::ELOOP,
            ExecError::TooBig => Errno::E2BIG,
            ExecError::Interpreter { source, .. } => source.errno(),
            ExecError::BadInterpreter { source, .. } => interp_errno(source),
            ExecError::Io(e) => *e,
        }
    }

    /// The exit status a shell gives for it: 127 not found, 126 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.errno() == Errno::ENOENT { 127 } else { 126 }
    }
}

/// The errno for an interpreter that is not a loadable ELF file, as Linux's
/// `load_elf_binary`: a short header read is EIO, a wrong type EINVAL (from
/// `load_elf_interp`), anything else ELIBBAD.
fn interp_errno(e: &ElfError) -> Errno {
    match e {
        ElfError::Io(e) => *e,
        ElfError::TooShort => Errno::EIO,
        ElfError::NotExecutable(_) => Errno::EINVAL,
        _ => Errno::ELIBBAD,
    }
}

/// Open `path` for execution: an executable regular file on a mount that
/// allows it.
pub fn open_program(vfs: &Vfs, ctx: &Ctx, at: &At, path: &[u8]) -> Result<Arc<OpenFile>, ExecError> {
    let loc = vfs.lookup(ctx, at, path, true).map_err(ExecError::from_errno)?;
    open_found(vfs, ctx, loc)
}

/// Open the file at `loc` for execution (the checks of [`open_program`]):
/// `execveat` of a descriptor with `AT_EMPTY_PATH`.
pub fn open_found(vfs: &Vfs, ctx: &Ctx, loc: Location) -> Result<Arc<OpenFile>, ExecError> {
    match loc.dentry.file_type() {
        FileType::Regular => {}
        FileType::Directory => return Err(ExecError::Denied("is a directory")),
        _ => return Err(ExecError::Denied("permission denied")),
    }
    if loc.mount.flags.noexec {
        return Err(ExecError::Denied("permission denied"));
    }
    let st = loc.inode().stat().map_err(ExecError::Io)?;
    may_access(ctx, &st, MAY_EXEC).map_err(ExecError::from_errno)?;
    vfs.open_location(ctx, loc, libc::O_RDONLY).map_err(ExecError::from_errno)
}

/// Find `name` as the shell does: a name with a slash is a path; any
/// other is looked for in each directory of `path_var`. Returns the path
/// found and the opened program, for [`prepare_file`].
pub fn find_program(
    vfs: &Vfs,
    ctx: &Ctx,
    at: &At,
    name: &[u8],
    path_var: Option<&[u8]>,
) -> Result<(Vec<u8>, Arc<OpenFile>), ExecError> {
    if name.is_empty() {
        return Err(ExecError::NotFound);
    }
    if name.contains(&b'/') {
        return Ok((name.to_vec(), open_program(vfs, ctx, at, name)?));
    }
    let mut first_denial = None;
    for dir in path_var.unwrap_or(DEFAULT_PATH).split(|&c| c == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let candidate = [dir, b"/", name].concat();
        match open_program(vfs, ctx, at, &candidate) {
            Ok(f) => return Ok((candidate, f)),
            // As execvp: a missing file or directory means look further.
            Err(ExecError::NotFound | ExecError::Io(Errno::ENOTDIR)) => {}
            Err(e) => {
                first_denial.get_or_insert(e);
            }
        }
    }
    Err(first_denial.unwrap_or(ExecError::NotFound))
}

/// The arguments and environment of an exec, and the stack limit
/// (RLIMIT_STACK) they are measured against.
#[derive(Clone, Debug, Default)]
pub struct ExecArgs {
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    pub stack_limit: u64,
}

/// An exec that is ready to load: every file it needs is open and parsed.
pub struct Prepared {
    /// The path exec was given (AT_EXECFN; the process name comes from it).
    pub path: Vec<u8>,
    /// The arguments after `#!` rewriting, and the environment.
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// The ELF program that runs: the last file of the `#!` chain.
    pub program: Image,
    /// Its dynamic loader.
    pub interp: Option<Image>,
}

impl Prepared {
    /// The executable's absolute path in the sandbox (`/proc/[pid]/exe`):
    /// for a script, its interpreter's.
    pub fn exe(&self) -> &[u8] {
        &self.program.name
    }

    /// The process name exec sets: the last component of the path it was
    /// given, at most 15 bytes (TASK_COMM_LEN - 1).
    pub fn comm(&self) -> Vec<u8> {
        let base = self.path.rsplit(|&c| c == b'/').next().unwrap_or(&self.path);
        base[..base.len().min(15)].to_vec()
    }
}

/// How much space the argument and environment strings (and their
/// pointers) may take, for a stack limit: a quarter of it, at most three
/// quarters of _STK_LIM, at least 32 pages (Linux's `bprm_stack_limits`).
/// The sentry's main-thread stack is [`STACK_SIZE`] whatever the limit
/// says, so a larger limit counts as that.
pub fn arg_space(stack_limit: u64) -> u64 {
    (STK_LIM / 4 * 3).min(stack_limit.min(STACK_SIZE) / 4).max(ARG_MIN_SPACE)
}

/// Check the strings exec puts on the new stack, as Linux counts them:
/// `filename` (the path given), the arguments and the environment, each
/// with its NUL and at most [`MAX_ARG_STRLEN`], plus one pointer for each
/// of `pointers` (the caller's argc, at least 1, and envc) must fit in
/// [`arg_space`].
pub fn check_args(
    filename: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    pointers: usize,
    stack_limit: u64,
) -> Result<(), ExecError> {
    let limit = arg_space(stack_limit);
    let pointers = (pointers as u64).saturating_mul(8);
    let mut room = limit.checked_sub(pointers).filter(|&r| r > 0).ok_or(ExecError::TooBig)?;
    for s in
        std::iter::once(filename).chain(argv.iter().map(Vec::as_slice)).chain(envp.iter().map(Vec::as_slice))
    {
        let len = s.len() as u64 + 1;
        if len > MAX_ARG_STRLEN {
            return Err(ExecError::TooBig);
        }
        room = room.checked_sub(len).ok_or(ExecError::TooBig)?;
    }
    Ok(())
}

/// Prepare to execute `path`, looked up from `at` (see [`prepare_file`]).
#[allow(dead_code, reason = "the entry point for execve, which boot does not use")]
pub fn prepare(vfs: &Vfs, ctx: &Ctx, at: &At, path: &[u8], args: ExecArgs) -> Result<Prepared, ExecError> {
    let file = open_program(vfs, ctx, at, path)?;
    prepare_file(vfs, ctx, at, path, file, args)
}

/// Prepare to execute `file`, opened (by [`open_program`]) from `path`:
/// follow `#!` lines to the ELF program (interpreters are looked up from
/// `at`, as Linux looks them up from the working directory), open its
/// `PT_INTERP`, and check the arguments' size.
pub fn prepare_file(
    vfs: &Vfs,
    ctx: &Ctx,
    at: &At,
    path: &[u8],
    file: Arc<OpenFile>,
    args: ExecArgs,
) -> Result<Prepared, ExecError> {
    let ExecArgs { mut argv, envp, stack_limit } = args;
    // Since Linux 5.18 an empty argv gets an empty argv[0].
    if argv.is_empty() {
        argv.push(Vec::new());
    }
    let pointers = argv.len() + envp.len();
    check_args(path, &argv, &envp, pointers, stack_limit)?;

    // The `#!` chain: each script's interpreter replaces it, with the name
    // the script was run by as its argument.
    let mut file = file;
    let mut name = path.to_vec();
    let mut rewrites = 0;
    loop {
        let head = elf::read_prefix(file.as_ref(), 0, BINPRM_BUF_SIZE).map_err(ExecError::Io)?;
        if elf::is_elf(&head) {
            break;
        }
        let line = script::parse(&head)?;
        argv = script::rewrite_argv(&line, &name, &argv);
        check_args(path, &argv, &envp, pointers, stack_limit)?;
        if line.interp.is_empty() {
            // Linux (6.x) answers EACCES for the empty name a bare "#!"
            // gives, where a lookup of "" would say ENOENT.
            return Err(interpreter(b"", ExecError::Denied("permission denied")));
        }
        file = open_program(vfs, ctx, at, &line.interp).map_err(|e| interpreter(&line.interp, e))?;
        name = line.interp;
        // Counted once the interpreter is open, as Linux does (a missing
        // one is ENOENT even past the limit).
        rewrites += 1;
        if rewrites > MAX_REWRITES {
            return Err(ExecError::Loop);
        }
    }

    let program = Image::new(file.clone(), absolute(&file, at, &name))?;
    let interp = match &program.info.interp {
        Some(ipath) => {
            let ifile = open_program(vfs, ctx, at, ipath).map_err(|e| interpreter(ipath, e))?;
            let shown = absolute(&ifile, at, ipath);
            // Linux loads any ET_EXEC or ET_DYN file here and ignores an
            // interpreter's own PT_INTERP.
            let image = Image::new(ifile, shown).map_err(|source| ExecError::BadInterpreter {
                path: String::from_utf8_lossy(ipath).into_owned(),
                source,
            })?;
            Some(image)
        }
        None => None,
    };
    Ok(Prepared { path: path.to_vec(), argv, envp, program, interp })
}

fn interpreter(path: &[u8], e: ExecError) -> ExecError {
    ExecError::Interpreter { path: String::from_utf8_lossy(path).into_owned(), source: Box::new(e) }
}

/// The absolute path of an opened file, or the name it was opened by.
fn absolute(file: &OpenFile, at: &At, name: &[u8]) -> Vec<u8> {
    file.location().map_or_else(|| name.to_vec(), |loc| path_of(loc, at.root))
}

/// Load a prepared exec into `mm`, a fresh address space, and return the
/// registers to start with, from the platform's initial `base`. `random`
/// gives AT_RANDOM (16 bytes) and the layout's randomness.
pub fn load_prepared(
    mm: &mut Mm,
    prepared: &Prepared,
    ids: Ids,
    base: Regs,
    random: [u8; 32],
) -> Result<Regs, LoadError> {
    let spec = LoadSpec {
        program: &prepared.program,
        interp: prepared.interp.as_ref(),
        argv: &prepared.argv,
        envp: &prepared.envp,
        execfn: &prepared.path,
        ids,
        random,
    };
    loader::load(mm, &spec, base)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 8 << 20;

    #[test]
    fn arg_space_is_a_quarter_of_the_stack_within_bounds() {
        assert_eq!(arg_space(8 << 20), 2 << 20);
        assert_eq!(arg_space(1 << 20), 256 << 10);
        assert_eq!(arg_space(256 << 10), 32 * PAGE, "at least ARG_MAX");
        assert_eq!(arg_space(0), 32 * PAGE);
        // Above the sentry's fixed stack size, the stack is what counts.
        assert_eq!(arg_space(64 << 20), 2 << 20);
        assert_eq!(arg_space(u64::MAX), 2 << 20);
    }

    #[test]
    fn strings_and_pointers_count_up_to_the_limit() {
        // 2 MiB: the file name "f" (2 bytes), one argument "a" (2 bytes),
        // eight bytes for each of the pointers, and environment strings
        // (each under 32 pages) that fill the rest exactly.
        let pointers = 1 + 30;
        let mut room = (2u64 << 20) - 2 - 2 - pointers as u64 * 8;
        let mut envp = Vec::new();
        while room > 0 {
            let len = room.min(100_000);
            envp.push(vec![b'e'; len as usize - 1]);
            room -= len;
        }
        assert!(envp.len() <= 30);
        let argv = vec![b"a".to_vec()];
        assert!(check_args(b"f", &argv, &envp, pointers, LIMIT).is_ok(), "exactly full");
        envp.last_mut().unwrap().push(b'z');
        assert!(matches!(check_args(b"f", &argv, &envp, pointers, LIMIT), Err(ExecError::TooBig)));
        assert!(matches!(check_args(b"ff", &argv, &envp[..envp.len() - 1], pointers, LIMIT), Ok(())));
        // Pointers alone can exhaust the space.
        assert!(matches!(check_args(b"f", &argv, &[], 300_000, LIMIT), Err(ExecError::TooBig)));
    }

    #[test]
    fn one_string_is_at_most_32_pages() {
        let fits = vec![vec![b'x'; MAX_ARG_STRLEN as usize - 1]];
        assert!(check_args(b"f", &fits, &[], 1, LIMIT).is_ok());
        let over = vec![vec![b'x'; MAX_ARG_STRLEN as usize]];
        assert!(matches!(check_args(b"f", &over, &[], 1, LIMIT), Err(ExecError::TooBig)));
        assert!(matches!(check_args(b"f", &[], &over, 1, LIMIT), Err(ExecError::TooBig)));
    }

    #[test]
    fn errors_map_to_the_errno_execve_returns() {
        let cases: Vec<(ExecError, Errno)> = vec![
            (ExecError::NotFound, Errno::ENOENT),
            (ExecError::Denied("permission denied"), Errno::EACCES),
            (ExecError::Format(ElfError::BadMagic), Errno::ENOEXEC),
            (ExecError::Format(ElfError::Io(Errno::EIO)), Errno::EIO),
            (ExecError::Script(ShebangError::TooLong), Errno::ENOEXEC),
            (ExecError::Loop, Errno::ELOOP),
            (ExecError::TooBig, Errno::E2BIG),
            (interpreter(b"/x", ExecError::NotFound), Errno::ENOENT),
            (interpreter(b"/x", ExecError::Denied("permission denied")), Errno::EACCES),
            (ExecError::BadInterpreter { path: "/x".into(), source: ElfError::BadMagic }, Errno::ELIBBAD),
            (ExecError::BadInterpreter { path: "/x".into(), source: ElfError::WrongArch }, Errno::ELIBBAD),
            (ExecError::BadInterpreter { path: "/x".into(), source: ElfError::TooShort }, Errno::EIO),
            (
                ExecError::BadInterpreter { path: "/x".into(), source: ElfError::NotExecutable(4) },
                Errno::EINVAL,
            ),
            (ExecError::Io(Errno::ENOTDIR), Errno::ENOTDIR),
        ];
        for (e, errno) in cases {
            assert_eq!(e.errno(), errno, "{e}");
            assert_eq!(e.exit_code(), if errno == Errno::ENOENT { 127 } else { 126 });
        }
        let nested = interpreter(b"/usr/bin/env", ExecError::NotFound);
        assert_eq!(nested.to_string(), "interpreter /usr/bin/env: no such file in the sandbox's root");
    }
}
