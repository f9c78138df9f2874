//! The flags engines pass that mean nothing here, each listed with the
//! reason it is harmless to ignore; `crate::boot::argv` drops them while
//! it makes the command line ready for the parser.

/// A flag accepted and ignored: its name, whether a value follows it, and
/// why ignoring it is right.
struct Ignored {
    name: &'static str,
    takes_value: bool,
    #[allow(dead_code)]
    why: &'static str,
}

const IGNORED: &[Ignored] = &[
    Ignored {
        name: "--no-pivot",
        takes_value: false,
        why: "the sentry never sees the host's file system, so how the root would be entered does not arise",
    },
    Ignored {
        name: "--no-new-keyring",
        takes_value: false,
        why: "the sandbox has no kernel keyrings for a session keyring to isolate",
    },
    Ignored {
        name: "--no-subreaper",
        takes_value: false,
        why: "the runtime never stays the parent of the container's process",
    },
    Ignored {
        name: "--preserve-fds",
        takes_value: true,
        why: "extra descriptors (socket activation) are not passed into the sandbox; stdio is",
    },
    Ignored {
        name: "--rootless",
        takes_value: true,
        why: "the sandbox's own user namespace is decided by the runtime, not the engine",
    },
    Ignored { name: "--criu", takes_value: true, why: "checkpoint/restore is not offered" },
    Ignored {
        name: "--process-label",
        takes_value: true,
        why: "no SELinux labels: the sentry confines the process itself",
    },
    Ignored {
        name: "--apparmor",
        takes_value: true,
        why: "no AppArmor profiles: the sentry confines the process itself",
    },
    Ignored {
        name: "--no-new-privs",
        takes_value: false,
        why: "every sandboxed process runs with no_new_privs",
    },
    Ignored {
        name: "--cap",
        takes_value: true,
        why: "capabilities inside are the sentry's view; the host's are never granted",
    },
];

/// Whether `name` (a long flag without its dashes) is an engine flag this
/// runtime drops, and if so whether a value follows it.
pub fn ignored(name: &str) -> Option<bool> {
    IGNORED.iter().find(|i| i.name.strip_prefix("--") == Some(name)).map(|i| i.takes_value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_flags_are_found_by_bare_name() {
        assert_eq!(ignored("no-pivot"), Some(false));
        assert_eq!(ignored("preserve-fds"), Some(true));
        assert_eq!(ignored("--no-pivot"), None);
        assert_eq!(ignored("root"), None);
    }
}
