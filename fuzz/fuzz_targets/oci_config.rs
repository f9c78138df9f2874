//! The OCI bundle's config.json. Until the OCI runtime (create/start) lands
//! with its parser, this fuzzes the boot configuration parser, which the
//! OCI path fills from config.json; wire `sandbox::fuzzing::oci_config`
//! here once it exists.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sandbox::fuzzing::boot_config(data));
