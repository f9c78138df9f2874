//! docker's `daemon.json`: the runtime is `runtimes.NAME = {"path":
//! BINARY}` (what `dockerd --add-runtime NAME=BINARY` does). The other
//! keys keep their order and values; the file is written back as JSON
//! indented by two spaces (JSON has no comments to keep).

use serde_json::{Map, Value};

use super::{Action, Edit, EditError, Runtime};

pub fn edit(text: &str, rt: &Runtime, action: Action) -> Result<Edit, EditError> {
    let mut doc: Value =
        if text.trim().is_empty() { Value::Object(Map::new()) } else { serde_json::from_str(text)? };
    let top = doc.as_object_mut().ok_or_else(|| EditError::Shape("the file".into(), "a JSON object"))?;
    let runtimes = match top.get_mut("runtimes") {
        Some(r) => {
            Some(r.as_object_mut().ok_or_else(|| EditError::Shape("\"runtimes\"".into(), "an object"))?)
        }
        None => None,
    };
    let current = match runtimes.as_ref().and_then(|r| r.get(&rt.name)) {
        Some(entry) => Some(
            entry
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    EditError::Shape(format!("\"runtimes\".\"{}\"", rt.name), "an object with a \"path\"")
                })?
                .to_owned(),
        ),
        None => None,
    };
    if let Some(other) = current.as_ref().filter(|p| **p != rt.binary) {
        return Err(EditError::Taken {
            name: rt.name.clone(),
            other: other.clone(),
            ours: rt.binary.clone(),
        });
    }
    match (action, current.is_some()) {
        (Action::Install, true) => Ok(Edit::unchanged(format!("runtime {} is already registered", rt.name))),
        (Action::Uninstall, false) => {
            Ok(Edit::unchanged(format!("no runtime {} registered; nothing to remove", rt.name)))
        }
        (Action::Install, false) => {
            let entry = serde_json::json!({ "path": rt.binary });
            match runtimes {
                Some(r) => {
                    r.insert(rt.name.clone(), entry);
                }
                None => {
                    top.insert("runtimes".into(), Value::Object(Map::from_iter([(rt.name.clone(), entry)])));
                }
            }
            Ok(Edit::changed(render(&doc), format!("added runtime {} (path {})", rt.name, rt.binary)))
        }
        (Action::Uninstall, true) => {
            // dockerd refuses to start with a default runtime it does not know.
            if top.get("default-runtime").and_then(Value::as_str) == Some(rt.name.as_str()) {
                return Err(EditError::Default(rt.name.clone(), "\"default-runtime\"".into()));
            }
            let runtimes = top.get_mut("runtimes").and_then(Value::as_object_mut);
            if let Some(r) = runtimes {
                r.remove(&rt.name);
                if r.is_empty() {
                    top.remove("runtimes");
                }
            }
            Ok(Edit::changed(render(&doc), format!("removed runtime {}", rt.name)))
        }
    }
}

fn render(doc: &Value) -> String {
    let mut s = serde_json::to_string_pretty(doc).expect("a JSON value renders");
    s.push('\n');
    s
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
        let e = install("").unwrap();
        let text = e.text.unwrap();
        assert_eq!(
            text,
            "{\n  \"runtimes\": {\n    \"sbx\": {\n      \"path\": \"/usr/local/bin/sandbox\"\n    }\n  }\n}\n"
        );
        assert_eq!(install(&text).unwrap().text, None, "idempotent");
        assert_eq!(uninstall(&text).unwrap().text.unwrap(), "{}\n");
        assert_eq!(uninstall("{}").unwrap().text, None);
    }

    #[test]
    fn other_keys_and_runtimes_are_kept_in_their_order() {
        let before = "{\n  \"storage-driver\": \"vfs\",\n  \"runtimes\": {\n    \"runsc\": {\n      \"path\": \"/usr/bin/runsc\"\n    }\n  },\n  \"bridge\": \"none\"\n}\n";
        let after = install(before).unwrap().text.unwrap();
        let v: Value = serde_json::from_str(&after).unwrap();
        assert_eq!(v["runtimes"]["runsc"]["path"], "/usr/bin/runsc");
        assert_eq!(v["runtimes"]["sbx"]["path"], "/usr/local/bin/sandbox");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["storage-driver", "runtimes", "bridge"]);
        assert_eq!(uninstall(&after).unwrap().text.unwrap(), before);
    }

    #[test]
    fn unparseable_or_foreign_files_are_refused() {
        assert!(matches!(install("{\"a\": "), Err(EditError::Json(_))));
        assert!(matches!(install("[1]"), Err(EditError::Shape(..))));
        assert!(matches!(install("{\"runtimes\": 3}"), Err(EditError::Shape(..))));
        assert!(matches!(install("{\"runtimes\": {\"sbx\": {}}}"), Err(EditError::Shape(..))));
        let other = "{\"runtimes\": {\"sbx\": {\"path\": \"/opt/other\"}}}";
        assert!(matches!(install(other), Err(EditError::Taken { .. })));
        assert!(matches!(uninstall(other), Err(EditError::Taken { .. })));
        let default =
            "{\"default-runtime\": \"sbx\", \"runtimes\": {\"sbx\": {\"path\": \"/usr/local/bin/sandbox\"}}}";
        assert!(matches!(uninstall(default), Err(EditError::Default(..))));
    }
}
