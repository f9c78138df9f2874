//! Real Debian software in the sandbox, compared with its native run:
//! dash and bash scripts with jobs, traps and pipelines; python3 with
//! threads, multiprocessing, asyncio and subprocess; gcc compiling and
//! running a program; `make -j2` building a generated 20-file project; an
//! autoconf+automake project's `configure && make -j2 && make check`;
//! MariaDB on a volume and on the overlay; `su` and `runuser`; node's
//! `fs.watch`; Java's `WatchService` and `ProcessBuilder`.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn workload(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs").join(name).display().to_string()
}

/// A fresh, empty host directory for one test.
fn host_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("programs").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run `argv` natively and in the sandbox: same stdout, both succeed.
fn same_as_native(argv: &[&str]) -> String {
    let native = run_native(argv);
    assert_eq!(status(&native), 0, "native {argv:?}: {}", stderr(&native));
    let inside = run_do(&[], argv);
    assert_eq!(status(&inside), 0, "{argv:?} in the sandbox: {}", stderr(&inside));
    assert_eq!(stdout(&inside), stdout(&native), "{argv:?}");
    stdout(&inside)
}

#[test]
fn dash_and_bash_scripts_with_jobs_traps_and_pipelines() {
    let script = workload("script.sh");
    for shell in ["/bin/dash", "/bin/bash"] {
        let out = same_as_native(&[shell, &script]);
        assert!(out.starts_with("trapped USR1\n"), "{shell}: {out}");
        assert!(out.contains("1 a\n3 b\n1 c\n") && out.ends_with("1\n4\n9\n16\ndone\n"), "{shell}: {out}");
    }
}

#[test]
fn python_with_threads_multiprocessing_asyncio_and_subprocess() {
    let out = same_as_native(&["/usr/bin/python3", &workload("imports.py")]);
    assert!(out.contains("pool [0, 1, 4, 9, 16]\nfrom child\nexit 4\n"), "{out}");
}

#[test]
fn gcc_compiles_and_runs_a_program_inside() {
    let dir = host_dir("gcc");
    std::fs::write(dir.join("hello.c"), "#include <stdio.h>\nint main(void){puts(\"hello, compiled\");}\n")
        .unwrap();
    let out = format!("/tmp/hello-sandbox-{}", std::process::id());
    let script = format!("gcc {}/hello.c -o {out} && {out}", dir.display());
    let o = run_do(&[], &["/bin/sh", "-c", &script]);
    assert_eq!((status(&o), stdout(&o).as_str()), (0, "hello, compiled\n"), "{}", stderr(&o));
    // The sandbox's /tmp is its own.
    assert!(!Path::new(&out).exists());
}

/// A C project of `n` files plus a main and a Makefile, in `dir`.
fn generate_project(dir: &Path, n: usize) {
    let mut main = String::from("#include <stdio.h>\n");
    for i in 1..=n {
        std::fs::write(dir.join(format!("f{i}.c")), format!("int f{i}(int x) {{ return x + {i}; }}\n"))
            .unwrap();
        main.push_str(&format!("int f{i}(int);\n"));
    }
    main.push_str("int main(void) {\n int s = 0;\n");
    for i in 1..=n {
        main.push_str(&format!(" s = f{i}(s);\n"));
    }
    main.push_str(" printf(\"sum=%d\\n\", s);\n return 0;\n}\n");
    std::fs::write(dir.join("main.c"), main).unwrap();
    std::fs::write(
        dir.join("Makefile"),
        "OBJS = $(patsubst %.c,%.o,$(wildcard *.c))\nprog: $(OBJS)\n\tgcc -o $@ $(OBJS)\n\
         %.o: %.c\n\tgcc -O1 -c $< -o $@\n",
    )
    .unwrap();
}

#[test]
fn make_j2_builds_a_twenty_file_project_on_a_volume() {
    let dir = host_dir("project");
    generate_project(&dir, 20);
    let volume = format!("{}:/project", dir.display());
    let o = run_do(&["-v", &volume], &["/bin/sh", "-c", "cd /project && make -j2 -s && ./prog"]);
    assert_eq!((status(&o), stdout(&o).as_str()), (0, "sum=210\n"), "{}", stderr(&o));
    // The build happened on the volume: the objects are on the host.
    assert!(dir.join("f20.o").exists() && dir.join("prog").exists());
}

/// Copy the tree `from` into `to` (which exists).
fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

