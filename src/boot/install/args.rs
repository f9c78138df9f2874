//! The command lines of `sandbox install` and `sandbox uninstall`: which
//! engine's configuration file to edit, under which runtime name, and
//! whether only to show the change.

use argh::{ArgsInfo, FromArgs};

/// Register this binary as a runtime of a container engine, in the
/// engine's configuration file (docker's daemon.json, podman's
/// containers.conf, containerd's config.toml), and print what changed.
/// Running it again changes nothing. The engine must be restarted (or
/// reloaded) to see the runtime.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "install")]
pub struct InstallArgs {
    /// the name the engine knows the runtime by (default: sandbox)
    #[argh(option, default = "String::from(\"sandbox\")", arg_name = "NAME")]
    pub runtime_name: String,
    /// the engine: docker (default), podman or containerd
    #[argh(option, default = "String::from(\"docker\")", arg_name = "ENGINE")]
    pub engine: String,
    /// the configuration file to edit (default: the engine's own:
    /// /etc/docker/daemon.json, /etc/containers/containers.conf,
    /// /etc/containerd/config.toml)
    #[argh(option, arg_name = "FILE")]
    pub config: Option<String>,
    /// print the change and write nothing
    #[argh(switch)]
    pub dry_run: bool,
}

/// Remove what `sandbox install` added (with the same flags): the runtime
/// entry naming this binary, and the tables it made that are left empty.
/// An entry of that name that names another binary is left alone.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "uninstall")]
pub struct UninstallArgs {
    /// the name the engine knows the runtime by (default: sandbox)
    #[argh(option, default = "String::from(\"sandbox\")", arg_name = "NAME")]
    pub runtime_name: String,
    /// the engine: docker (default), podman or containerd
    #[argh(option, default = "String::from(\"docker\")", arg_name = "ENGINE")]
    pub engine: String,
    /// the configuration file to edit (default: the engine's own)
    #[argh(option, arg_name = "FILE")]
    pub config: Option<String>,
    /// print the change and write nothing
    #[argh(switch)]
    pub dry_run: bool,
}
