//! Real Debian software in the sandbox, compared with its native run:
//! dash and bash scripts with jobs, traps and pipelines; python3 with
//! threads, multiprocessing, asyncio and subprocess; gcc compiling and
//! running a program; `make -j2` building a generated 20-file project.

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
