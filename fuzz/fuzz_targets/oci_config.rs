//! The OCI bundle's config.json, as `sandbox create` checks and plans it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sandbox::fuzzing::oci_config(data));
