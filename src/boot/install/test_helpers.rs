//! What the engines' edit tests share: [`edit_test_helpers!`] defines, in
//! a test module beside an engine's `edit`, `rt()` (the runtime `sbx` at
//! `/usr/local/bin/sandbox`), and `install(text)` and `uninstall(text)`,
//! that engine's edit of `text` for it.

/// `rt`, `install` and `uninstall` for the `edit` in scope.
macro_rules! edit_test_helpers {
    () => {
        fn rt() -> Runtime {
            Runtime { name: "sbx".into(), binary: "/usr/local/bin/sandbox".into() }
        }

        fn install(text: &str) -> Result<Edit, EditError> {
            edit(text, &rt(), Action::Install)
        }

        fn uninstall(text: &str) -> Result<Edit, EditError> {
            edit(text, &rt(), Action::Uninstall)
        }
    };
}

pub(super) use edit_test_helpers;
