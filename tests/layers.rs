//! The layer rules of DESIGN.md ("Which module may use which"), checked on
//! the source text: this test reads every `src/**/*.rs`, finds each
//! reference a module makes to another module of the crate, and fails on
//! every reference a rule of [`RULES`] forbids.
//!
//! # The rules
//!
//! [`RULES`], just below, is the whole policy. A rule names its importers
//! (`Under("platform")`: `platform` and every module inside it), the target
//! prefixes they must not reference (`"sentry"` forbids `crate::sentry` and
//! everything inside it; `"crate"` forbids the whole crate), the importers
//! that are exceptions to it (each with its reason), whether test code is
//! exempt, and the reason printed with each violation. To add a rule, add a
//! row; to allow one more importer, add an exception with its reason. A rule
//! may name a module that does not exist yet (`net`, `proto`): it holds as
//! soon as the module appears. Module paths are the crate's own
//! (`sentry::syscalls`), so rules follow modules, not files: moving
//! `src/a/b.rs` to `src/a/b/mod.rs` changes nothing.
//!
//! Two things are never violations: a module using itself or what is inside
//! it (a file's own items, its inline modules, its children), and, where a
//! rule says [`TestCode::MayImportAnything`], test code — the body of an
//! item marked `#[cfg(test)]` (typically `mod tests { … }`, found by brace
//! matching) or `#[cfg(all(test, …))]`, and every file of a module declared
//! `#[cfg(test)] mod NAME;` (such as `tests.rs`, or tmpfs's `testing.rs`),
//! with the modules inside it.
//!
//! # What counts as a reference
//!
//! Comments (`//`, `///`, `//!`, nested `/* */`) and string, byte-string,
//! raw-string and char literals are blanked out first, keeping line numbers,
//! so prose never counts. Then, in the code that remains:
//!
//! - every leaf of every `use` item, grouped (`use crate::{a, b::{c, d}}`),
//!   spread over lines, renamed (`as`) or glob (`*`, counted as a reference
//!   to the module globbed);
//! - every path written inline, e.g. `crate::sentry::syscalls::describe()`;
//! - with its first segment resolved: `crate::` (and `$crate::`) from the
//!   crate root; `sandbox::` in `src/main.rs` (the binary naming the
//!   library); `self::` and `super::`/`super::super::` from the module the
//!   path is written in — which is the file's module (`src/a/b.rs` and
//!   `src/a/b/mod.rs` are both `a::b`, so `super` is `a` in both) or, inside
//!   an inline `mod tests { … }`, that inline module (so the usual
//!   `use super::*;` there is the file's own module, not its parent);
//! - and a path starting with a name the file has bound to a module of the
//!   crate: a child module (`mod kernel;` then `kernel::Kernel`), a `use` of
//!   a module (`use super::syscalls;` then `syscalls::table()`), or a module
//!   reached through a glob (`use super::*;` then `syscalls::table()`). Names
//!   bound to types or functions are not followed (their `use` already
//!   counts), and `use` items are treated as visible in their whole module
//!   and in the inline modules inside it (as with the usual `use super::*`).
//!
//! Not seen: re-exports (`pub use crate::x::Y` makes `Y` reachable from the
//! re-exporting module; the `pub use` line itself is checked), and macros
//! that build paths from pieces. `#[path]` is not used in this crate; the
//! test fails if it appears, since it would break the file-to-module map.
//!
//! On failure every violation is printed as
//! `src/path.rs:LINE: <importer> imports crate::<module> — forbidden: <reason>`,
//! once per line and module (`use crate::gofer::protocol::{A, B}` is one
//! violation, of `crate::gofer::protocol`). The test also fails if it scans
//! fewer than [`MIN_FILES`] files or finds fewer than [`MIN_REFERENCES`]
//! references, so that a broken walk or parser cannot pass silently. It
//! reads files only (no cargo, no compiler) and takes well under a second.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

// ---------------------------------------------------------------------------
// The rules
// ---------------------------------------------------------------------------

