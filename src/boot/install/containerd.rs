//! containerd's `config.toml`: the runtime is a CRI runtime handler of the
//! runc shim (`io.containerd.runc.v2`) whose `BinaryName` is this binary —
//! what a Kubernetes RuntimeClass's `handler` names. Written in the
//! layout of `version = 2` (containerd 1.x) or `version = 3` (2.x, where
//! the CRI runtime's plugin has another name); a file of version 1 (or
//! with no version but other settings, which containerd reads as 1) is
//! refused. Comments and layout are kept (toml_edit).

use toml_edit::{DocumentMut, Item, Table, value};

use super::toml_path::{self, dotted};
use super::{Action, Edit, EditError, Runtime};

/// The shim every handler written here uses.
const SHIM: &str = "io.containerd.runc.v2";

/// The path of the CRI runtimes' table in a file of `version`.
fn runtimes_path(version: i64) -> Result<[&'static str; 4], EditError> {
    match version {
        2 => Ok(["plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes"]),
        3 => Ok(["plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes"]),
        v => Err(EditError::Version(format!(
            "a containerd configuration of version {v}; only versions 2 and 3 are written (add or fix `version = 2` once the file is in that layout)"
        ))),
    }
}

/// The file's version; a file with nothing in it gets `version = 2`.
fn version(doc: &mut DocumentMut) -> Result<i64, EditError> {
    match doc.get("version") {
        Some(v) => v.as_integer().ok_or_else(|| EditError::Shape("version".into(), "an integer")),
        None if doc.is_empty() => {
            doc.insert("version", value(2));
            Ok(2)
        }
        None => Err(EditError::Version(
            "no `version = 2` line: containerd reads such a file as version 1, whose layout is not written here".into(),
        )),
    }
}

/// The `BinaryName` of a handler table, or what stands for it in a
/// message.
fn binary_of(entry: &Table) -> String {
    let options = entry.get("options").and_then(Item::as_table_like);
    match options.and_then(|o| o.get("BinaryName")).and_then(Item::as_str) {
        Some(b) => b.to_owned(),
        None => {
            format!("runtime_type {}", entry.get("runtime_type").and_then(Item::as_str).unwrap_or("(none)"))
        }
    }
}

