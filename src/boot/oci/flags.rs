//! The command line as engines write it, made into what the parser takes:
//! `--name=value` split in two for the options this runtime knows, and the
//! flags engines pass that mean nothing here dropped, each listed below
//! with the reason it is harmless to ignore. Only what comes before the
//! container id of `exec` is touched (what follows is the command's own).

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

/// Options whose `--name=value` form is split for the parser.
const VALUED: &[&str] = &[
    "--root",
    "--platform",
    "--network",
    "--log",
    "--log-format",
    "--bundle",
    "--pid-file",
    "--console-socket",
    "--process",
    "--cwd",
    "--env",
    "--user",
    "--format",
    "--interval",
];

/// The commands whose arguments are left alone (not the OCI runtime's).
const OTHER_COMMANDS: &[&str] = &["do", "boot", "gofer", "broker", "syscalls"];

/// `args` (without argv[0]) made ready for the parser.
pub fn normalize(args: &[String]) -> Vec<String> {
    if args.iter().find(|a| !a.starts_with('-')).is_some_and(|c| OTHER_COMMANDS.contains(&c.as_str())) {
        return args.to_vec();
    }
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.iter();
    let mut command: Option<&str> = None;
    let mut positionals = 0;
    while let Some(arg) = iter.next() {
        // After `--`, or the id of `exec`, the rest is the command's.
        if arg == "--" || (command == Some("exec") && positionals == 1) {
            out.push(arg.clone());
            out.extend(iter.cloned());
            break;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (arg.as_str(), None),
        };
        if let Some(ig) = IGNORED.iter().find(|i| i.name == name) {
            log::debug!("ignoring {arg}");
            if ig.takes_value && inline.is_none() {
                iter.next();
            }
            continue;
        }
        match inline {
            Some(v) if VALUED.contains(&name) => {
                out.push(name.to_owned());
                out.push(v.to_owned());
                continue;
            }
            _ => {}
        }
        if !arg.starts_with('-') {
            match command {
                None => command = Some(arg.as_str()),
                Some(_) if out.last().is_some_and(|prev| VALUED.contains(&prev.as_str())) => {}
                Some(_) => positionals += 1,
            }
        } else if VALUED.contains(&arg.as_str()) {
            out.push(arg.clone());
            if let Some(v) = iter.next() {
                out.push(v.clone());
            }
            continue;
        }
        out.push(arg.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(args: &[&str]) -> Vec<String> {
        normalize(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn inline_values_are_split_and_ignored_flags_dropped() {
        assert_eq!(
            n(&[
                "--root=/r",
                "--log-format=json",
                "create",
                "--bundle=/b",
                "--no-pivot",
                "--preserve-fds",
                "2",
                "c"
            ]),
            ["--root", "/r", "--log-format", "json", "create", "--bundle", "/b", "c"]
        );
        assert_eq!(
            n(&["--systemd-cgroup", "delete", "--force", "c"]),
            ["--systemd-cgroup", "delete", "--force", "c"]
        );
    }

    #[test]
    fn the_command_of_exec_is_left_alone() {
        assert_eq!(
            n(&["exec", "--pid-file", "/p", "--cwd=/", "c", "sh", "--no-pivot", "--env=x"]),
            ["exec", "--pid-file", "/p", "--cwd", "/", "c", "sh", "--no-pivot", "--env=x"]
        );
        assert_eq!(n(&["exec", "c", "--", "ls", "-l"]), ["exec", "c", "--", "ls", "-l"]);
        assert_eq!(n(&["do", "ls", "--cap", "x"]), ["do", "ls", "--cap", "x"]);
        // As engines pass `--runtime-flag network=host`.
        assert_eq!(n(&["--network=host", "create", "c"]), ["--network", "host", "create", "c"]);
    }
}