/// Which importers a rule, or an exception to it, is about.
#[derive(Clone, Copy, Debug)]
enum Modules {
    /// This module and every module inside it.
    Under(&'static str),
    /// This module only: the file that defines it (with the inline modules
    /// inside that file), not its children.
    Only(&'static str),
}
use Modules::{Only, Under};

/// Whether test code (see the top of the file) is held to a rule.
#[derive(Clone, Copy, Debug, PartialEq)]
enum TestCode {
    /// Test code may import anything: test helpers build the layers above.
    MayImportAnything,
    /// Test code is held to the rule like the rest.
    #[allow(dead_code)]
    Checked,
}
use TestCode::MayImportAnything;

struct Rule {
    /// The modules the rule is about.
    importer: Modules,
    /// Target prefixes they must not reference (`"crate"`: anything).
    forbidden: &'static [&'static str],
    /// Importers exempt from the rule, each with the reason.
    except: &'static [(Modules, &'static str)],
    test_code: TestCode,
    /// Printed with each violation.
    reason: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        importer: Under("platform"),
        forbidden: &["sentry", "vfs", "gofer", "boot", "net", "broker"],
        except: &[],
        test_code: MayImportAnything,
        reason: "the platform knows no syscalls and no files: it runs code and reports events",
    },
    Rule {
        importer: Under("gofer"),
        forbidden: &["sentry", "vfs", "platform", "boot", "net", "broker"],
        except: &[],
        test_code: MayImportAnything,
        reason: "the gofer knows nothing of the sentry or the VFS: it shares only the protocol (proto)",
    },
    Rule {
        importer: Under("broker"),
        forbidden: &["sentry", "vfs", "net", "platform", "gofer", "boot"],
        except: &[],
        test_code: MayImportAnything,
        reason: "the network broker shares only the protocol (proto) with the sentry, and uses confine to \
                 confine itself",
    },
    Rule {
        importer: Under("vfs"),
        forbidden: &["platform", "sentry", "boot", "gofer", "broker"],
        except: &[],
        test_code: MayImportAnything,
        reason: "the VFS never touches how code runs; the gofer protocol comes from proto, not the gofer server",
    },
    Rule {
        importer: Under("net"),
        forbidden: &["platform", "sentry", "boot", "gofer", "broker"],
        except: &[],
        test_code: MayImportAnything,
        reason: "the sentry's network uses the contract types (proto), never the sentry above it or how code runs",
    },
    Rule {
        importer: Under("proto"),
        forbidden: &["sentry", "vfs", "gofer", "boot", "platform", "net", "broker"],
        except: &[],
        test_code: MayImportAnything,
        reason: "proto is the contract between the roles: it depends on none of them",
    },
    Rule {
        importer: Under("wait"),
        forbidden: &["crate"],
        except: &[],
        test_code: MayImportAnything,
        reason: "wait is a leaf that vfs, sentry and sockets all use: it uses nothing of the crate",
    },
    Rule {
        importer: Under("boot"),
        forbidden: &["sentry", "vfs", "gofer", "net", "broker"],
        except: &[],
        test_code: MayImportAnything,
        reason: "boot only starts processes and passes them descriptors: it shares proto, confine, \
                 platform and sysno with the roles, never their internals",
    },
    Rule {
        importer: Under("sentry"),
        forbidden: &["sentry::syscalls"],
        except: &[
            (Under("sentry::syscalls"), "the syscall table and its handlers"),
            (Only("sentry"), "the sentry's boot entry (src/sentry/mod.rs) installs the syscall table"),
        ],
        test_code: MayImportAnything,
        reason: "syscall handlers call down into the kernel core, never the reverse",
    },
    Rule {
        importer: Under("sentry"),
        forbidden: &["broker"],
        except: &[],
        test_code: MayImportAnything,
        reason: "the sentry reaches the network broker only through its client (net::broker) and the protocol",
    },
];

/// A scan finding fewer than this many files, or references, is broken.
const MIN_FILES: usize = 100;
const MIN_REFERENCES: usize = 1000;

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

#[test]
fn layer_rules_hold() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = read_sources(root);
    let refs = references(&files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect::<Vec<_>>());
    let violations = check(RULES, &refs);

    let modules: Vec<Vec<String>> = files.iter().map(|(p, _)| module_of(p)).collect();
    for rule in RULES {
        let name = match rule.importer {
            Under(m) | Only(m) => m,
        };
        if !modules.iter().any(|m| under(m, &path(name))) {
            println!("note: no module `{name}` yet; its rule holds once it appears");
        }
    }
    println!("scanned {} files, {} references to modules of the crate", files.len(), refs.len());
    assert!(files.len() > MIN_FILES, "only {} files under src/: is the walk broken?", files.len());
    assert!(refs.len() > MIN_REFERENCES, "only {} references found: is the parser broken?", refs.len());

    if !violations.is_empty() {
        for v in &violations {
            eprintln!("{v}");
        }
        panic!(
            "{} references break the layer rules (see DESIGN.md, \"Which module may use which\")",
            violations.len()
        );
    }
}

/// Every `.rs` file under `src/`, as (path relative to the package, text),
/// in a stable order.
fn read_sources(root: &Path) -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
                let rel = p.strip_prefix(root).expect("under the package").to_string_lossy().into_owned();
                assert!(
                    !text.contains("#[path"),
                    "{rel} uses #[path]: this test maps files to modules by their place in src/"
                );
                out.push((rel, text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&root.join("src"), root, &mut out);
    out
}

// ---------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------

/// A reference from a module to a module (or an item) of the crate.
#[derive(Clone, Debug)]
struct Reference {
    /// `src/…`, as read.
    file: String,
    line: usize,
    /// The module of the file.
    file_module: Vec<String>,
    /// The module the reference is written in: the file's, or an inline
    /// module inside it.
    importer: Vec<String>,
    /// What it names, from the crate root (empty: the root itself).
    target: Vec<String>,
    /// The module of the crate that holds it: the longest prefix of
    /// `target` that is a module (or its first segment, for an item of the
    /// root). Violations name this, once per line.
    target_module: Vec<String>,
    /// Written in test code.
    test: bool,
}

fn path(s: &str) -> Vec<String> {
    if s == "crate" { Vec::new() } else { s.split("::").map(String::from).collect() }
}

/// Whether `module` is `prefix` or inside it.
fn under(module: &[String], prefix: &[String]) -> bool {
    module.len() >= prefix.len() && module[..prefix.len()] == *prefix
}

