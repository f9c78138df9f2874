//! The command line as people and engines write it, made into what argh
//! parses. argh takes `--name value` only; runc, runsc and every engine
//! also write `--name=value`, Go's single-dash long names (`-root DIR`),
//! and Go's explicit booleans (`--debug=true`, `--systemd-cgroup=false`).
//! The grammar (which names are options, which are switches, which
//! subcommands exist and which take a command after their positionals) is
//! read from the argh declarations themselves ([`Grammar::of`]), so a flag
//! added to `cli.rs` is covered without a list to keep in step. Flags
//! engines pass that mean nothing here are dropped
//! ([`super::oci::flags::ignored`]). Nothing after `--`, or after the
//! positionals that precede a command (`do CMD…`, `exec ID CMD…`), is
//! touched: that is the application's.

use std::collections::HashMap;

use argh::{ArgsInfo, FlagInfoKind};

/// What a name on the command line is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// takes no value
    Switch,
    /// takes the next argument (or `=value`) as its value
    Option,
}

/// The flags and positionals of one command.
#[derive(Debug, Default)]
struct Scope {
    /// long name (without dashes) → kind
    long: HashMap<String, Kind>,
    /// short letter → kind
    short: HashMap<char, Kind>,
    /// how many positionals come before a greedy command, if it takes one
    command_after: Option<usize>,
}

/// The whole command line's grammar: the global scope and each
/// subcommand's.
#[derive(Debug)]
pub struct Grammar {
    global: Scope,
    commands: HashMap<String, Scope>,
}

/// The name argh gives the greedy positional that holds a command.
const COMMAND_POSITIONAL: &str = "command";

/// The command people type, not engines: the engine flags that are
/// ignored elsewhere are refused there by name, like any unknown flag.
const HUMAN_COMMAND: &str = "do";

impl Scope {
    fn from_parts<'a>(
        flags: impl IntoIterator<Item = &'a argh::FlagInfo<'a>>,
        positionals: impl IntoIterator<Item = &'a argh::PositionalInfo<'a>>,
    ) -> Scope {
        let mut scope = Scope::default();
        for flag in flags {
            let kind = match flag.kind {
                FlagInfoKind::Switch => Kind::Switch,
                FlagInfoKind::Option { .. } => Kind::Option,
            };
            let long = flag.long.trim_start_matches('-');
            // argh's own `--help` is in the list; it is a switch.
            scope.long.insert(long.to_owned(), kind);
            if let Some(c) = flag.short {
                scope.short.insert(c, kind);
            }
        }
        let positionals: Vec<_> = positionals.into_iter().collect();
        if positionals.last().is_some_and(|last| last.name == COMMAND_POSITIONAL) {
            scope.command_after = Some(positionals.len() - 1);
        }
        scope
    }

    /// The kind of a long name written as `--NAME` or (Go style) `-NAME`.
    fn long_kind(&self, name: &str) -> Option<Kind> {
        self.long.get(name).copied()
    }
}

impl Grammar {
    /// The grammar of a top-level argh command and its subcommands.
    pub fn of<T: ArgsInfo>() -> Grammar {
        let info = T::get_args_info();
        let global = Scope::from_parts(info.flags.iter(), info.positionals.iter());
        let commands = info
            .commands
            .iter()
            .map(|sub| {
                (
                    sub.name.to_owned(),
                    Scope::from_parts(sub.command.flags.iter(), sub.command.positionals.iter()),
                )
            })
            .collect();
        Grammar { global, commands }
    }

    /// `args` (without argv[0]) made ready for argh: `--name=value` and
    /// `-name value` become `--name value` for the options of the scope
    /// they are in, `--switch=true` becomes `--switch` and
    /// `--switch=false` disappears, and ignored engine flags are dropped.
    /// Anything not recognised is passed on as written, for argh to name in
    /// its one-line error.
    pub fn normalize(&self, args: &[String]) -> Vec<String> {
        let mut out = Vec::with_capacity(args.len());
        let mut scope = &self.global;
        let mut command: Option<&str> = None;
        let mut positionals = 0;
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            if arg == "--" {
                out.push(arg.clone());
                out.extend(iter.cloned());
                break;
            }
            if let Some(body) = flag_body(arg) {
                let (name, inline) = match body.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (body, None),
                };
                let engine_flag = command != Some(HUMAN_COMMAND);
                if let Some(takes_value) = super::oci::flags::ignored(name).filter(|_| engine_flag) {
                    log::debug!("ignoring {arg}");
                    if takes_value && inline.is_none() {
                        iter.next();
                    }
                    continue;
                }
                let single_dash = !arg.starts_with("--");
                // `-x` is a short flag (argh's business) unless a long name
                // of more than one letter is spelled with one dash.
                let kind =
                    if single_dash && name.chars().count() == 1 { None } else { scope.long_kind(name) };
                match (kind, inline) {
                    (Some(Kind::Option), Some(value)) => {
                        out.push(format!("--{name}"));
                        out.push(value.to_owned());
                    }
                    (Some(Kind::Option), None) => {
                        out.push(format!("--{name}"));
                        if let Some(value) = iter.next() {
                            out.push(value.clone());
                        }
                    }
                    (Some(Kind::Switch), None) => out.push(format!("--{name}")),
                    (Some(Kind::Switch), Some(value)) => match parse_bool(value) {
                        Some(true) => out.push(format!("--{name}")),
                        Some(false) => {}
                        None => out.push(arg.clone()),
                    },
                    (None, _) => {
                        out.push(arg.clone());
                        // A short option's value is the next argument, which
                        // must not be read as a positional or a flag.
                        if is_short_option(scope, arg)
                            && let Some(value) = iter.next()
                        {
                            out.push(value.clone());
                        }
                    }
                }
                continue;
            }
            out.push(arg.clone());
            if command.is_none() {
                if let Some(sub) = self.commands.get(arg.as_str()) {
                    scope = sub;
                    command = Some(arg.as_str());
                    continue;
                }
                // An unknown command: argh will say so.
                out.extend(iter.cloned());
                break;
            }
            positionals += 1;
            if scope.command_after.is_some_and(|n| positionals > n) {
                out.extend(iter.cloned());
                break;
            }
        }
        out
    }
}

