//! What the C-side tests share: where our `libxenstore.so.4` is, the
//! daemons, compiling C against the library, and valgrind.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use xs_interop::{Daemon, DaemonKind};

/// The valgrind options of every run: memory errors and definite leaks fail
/// the run with exit code [`VALGRIND_FAILED`].
pub const VALGRIND: &[&str] = &[
    "--quiet",
    "--error-exitcode=97",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite",
    "--show-leak-kinds=definite",
];
/// The exit code valgrind gives when it found something.
pub const VALGRIND_FAILED: i32 = 97;

/// A directory holding `libxenstore.so.4`, a link to the library cargo
/// built for this test run: `target/<profile>/deps/libxenstore.so`, made in
/// the same compiler run as the rlib the tests link (so never stale; the
/// copy in `target/<profile>` is refreshed by `cargo build` only).
pub fn lib_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(make_lib_dir).clone()
}

fn make_lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe
        .parent()
        .expect("test executable in target/<profile>/deps");
    let built = deps.join("libxenstore.so");
    assert!(
        built.exists(),
        "{} missing: cargo builds it with the tests",
        built.display()
    );
    let profile = deps.parent().expect("target/<profile>");
    // One directory per test binary, reused by later runs.
    let name = exe.file_name().expect("test name").to_string_lossy();
    let dir = profile.join(format!("capi-lib-{name}"));
    std::fs::create_dir_all(&dir).expect("lib dir");
    let link = dir.join("libxenstore.so.4");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&built, &link).expect("symlink libxenstore.so.4");
    dir
}

/// A fresh daemon of each kind: our xs-server and the real oxenstored.
pub fn daemons() -> Vec<Daemon> {
    [DaemonKind::XsServer, DaemonKind::Oxenstored]
        .into_iter()
        .map(|k| Daemon::start(k).unwrap_or_else(|e| panic!("{k:?} is required: {e}")))
        .collect()
}

/// Compiles `source` (in tests/c) into `out`, linked against our library.
pub fn compile(source: &str, out: &Path, lib: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(source);
    compile_file(&src, out, lib, &[]);
}

/// Compiles any C file against our library and `<xenstore.h>`.
pub fn compile_file(src: &Path, out: &Path, lib: &Path, extra: &[&str]) {
    let result = Command::new("cc")
        .args(["-O1", "-g", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(out)
        .arg(src)
        .arg("-L")
        .arg(lib)
        .arg("-l:libxenstore.so.4")
        .arg("-lpthread")
        .args(extra)
        .output()
        .expect("cc is required (scripts/install-deps installs gcc)");
    assert!(
        result.status.success(),
        "cc {}: {}",
        src.display(),
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The C library's loader line for `binary` with `lib` first in the path.
pub fn loaded_from(binary: &str, lib: &Path) -> String {
    let out = Command::new("ldd")
        .arg(binary)
        .env("LD_LIBRARY_PATH", lib)
        .output()
        .expect("ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.contains("libxenstore.so.4"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// stdout, stderr and exit status of a finished command, as text.
pub fn text(out: &Output) -> (String, String, Option<i32>) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

/// A scratch file path under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    lib_dir().join(name)
}
