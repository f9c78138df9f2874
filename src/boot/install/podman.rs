//! podman's `containers.conf`: the runtime is `NAME = ["BINARY"]` in
//! `[engine.runtimes]` (the paths podman tries for `--runtime NAME`).
//! Comments and layout are kept (toml_edit).

use toml_edit::{Array, Item, Table, value};

use super::toml_path::{self, dotted};
use super::{Action, Edit, EditError, Runtime};

const RUNTIMES: [&str; 2] = ["engine", "runtimes"];

pub fn edit(text: &str, rt: &Runtime, action: Action) -> Result<Edit, EditError> {
    let mut doc = toml_path::parse(text)?;
    let shown = format!("{}.{}", dotted(&RUNTIMES), dotted(&[&rt.name]));
    let current: Option<Vec<String>> =
        match toml_path::get(doc.as_table(), &RUNTIMES)?.and_then(|t| t.get(&rt.name)) {
            None => None,
            Some(item) => {
                let paths = item
                    .as_array()
                    .map(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>());
                Some(paths.flatten().ok_or_else(|| EditError::Shape(shown.clone(), "an array of paths"))?)
            }
        };
    if let Some(other) = current.as_ref().filter(|p| **p != [rt.binary.clone()]) {
        return Err(EditError::Taken {
            name: rt.name.clone(),
            other: format!("{other:?}"),
            ours: rt.binary.clone(),
        });
    }
    match (action, current.is_some()) {
        (Action::Install, true) => {
            Ok(Edit::unchanged(format!("runtime {} is already registered ({shown})", rt.name)))
        }
        (Action::Uninstall, false) => {
            Ok(Edit::unchanged(format!("no runtime {} registered; nothing to remove", rt.name)))
        }
        (Action::Install, false) => {
            let engine = toml_path::get_or_make(doc.as_table_mut(), &RUNTIMES[..1])?;
            let runtimes = engine
                .entry(RUNTIMES[1])
                .or_insert_with(|| Item::Table(Table::new()))
                .as_table_mut()
                .ok_or_else(|| EditError::Shape(dotted(&RUNTIMES), "a table"))?;
            let mut paths = Array::new();
            paths.push(rt.binary.as_str());
            runtimes.insert(&rt.name, value(paths));
            Ok(Edit::changed(
                doc.to_string(),
                format!("added runtime {} ({shown} = [\"{}\"])", rt.name, rt.binary),
            ))
        }
        (Action::Uninstall, true) => {
            toml_path::get_or_make(doc.as_table_mut(), &RUNTIMES)?.remove(&rt.name);
            toml_path::prune(doc.as_table_mut(), &RUNTIMES, true);
            Ok(Edit::changed(doc.to_string(), format!("removed runtime {} ({shown})", rt.name)))
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

    #[test]
    fn an_empty_or_absent_file_gets_the_runtime_and_loses_it_again() {
        let text = install("").unwrap().text.unwrap();
        assert_eq!(text, "[engine.runtimes]\nsbx = [\"/usr/local/bin/sandbox\"]\n");
        assert_eq!(install(&text).unwrap().text, None, "idempotent");
        assert_eq!(uninstall(&text).unwrap().text.unwrap(), "");
    }

    #[test]
    fn comments_and_other_runtimes_are_kept() {
        let before = "# system settings\n[containers]\nlog_driver = \"k8s-file\" # why\n\n[engine]\ncgroup_manager = \"cgroupfs\"\n\n[engine.runtimes]\n# the default\ncrun = [\"/usr/bin/crun\"]\n";
        let after = install(before).unwrap().text.unwrap();
        assert_eq!(after, format!("{before}sbx = [\"/usr/local/bin/sandbox\"]\n"));
        assert_eq!(install(&after).unwrap().text, None);
        assert_eq!(uninstall(&after).unwrap().text.unwrap(), before);
        // An [engine] without runtimes gets the table, and loses it again.
        let before = "[engine]\nevents_logger = \"file\"\n";
        let after = install(before).unwrap().text.unwrap();
        assert!(after.starts_with(before) && after.contains("[engine.runtimes]\nsbx = "), "{after}");
        assert_eq!(uninstall(&after).unwrap().text.unwrap(), before);
    }

    #[test]
    fn unparseable_or_foreign_files_are_refused() {
        assert!(matches!(install("[engine\n"), Err(EditError::Toml(_))));
        assert!(matches!(install("engine = 1\n"), Err(EditError::Shape(..))));
        assert!(matches!(install("[engine]\nruntimes = 1\n"), Err(EditError::Shape(..))));
        assert!(matches!(install("[engine.runtimes]\nsbx = \"x\"\n"), Err(EditError::Shape(..))));
        let other = "[engine.runtimes]\nsbx = [\"/usr/bin/runsc\"]\n";
        assert!(matches!(install(other), Err(EditError::Taken { .. })));
        assert!(matches!(uninstall(other), Err(EditError::Taken { .. })));
    }
}
