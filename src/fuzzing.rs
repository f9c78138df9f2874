//! One input for each decoder of untrusted bytes, as the sandbox itself
//! decodes them: the gofer protocol in both directions (a compromised
//! sentry writes the requests, a compromised gofer the replies), the ELF
//! header and program headers of an executable and its `#!` line (the
//! application writes the files), the JSON configurations the roles
//! read, an OCI bundle's config.json (the engine's user writes it) and the
//! control channel's messages (a compromised runtime or sentry writes
//! them). Each function must return without panicking on any input, and
//! checks what must hold of what it decoded.
//!
//! Shared by the cargo-fuzz targets in `fuzz/` and the fixed-seed property
//! tests below, which CI runs (no nightly compiler needed).

use crate::proto::gofer::protocol::{EventPacket, Request, Response};

/// A gofer request, as the gofer decodes it, and a packet of its event
/// socket (the gofer reads the sentry's `Sync`, the sentry the gofer's
/// events): what decodes encodes back to the same bytes.
pub fn gofer_request(data: &[u8]) {
    if let Ok(req) = Request::decode(data) {
        assert_eq!(req.encode(), data, "{req:?} does not encode back");
    }
    if let Ok(packet) = EventPacket::decode(data) {
        assert_eq!(packet.encode(), data, "{packet:?} does not encode back");
    }
}

/// A gofer reply, as the sentry decodes it: what decodes survives a round
/// trip (replies are not canonical: an unknown errno decodes as EIO).
pub fn gofer_response(data: &[u8]) {
    if let Ok(resp) = Response::decode(data) {
        assert_eq!(Response::decode(&resp.encode()), Ok(resp));
    }
}

/// An executable, as the sentry's loader parses it before mapping it: the
/// ELF header and program headers, or a `#!` line.
pub fn executable(data: &[u8]) {
    use crate::sentry::exec::loader::{elf, script};
    if let Ok(info) = elf::parse(data) {
        for s in &info.segments {
            assert!(s.filesz <= s.memsz, "{s:?}");
        }
    }
    let _ = script::parse(data);
}

/// The sentry's configuration (JSON, from the runtime).
pub fn boot_config(data: &[u8]) {
    let _ = serde_json::from_slice::<crate::proto::boot::BootConfig>(data);
}

/// The gofer's configuration (JSON, from the runtime).
pub fn gofer_config(data: &[u8]) {
    let _ = serde_json::from_slice::<crate::proto::gofer_config::GoferConfig>(data);
}

/// An OCI bundle's config.json, as `create` checks and plans it.
pub fn oci_config(data: &[u8]) {
    crate::boot::oci::spec::fuzz_one(data);
}

/// A message of a container's control channel, as the sentry (requests)
/// and the runtime (replies) decode it.
pub fn control_message(data: &[u8]) {
    use crate::proto::control::{Reply, Request, decode};
    let _ = decode::<Request>(data);
    let _ = decode::<Reply>(data);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    /// Bounded and reproducible: the same inputs on every run.
    fn config() -> Config {
        Config {
            cases: 4096,
            rng_seed: RngSeed::Fixed(0x5eed_5a4d_b0c5),
            failure_persistence: None,
            ..Config::default()
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn gofer_messages(data in proptest::collection::vec(any::<u8>(), 0..700)) {
            super::gofer_request(&data);
            super::gofer_response(&data);
        }

        #[test]
        fn executables(head in proptest::collection::vec(any::<u8>(), 0..600), elf in any::<bool>()) {
            let mut data = head;
            if elf && data.len() >= 20 {
                // A valid start, so the parse goes past the magic.
                data[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\x00");
                data[16..20].copy_from_slice(&[2, 0, 0x3e, 0]);
            }
            super::executable(&data);
        }

        #[test]
        fn configurations(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            super::boot_config(&data);
            super::gofer_config(&data);
            super::control_message(&data);
        }

        #[test]
        fn oci_configs(data in proptest::collection::vec(any::<u8>(), 0..400), json in any::<bool>()) {
            // Half of the inputs start as JSON objects, so the parse goes
            // past the first byte.
            let mut data = data;
            if json {
                data.splice(0..0, br#"{"ociVersion":"1.0.2","root":{"path":"."},"#.iter().copied());
            }
            super::oci_config(&data);
        }
    }
}
