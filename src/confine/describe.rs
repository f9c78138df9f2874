//! The text of `sandbox filters`: each role's profile, from the same
//! definitions that are installed.

use std::fmt::Write;

use super::policy::{Action, Cmp, Cond, Rule, Violation};
use super::{Profile, caps};

/// One condition as a person reads it: `arg1 == TCGETS`, `arg2: no PROT_EXEC`.
fn condition(c: &Cond) -> String {
    match c.cmp {
        Cmp::Eq => format!("arg{} == {}", c.arg, c.shown),
        Cmp::Masked(_) => format!("arg{}: {}", c.arg, c.shown),
    }
}

fn errno_name(e: i32) -> String {
    match e {
        libc::ENOSYS => "ENOSYS".to_owned(),
        libc::EPERM => "EPERM".to_owned(),
        libc::ENOENT => "ENOENT".to_owned(),
        _ => format!("errno {e}"),
    }
}

/// The description of `profiles`, one block each.
pub fn render(profiles: &[Profile]) -> String {
    let mut out = String::new();
    for (i, p) in profiles.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_one(&mut out, p);
    }
    out
}

fn render_one(out: &mut String, p: &Profile) {
    let _ = writeln!(out, "{}", p.role.name());
    let ns: Vec<&str> = p.namespaces.iter().map(|n| n.proc_name()).collect();
    let ns = if ns.is_empty() {
        "the sentry's".to_owned()
    } else {
        format!("{} (and user, when the runtime is unprivileged)", ns.join(" "))
    };
    let _ = writeln!(out, "  namespaces:   {ns}");
    let _ = writeln!(out, "  root:         {}", p.root);
    let kept = caps::names(p.caps);
    let kept = if kept.is_empty() { "none".to_owned() } else { kept.join(" ") };
    let _ = writeln!(out, "  capabilities: {kept} (CapEff {:016x})", caps::mask(p.caps));
    let _ = writeln!(out, "  no_new_privs: yes");
    let violation = match p.policy.violation {
        Violation::Report => "reported in one line, and the sandbox is stopped (SIGSYS)",
        Violation::Kill => "kills the process (SECCOMP_RET_KILL_PROCESS)",
        Violation::ToSentry => {
            "is the application's: it traps to the sentry, which serves it (SECCOMP_RET_TRAP)"
        }
    };
    let _ = writeln!(
        out,
        "  seccomp:      {} host system calls allowed; any other {violation}",
        p.policy.allowed_syscalls().len()
    );
    for note in &p.policy.notes {
        let _ = writeln!(out, "                {note}");
    }
    let mut rules = p.policy.rules.clone();
    rules.sort_by_key(|r| r.name());
    let mut i = 0;
    while i < rules.len() {
        let r = rules[i];
        // Alternatives of one call for one reason, each one value of the
        // same argument compared the same way, read best as one line:
        // `arg0 in {A, B, …}`.
        let same = |o: &Rule| {
            o.nr == r.nr
                && o.why == r.why
                && o.when.len() == 1
                && r.when.len() == 1
                && o.when[0].arg == r.when[0].arg
                && o.when[0].cmp == r.when[0].cmp
                && o.when[0].width == r.when[0].width
        };
        let run = rules[i..].iter().take_while(|o| same(o)).count();
        let mut cond: Vec<String> = if run > 1 {
            let values: Vec<&str> = rules[i..i + run].iter().map(|o| o.when[0].shown).collect();
            let how = if r.when[0].cmp == Cmp::Eq { " in" } else { ": one of" };
            vec![format!("arg{}{how} {{{}}}", r.when[0].arg, values.join(", "))]
        } else {
            r.when.iter().map(condition).collect()
        };
        if let Action::Errno(e) = r.action {
            cond.push(format!("refused: {}", errno_name(e)));
        }
        let _ = writeln!(out, "    {:<18} {:<34} {}", r.name(), cond.join(", "), r.why);
        i += run.max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_printed_with_its_reason() {
        let p = super::super::gofer_profile();
        let text = render(std::slice::from_ref(&p));
        for r in &p.policy.rules {
            assert!(text.lines().any(|l| l.contains(r.name()) && l.contains(r.why)), "{} missing", r.name());
        }
        assert!(text.contains(
            "capabilities: chown dac_override dac_read_search fowner fsetid (CapEff 000000000000001f)"
        ));
        assert!(text.contains("namespaces:   pid mnt ipc uts cgroup"));
    }
}