/// What follows the dashes of a flag (`--a=b` → `a=b`, `-root` → `root`),
/// or `None` for a positional (including `-` alone).
fn flag_body(arg: &str) -> Option<&str> {
    let body = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    (!body.is_empty()).then_some(body)
}

/// Whether `arg` is one short option letter that takes a value (`-v X`).
fn is_short_option(scope: &Scope, arg: &str) -> bool {
    let mut letters = arg.strip_prefix('-').unwrap_or("").chars();
    match (letters.next(), letters.next()) {
        (Some(c), None) => scope.short.get(&c) == Some(&Kind::Option),
        _ => false,
    }
}

/// A Go boolean flag's value (`strconv.ParseBool`'s spellings).
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::cli::Cli;

    fn n(args: &[&str]) -> Vec<String> {
        Grammar::of::<Cli>().normalize(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
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
    fn go_spellings_are_accepted() {
        assert_eq!(n(&["-root", "/r", "-debug", "state", "c"]), ["--root", "/r", "--debug", "state", "c"]);
        assert_eq!(n(&["--debug=true", "--systemd-cgroup=false", "list"]), ["--debug", "list"]);
        // A value that is no boolean is left for argh to refuse by name.
        assert_eq!(n(&["--debug=maybe", "list"]), ["--debug=maybe", "list"]);
        assert_eq!(n(&["kill", "-a", "c", "KILL"]), ["kill", "-a", "c", "KILL"]);
    }

    #[test]
    fn do_flags_are_split_up_to_the_command() {
        assert_eq!(
            n(&[
                "do",
                "--platform=ptrace",
                "--memory=100M",
                "-v",
                "/a:/b",
                "--directfs=false",
                "ls",
                "--memory=1"
            ]),
            [
                "do",
                "--platform",
                "ptrace",
                "--memory",
                "100M",
                "-v",
                "/a:/b",
                "--directfs",
                "false",
                "ls",
                "--memory=1"
            ]
        );
        assert_eq!(n(&["do", "--", "sh", "--network=x"]), ["do", "--", "sh", "--network=x"]);
        // A short option's value is not taken for the command.
        assert_eq!(n(&["do", "-p", "80:80", "true", "-p=x"]), ["do", "-p", "80:80", "true", "-p=x"]);
    }

    #[test]
    fn the_command_of_exec_is_left_alone() {
        assert_eq!(
            n(&["exec", "--pid-file", "/p", "--cwd=/", "c", "sh", "--no-pivot", "--env=x"]),
            ["exec", "--pid-file", "/p", "--cwd", "/", "c", "sh", "--no-pivot", "--env=x"]
        );
        assert_eq!(n(&["exec", "c", "--", "ls", "-l"]), ["exec", "c", "--", "ls", "-l"]);
        assert_eq!(n(&["do", "ls", "--cap", "x"]), ["do", "ls", "--cap", "x"]);
        assert_eq!(n(&["do", "--no-pivot", "ls"]), ["do", "--no-pivot", "ls"]);
        // As engines pass `--runtime-flag network=host`.
        assert_eq!(n(&["--network=host", "create", "c"]), ["--network", "host", "create", "c"]);
    }

    #[test]
    fn unknown_flags_and_commands_pass_through() {
        assert_eq!(n(&["--bogus=1", "list"]), ["--bogus=1", "list"]);
        assert_eq!(n(&["nosuch", "--x=y"]), ["nosuch", "--x=y"]);
        assert_eq!(n(&["state", "--bogus", "c"]), ["state", "--bogus", "c"]);
    }

    #[test]
    fn every_subcommand_parses_its_flags_in_both_forms() {
        let grammar = Grammar::of::<Cli>();
        for (name, scope) in &grammar.commands {
            for (long, kind) in &scope.long {
                if long == "help" {
                    continue;
                }
                let spaced: Vec<String> = match kind {
                    Kind::Option => vec![name.clone(), format!("--{long}"), "V".into()],
                    Kind::Switch => vec![name.clone(), format!("--{long}")],
                };
                let inline: Vec<String> = match kind {
                    Kind::Option => vec![name.clone(), format!("--{long}=V")],
                    Kind::Switch => vec![name.clone(), format!("--{long}=true")],
                };
                assert_eq!(grammar.normalize(&inline), spaced, "{name} --{long}");
            }
        }
    }
}
