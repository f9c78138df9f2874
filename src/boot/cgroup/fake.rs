//! Unit tests' stand-in for a cgroup directory tree: plain files with the
//! kernel's initial contents, in a temporary directory removed on drop.
//! It checks what the backends write, not what the kernel does with it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct FakeDir {
    pub path: PathBuf,
}

impl FakeDir {
    /// A tree with each `(relative path, content)`.
    pub fn new(files: &[(&str, &str)]) -> FakeDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("sandbox-fake-cgroup-{}-{n}", std::process::id()));
        for (name, content) in files {
            let f = path.join(name);
            std::fs::create_dir_all(f.parent().expect("a file has a parent")).expect("make fake dir");
            std::fs::write(&f, content).expect("write fake file");
        }
        FakeDir { path }
    }

    /// A file's content, trimmed.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path.join(name)).expect("read fake file").trim().to_owned()
    }
}

impl Drop for FakeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
