//! Debian's unmodified xenstore-utils binaries, run once with the C
//! `libxenstore.so.4` and once with ours (through `LD_LIBRARY_PATH`), on the
//! same daemon: stdout, stderr and exit code must be the same. The cases
//! are those of `xs-interop/tests/real_clients.rs` (the C tools against our
//! server), plus the `xenstore` multi-call binary and the error paths.
//! Each library works in its own subtree, `{p}` in the tables.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{daemons, lib_dir, loaded_from, text, Daemon, DaemonKind, VALGRIND};

/// One tool run: (binary, arguments); `{p}` is the library's subtree.
const CASES: &[(&str, &[&str])] = &[
    ("xenstore-write", &["{p}/a", "hello", "{p}/b", "world"]),
    ("xenstore-read", &["{p}/a", "{p}/b"]),
    ("xenstore-list", &["{p}"]),
    ("xenstore-ls", &["{p}"]),
    ("xenstore-exists", &["{p}/a"]),
    ("xenstore-exists", &["{p}/zz"]),
    ("xenstore-read", &["{p}/zz"]),
    ("xenstore-chmod", &["{p}/a", "n0", "r5"]),
    ("xenstore-ls", &["-p", "{p}"]),
    ("xenstore-rm", &["{p}/b"]),
    ("xenstore-list", &["{p}"]),
    // Error paths: the messages carry strerror(errno).
    ("xenstore-list", &["{p}/zz"]),
    ("xenstore-ls", &["{p}/zz"]),
    ("xenstore-rm", &["{p}/no/such/node"]),
    ("xenstore-chmod", &["{p}/zz", "n0"]),
    ("xenstore-read", &["{p}/a", "{p}/zz"]),
    // Recursive, with full paths and a deeper tree.
    ("xenstore-write", &["{p}/t/x/y", "1", "{p}/t/z", "2"]),
    ("xenstore-ls", &["-f", "{p}/t"]),
    ("xenstore-chmod", &["-r", "{p}/t", "b0"]),
    ("xenstore-ls", &["-p", "{p}/t"]),
    ("xenstore-rm", &["-t", "{p}/t/x/y"]),
    ("xenstore-list", &["-p", "{p}/t"]),
    // The multi-call binary.
    ("xenstore", &["write", "{p}/m", "1"]),
    ("xenstore", &["read", "{p}/m"]),
    ("xenstore", &["ls", "{p}"]),
    ("xenstore", &["list", "{p}"]),
    ("xenstore", &["exists", "{p}/m"]),
    ("xenstore", &["chmod", "{p}/m", "b0"]),
    ("xenstore", &["rm", "{p}/m"]),
    ("xenstore", &["exists", "{p}/m"]),
    ("xenstore", &["read", "{p}/m"]),
    // Values that need escaping, and relative paths ({r}: no leading /).
    ("xenstore-write", &["{p}/esc", "a\nb\tc\\d"]),
    ("xenstore-ls", &["{p}"]),
    ("xenstore-read", &["{p}/esc"]),
    ("xenstore-write", &["{r}/rel", "1"]),
    ("xenstore-read", &["{r}/rel"]),
    ("xenstore-list", &["{r}"]),
    ("xenstore-rm", &["{r}"]),
    ("xenstore-exists", &["{r}"]),
];