pub fn edit(text: &str, rt: &Runtime, action: Action) -> Result<Edit, EditError> {
    let mut doc = toml_path::parse(text)?;
    let was_empty = doc.is_empty();
    let parent = runtimes_path(version(&mut doc)?)?;
    let mut path = parent.to_vec();
    path.push(&rt.name);
    let shown = dotted(&path);
    let current = toml_path::get(doc.as_table(), &path)?.map(binary_of);
    if let Some(other) = current.as_ref().filter(|b| **b != rt.binary) {
        return Err(EditError::Taken {
            name: rt.name.clone(),
            other: other.clone(),
            ours: rt.binary.clone(),
        });
    }
    match (action, current.is_some()) {
        (Action::Install, true) => {
            Ok(Edit::unchanged(format!("runtime {} is already registered ([{shown}])", rt.name)))
        }
        (Action::Uninstall, false) => {
            Ok(Edit::unchanged(format!("no runtime {} registered; nothing to remove", rt.name)))
        }
        (Action::Install, false) => {
            let mut options = Table::new();
            options.insert("BinaryName", value(rt.binary.as_str()));
            let mut entry = Table::new();
            entry.insert("runtime_type", value(SHIM));
            entry.insert("options", Item::Table(options));
            toml_path::get_or_make(doc.as_table_mut(), &parent)?.insert(&rt.name, Item::Table(entry));
            let made = if was_empty { " (with version = 2)" } else { "" };
            Ok(Edit::changed(
                doc.to_string(),
                format!("added runtime {} ([{shown}]: {SHIM} with BinaryName {}){made}", rt.name, rt.binary),
            ))
        }
        (Action::Uninstall, true) => {
            // containerd's CRI plugin refuses a default runtime it does not know.
            let default = toml_path::get(doc.as_table(), &parent[..3])?
                .and_then(|t| t.get("default_runtime_name"))
                .and_then(Item::as_str);
            if default == Some(rt.name.as_str()) {
                return Err(EditError::Default(
                    rt.name.clone(),
                    format!("{}.default_runtime_name", dotted(&parent[..3])),
                ));
            }
            toml_path::get_or_make(doc.as_table_mut(), &parent)?.remove(&rt.name);
            toml_path::prune(doc.as_table_mut(), &parent, false);
            Ok(Edit::changed(doc.to_string(), format!("removed runtime {} ([{shown}])", rt.name)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> Runtime {
        Runtime { name: "sbx".into(), binary: "/usr/local/bin/sandbox".into() }
    }

    fn install(text: &str) -> Result<Edit, EditError> {
        edit(text, &rt(), Action::Install)
    }

    fn uninstall(text: &str) -> Result<Edit, EditError> {
        edit(text, &rt(), Action::Uninstall)
    }

    const ENTRY: &str = "[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.sbx]\nruntime_type = \"io.containerd.runc.v2\"\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.sbx.options]\nBinaryName = \"/usr/local/bin/sandbox\"\n";

    #[test]
    fn an_empty_or_absent_file_gets_version_2_and_the_runtime() {
        let text = install("").unwrap().text.unwrap();
        assert_eq!(text, format!("version = 2\n\n{ENTRY}"));
        assert_eq!(install(&text).unwrap().text, None, "idempotent");
        assert_eq!(uninstall(&text).unwrap().text.unwrap(), "version = 2\n");
    }

    #[test]
    fn comments_layout_and_other_runtimes_are_kept() {
        let before = "# node settings\nversion = 2\n\n[plugins]\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n    sandbox_image = \"pause:3.6\" # pinned\n    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n      runtime_type = \"io.containerd.runc.v2\"\n\n[grpc]\n  address = \"/run/c.sock\"\n";
        let after = install(before).unwrap().text.unwrap();
        // Beside the other runtimes, before the next section.
        assert_eq!(after, before.replace("\n\n[grpc]", &format!("\n\n{ENTRY}\n[grpc]")));
        let parsed: DocumentMut = after.parse().unwrap();
        let runtimes = &parsed["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"];
        assert_eq!(runtimes["runc"]["runtime_type"].as_str(), Some("io.containerd.runc.v2"));
        assert_eq!(runtimes["sbx"]["options"]["BinaryName"].as_str(), Some("/usr/local/bin/sandbox"));
        assert_eq!(install(&after).unwrap().text, None);
        assert_eq!(uninstall(&after).unwrap().text.unwrap(), before);
        assert_eq!(uninstall(before).unwrap().text, None);
    }

    #[test]
    fn version_3_uses_its_plugin() {
        let text = install("version = 3\n").unwrap().text.unwrap();
        assert!(
            text.contains("[plugins.\"io.containerd.cri.v1.runtime\".containerd.runtimes.sbx.options]"),
            "{text}"
        );
    }

    #[test]
    fn unparseable_old_or_foreign_files_are_refused() {
        assert!(matches!(install("version = 2\n[plugins\n"), Err(EditError::Toml(_))));
        assert!(matches!(install("root = \"/var/lib/containerd\"\n"), Err(EditError::Version(_))));
        assert!(matches!(install("version = 1\n"), Err(EditError::Version(_))));
        assert!(matches!(install("version = \"2\"\n"), Err(EditError::Shape(..))));
        assert!(matches!(install("version = 2\nplugins = 5\n"), Err(EditError::Shape(..))));
        let other = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.sbx.options]\nBinaryName = \"/usr/bin/runsc\"\n";
        assert!(matches!(install(other), Err(EditError::Taken { .. })));
        assert!(matches!(uninstall(other), Err(EditError::Taken { .. })));
        let default = install("version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\ndefault_runtime_name = \"sbx\"\n")
            .unwrap()
            .text
            .unwrap();
        assert!(matches!(uninstall(&default), Err(EditError::Default(..))));
    }
}
