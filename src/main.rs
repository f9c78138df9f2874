//! The `sandbox` binary: dispatches to a role, by subcommand or by the name
//! it was invoked as (a link named `sandbox-gofer` acts as `sandbox gofer`).

fn main() {
    let mut args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let argv0 = if args.is_empty() { String::from("sandbox") } else { args.remove(0) };
    let base = argv0.rsplit('/').next().unwrap_or("sandbox");
    // busybox-style: `sandbox-ROLE ARGS` is `sandbox ROLE ARGS`.
    if let Some(role) = base.strip_prefix("sandbox-") {
        args.insert(0, role.to_owned());
    }
    std::process::exit(sandbox::run("sandbox", &args));
}
