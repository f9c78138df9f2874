//! Tables of a TOML document reached by a path of keys, as the TOML edits
//! of [`super::podman`] and [`super::containerd`] need them: found (or
//! refused when a key on the way is not a table), made where missing
//! (implicit, so no header is written for a table that only holds
//! tables), and taken away again once empty.

use toml_edit::{DocumentMut, Item, Table};

use super::EditError;

/// Parse `text`; a failure is one line: where, and what is wrong.
pub fn parse(text: &str) -> Result<DocumentMut, EditError> {
    text.parse().map_err(|e: toml_edit::TomlError| {
        let at = e.span().map_or(0, |s| s.start).min(text.len());
        let before = text.get(..at).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        EditError::Toml(format!("line {line}, column {column}: {}", e.message()))
    })
}

/// `a.b."c.d"`: the path as TOML writes it, for messages.
pub fn dotted(path: &[&str]) -> String {
    let key = |k: &&str| {
        if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            k.to_string()
        } else {
            format!("\"{k}\"")
        }
    };
    path.iter().map(key).collect::<Vec<_>>().join(".")
}

/// The table at `path`, if there is one.
pub fn get<'a>(root: &'a Table, path: &[&str]) -> Result<Option<&'a Table>, EditError> {
    let mut t = root;
    for (i, key) in path.iter().enumerate() {
        match t.get(key) {
            None => return Ok(None),
            Some(item) => {
                t = item.as_table().ok_or_else(|| EditError::Shape(dotted(&path[..=i]), "a table"))?
            }
        }
    }
    Ok(Some(t))
}

/// The table at `path`, made (implicit) where missing.
pub fn get_or_make<'a>(root: &'a mut Table, path: &[&str]) -> Result<&'a mut Table, EditError> {
    let mut t = root;
    for (i, key) in path.iter().enumerate() {
        let item = t.entry(key).or_insert_with(|| {
            let mut new = Table::new();
            new.set_implicit(true);
            Item::Table(new)
        });
        t = item.as_table_mut().ok_or_else(|| EditError::Shape(dotted(&path[..=i]), "a table"))?;
    }
    Ok(t)
}

/// Remove the tables along `path` that are empty, deepest first, as long
/// as each is implicit (or is the deepest and `leaf_too`): what
/// [`get_or_make`] made and an edit emptied again.
pub fn prune(root: &mut Table, path: &[&str], leaf_too: bool) {
    for depth in (1..=path.len()).rev() {
        let Ok(Some(_)) = get(root, &path[..depth]) else { return };
        let parent = match get_or_make(root, &path[..depth - 1]) {
            Ok(p) => p,
            Err(_) => return,
        };
        let key = path[depth - 1];
        let removable = parent
            .get(key)
            .and_then(Item::as_table)
            .is_some_and(|t| t.is_empty() && (t.is_implicit() || (leaf_too && depth == path.len())));
        if !removable {
            return;
        }
        parent.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_made_implicit_and_pruned_again() {
        let text = "a = 1\n";
        let mut doc: DocumentMut = text.parse().unwrap();
        let t = get_or_make(doc.as_table_mut(), &["x", "y.z"]).unwrap();
        t.insert("k", toml_edit::value(2));
        assert_eq!(doc.to_string(), "a = 1\n\n[x.\"y.z\"]\nk = 2\n");
        get_or_make(doc.as_table_mut(), &["x", "y.z"]).unwrap().remove("k");
        prune(doc.as_table_mut(), &["x", "y.z"], true);
        assert_eq!(doc.to_string(), text);
        assert_eq!(
            dotted(&["plugins", "io.containerd.grpc.v1.cri", "x_y"]),
            "plugins.\"io.containerd.grpc.v1.cri\".x_y"
        );
    }

    #[test]
    fn a_parse_error_is_one_line_naming_where() {
        match parse("a = 1\n[b\n") {
            Err(EditError::Toml(m)) => {
                assert!(m.starts_with("line 2, column 3: "), "{m}");
                assert!(!m.contains('\n'), "{m}");
            }
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn a_value_on_the_way_is_refused() {
        let mut doc: DocumentMut = "x = 1\n".parse().unwrap();
        assert!(matches!(get_or_make(doc.as_table_mut(), &["x", "y"]), Err(EditError::Shape(..))));
        assert!(matches!(get(doc.as_table(), &["x", "y"]), Err(EditError::Shape(..))));
    }
}
