//! The loader's parsing of an executable: ELF headers, program headers,
//! the interpreter, a `#!` line.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sandbox::fuzzing::executable(data));
