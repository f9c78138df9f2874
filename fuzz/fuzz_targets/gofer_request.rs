//! The gofer protocol decoder: a request from arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sandbox::fuzzing::gofer_request(data));
