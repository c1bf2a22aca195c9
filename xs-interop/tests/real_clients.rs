//! Real clients against our server: Debian's C tools (linked to the C
//! libxenstore) and pyxs, through `XENSTORED_PATH`. Every check runs against
//! the real oxenstored too, so the expected outputs are the real daemon's,
//! and against xs-server in both its 4.17 and 4.22 modes (Debian's tools
//! are 4.17's: an older client on a newer daemon must work the same).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use xs_interop::{Daemon, DaemonKind};

fn daemons() -> Vec<Daemon> {
    [
        DaemonKind::XsServer,
        DaemonKind::XsServer422,
        DaemonKind::Oxenstored,
    ]
    .into_iter()
    .map(|k| Daemon::start(k).unwrap_or_else(|e| panic!("{k:?} is required: {e}")))
    .collect()
}

fn tool(sock: &Path, name: &str, args: &[&str]) -> Output {
    Command::new(name)
        .args(args)
        .env("XENSTORED_PATH", sock)
        .output()
        .unwrap_or_else(|e| panic!("{name} is required (xenstore-utils): {e}"))
}

fn stdout(sock: &Path, name: &str, args: &[&str]) -> String {
    let out = tool(sock, name, args);
    assert!(
        out.status.success(),
        "{name} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn c_tools_write_read_list_ls_exists_chmod_rm() {
    for d in daemons() {
        let s = d.socket();
        let k = d.kind;
        stdout(s, "xenstore-write", &["/rc/a", "hello", "/rc/b", "world"]);
        assert_eq!(
            stdout(s, "xenstore-read", &["/rc/a", "/rc/b"]),
            "hello\nworld\n",
            "{k:?}"
        );
        assert_eq!(stdout(s, "xenstore-list", &["/rc"]), "a\nb\n", "{k:?}");
        assert_eq!(
            stdout(s, "xenstore-ls", &["/rc"]),
            "a = \"hello\"\nb = \"world\"\n",
            "{k:?}"
        );
        assert!(
            tool(s, "xenstore-exists", &["/rc/a"]).status.success(),
            "{k:?}"
        );
        assert!(
            !tool(s, "xenstore-exists", &["/rc/zz"]).status.success(),
            "{k:?}"
        );
        let missing = tool(s, "xenstore-read", &["/rc/zz"]);
        assert!(!missing.status.success(), "{k:?}");
        stdout(s, "xenstore-chmod", &["/rc/a", "n0", "r5"]);
        let ls = stdout(s, "xenstore-ls", &["-p", "/rc"]);
        assert!(ls.starts_with("a = \"hello\""), "{k:?}: {ls}");
        assert!(
            ls.lines().next().unwrap().ends_with("(n0,r5)"),
            "{k:?}: {ls}"
        );
        stdout(s, "xenstore-rm", &["/rc/b"]);
        assert_eq!(stdout(s, "xenstore-list", &["/rc"]), "a\n", "{k:?}");
    }
}

#[test]
fn c_watch_tool_prints_the_initial_and_later_events() {
    for d in daemons() {
        let s = d.socket();
        let child = Command::new("xenstore-watch")
            .args(["-n", "2", "/rcw/w"])
            .env("XENSTORED_PATH", s)
            .stdout(Stdio::piped())
            .spawn()
            .expect("xenstore-watch");
        std::thread::sleep(Duration::from_millis(300));
        stdout(s, "xenstore-write", &["/rcw/w/x", "1"]);
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "/rcw/w\n/rcw/w/x\n",
            "{:?}",
            d.kind
        );
    }
}

const PYXS: &str = r#"
import os, sys, pyxs
out = []
with pyxs.Client(unix_socket_path=os.environ["XENSTORED_PATH"]) as c:
    c[b"/py/a"] = b"v"
    out.append(repr(c[b"/py/a"]))
    out.append(repr(c.list(b"/py")))
    c.set_perms(b"/py/a", [b"n0", b"r3"])
    out.append(repr(c.get_perms(b"/py/a")))
    out.append(repr(c.exists(b"/py/nope")))
    c.transaction()
    c[b"/py/t"] = b"1"
    out.append("commit " + repr(c.commit()))
    out.append(repr(c[b"/py/t"]))
    m = c.monitor()
    m.watch(b"/py", b"tok")
    events = m.wait()
    out.append(repr(next(events)))
    c[b"/py/b"] = b"2"
    out.append(repr(next(events)))
    m.close()
    c.delete(b"/py")
    out.append(repr(c.exists(b"/py")))
print("\n".join(out))
"#;

#[test]
fn pyxs_client_transaction_and_monitor() {
    let expected = "b'v'\n[b'a']\n[b'n0', b'r3']\nFalse\ncommit True\nb'1'\n\
                    Event(path=b'/py', token=b'tok')\nEvent(path=b'/py/b', token=b'tok')\nFalse\n";
    for d in daemons() {
        let out = Command::new("/usr/bin/python3")
            .args(["-c", PYXS])
            .env("XENSTORED_PATH", d.socket())
            .output()
            .expect("/usr/bin/python3 with python3-pyxs is required");
        assert!(
            out.status.success(),
            "{:?}: {}",
            d.kind,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            expected,
            "{:?}",
            d.kind
        );
    }
}