/// How a run ended, with the subtree written back as `{p}`.
#[derive(Debug, PartialEq)]
struct Outcome {
    call: String,
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

/// The cases run under valgrind (it is slow): one per function the tools
/// reach, and an error path.
const VALGRIND_CASES: &[usize] = &[0, 1, 2, 3, 6, 7, 8, 9, 13, 22, 24];

fn run_cases(
    sock: &Path,
    lib: Option<&Path>,
    prefix: &str,
    wrapper: &[&str],
    only: Option<&[usize]>,
) -> Vec<Outcome> {
    CASES
        .iter()
        .enumerate()
        .filter(|(i, _)| only.is_none_or(|only| only.contains(i)))
        .map(|(_, (name, args))| {
            let relative = &prefix[1..];
            let args: Vec<String> = args
                .iter()
                .map(|a| a.replace("{p}", prefix).replace("{r}", relative))
                .collect();
            let back = |s: &str| s.replace(prefix, "{p}").replace(relative, "{r}");
            let mut cmd = match wrapper.split_first() {
                Some((w, rest)) => {
                    let mut c = Command::new(w);
                    c.args(rest).arg(format!("/usr/bin/{name}"));
                    c
                }
                None => Command::new(name),
            };
            cmd.args(&args).env("XENSTORED_PATH", sock);
            match lib {
                Some(lib) => cmd.env("LD_LIBRARY_PATH", lib),
                None => cmd.env_remove("LD_LIBRARY_PATH"),
            };
            let out = cmd
                .output()
                .unwrap_or_else(|e| panic!("{name} is required (xenstore-utils): {e}"));
            let (stdout, stderr, code) = text(&out);
            let stderr = if wrapper.is_empty() {
                stderr
            } else {
                valgrind_findings(&stderr)
            };
            Outcome {
                call: back(&format!("{name} {}", args.join(" "))),
                stdout: back(&stdout),
                stderr: back(&stderr),
                code,
            }
        })
        .collect()
}

fn assert_same(c: &[Outcome], ours: &[Outcome], what: &str) {
    assert_eq!(c.len(), ours.len());
    for (c, r) in c.iter().zip(ours) {
        assert_eq!(c, r, "{what}: C library (left) vs ours (right)");
    }
}

#[test]
fn the_tools_load_our_library() {
    let lib = lib_dir();
    for tool in ["xenstore-read", "xenstore-watch", "xenstore"] {
        let line = loaded_from(&format!("/usr/bin/{tool}"), &lib);
        assert!(
            line.contains(&lib.join("libxenstore.so.4").display().to_string()),
            "{tool}: {line}"
        );
    }
}

#[test]
fn tools_give_the_same_output_and_exit_codes() {
    let lib = lib_dir();
    for d in daemons() {
        let c = run_cases(d.socket(), None, "/ct-c", &[], None);
        let ours = run_cases(d.socket(), Some(&lib), "/ct-r", &[], None);
        assert_same(&c, &ours, &format!("{:?}", d.kind));
        // Not vacuous: the runs did reach the daemon.
        assert_eq!(ours[1].stdout, "hello\nworld\n");
        assert_eq!(ours[6].code, Some(1));
    }
}

/// What valgrind reported, without process ids and stack frames: each
/// error's first line and each definite leak's size.
fn valgrind_findings(stderr: &str) -> String {
    stderr
        .lines()
        .map(|l| l.split_once("== ").map_or(l, |(_, rest)| rest))
        .filter(|l| {
            l.contains("definitely lost in loss record")
                || l.starts_with("Invalid")
                || l.contains("uninitialised")
        })
        .map(|l| format!("{}\n", l.split(" in loss record").next().unwrap_or(l)))
        .collect()
}

#[test]
fn tools_on_our_library_are_as_clean_under_valgrind_as_on_the_c_one() {
    let lib = lib_dir();
    let d = Daemon::start(DaemonKind::XsServer).expect("xs-server");
    let mut valgrind = vec!["valgrind"];
    valgrind.extend_from_slice(VALGRIND);
    let only = Some(VALGRIND_CASES);
    let c = run_cases(d.socket(), None, "/vg-c", &valgrind, only);
    let ours = run_cases(d.socket(), Some(&lib), "/vg-r", &valgrind, only);
    // The tools' own leaks (xenstore-ls never frees xs_get_permissions'
    // arrays) show with both libraries; anything else is ours.
    assert_same(&c, &ours, "under valgrind");
    for r in &ours {
        assert!(!r.stderr.contains("Invalid"), "{}: {}", r.call, r.stderr);
    }
    assert_eq!(ours[1].stdout, "hello\nworld\n");
}

/// Starts `xenstore-watch -n 2 {p}/w`, checks which library it mapped,
/// writes below the path and returns what the tool printed.
fn watch_once(
    d: &Daemon,
    lib: Option<&Path>,
    prefix: &str,
    valgrind: bool,
) -> (String, Option<i32>) {
    let path = format!("{prefix}/w");
    let mut cmd = if valgrind {
        let mut c = Command::new("valgrind");
        c.args(VALGRIND).arg("/usr/bin/xenstore-watch");
        c
    } else {
        Command::new("xenstore-watch")
    };
    cmd.args(["-n", "2", &path])
        .env("XENSTORED_PATH", d.socket())
        .stdout(Stdio::piped());
    match lib {
        Some(lib) => cmd.env("LD_LIBRARY_PATH", lib),
        None => cmd.env_remove("LD_LIBRARY_PATH"),
    };
    let mut child = cmd.spawn().expect("xenstore-watch");
    // The watch is registered once the initial event is printed (the tool
    // flushes every line); valgrind may take seconds to get there.
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut first = String::new();
        let _ = stdout.read_line(&mut first);
        let _ = tx.send(first);
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        rest
    });
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("xenstore-watch printed its initial event");
    if let Some(lib) = lib {
        let maps = format!("/proc/{}/maps", child.id());
        let mapped = std::fs::read_to_string(&maps).unwrap_or_default();
        let ours = std::fs::canonicalize(lib.join("libxenstore.so.4")).expect("our library");
        assert!(
            mapped.contains(&ours.display().to_string()),
            "xenstore-watch did not map {}:\n{mapped}",
            ours.display()
        );
    }
    let w = Command::new("xenstore-write")
        .args([&format!("{path}/x"), "1"])
        .env("XENSTORED_PATH", d.socket())
        .env_remove("LD_LIBRARY_PATH")
        .status()
        .expect("xenstore-write");
    assert!(w.success());
    let status = child.wait().expect("xenstore-watch exit");
    let rest = reader.join().expect("reader");
    (
        format!("{first}{rest}").replace(prefix, "{p}"),
        status.code(),
    )
}