fn matches(m: Modules, module: &[String]) -> bool {
    match m {
        Under(p) => under(module, &path(p)),
        Only(p) => module == path(p).as_slice(),
    }
}

/// A module as the rules write it: `sentry::syscalls`, or `crate` for the root.
fn display(module: &[String]) -> String {
    if module.is_empty() { "crate".to_owned() } else { module.join("::") }
}

/// A path as code writes it: `crate::sentry::syscalls`, or `crate`.
fn crate_path(p: &[String]) -> String {
    ["crate"].into_iter().chain(p.iter().map(String::as_str)).collect::<Vec<_>>().join("::")
}

/// Every violation of `rules` among `refs`, as the line to print, sorted and
/// without duplicates.
fn check(rules: &[Rule], refs: &[Reference]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for r in refs {
        // A module may always use itself and what is inside it (the root
        // is not exempt: everything is inside it).
        let inside = |m: &[String]| !m.is_empty() && under(&r.target, m);
        if inside(&r.importer) || inside(&r.file_module) {
            continue;
        }
        for rule in rules {
            if !matches(rule.importer, &r.file_module) && !matches(rule.importer, &r.importer) {
                continue;
            }
            if r.test && rule.test_code == MayImportAnything {
                continue;
            }
            if rule.except.iter().any(|&(m, _)| matches(m, &r.file_module)) {
                continue;
            }
            if rule.forbidden.iter().any(|f| under(&r.target, &path(f))) {
                out.insert((
                    r.file.clone(),
                    r.line,
                    format!(
                        "{}:{}: {} imports {} — forbidden: {}",
                        r.file,
                        r.line,
                        display(&r.importer),
                        crate_path(&r.target_module),
                        rule.reason
                    ),
                ));
            }
        }
    }
    out.into_iter().map(|(_, _, s)| s).collect()
}

// ---------------------------------------------------------------------------
// Finding the references
// ---------------------------------------------------------------------------

/// The module a file defines: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`,
/// `src/lib.rs` and `src/main.rs` the crate root.
fn module_of(file: &str) -> Vec<String> {
    let rel = file.strip_prefix("src/").unwrap_or(file).strip_suffix(".rs").unwrap_or(file);
    let mut parts: Vec<String> = rel.split('/').map(String::from).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts
}

/// The references made by a set of files, given as (path under the package,
/// text). The files are read together: a name bound to a module is followed
/// only if the module exists, and a file is test code if another file
/// declares its module `#[cfg(test)]`.
fn references(files: &[(&str, &str)]) -> Vec<Reference> {
    let scans: Vec<Scan> = files.iter().map(|&(p, t)| Scan::new(p, t)).collect();

    let mut modules = BTreeSet::new();
    let mut test_modules = BTreeSet::new();
    for s in &scans {
        modules.insert(s.module.clone());
        for d in &s.mods {
            let m = s.full(d.scope).into_iter().chain([d.name.clone()]).collect::<Vec<_>>();
            if d.test {
                test_modules.insert(m.clone());
            }
            modules.insert(m);
        }
        if s.inner_test {
            test_modules.insert(s.module.clone());
        }
    }

    let mut out = Vec::new();
    for s in &scans {
        let file_test = test_modules.iter().any(|t| under(&s.module, t));
        s.resolve(&modules, |tok, target| {
            let known = (1..=target.len()).rev().find(|&n| modules.contains(&target[..n])).unwrap_or(1);
            let target_module = target[..known.min(target.len())].to_vec();
            out.push(Reference {
                file: s.file.clone(),
                line: s.toks[tok].line,
                file_module: s.module.clone(),
                importer: s.full(s.scope[tok]),
                target,
                target_module,
                test: file_test || s.test[tok],
            })
        });
    }
    out
}

