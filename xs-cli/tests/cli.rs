//! The `xs` binary against Debian's `xenstore-*` tools, on the same tree of
//! the same daemon: the real oxenstored (started here with
//! `scripts/oxenstored/start`) and the embedded `xs-server`. Every scenario
//! runs on both daemons; outputs and exit statuses must be identical, except
//! for the error messages, which are ours (`xs: read /a: ENOENT`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use xs_client::{Client, Store};
use xs_server::{Fault, Server, ServerBuilder, ServerHandle, XenVersion};

/// A daemon private to one test.
enum Daemon {
    Real { dir: PathBuf, socket: PathBuf },
    Embedded(ServerHandle),
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Daemon {
    fn real() -> Daemon {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("xs-cli-{}-{n}", std::process::id()));
        let out = Command::new(repo().join("scripts/oxenstored/start"))
            .arg(&dir)
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/oxenstored/start");
        assert!(out.status.success(), "scripts/oxenstored/start failed");
        let stdout = String::from_utf8(out.stdout).expect("socket path");
        let socket = PathBuf::from(stdout.lines().last().expect("socket path").trim());
        Daemon::Real { dir, socket }
    }

    fn embedded() -> Daemon {
        Daemon::embedded_with(Server::builder())
    }

    fn embedded_with(builder: ServerBuilder) -> Daemon {
        Daemon::Embedded(builder.spawn().expect("start xs-server"))
    }