#[test]
fn watch_tool_prints_the_same_events() {
    let lib = lib_dir();
    for d in daemons() {
        let c = watch_once(&d, None, "/cw-c", false);
        let ours = watch_once(&d, Some(&lib), "/cw-r", false);
        assert_eq!(c, ours, "{:?}", d.kind);
        assert_eq!(ours, ("{p}/w\n{p}/w/x\n".to_owned(), Some(0)));
    }
}

#[test]
fn watch_tool_is_clean_under_valgrind() {
    let lib = lib_dir();
    let d = Daemon::start(DaemonKind::XsServer).expect("xs-server");
    let ours = watch_once(&d, Some(&lib), "/vw-r", true);
    assert_eq!(ours, ("{p}/w\n{p}/w/x\n".to_owned(), Some(0)));
}

/// `xs_open` failures: no socket (`ENOENT`), a socket nobody listens on
/// (`ECONNREFUSED`); the tools print strerror(errno).
#[test]
fn open_failures_give_the_same_messages() {
    let lib = lib_dir();
    let dir = lib.join("dead");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let dead = dir.join("sock");
    // Bound and dropped at once: the socket file stays, nobody listens.
    drop(std::os::unix::net::UnixListener::bind(&dead).expect("bind"));
    for sock in [dir.join("missing"), dead] {
        let run = |lib: Option<&Path>| {
            let mut cmd = Command::new("xenstore-read");
            cmd.arg("/x").env("XENSTORED_PATH", &sock);
            match lib {
                Some(lib) => cmd.env("LD_LIBRARY_PATH", lib),
                None => cmd.env_remove("LD_LIBRARY_PATH"),
            };
            text(&cmd.output().expect("xenstore-read"))
        };
        let ours = run(Some(&lib));
        assert_eq!(run(None), ours, "{}", sock.display());
        assert_eq!(ours.2, Some(1));
        assert!(ours.1.starts_with("xenstore-read: xs_open: "), "{}", ours.1);
    }
}

/// `xenstore-watch -n 3` when the daemon goes away after the first event:
/// `xs_read_watch` fails at once (no hang), so the tool counts out its
/// events and ends, with either library.
fn watch_until_the_daemon_dies(lib: Option<&Path>) -> (String, Option<i32>) {
    let d = Daemon::start(DaemonKind::XsServer).expect("xs-server");
    let mut cmd = Command::new("xenstore-watch");
    cmd.args(["-n", "3", "/dw"])
        .env("XENSTORED_PATH", d.socket())
        .stdout(Stdio::piped());
    match lib {
        Some(lib) => cmd.env("LD_LIBRARY_PATH", lib),
        None => cmd.env_remove("LD_LIBRARY_PATH"),
    };
    let mut child = cmd.spawn().expect("xenstore-watch");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("initial event");
    drop(d);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        let _ = tx.send((rest, child.wait()));
    });
    let (rest, status) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("xenstore-watch ends once the daemon is gone");
    (first + &rest, status.expect("exit status").code())
}

#[test]
fn watch_tool_ends_the_same_when_the_daemon_dies() {
    let lib = lib_dir();
    let c = watch_until_the_daemon_dies(None);
    let ours = watch_until_the_daemon_dies(Some(&lib));
    assert_eq!(c, ours);
    assert_eq!(ours, ("/dw\n".to_owned(), Some(0)));
}
