//! The roles' JSON configurations (the sentry's and the gofer's).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    sandbox::fuzzing::boot_config(data);
    sandbox::fuzzing::gofer_config(data);
});