/// Replace comments and literals by blanks, keeping every newline (so line
/// numbers stay), and keeping lifetimes and labels (`'a`).
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let n = c.len();
    let mut out = String::with_capacity(src.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < n {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        let ch = c[i];
        if ch == '/' && at(i + 1) == '/' {
            while i < n && c[i] != '\n' {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < n {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if ident(ch) && (i == 0 || !ident(c[i - 1])) {
            // A literal's prefix (`b"`, `c"`, `b'`, `r"`, `r#"`, `br"`…), or a word.
            let mut j = i;
            if ch == 'b' || ch == 'c' {
                j += 1;
            }
            let raw = at(j) == 'r';
            if raw {
                j += 1;
            }
            let hashes_from = j;
            while at(j) == '#' {
                j += 1;
            }
            let hashes = j - hashes_from;
            if raw && at(j) == '"' {
                // Raw string: up to `"` and as many `#`.
                for &x in &c[i..=j] {
                    blank(&mut out, x);
                }
                i = j + 1;
                while i < n {
                    if c[i] == '"' && (1..=hashes).all(|h| at(i + h) == '#') {
                        for &x in &c[i..=i + hashes] {
                            blank(&mut out, x);
                        }
                        i += hashes + 1;
                        break;
                    }
                    blank(&mut out, c[i]);
                    i += 1;
                }
            } else if (ch == 'b' || ch == 'c') && (at(i + 1) == '"' || at(i + 1) == '\'') {
                // `b"…"`, `c"…"`, `b'…'`: drop the prefix; the quote is next.
                blank(&mut out, ch);
                i += 1;
            } else {
                while i < n && ident(c[i]) {
                    out.push(c[i]);
                    i += 1;
                }
            }
        } else if ch == '"' {
            blank(&mut out, ch);
            i += 1;
            while i < n {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    if i + 1 < n {
                        blank(&mut out, c[i + 1]);
                    }
                    i += 2;
                } else if c[i] == '"' {
                    blank(&mut out, c[i]);
                    i += 1;
                    break;
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if ch == '\'' && (at(i + 1) == '\\' || (at(i + 1) != '\'' && at(i + 2) == '\'')) {
            // A char literal (`'x'`, `'\''`, `'\u{1F600}'`), not a lifetime.
            let escaped = at(i + 1) == '\\';
            for _ in 0..if escaped { 3 } else { 2 } {
                blank(&mut out, c[i]);
                i += 1;
            }
            while i < n && c[i] != '\'' {
                blank(&mut out, c[i]);
                i += 1;
            }
            if i < n {
                blank(&mut out, c[i]);
                i += 1;
            }
        } else {
            out.push(ch);
            i += 1;
        }
    }
    out
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
    /// A number.
    Literal,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

/// Tokens of stripped source.
fn tokenize(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_ascii_digit() {
            while i < c.len() && ident(c[i]) {
                i += 1;
            }
            out.push(Token { tok: Tok::Literal, line });
        } else if ident(ch) {
            // `r#name` is the identifier `name`.
            if ch == 'r' && c.get(i + 1) == Some(&'#') && c.get(i + 2).is_some_and(|&x| ident(x)) {
                i += 2;
            }
            let start = i;
            while i < c.len() && ident(c[i]) {
                i += 1;
            }
            out.push(Token { tok: Tok::Ident(c[start..i].iter().collect()), line });
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push(Token { tok: Tok::PathSep, line });
            i += 2;
        } else {
            out.push(Token { tok: Tok::Punct(ch), line });
            i += 1;
        }
    }
    out
}

/// A `mod NAME;` or `mod NAME { … }`.
#[derive(Debug)]
struct ModDecl {
    /// The scope it is declared in (see [`Scan::scopes`]).
    scope: usize,
    name: String,
    test: bool,
}

/// One leaf of a `use` tree: `use a::{b, c::d as e}` has `a::b` and `a::c::d`.
#[derive(Debug)]
struct UseLeaf {
    /// Index of its last token.
    tok: usize,
    segs: Vec<String>,
    glob: bool,
    /// The name it binds, if not a glob.
    name: Option<String>,
}

/// A path written in code: `crate::a::b`, `super::f`, `kernel::Kernel`.
#[derive(Debug)]
struct InlinePath {
    /// Index of its first token.
    tok: usize,
    segs: Vec<String>,
}

/// One file, tokenized, with its scopes, test code, module declarations,
/// `use` leaves and inline paths.
struct Scan {
    file: String,
    module: Vec<String>,
    /// `src/main.rs`, where `sandbox::` is the library.
    main: bool,
    toks: Vec<Token>,
    /// Inline module paths inside the file: `scopes[0]` is the file's own
    /// module (empty), then one per `mod NAME { … }`, as suffixes.
    scopes: Vec<Vec<String>>,
    /// Each scope's enclosing scope.
    parent: Vec<usize>,
    /// Per token: its scope.
    scope: Vec<usize>,
    /// Per token: inside an item marked `#[cfg(test)]`.
    test: Vec<bool>,
    /// The file says `#![cfg(test)]`.
    inner_test: bool,
    mods: Vec<ModDecl>,
    uses: Vec<UseLeaf>,
    paths: Vec<InlinePath>,
}

impl Scan {
    fn new(file: &str, text: &str) -> Scan {
        let toks = tokenize(&strip(text));
        let mut s = Scan {
            file: file.to_owned(),
            module: module_of(file),
            main: module_of(file).is_empty() && file.ends_with("main.rs"),
            test: vec![false; toks.len()],
            scope: vec![0; toks.len()],
            toks,
            scopes: vec![Vec::new()],
            parent: vec![0],
            inner_test: false,
            mods: Vec::new(),
            uses: Vec::new(),
            paths: Vec::new(),
        };
        s.mark_test_code();
        s.find_scopes();
        s.find_uses_and_paths();
        s
    }

    fn is(&self, i: usize, t: &Tok) -> bool {
        self.toks.get(i).is_some_and(|x| x.tok == *t)
    }

    fn punct(&self, i: usize, ch: char) -> bool {
        self.is(i, &Tok::Punct(ch))
    }

    fn ident(&self, i: usize) -> Option<&str> {
        match self.toks.get(i) {
            Some(Token { tok: Tok::Ident(s), .. }) => Some(s),
            _ => None,
        }
    }

    /// The module of a scope, from the crate root.
    fn full(&self, scope: usize) -> Vec<String> {
        self.module.iter().chain(&self.scopes[scope]).cloned().collect()
    }

    /// Index of the bracket that closes the one at `open`, or the last token.
    fn closing(&self, open: usize) -> usize {
        let mut depth = 0i32;
        for i in open..self.toks.len() {
            match self.toks[i].tok {
                Tok::Punct('(' | '[' | '{') => depth += 1,
                Tok::Punct(')' | ']' | '}') => {
                    depth -= 1;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => {}
            }
        }
        self.toks.len().saturating_sub(1)
    }

    /// Whether the attribute whose `[` is at `open` is `cfg(test)` or
    /// `cfg(all(…, test, …))`: code that exists only in tests.
    fn cfg_test(&self, open: usize) -> bool {
        if self.ident(open + 1) != Some("cfg") || !self.punct(open + 2, '(') {
            return false;
        }
        let pred = open + 3;
        if self.ident(pred) == Some("test") && self.punct(pred + 1, ')') {
            return true;
        }
        if self.ident(pred) == Some("all") && self.punct(pred + 1, '(') {
            // `test` as one of the arguments of `all`.
            let end = self.closing(pred + 1);
            let mut i = pred + 2;
            while i < end {
                if self.ident(i) == Some("test") && (self.punct(i + 1, ',') || i + 1 == end) {
                    return true;
                }
                while i < end && !self.punct(i, ',') {
                    if self.punct(i, '(') {
                        i = self.closing(i);
                    }
                    i += 1;
                }
                i += 1;
            }
        }
        false
    }

    /// The last token of the item (or field, arm, statement) starting at `j`,
    /// after its attributes: its `;`, or the `}` closing its body.
    fn item_end(&self, mut j: usize) -> usize {
        const ITEMS: &str =
            "mod fn use impl struct enum union const static type trait unsafe extern macro_rules async let";
        if self.ident(j) == Some("pub") {
            j += 1;
            if self.punct(j, '(') {
                j = self.closing(j) + 1;
            }
        }
        // A field or a match arm also ends at a comma (an item's commas are
        // inside brackets, or in generics).
        let item = self.ident(j).is_some_and(|w| ITEMS.split(' ').any(|k| k == w));
        loop {
            match self.toks.get(j).map(|t| &t.tok) {
                None => return self.toks.len().saturating_sub(1),
                Some(Tok::Punct(';')) => return j,
                Some(Tok::Punct(',')) if !item => return j,
                Some(Tok::Punct('{')) => return self.closing(j),
                Some(Tok::Punct(')' | ']' | '}')) => return j.saturating_sub(1),
                Some(Tok::Punct('(' | '[')) => j = self.closing(j) + 1,
                Some(_) => j += 1,
            }
        }
    }

    /// Mark the tokens of every item under `#[cfg(test)]`, from the
    /// attribute to the item's `;` or closing `}`.
    fn mark_test_code(&mut self) {
        let mut depth = 0;
        let mut i = 0;
        while i < self.toks.len() {
            match self.toks[i].tok {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => depth -= 1,
                _ => {}
            }
            if self.punct(i, '#') && self.punct(i + 1, '!') && self.punct(i + 2, '[') {
                if depth == 0 && self.cfg_test(i + 2) {
                    self.inner_test = true;
                }
            } else if self.punct(i, '#') && self.punct(i + 1, '[') && self.cfg_test(i + 1) {
                // Skip any further attributes, then find the end of the item.
                let mut j = self.closing(i + 1) + 1;
                while self.punct(j, '#') && self.punct(j + 1, '[') {
                    j = self.closing(j + 1) + 1;
                }
                let end = self.item_end(j);
                for t in &mut self.test[i..=end] {
                    *t = true;
                }
                // Go on inside the item, counting its braces.
            }
            i += 1;
        }
    }

    /// Give every token its scope (inline module), and note every `mod`.
    fn find_scopes(&mut self) {
        let mut depth = 0usize;
        // (scope, brace depth inside it)
        let mut stack = vec![(0usize, 0usize)];
        let mut pending: Option<(String, bool)> = None;
        for i in 0..self.toks.len() {
            let cur = stack.last().expect("the file scope stays").0;
            if self.ident(i) == Some("mod")
                && let Some(name) = self.ident(i + 1)
            {
                let (name, test) = (name.to_owned(), self.test[i]);
                if self.punct(i + 2, '{') {
                    pending = Some((name, test));
                } else if self.punct(i + 2, ';') {
                    self.mods.push(ModDecl { scope: cur, name, test });
                }
            }
            match self.toks[i].tok {
                Tok::Punct('{') => {
                    depth += 1;
                    if let Some((name, test)) = pending.take() {
                        self.mods.push(ModDecl { scope: cur, name: name.clone(), test });
                        let mut inner = self.scopes[cur].clone();
                        inner.push(name);
                        self.scopes.push(inner);
                        self.parent.push(cur);
                        stack.push((self.scopes.len() - 1, depth));
                    }
                }
                Tok::Punct('}') => {
                    if stack.len() > 1 && stack.last().is_some_and(|&(_, d)| d == depth) {
                        stack.pop();
                    }
                    depth = depth.saturating_sub(1);
                }
                _ => {}
            }
            self.scope[i] = stack.last().expect("the file scope stays").0;
        }
    }

    fn find_uses_and_paths(&mut self) {
        let mut i = 0;
        while i < self.toks.len() {
            if self.ident(i) == Some("use") && !self.punct(i + 1, '<') {
                // `use TREE;` (`use<'a>` is a bound, not an import).
                let mut j = i + 1;
                let mut leaves = Vec::new();
                self.use_tree(&mut j, &[], &mut leaves);
                self.uses.extend(leaves);
                while j < self.toks.len() && !self.punct(j, ';') {
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            let starts_path = i == 0 || !self.is(i - 1, &Tok::PathSep);
            // `pub(in crate::a)` is a visibility, not a use of `a`.
            let visibility = i >= 2 && self.ident(i - 1) == Some("in") && self.punct(i - 2, '(');
            if let Some(first) = self.ident(i)
                && starts_path
                && self.is(i + 1, &Tok::PathSep)
                && self.ident(i + 2).is_some()
            {
                let mut segs = vec![first.to_owned()];
                let mut j = i + 1;
                while self.is(j, &Tok::PathSep)
                    && let Some(s) = self.ident(j + 1)
                {
                    segs.push(s.to_owned());
                    j += 2;
                }
                if !visibility {
                    self.paths.push(InlinePath { tok: i, segs });
                }
                i = j;
                continue;
            }
            i += 1;
        }
    }

    /// Parse one use tree at `*i` under `prefix`, adding its leaves.
    fn use_tree(&self, i: &mut usize, prefix: &[String], out: &mut Vec<UseLeaf>) {
        let mut segs = prefix.to_vec();
        if self.is(*i, &Tok::PathSep) {
            // `::name`: an extern crate.
            segs.push("::".to_owned());
            *i += 1;
        }
        loop {
            if let Some(s) = self.ident(*i) {
                segs.push(s.to_owned());
                *i += 1;
                if self.is(*i, &Tok::PathSep) {
                    *i += 1;
                    continue;
                }
                let tok = *i - 1;
                let mut name = None;
                if self.ident(*i) == Some("as") {
                    name = self.ident(*i + 1).map(str::to_owned);
                    *i += 2;
                }
                if segs.last().is_some_and(|s| s == "self") {
                    segs.pop();
                }
                let name = name.or_else(|| segs.last().cloned());
                out.push(UseLeaf { tok, segs, glob: false, name });
                return;
            } else if self.punct(*i, '*') {
                out.push(UseLeaf { tok: *i, segs, glob: true, name: None });
                *i += 1;
                return;
            } else if self.punct(*i, '{') {
                *i += 1;
                loop {
                    if self.punct(*i, '}') {
                        *i += 1;
                        return;
                    }
                    let before = *i;
                    self.use_tree(i, &segs, out);
                    if self.punct(*i, ',') {
                        *i += 1;
                    } else if *i == before || !self.punct(*i, '}') {
                        return; // malformed
                    }
                }
            } else {
                return;
            }
        }
    }

    /// Resolve a path written in `scope` to a path from the crate root, if
    /// it names something of the crate. `bound` and `globs` are the modules
    /// each scope has bound to a name, or globbed.
    fn resolve_in(
        &self,
        segs: &[String],
        scope: usize,
        modules: &BTreeSet<Vec<String>>,
        bound: &[BTreeMap<String, Vec<String>>],
        globs: &[Vec<Vec<String>>],
    ) -> Option<Vec<String>> {
        let first = segs.first()?.as_str();
        let rest = |n: usize| segs[n..].iter().cloned();
        let mut here = self.full(scope);
        match first {
            "crate" => return Some(rest(1).collect()),
            "sandbox" if self.main => return Some(rest(1).collect()),
            "self" => return Some(here.into_iter().chain(rest(1)).collect()),
            "super" => {
                let ups = segs.iter().take_while(|s| *s == "super").count();
                here.truncate(here.len().checked_sub(ups)?);
                return Some(here.into_iter().chain(rest(ups)).collect());
            }
            "::" => return None,
            _ => {}
        }
        // A name bound in this scope or an enclosing one.
        let mut s = scope;
        loop {
            if let Some(m) = bound[s].get(first) {
                return Some(m.iter().cloned().chain(rest(1)).collect());
            }
            for g in &globs[s] {
                let m: Vec<String> = g.iter().cloned().chain([first.to_owned()]).collect();
                if modules.contains(&m) {
                    return Some(m.into_iter().chain(rest(1)).collect());
                }
            }
            if s == 0 {
                return None;
            }
            s = self.parent[s];
        }
    }

    /// Call `found(token, target)` for each reference of the file.
    fn resolve(&self, modules: &BTreeSet<Vec<String>>, mut found: impl FnMut(usize, Vec<String>)) {
        let mut bound: Vec<BTreeMap<String, Vec<String>>> = vec![BTreeMap::new(); self.scopes.len()];
        let mut globs: Vec<Vec<Vec<String>>> = vec![Vec::new(); self.scopes.len()];
        for d in &self.mods {
            bound[d.scope]
                .insert(d.name.clone(), self.full(d.scope).into_iter().chain([d.name.clone()]).collect());
        }
        // `use` items may rest on one another (`use crate::a; use a::b;`),
        // in any order: resolve until nothing changes.
        let mut targets: Vec<Option<Vec<String>>> = vec![None; self.uses.len()];
        loop {
            let mut progress = false;
            for (u, t) in self.uses.iter().zip(&mut targets) {
                if t.is_some() {
                    continue;
                }
                let scope = self.scope[u.tok];
                let Some(target) = self.resolve_in(&u.segs, scope, modules, &bound, &globs) else {
                    continue;
                };
                if modules.contains(&target) {
                    if u.glob {
                        globs[scope].push(target.clone());
                    } else if let Some(name) = &u.name {
                        bound[scope].entry(name.clone()).or_insert_with(|| target.clone());
                    }
                }
                *t = Some(target);
                progress = true;
            }
            if !progress {
                break;
            }
        }
        for (u, t) in self.uses.iter().zip(targets) {
            if let Some(t) = t {
                found(u.tok, t);
            }
        }
        for p in &self.paths {
            if let Some(t) = self.resolve_in(&p.segs, self.scope[p.tok], modules, &bound, &globs) {
                found(p.tok, t);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Tests of the parser and the checker, on small snippets
// ---------------------------------------------------------------------------

/// (line, target, test code) of each reference of one file.
fn refs_of(file: &str, text: &str) -> Vec<(usize, String, bool)> {
    refs_of_files(&[(file, text)]).into_iter().map(|(_, l, t, x)| (l, t, x)).collect()
}

/// (file, line, target, test code) of each reference of some files.
fn refs_of_files(files: &[(&str, &str)]) -> Vec<(String, usize, String, bool)> {
    let mut v: Vec<_> =
        references(files).into_iter().map(|r| (r.file, r.line, display(&r.target), r.test)).collect();
    v.sort();
    v
}

fn targets(file: &str, text: &str) -> Vec<String> {
    refs_of(file, text).into_iter().map(|(_, t, _)| t).collect()
}

#[test]
fn module_paths_of_files() {
    assert_eq!(module_of("src/a/b.rs"), ["a", "b"]);
    assert_eq!(module_of("src/a/b/mod.rs"), ["a", "b"]);
    assert_eq!(module_of("src/wait.rs"), ["wait"]);
    assert!(module_of("src/lib.rs").is_empty());
    assert!(module_of("src/main.rs").is_empty());
}

#[test]
fn grouped_use() {
    let t = targets("src/x.rs", "use crate::{a, b::c, d::{self, e as f}, g::*};\nuse std::{io, fmt};\n");
    assert_eq!(t, ["a", "b::c", "d", "d::e", "g"]);
}

#[test]
fn multi_line_use_reports_each_leaf_on_its_line() {
    let src = "use crate::{\n    a::A,\n    b::{\n        c,\n        D,\n    },\n};\nfn f() {}\n";
    let r = refs_of("src/x.rs", src);
    assert_eq!(
        r,
        [(2, "a::A".to_owned(), false), (4, "b::c".to_owned(), false), (5, "b::D".to_owned(), false)]
    );
}

#[test]
fn inline_paths() {
    let src = "fn f() {\n    let n = crate::sentry::syscalls::describe();\n    \
               let v: Vec<crate::vfs::Inode> = x.iter::<u8>().collect();\n    std::mem::drop(v);\n}\n\
               pub(in crate::vfs) fn g() {}\npub(crate) fn h() {}\n";
    let r = refs_of("src/x.rs", src);
    assert_eq!(r, [(2, "sentry::syscalls::describe".to_owned(), false), (3, "vfs::Inode".to_owned(), false)]);
}

#[test]
fn super_in_mod_rs_is_the_parent_of_the_directory_module() {
    // `src/a/b/mod.rs` and `src/a/b.rs` are the same module, `a::b`.
    assert_eq!(targets("src/a/b/mod.rs", "use super::x;"), ["a::x"]);
    assert_eq!(targets("src/a/b.rs", "use super::x;"), ["a::x"]);
    assert_eq!(targets("src/a/b/c.rs", "use super::x;\nuse super::super::y;"), ["a::b::x", "a::y"]);
    assert_eq!(targets("src/a/b/c.rs", "fn f() { super::super::g(); self::h(); }"), ["a::b::c::h", "a::g"]);
    assert!(targets("src/a.rs", "use super::super::x;").is_empty(), "above the root: not a path");
}

#[test]
fn super_in_an_inline_module_is_the_file_module() {
    let src = "use super::p;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::q;\n}\nuse super::r;\n";
    let r = refs_of("src/a/b.rs", src);
    assert_eq!(
        r,
        [
            (1, "a::p".to_owned(), false),
            (4, "a::b".to_owned(), true),
            (5, "a::q".to_owned(), true),
            (7, "a::r".to_owned(), false)
        ]
    );
}

#[test]
fn sandbox_is_the_crate_in_main_only() {
    assert_eq!(targets("src/main.rs", "fn main() { sandbox::run(\"x\", &[]); }"), ["run"]);
    assert!(targets("src/boot/mod.rs", "fn f() { sandbox::run(); }").is_empty());
}

#[test]
fn comments_and_literals_are_not_code() {
    let src = r####"// use crate::line::comment;
/// crate::doc::comment
//! crate::inner::doc
/* crate::block /* crate::nested */ crate::still_comment
   on two lines */
const S: &str = "crate::in_string \" crate::escaped";
const R: &str = r#"crate::raw " crate::raw_quote "#;
const B: &[u8] = b"crate::bytes";
const C: char = '"'; use crate::after_char_quote;
const D: char = '\''; use crate::after_escaped_char;
fn f<'a>(x: &'a str) -> crate::after_lifetime::T { 'outer: loop { break 'outer; } }
use crate::real; // crate::trailing
"####;
    let r = refs_of("src/x.rs", src);
    assert_eq!(
        r,
        [
            (9, "after_char_quote".to_owned(), false),
            (10, "after_escaped_char".to_owned(), false),
            (11, "after_lifetime::T".to_owned(), false),
            (12, "real".to_owned(), false)
        ]
    );
    assert_eq!(strip("a /* b\nc */ d").lines().count(), 2, "newlines stay");
}

#[test]
fn cfg_test_code_is_found_by_brace_matching() {
    let src = "#[cfg(test)]\nmod tests {\n    fn f() { let s = \"}\"; crate::a::x(); }\n    mod deeper { use crate::b; }\n}\n\
               use crate::c;\n#[cfg(test)]\n#[allow(unused)]\nfn helper() -> [u8; 2] { crate::d::y() }\nuse crate::e;\n\
               #[cfg(not(test))]\nuse crate::f;\n#[cfg(all(test, unix))]\nuse crate::g;\n#[cfg(any(test, unix))]\nuse crate::h;\n";
    let r = refs_of("src/x.rs", src);
    assert_eq!(
        r,
        [
            (3, "a::x".to_owned(), true),
            (4, "b".to_owned(), true),
            (6, "c".to_owned(), false),
            (9, "d::y".to_owned(), true),
            (10, "e".to_owned(), false),
            (12, "f".to_owned(), false),
            (14, "g".to_owned(), true),
            (16, "h".to_owned(), false)
        ]
    );
}

#[test]
fn files_of_cfg_test_modules_are_test_code() {
    let r = refs_of_files(&[
        (
            "src/p/mod.rs",
            "#[cfg(test)]\nmod tests;\n#[cfg(test)]\npub(in crate::p) mod testing;\nmod real;\n",
        ),
        ("src/p/tests.rs", "use crate::q;\n"),
        ("src/p/testing/mod.rs", "use crate::q;\nmod more;\n"),
        ("src/p/testing/more.rs", "use crate::q;\n"),
        ("src/p/real.rs", "use crate::q;\n"),
    ]);
    let test: Vec<_> = r.iter().map(|(f, _, _, t)| (f.as_str(), *t)).collect();
    assert_eq!(
        test,
        [
            ("src/p/real.rs", false),
            ("src/p/testing/mod.rs", true),
            ("src/p/testing/more.rs", true),
            ("src/p/tests.rs", true)
        ]
    );
}

#[test]
fn names_bound_to_modules_are_followed() {
    let files = [
        ("src/s/mod.rs", "mod kernel;\nmod syscalls;\nuse kernel::Kernel;\n"),
        ("src/s/syscalls.rs", ""),
        (
            "src/s/kernel.rs",
            "use super::syscalls;\nuse crate::s;\nfn f() { syscalls::table(); s::syscalls::x(); Kernel::new(); }\n",
        ),
        ("src/s/task.rs", "use super::*;\nfn f() { syscalls::table(); }\n"),
    ];
    let r: Vec<_> = refs_of_files(&files).into_iter().map(|(f, l, t, _)| format!("{f}:{l}:{t}")).collect();
    assert_eq!(
        r,
        [
            "src/s/kernel.rs:1:s::syscalls",
            "src/s/kernel.rs:2:s",
            "src/s/kernel.rs:3:s::syscalls::table",
            "src/s/kernel.rs:3:s::syscalls::x",
            "src/s/mod.rs:3:s::kernel::Kernel",
            "src/s/task.rs:1:s",
            "src/s/task.rs:2:s::syscalls::table",
        ]
    );
}

#[test]
fn the_checker_applies_rules_exceptions_and_test_code() {
    let files = [
        ("src/platform/a.rs", "use crate::sentry::kernel;\n#[cfg(test)]\nmod tests { use crate::vfs::X; }\n"),
        ("src/sentry/mod.rs", "mod syscalls;\nuse syscalls::table;\n"),
        ("src/sentry/kernel.rs", "fn f() { crate::sentry::syscalls::describe(); super::syscalls::x(); }\n"),
        ("src/sentry/syscalls/fs.rs", "use crate::sentry::syscalls::Table;\n"),
        ("src/wait.rs", "use crate::sysno;\n#[cfg(test)]\nmod tests { use super::*; }\n"),
    ];
    let v = check(RULES, &references(&files));
    assert_eq!(
        v,
        [
            "src/platform/a.rs:1: platform::a imports crate::sentry::kernel — forbidden: the platform knows no \
             syscalls and no files: it runs code and reports events",
            "src/sentry/kernel.rs:1: sentry::kernel imports crate::sentry::syscalls — forbidden: syscall \
             handlers call down into the kernel core, never the reverse",
            "src/wait.rs:1: wait imports crate::sysno — forbidden: wait is a leaf that vfs, sentry and sockets all \
             use: it uses nothing of the crate",
        ]
    );
}
