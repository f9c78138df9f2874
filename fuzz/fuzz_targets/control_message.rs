//! A message of a container's control channel, decoded both ways.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sandbox::fuzzing::control_message(data));