    fn socket(&self) -> &Path {
        match self {
            Daemon::Real { socket, .. } => socket,
            Daemon::Embedded(server) => server.socket_path(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Daemon::Real { .. } => "oxenstored",
            Daemon::Embedded(_) => "xs-server",
        }
    }

    fn client(&self) -> Client {
        Client::unix(self.socket()).expect("connect")
    }

    /// Runs `xs ARGS` with `XENSTORED_PATH` pointing at this daemon.
    fn xs(&self, args: &[&str]) -> Output {
        self.xs_at(self.socket(), args)
    }

    fn xs_at(&self, socket: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_xs"))
            .args(args)
            .env("XENSTORED_PATH", socket)
            .output()
            .expect("run xs")
    }

    /// Runs `xenstore-TOOL ARGS` against this daemon.
    fn c_tool(&self, tool: &str, args: &[&str]) -> Output {
        self.c_tool_at(self.socket(), tool, args)
    }

    fn c_tool_at(&self, socket: &Path, tool: &str, args: &[&str]) -> Output {
        Command::new(format!("xenstore-{tool}"))
            .args(args)
            .env("XENSTORED_PATH", socket)
            .output()
            .unwrap_or_else(|e| panic!("run xenstore-{tool}: {e}"))
    }

    /// `xs TOOL ARGS` and `xenstore-TOOL ARGS` print the same and exit
    /// the same; returns the output.
    fn same(&self, tool: &str, args: &[&str]) -> Output {
        self.same_at(self.socket(), tool, args)
    }

    fn same_at(&self, socket: &Path, tool: &str, args: &[&str]) -> Output {
        let mut xs_args = vec![tool];
        xs_args.extend_from_slice(args);
        let ours = self.xs_at(socket, &xs_args);
        let theirs = self.c_tool_at(socket, tool, args);
        assert_eq!(
            text(&ours.stdout),
            text(&theirs.stdout),
            "{}: stdout of `xs {tool} {args:?}` (left) and xenstore-{tool} (right)",
            self.name()
        );
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{}: status of `xs {tool} {args:?}` (stderr: {})",
            self.name(),
            text(&ours.stderr)
        );
        ours
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Daemon::Real { dir, .. } = self {
            let _ = Command::new(repo().join("scripts/oxenstored/stop"))
                .arg(&*dir)
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `scenario` against both daemons.
fn on_both(scenario: impl Fn(&Daemon)) {
    scenario(&Daemon::embedded());
    scenario(&Daemon::real());
}

/// A tree with values that need escaping: written both with
/// `xenstore-write` escapes and with binary values through the client.
fn odd_tree(d: &Daemon) {
    let w = d.c_tool(
        "write",
        &[
            "/t/a",
            "he\"llo 'q'",
            "/t/b/c",
            "x\\ty\\\\z",
            "/t/b/d/e",
            "deep",
            "/t/empty",
            "",
            "/t/esc",
            "a\\001b\\nc\\x7f",
        ],
    );
    assert!(w.status.success(), "{}", text(&w.stderr));
    let c = d.client();
    let all: Vec<u8> = (0..=255).collect();
    c.write("/t/bin/all", &all).unwrap();
    c.write("/t/bin/utf8", "é€\\\"'").unwrap();
    c.write("/t/bin/nul", b"a\0b").unwrap();
    c.write("/t/long", "x".repeat(100)).unwrap();
    c.write("/t/fits", "y".repeat(60)).unwrap();
    c.write(
        "/t/a-rather-long-node-name-that-takes-up-most-of-the-eighty-columns-and-then-some-more",
        "v",
    )
    .unwrap();
    c.set_perms(
        "/t/b",
        &[
            "r0".parse().unwrap(),
            "b5".parse().unwrap(),
            "w7".parse().unwrap(),
        ],
    )
    .unwrap();
}

#[test]
fn read_matches_xenstore_read() {
    on_both(|d| {
        odd_tree(d);
        for path in [
            "/t/a",
            "/t/b/c",
            "/t/empty",
            "/t/esc",
            "/t/bin/all",
            "/t/bin/utf8",
            "/t/bin/nul",
            "/t/b",
        ] {
            d.same("read", &[path]);
            d.same("read", &["-R", path]);
        }
        d.same("read", &["/t/a", "/t/b/c", "/t/bin/all"]);
        d.same("read", &["-p", "/t/a", "/t/esc"]);
        // Missing: both fail and print nothing, even for the paths that exist.
        let out = d.same("read", &["/t/a", "/t/missing"]);
        assert_eq!(text(&out.stderr), "xs: read /t/missing: ENOENT\n");
        let out = d.same("read", &["/t/missing"]);
        assert_eq!(text(&out.stderr), "xs: read /t/missing: ENOENT\n");
    });
}

#[test]
fn ls_matches_xenstore_ls() {
    on_both(|d| {
        odd_tree(d);
        for args in [&[][..], &["-f"], &["-p"], &["-f", "-p"], &["-fp"]] {
            for top in ["/t", "/t/b", "/t/bin", "/t/a"] {
                let mut a = args.to_vec();
                a.push(top);
                d.same("ls", &a);
            }
        }
        let out = d.same("ls", &["/t/missing"]);
        assert_eq!(text(&out.stderr), "xs: ls /t/missing: ENOENT\n");
    });
}

#[test]
fn ls_of_the_root_matches() {
    // The default path is the root.
    on_both(|d| {
        odd_tree(d);
        d.same("ls", &[]);
        d.same("ls", &["/"]);
        d.same("ls", &["-f", "/"]);
        d.same("ls", &["-p"]);
    });
}

#[test]
fn ls_as_an_unprivileged_domain_matches() {
    // Only xs-server serves a socket as a guest (domain 5).
    let d = Daemon::embedded();
    let Daemon::Embedded(server) = &d else {
        unreachable!()
    };
    let guest = server.socket_for_domain(5);
    let c = d.client();
    let owned: [xs_client::Perm; 1] = ["n5".parse().unwrap()];
    for path in ["/local/domain/5/data/open", "/local/domain/5/data/sub/x"] {
        c.write(path, "yes").unwrap();
    }
    for path in [
        "/local/domain/5",
        "/local/domain/5/data",
        "/local/domain/5/data/open",
        "/local/domain/5/data/sub",
        "/local/domain/5/data/sub/x",
    ] {
        c.set_perms(path, &owned).unwrap();
    }
    for args in [&["/local/domain/5"][..], &["-f", "data"], &["-p", "data"]] {
        d.same_at(&guest, "ls", args);
    }
    d.same_at(&guest, "read", &["data/open"]);
    d.same_at(&guest, "list", &["data"]);

    // A node the guest may not read cannot be listed either: xenstore-ls
    // (4.17) stops there with status 1, and so do we, naming the node.
    c.write("/local/domain/5/data/sealed", "no").unwrap();
    c.set_perms(
        "/local/domain/5/data/sealed",
        &["n0".parse().unwrap(), "w5".parse().unwrap()],
    )
    .unwrap();
    let ours = d.xs_at(&guest, &["ls", "/local/domain/5"]);
    let theirs = d.c_tool_at(&guest, "ls", &["/local/domain/5"]);
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(theirs.status.code(), Some(1));
    assert_eq!(
        text(&ours.stderr),
        "xs: ls /local/domain/5/data/sealed: EACCES\n"
    );
    let out = d.same_at(&guest, "read", &["data/sealed"]);
    assert_eq!(text(&out.stderr), "xs: read data/sealed: EACCES\n");
    d.same_at(&guest, "exists", &["data/open"]);
}

#[test]
fn list_matches_xenstore_list() {
    on_both(|d| {
        odd_tree(d);
        d.same("list", &["/t"]);
        d.same("list", &["/t/b"]);
        d.same("list", &["/t/a"]);
        d.same("list", &["-p", "/t", "/t/b"]);
        d.same("list", &["/"]);
        let out = d.same("list", &["/t/missing"]);
        assert_eq!(text(&out.stderr), "xs: list /t/missing: ENOENT\n");
    });
}

#[test]
fn exists_status_matches_xenstore_exists() {
    on_both(|d| {
        odd_tree(d);
        assert!(d.same("exists", &["/t/a"]).status.success());
        assert!(d.same("exists", &["/t/a", "/t/b/c"]).status.success());
        assert_eq!(d.same("exists", &["/t/missing"]).status.code(), Some(1));
        assert_eq!(
            d.same("exists", &["/t/a", "/t/missing"]).status.code(),
            Some(1)
        );
        // Not a question of existence: ours says so.
        let out = d.xs(&["exists", "/t//a"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out.stderr).starts_with("xs: exists /t//a: request not sent"));
    });
}

#[test]
fn rm_like_xenstore_rm() {
    on_both(|d| {
        odd_tree(d);
        assert!(d.xs(&["rm", "/t/b"]).status.success());
        assert_eq!(d.c_tool("exists", &["/t/b"]).status.code(), Some(1));
        assert_eq!(d.c_tool("exists", &["/t/b/c"]).status.code(), Some(1));
        // A missing node whose parent exists: fine. Missing parent: ENOENT.
        d.same("rm", &["/t/gone"]);
        let out = d.same("rm", &["/t/gone/too"]);
        assert_eq!(text(&out.stderr), "xs: rm /t/gone/too: ENOENT\n");
        d.same("rm", &["/t/a", "/t/esc"]);
        d.same("ls", &["/t"]);
        // --tidy also removes parents left with no value and no children.
        for tool in ["xs", "c"] {
            d.c_tool("write", &["/tidy/x/y/z", "1", "/tidy/keep", "2"]);
            d.c_tool("write", &["/tidy/x/v", ""]);
            let out = if tool == "xs" {
                d.xs(&["rm", "-t", "/tidy/x/y/z"])
            } else {
                d.c_tool("rm", &["-t", "/tidy/x/y/z"])
            };
            assert!(out.status.success());
            let ls = d.c_tool("ls", &["-f", "/tidy"]);
            let mut lines: Vec<String> = text(&ls.stdout).lines().map(str::to_owned).collect();
            lines.sort();
            assert_eq!(
                lines,
                ["/tidy/keep = \"2\"", "/tidy/x = \"\"", "/tidy/x/v = \"\""],
                "{tool}"
            );
            d.c_tool("rm", &["/tidy"]);
        }
    });
}

#[test]
fn write_undoes_escapes_like_xenstore_write() {
    on_both(|d| {
        for value in [
            "plain",
            "a\\tb\\nc\\rd",
            "\\x41\\x4g\\101\\0\\777",
            "back\\\\slash",
            "\\q\\x",
            "",
        ] {
            assert!(d.xs(&["write", "/w/ours", value]).status.success());
            assert!(d.c_tool("write", &["/w/theirs", value]).status.success());
            let ours = d.client().read("/w/ours").unwrap();
            let theirs = d.client().read("/w/theirs").unwrap();
            assert_eq!(ours, theirs, "{value}");
        }
        // -R: as given.
        assert!(d.xs(&["write", "-R", "/w/raw", "a\\tb"]).status.success());
        assert_eq!(d.client().read("/w/raw").unwrap(), b"a\\tb");
        // Several pairs; a value starting with '-'.
        assert!(d
            .xs(&["write", "/w/p1", "-1", "/w/p2", "two"])
            .status
            .success());
        d.same("read", &["/w/p1", "/w/p2"]);
        // Every byte survives `xs read` then `xs write`.
        let all: Vec<u8> = (0..=255).collect();
        d.client().write("/w/all", &all).unwrap();
        let shown = d.xs(&["read", "/w/all"]).stdout;
        let shown = text(&shown);
        assert!(d
            .xs(&["write", "/w/copy", shown.trim_end_matches('\n')])
            .status
            .success());
        assert_eq!(d.client().read("/w/copy").unwrap(), all);
        // An odd number of arguments is a usage error.
        assert_eq!(d.xs(&["write", "/w/a", "1", "/w/b"]).status.code(), Some(2));
    });
}

#[test]
fn chmod_then_perms() {
    on_both(|d| {
        odd_tree(d);
        assert!(d.xs(&["chmod", "/t/a", "r0", "b5", "w7"]).status.success());
        let out = d.xs(&["perms", "/t/a"]);
        assert_eq!(text(&out.stdout), "r0 b5 w7\n");
        d.same("ls", &["-p", "/t"]);
        // The C tool's chmod, read back by ours.
        assert!(d.c_tool("chmod", &["/t/esc", "n3", "r4"]).status.success());
        let out = d.xs(&["perms", "-p", "/t/esc", "/t/a"]);
        assert_eq!(text(&out.stdout), "/t/esc: n3 r4\n/t/a: r0 b5 w7\n");
        // -r and -u, compared with the C tool's on twin trees.
        for (tool, root) in [("xs", "/ours"), ("c", "/theirs")] {
            d.c_tool(
                "write",
                &[&format!("{root}/x/y/z"), "1", &format!("{root}/x/w"), "2"],
            );
            let path = format!("{root}/x/y");
            let out = if tool == "xs" {
                d.xs(&["chmod", "-r", "-u", &path, "b2", "r3"])
            } else {
                d.c_tool("chmod", &["-r", "-u", &path, "b2", "r3"])
            };
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
        let ours = d.c_tool("ls", &["-p", "/ours"]).stdout;
        let theirs = d.c_tool("ls", &["-p", "/theirs"]).stdout;
        assert_eq!(text(&ours), text(&theirs));
        assert!(text(&ours).contains("(b2,r3)"));
        // Errors.
        let out = d.xs(&["chmod", "/t/missing", "r0"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(text(&out.stderr), "xs: chmod /t/missing: ENOENT\n");
        assert_eq!(d.xs(&["chmod", "/t/a", "x1"]).status.code(), Some(2));
    });
}

#[test]
fn mkdir_creates_empty_nodes() {
    on_both(|d| {
        d.c_tool("write", &["/m/kept", "value"]);
        assert!(d.xs(&["mkdir", "/m/kept", "/m/new/deep"]).status.success());
        let out = d.c_tool("ls", &["-f", "/m"]);
        assert_eq!(
            text(&out.stdout),
            "/m/kept = \"value\"\n/m/new = \"\"\n/m/new/deep = \"\"\n"
        );
    });
}

/// The lines of a child's output as they come, read by a thread of their own.
fn lines_of(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.expect("line")).is_err() {
                break;
            }
        }
    });
    rx
}

/// Starts a watcher, waits for its first line (the event the daemon fires
/// at registration), runs `change`, and returns every line it printed.
fn watch_lines(mut child: Child, change: impl FnOnce()) -> Vec<String> {
    let rx = lines_of(child.stdout.take().expect("stdout"));
    let wait = Duration::from_secs(10);
    let mut lines = vec![rx.recv_timeout(wait).expect("the first event")];
    change();
    while let Ok(line) = rx.recv_timeout(wait) {
        lines.push(line);
    }
    // The count ends it; it must not hang.
    let status = child.wait().expect("wait");
    assert!(status.success());
    lines
}

#[test]
fn watch_matches_xenstore_watch() {
    on_both(|d| {
        d.c_tool("write", &["/watched/a", "1"]);
        let spawn = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .env("XENSTORED_PATH", d.socket())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn a watcher")
        };
        let xs = env!("CARGO_BIN_EXE_xs");
        let ours = watch_lines(spawn(xs, &["watch", "-n", "3", "/watched"]), || {
            d.c_tool("write", &["/watched/a", "2"]);
            d.c_tool("rm", &["/watched/a"]);
        });
        d.c_tool("write", &["/watched/a", "1"]);
        let theirs = watch_lines(spawn("xenstore-watch", &["-n", "3", "/watched"]), || {
            d.c_tool("write", &["/watched/a", "2"]);
            d.c_tool("rm", &["/watched/a"]);
        });
        assert_eq!(ours, ["/watched", "/watched/a", "/watched/a"]);
        assert_eq!(ours, theirs);
        // -n 1: just the event at registration, as the C tool.
        let ours = d.xs(&["watch", "-n", "1", "/nowhere"]);
        let theirs = d.c_tool("watch", &["-n", "1", "/nowhere"]);
        assert_eq!(text(&ours.stdout), text(&theirs.stdout));
        // --token names the watch that fired.
        let out = d.xs(&["watch", "-t", "-n", "2", "/watched", "@releaseDomain"]);
        let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
        lines.sort();
        assert_eq!(
            lines,
            ["/watched /watched", "@releaseDomain @releaseDomain"]
        );
    });
}

#[test]
fn connection_options_and_errors() {
    on_both(|d| {
        d.c_tool("write", &["/c/v", "1"]);
        let socket = d.socket().to_str().expect("utf-8 socket path");
        // --socket wins over XENSTORED_PATH.
        let out = Command::new(env!("CARGO_BIN_EXE_xs"))
            .args(["--socket", socket, "read", "/c/v"])
            .env("XENSTORED_PATH", "/nonexistent/socket")
            .output()
            .unwrap();
        assert_eq!(text(&out.stdout), "1\n", "{}", text(&out.stderr));
        // Options after the command work too.
        let out = Command::new(env!("CARGO_BIN_EXE_xs"))
            .args(["read", "/c/v", "--socket", socket])
            .env_remove("XENSTORED_PATH")
            .output()
            .unwrap();
        assert_eq!(text(&out.stdout), "1\n", "{}", text(&out.stderr));
        // Nothing there: one line, status 1.
        let out = d.xs_at(Path::new("/nonexistent/socket"), &["read", "/c/v"]);
        assert_eq!(out.status.code(), Some(1));
        let err = text(&out.stderr);
        assert!(
            err.starts_with("xs: cannot connect to xenstored at /nonexistent/socket"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1);
        // A bad path is refused before anything is sent.
        let out = d.xs(&["read", "/c//v"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(
            text(&out.stderr),
            "xs: read /c//v: request not sent: invalid path: path contains `//`\n"
        );
    });
}

#[test]
fn s_is_accepted_and_ignored_like_the_c_tools() {
    on_both(|d| {
        d.c_tool("write", &["/s/v", "1"]);
        d.same("read", &["-s", "/s/v"]);
        d.same("ls", &["-s", "/s"]);
        d.same("list", &["-s", "/s"]);
        let out = d.xs(&["-s", "exists", "/s/v"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    });
}

#[test]
fn read_prints_the_values_before_a_failing_path() {
    on_both(|d| {
        d.c_tool("write", &["/r/a", "1"]);
        let out = d.same("read", &["/r/a", "/r/missing", "/r/a"]);
        assert_eq!(text(&out.stdout), "1\n");
        assert_eq!(out.status.code(), Some(1));
    });
    let help = text(&Daemon::embedded().xs(&["read", "--help"]).stdout);
    assert!(
        help.contains("up to the first path that cannot be read"),
        "{help}"
    );
    assert!(!help.contains("all or nothing"), "{help}");
}

#[test]
fn timeout_gives_up_on_a_slow_daemon() {
    let d = Daemon::embedded_with(
        Server::builder().fault(Fault::DelayReplies(Duration::from_millis(2000))),
    );
    let started = Instant::now();
    let out = d.xs(&["--timeout", "100ms", "read", "/tool/xenstored"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("timed out after 100ms"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        // Well before the reply (a margin for starting the process).
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let out = d.xs(&["read", "/tool/xenstored", "--timeout", "5"]);
    assert_eq!(text(&out.stdout), "xs-server\n", "{}", text(&out.stderr));
    for bad in ["0", "-1", "soon"] {
        let out = d.xs(&["--timeout", bad, "read", "/tool/xenstored"]);
        assert_eq!(out.status.code(), Some(2), "--timeout {bad}");
    }
}

/// `(arguments, standard output, exit status)` in order, on one daemon.
fn run_table(d: &Daemon, rows: &[(&[&str], &str, i32)]) {
    for (args, stdout, status) in rows {
        let out = d.xs(args);
        assert_eq!(
            (text(&out.stdout).as_str(), out.status.code()),
            (*stdout, Some(*status)),
            "xs {args:?}: stderr {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn quota_lists_gets_and_sets() {
    let d = Daemon::embedded();
    let all = "nodes 1000\nwatches 100\ntransactions 10\nnode-size 2048\npermissions 5\n\
transaction-nodes 1024\npath-max 1024\n";
    run_table(
        &d,
        &[
            (&["quota"], all, 0),
            (&["quota", "nodes"], "1000\n", 0),
            (&["quota", "nodes=5", "watches=0"], "", 0),
            (&["quota", "nodes", "watches"], "nodes 5\nwatches 0\n", 0),
            // A domain starts from the global values, then has its own.
            (&["quota", "-D", "3", "nodes"], "5\n", 0),
            (&["quota", "--domain", "3", "nodes=7"], "", 0),
            (&["quota", "-D", "3", "nodes"], "7\n", 0),
            (&["quota", "nodes"], "5\n", 0),
            (&["quota", "bogus"], "", 1),
            (&["quota", "nodes", "watches=1"], "", 2),
            (&["quota", "nodes=-1"], "", 2),
        ],
    );
    let out = d.xs(&["quota", "bogus"]);
    assert_eq!(text(&out.stderr), "xs: quota bogus: EINVAL\n");
}

#[test]
fn features_get_and_set() {
    let d = Daemon::embedded();
    run_table(
        &d,
        &[
            (&["features"], "14 ERROR WATCHDEPTH DOMID_ANY\n", 0),
            (&["features", "5"], "14 ERROR WATCHDEPTH DOMID_ANY\n", 0),
            (&["features", "5", "watchdepth"], "", 0),
            (&["features", "5"], "4 WATCHDEPTH\n", 0),
            (&["features", "5", "12"], "", 0),
            (&["features", "5"], "12 WATCHDEPTH DOMID_ANY\n", 0),
            (&["features", "5", "RECONNECTION"], "", 1),
            (&["features", "5", "bogus"], "", 2),
        ],
    );
    d.client().introduce_domain(5, 1, 1).unwrap();
    let out = d.xs(&["features", "5", "none"]);
    assert_eq!(
        (text(&out.stderr).as_str(), out.status.code()),
        ("xs: features: EBUSY\n", Some(1)),
        "refused once introduced"
    );
}

#[test]
fn quota_and_features_tell_an_older_daemon_apart_without_hanging() {
    let older = [
        Daemon::embedded_with(Server::builder().xen_version(XenVersion::V4_17)),
        Daemon::real(),
    ];
    for d in &older {
        for (args, op, since) in [
            (&["quota"][..], "GET_QUOTA", "4.22"),
            (&["quota", "-D", "1"], "GET_QUOTA", "4.22"),
            (&["quota", "nodes=1"], "SET_QUOTA", "4.22"),
            (&["features"], "GET_FEATURE", "4.21"),
            (&["features", "1", "4"], "SET_FEATURE", "4.21"),
        ] {
            let started = Instant::now();
            let out = d.xs(&[&["--timeout", "10"][..], args].concat());
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{}: xs {args:?}",
                d.name()
            );
            let command = args[0];
            assert_eq!(
                (text(&out.stderr), out.status.code()),
                (
                    format!(
                        "xs: {command}: the daemon does not support {op} (ENOSYS; added in Xen {since})\n"
                    ),
                    Some(1)
                ),
                "{}: xs {args:?}",
                d.name()
            );
        }
    }
}

#[test]
fn watch_depth_limits_events_to_that_many_levels() {
    let d = Daemon::embedded();
    d.c_tool("write", &["/deep/a", "1"]);
    for flag in ["--depth", "-d"] {
        let child = Command::new(env!("CARGO_BIN_EXE_xs"))
            .args(["watch", flag, "1", "-n", "2", "/deep"])
            .env("XENSTORED_PATH", d.socket())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn a watcher");
        let lines = watch_lines(child, || {
            d.c_tool("write", &["/deep/a/b/c", "2"]); // 3 levels below: no event
            d.c_tool("write", &["/deep/x", "3"]); // 1 level below: an event
        });
        assert_eq!(lines, ["/deep", "/deep/x"], "{flag}");
        d.c_tool("rm", &["/deep/x"]);
    }
}

#[test]
fn watch_reconnect_keeps_watching_across_a_daemon_restart() {
    let dir = std::env::temp_dir().join(format!("xs-cli-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("socket");
    let first = Server::builder().socket_path(&socket).spawn().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xs"))
        .args(["watch", "--reconnect", "-n", "3", "/w"])
        .env("XENSTORED_PATH", &socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a watcher");
    let rx = lines_of(child.stdout.take().expect("stdout"));
    let wait = Duration::from_secs(10);
    assert_eq!(rx.recv_timeout(wait).expect("initial event"), "/w");
    drop(first); // xenstored goes away...
                 // ...and comes back: the watch is registered again, its initial event
                 // first, then a change.
    let second = Server::builder().socket_path(&socket).spawn().unwrap();
    assert_eq!(rx.recv_timeout(wait).expect("initial event again"), "/w");
    Client::unix(second.socket_path())
        .unwrap()
        .write("/w/x", "1")
        .unwrap();
    assert_eq!(rx.recv_timeout(wait).expect("a change"), "/w/x");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(
        text(&out.stderr).contains("reconnected to xenstored; events may have been missed"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
