//! The Xen 4.21/4.22 calls (features, quotas, watch depth) from C, against
//! a scripted daemon speaking the 4.22 text of `docs/misc/xenstore.txt`:
//! no packaged daemon is newer than 4.20 and xs-server answers `ENOSYS`.
//! The script checks each request's payload, then hangs up (libxenstore
//! reports a closed connection as `EBADF`); the C side prints what each
//! call returned, under valgrind.

mod common;
#[path = "../../xs-client/tests/peer/mod.rs"]
mod peer;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{compile, lib_dir, text, VALGRIND, VALGRIND_FAILED};
use peer::Peer;
use xs_wire::Op;

/// The daemon's side, request by request.
fn daemon_4_22(mut c: peer::Conn) {
    let m = c.expect(Op::GetFeature);
    assert!(m.payload.is_empty(), "own features: empty payload");
    c.reply(&m, b"5\0"); // RECONNECTION | WATCHDEPTH
    let m = c.expect(Op::GetFeature);
    assert_eq!(m.strings(), ["3"]);
    c.reply(&m, b"3\0");
    let m = c.expect(Op::SetFeature);
    assert_eq!(m.strings(), ["3", "1"]);
    c.ok(&m);
    let m = c.expect(Op::SetFeature);
    assert_eq!(m.strings(), ["0", "1"]);
    c.error(&m, "EACCES"); // dom0 is introduced already
    let m = c.expect(Op::GetQuota);
    assert!(m.payload.is_empty(), "quota names: empty payload");
    c.reply(&m, b"nodes watches transactions\0");
    let m = c.expect(Op::GetQuota);
    assert_eq!(m.strings(), ["nodes"]);
    c.reply(&m, b"1000\0");
    let m = c.expect(Op::SetQuota);
    assert_eq!(m.strings(), ["nodes", "2000"]);
    c.ok(&m);
    let m = c.expect(Op::GetQuota);
    assert_eq!(m.strings(), ["3", "watches"]);
    c.reply(&m, b"128\0");
    let m = c.expect(Op::SetQuota);
    assert_eq!(m.strings(), ["3", "watches", "64"]);
    c.ok(&m);
    let m = c.expect(Op::GetQuota);
    assert_eq!(m.strings(), ["huge"]);
    c.reply(&m, b"4294967296\0"); // does not fit an unsigned int
                                  // The daemon offers WATCHDEPTH (5 = RECONNECTION|WATCHDEPTH): both
                                  // depth calls send the depth.
    let m = c.expect(Op::Watch);
    assert_eq!(m.strings(), ["/d", "dep", "1"]);
    c.ok(&m);
    let m = c.expect(Op::Watch);
    assert_eq!(m.strings(), ["/d", "dep2", "1"]);
    c.ok(&m);
    c.event("/d", "dep");
    let m = c.expect(Op::Read);
    assert_eq!(m.path(), "/gone");
    c.hang_up();
}

const EXPECTED: &str = "\
get_features_supported: true 5
get_features_supported again (cached): true 5
get_features_domain 3: true 3
set_features_domain 3: true 0
set_features_domain 0: false EACCES
get_quota_names: 3 [nodes watches transactions]
get_global_quota nodes: true 1000
set_global_quota nodes: true 0
get_domain_quota 3 watches: true 128
set_domain_quota 3 watches: true 0
get_global_quota huge: false ERANGE
watch_depth: true 0
watch_try_depth: true 0
event: /d dep
read after hang-up: NULL EBADF
read_watch after hang-up: NULL EBADF
";

#[test]
fn features_quotas_and_watch_depth_from_c() {
    let lib = lib_dir();
    let bin = lib.join("modern_check");
    compile("modern_check.c", &bin, &lib);
    let peer = Peer::start(daemon_4_22);
    let out = Command::new("valgrind")
        .args(VALGRIND)
        .arg(&bin)
        .env("XENSTORED_PATH", peer.socket())
        .env("LD_LIBRARY_PATH", &lib)
        .output()
        .expect("valgrind (scripts/install-deps installs it)");
    let (stdout, stderr, code) = text(&out);
    assert_ne!(code, Some(VALGRIND_FAILED), "valgrind: {stderr}");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, EXPECTED);
    peer.finish();
}

#[test]
fn close_does_not_wait_on_a_daemon_that_stopped_answering() {
    let lib = lib_dir();
    let bin = lib.join("close_check");
    compile("close_check.c", &bin, &lib);
    let peer = Peer::start(|mut c| {
        let m = c.expect(Op::Watch);
        c.ok(&m);
        c.event("/w", "t");
        // From here on nothing is answered (an UNWATCH may come).
        c.expect_eof(Duration::from_secs(20));
    });
    let started = Instant::now();
    let out = Command::new(&bin)
        .env("XENSTORED_PATH", peer.socket())
        .env("LD_LIBRARY_PATH", &lib)
        .output()
        .expect("close_check");
    let (stdout, stderr, code) = text(&out);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "event: /w\nclosed\n");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    peer.finish();
}

/// xl frees its libxl context, and with it its xenstore handle, from an
/// atexit handler: after the main thread's thread-local storage is gone.
/// Calls made there work, and the program exits normally.
#[test]
fn calls_from_an_atexit_handler_work() {
    let lib = lib_dir();
    let bin = lib.join("atexit_check");
    compile("atexit_check.c", &bin, &lib);
    let peer = Peer::start(|mut c| {
        c.serve_until_eof();
    });
    let out = Command::new(&bin)
        .env("XENSTORED_PATH", peer.socket())
        .env("LD_LIBRARY_PATH", &lib)
        .output()
        .expect("atexit_check");
    let (stdout, stderr, code) = text(&out);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, "read in main: v\nread at exit: v\nclosed at exit\n");
    peer.finish();
}
