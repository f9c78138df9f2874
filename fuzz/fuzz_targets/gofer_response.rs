//! The gofer protocol decoder: a response from arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sandbox::fuzzing::gofer_response(data));
