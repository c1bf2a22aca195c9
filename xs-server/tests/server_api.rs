//! The library API (builder, handle, stats, cleanup) and the binary.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use xs_server::Server;
use xs_wire::Request;

fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "condition not reached in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn temp_server_cleans_up_on_drop() {
    let server = Server::spawn_temp();
    let socket = server.socket_path().to_path_buf();
    let dom = server.socket_for_domain(3);
    let dir = socket.parent().unwrap().to_path_buf();
    assert!(socket.exists() && dom.exists());
    drop(server);
    assert!(!dir.exists());
}

#[test]
fn explicit_socket_path_and_shutdown() {
    let dir = std::env::temp_dir().join(format!("xs-server-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    // A stale socket file is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let server = Server::builder().socket_path(&path).spawn().unwrap();
    assert_eq!(server.socket_path(), path);
    let mut c = Raw::new(server.connect().unwrap());
    assert_eq!(c.read("/tool/xenstored"), val("xs-server"));
    server.shutdown();
    assert!(!path.exists());
    assert!(c.is_closed());
    // A regular file is not clobbered.
    std::fs::write(&path, b"keep").unwrap();
    assert!(Server::builder().socket_path(&path).spawn().is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"keep");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stats_count_connections_transactions_and_watches() {
    let (server, mut a) = setup();
    let mut b = Raw::new(server.connect_as(4).unwrap());
    a.start();
    a.watch("/x", "1");
    a.watch("/y", "2");
    b.watch("/z", "3");
    let s = server.stats();
    assert_eq!((s.connections, s.transactions, s.watches), (2, 1, 3));
    assert_eq!(s.per_connection.len(), 2);
    assert_eq!(s.per_connection[1].domid, 4);
    assert_eq!(s.per_connection[1].watches, 1);
    assert!(s.nodes >= 6);
    a.call(Request::Introduce {
        domid: 4,
        gfn: 1,
        evtchn: 1,
    });
    assert_eq!(server.stats().domains, 1);
    drop(b);
    wait_for(|| server.stats().connections == 1);
    assert_eq!(server.stats().watches, 2);
}

/// The `xs-server` binary, killed if a test fails half-way.
struct Binary {
    child: std::process::Child,
    dir: std::path::PathBuf,
    socket: std::path::PathBuf,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the binary on a socket in a fresh directory named after `name`,
/// with `args`, and waits until `ready` (a socket file) accepts.
fn start_binary(name: &str, args: &[&str], ready: &str) -> Binary {
    let dir = std::env::temp_dir().join(format!("xs-server-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("socket");
    let child = Command::new(env!("CARGO_BIN_EXE_xs-server"))
        .args(["--socket", socket.to_str().unwrap(), "--quiet"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = dir.join(ready);
    wait_for(|| std::os::unix::net::UnixStream::connect(&ready).is_ok());
    Binary { child, dir, socket }
}

#[test]
fn binary_serves_and_stops_on_sigterm() {
    let mut bin = start_binary("bin", &["--domain-socket", "5"], "socket.dom5");
    let (socket, dom5) = (bin.socket.clone(), bin.dir.join("socket.dom5"));
    let mut c = Raw::new(std::os::unix::net::UnixStream::connect(&socket).unwrap());
    assert_eq!(c.write("/bin", "ok"), Ans::Ok);
    assert_eq!(c.read("/bin"), val("ok"));
    let mut d = Raw::new(std::os::unix::net::UnixStream::connect(&dom5).unwrap());
    assert_eq!(d.read("/bin"), err("EACCES"));
    let rc = Command::new("kill")
        .args(["-TERM", &bin.child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = bin.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "xs-server ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists() && !dom5.exists());
}

#[test]
fn binary_answers_like_the_version_asked_for() {
    // Default: Xen 4.22 with a host's dom0.
    let bin = start_binary("v422", &[], "socket");
    let mut c = Raw::new(std::os::unix::net::UnixStream::connect(&bin.socket).unwrap());
    assert_eq!(c.read("/local/domain/0/name"), val("Domain-0"));
    let features = c.call(Request::GetFeature { domid: None });
    assert_eq!(features, Ans::Number(14), "ERROR | WATCHDEPTH | DOMID_ANY");
    drop(bin);
    let bin = start_binary("v417", &["--xen-version", "4.17", "--no-dom0"], "socket");
    let mut c = Raw::new(std::os::unix::net::UnixStream::connect(&bin.socket).unwrap());
    assert_eq!(c.read("/local/domain"), err("ENOENT"));
    assert_eq!(c.call(Request::GetFeature { domid: None }), err("ENOSYS"));
}

#[test]
fn binary_rejects_bad_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_xs-server"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_xs-server"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_xs-server"))
        .args(["--socket", "/nonexistent/s", "--xen-version", "4.18"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown Xen version \"4.18\""));
}