const AUTOTOOLS: &str = "autoreconf -i >/dev/null 2>&1 && ./configure >/dev/null && make -j2 >/dev/null \
                         && make check 2>&1 | grep -E '^(PASS|FAIL|ERROR|# )'";

#[test]
fn autoconf_project_configures_builds_and_passes_make_check_on_a_volume() {
    let native = host_dir("autoconf-native");
    copy_tree(Path::new(&workload("autoconf")), &native);
    let n = run_native(&["/bin/sh", "-c", &format!("cd {} && {AUTOTOOLS}", native.display())]);
    assert_eq!(status(&n), 0, "native: {}", stderr(&n));
    assert!(stdout(&n).contains("# PASS:  1\n") && stdout(&n).contains("# FAIL:  0\n"), "{}", stdout(&n));

    let dir = host_dir("autoconf");
    copy_tree(Path::new(&workload("autoconf")), &dir);
    let volume = format!("{}:/src", dir.display());
    let o = run_do(&["-v", &volume], &["/bin/sh", "-c", &format!("cd /src && {AUTOTOOLS}")]);
    assert_eq!(status(&o), 0, "{}\n{}", stderr(&o), stdout(&o));
    assert_eq!(stdout(&o), stdout(&n));
    // configure's products and the program are on the host.
    assert!(dir.join("config.status").exists() && dir.join("greet").exists());
    let greet = run_native(&[s(&dir.join("greet")), "host"]);
    assert_eq!(stdout(&greet), "Hello, host!\n");
}

#[test]
fn mariadb_installs_serves_and_stops_on_a_volume_and_on_the_overlay() {
    let script = workload("mariadb.sh");
    let native = host_dir("mariadb-native");
    let n = run_native(&[&script, s(&native.join("db")), s(&native.join("run"))]);
    assert_eq!(status(&n), 0, "native: {}", stderr(&n));
    assert_eq!(stdout(&n), "1000\t500500\tv999\nstopped\n");

    let vol = host_dir("mariadb-volume");
    let volume = format!("{}:/data", vol.display());
    let o = run_do(&["-v", &volume], &[&script, "/data/db", "/data/run"]);
    assert_eq!(status(&o), 0, "on a volume: {}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&n), "on a volume");
    // InnoDB's files (opened O_DIRECT) are on the host.
    assert!(vol.join("db/ibdata1").exists() && vol.join("db/t/r.ibd").exists());

    let o = run_do(&[], &[&script, "/var/lib/sandbox-mariadb", "/run/sandbox-mariadb"]);
    assert_eq!(status(&o), 0, "on the overlay: {}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&n), "on the overlay");
    // The overlay's changes never reach the host.
    assert!(!Path::new("/var/lib/sandbox-mariadb").exists());
}

#[test]
fn su_and_runuser_run_a_command_as_another_user() {
    let cmds: [&[&str]; 3] = [
        &["/usr/bin/su", "-s", "/bin/sh", "-c", "id; echo $HOME", "nobody"],
        &["/usr/sbin/runuser", "-u", "nobody", "--", "id"],
        &["/usr/bin/nice", "-n", "5", "/usr/bin/nice"],
    ];
    for argv in cmds {
        let out = same_as_native(argv);
        assert!(out.starts_with("uid=65534(nobody)") || out == "5\n", "{argv:?}: {out}");
    }
}

#[test]
fn node_fs_watch_sees_a_file_made_inside() {
    let native = host_dir("node-native");
    let n = run_native(&["/usr/bin/node", &workload("watch.js"), s(&native)]);
    assert_eq!(status(&n), 0, "native: {}", stderr(&n));
    let dir = host_dir("node");
    let o = run_do(&[], &["/usr/bin/node", &workload("watch.js"), s(&dir)]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&n));
    assert_eq!(stdout(&o), "rename made.txt\n");
}

#[test]
fn java_watch_service_and_process_builder() {
    let classes = host_dir("java-classes");
    let javac = run_native(&["/usr/bin/javac", "-d", s(&classes), &workload("Watch.java")]);
    assert_eq!(status(&javac), 0, "javac: {}", stderr(&javac));
    let native = host_dir("java-native");
    let n = run_native(&["/usr/bin/java", "-cp", s(&classes), "Watch", s(&native)]);
    assert_eq!(status(&n), 0, "native: {}", stderr(&n));
    let dir = host_dir("java");
    let o = run_do(&[], &["/usr/bin/java", "-cp", s(&classes), "Watch", s(&dir)]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&n));
    assert_eq!(stdout(&o), "ENTRY_CREATE hello.txt\nout: child-out\nerr: child-err\nexit: 3\n");
}
