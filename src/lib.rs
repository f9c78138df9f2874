//! The sandbox's module tree, one per role (see DESIGN.md's layout): the
//! binary (`main.rs`) only dispatches to [`run`]. Two things are public: the
//! entry point, and [`fuzzing`], the decoders of untrusted input that the
//! fuzz targets (`fuzz/`) and the fixed-seed property tests exercise.

mod boot;
mod confine;
pub mod fuzzing;
mod gofer;
mod platform;
mod proto;
mod sentry;
mod sysno;
mod vfs;
mod wait;

/// Run the binary with `args` (argv without argv[0]); returns the exit
/// status. `name` is the program name for messages.
pub fn run(name: &str, args: &[String]) -> i32 {
    boot::main(name, args)
}
