//! Unit tests that need crate internals: discovery with a fake `stat()`,
//! so the results do not depend on what the test machine has in `/var/run`
//! or `/dev/xen`.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::endpoint::{discover_impl, Discovered, Probe};
use crate::sys::errno_name;
use crate::Endpoint;

fn run(env: &[(&str, &str)], fs: &[(&str, Probe)]) -> Endpoint {
    discover(env, fs).endpoint
}

/// Discovery over the environment `env` and a file system where only the
/// paths in `fs` exist, as what they are.
fn discover(env: &[(&str, &str)], fs: &[(&str, Probe)]) -> Discovered {
    let env: HashMap<String, OsString> = env
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    let fs: HashMap<PathBuf, Probe> = fs.iter().map(|(p, k)| (PathBuf::from(p), *k)).collect();
    discover_impl(
        |name| env.get(name).cloned(),
        |path: &Path| fs.get(path).copied().unwrap_or(Probe::Missing),
    )
}

/// What a case is about, its environment, its file system, the result.
type Case<'a> = (
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a [(&'a str, Probe)],
    Endpoint,
);

fn socket(p: &str) -> Endpoint {
    Endpoint::Socket(p.into())
}

fn xenbus(p: &str) -> Endpoint {
    Endpoint::Xenbus(p.into())
}

#[test]
fn discovery_table() {
    use Probe::{Missing, Other, Socket};
    const DEFAULT: &str = "/var/run/xenstored/socket";
    let dev_missing = if cfg!(target_os = "linux") {
        "/proc/xen/xenbus"
    } else if cfg!(target_os = "netbsd") {
        "/kern/xen/xenbus"
    } else if cfg!(target_os = "freebsd") {
        "/dev/xen/xenstore"
    } else {
        "/dev/xen/xenbus"
    };
    let dev_present = if cfg!(any(target_os = "netbsd", target_os = "freebsd")) {
        dev_missing
    } else {
        "/dev/xen/xenbus"
    };
    #[rustfmt::skip]
    let cases: &[Case<'_>] = &[
        ("nothing anywhere: the device (C falls back to it last)",
            &[], &[], xenbus(dev_missing)),
        ("the default socket",
            &[], &[(DEFAULT, Socket), ("/dev/xen/xenbus", Other)], socket(DEFAULT)),
        ("no socket, /dev/xen/xenbus present",
            &[], &[("/dev/xen/xenbus", Other)], xenbus(dev_present)),
        ("a default 'socket' that is a regular file is skipped",
            &[], &[(DEFAULT, Other)], xenbus(dev_missing)),
        ("XENSTORED_RUNDIR replaces the default run directory",
            &[("XENSTORED_RUNDIR", "/r")], &[("/r/socket", Socket), (DEFAULT, Socket)], socket("/r/socket")),
        ("XENSTORED_RUNDIR without a socket: the device, not the default socket",
            &[("XENSTORED_RUNDIR", "/r")], &[(DEFAULT, Socket)], xenbus(dev_missing)),
        ("XENSTORED_PATH at a socket",
            &[("XENSTORED_PATH", "/p")], &[("/p", Socket)], socket("/p")),
        ("XENSTORED_PATH at something else",
            &[("XENSTORED_PATH", "/p")], &[("/p", Other), (DEFAULT, Socket)], xenbus("/p")),
        ("XENSTORED_PATH at nothing: no fallback",
            &[("XENSTORED_PATH", "/p")], &[("/p", Missing), (DEFAULT, Socket)], xenbus("/p")),
        ("XENSTORED_PATH beats XENSTORED_RUNDIR",
            &[("XENSTORED_PATH", "/p"), ("XENSTORED_RUNDIR", "/r")], &[("/p", Socket), ("/r/socket", Socket)], socket("/p")),
        ("empty XENSTORED_PATH is unset",
            &[("XENSTORED_PATH", "")], &[(DEFAULT, Socket)], socket(DEFAULT)),
        ("empty XENSTORED_RUNDIR is unset",
            &[("XENSTORED_RUNDIR", "")], &[(DEFAULT, Socket)], socket(DEFAULT)),
        ("relative XENSTORED_PATH is kept as given",
            &[("XENSTORED_PATH", "rel/sock")], &[("rel/sock", Socket)], socket("rel/sock")),
    ];
    for (what, env, fs, expected) in cases {
        assert_eq!(&run(env, fs), expected, "{what}");
    }
}

/// Every place passed over is listed, in order, with why.
#[test]
fn discovery_lists_the_places_passed_over() {
    use crate::endpoint::{SkipReason, Skipped};
    use Probe::{Missing, Other, Socket};
    const DEFAULT: &str = "/var/run/xenstored/socket";
    let trace = |env: &[(&str, &str)], fs: &[(&str, Probe)]| discover(env, fs).skipped;
    let skip = |p: &str, reason| Skipped {
        path: p.into(),
        reason,
    };
    let linux = cfg!(target_os = "linux");
    // Nothing anywhere: the socket, then (Linux) /dev/xen/xenbus.
    let mut want = vec![skip(DEFAULT, SkipReason::Missing)];
    if linux {
        want.push(skip("/dev/xen/xenbus", SkipReason::Missing));
    }
    assert_eq!(trace(&[], &[]), want);
    // A "socket" that is a regular file, and the device present.
    assert_eq!(
        trace(&[], &[(DEFAULT, Other), ("/dev/xen/xenbus", Other)]),
        [skip(DEFAULT, SkipReason::NotASocket)]
    );
    // The socket found, or XENSTORED_PATH given: nothing passed over.
    assert_eq!(trace(&[], &[(DEFAULT, Socket)]), []);
    assert_eq!(trace(&[("XENSTORED_PATH", "/p")], &[("/p", Missing)]), []);
    // XENSTORED_RUNDIR's socket is the one looked at.
    assert_eq!(
        trace(&[("XENSTORED_RUNDIR", "/r")], &[("/dev/xen/xenbus", Other)]),
        [skip("/r/socket", SkipReason::Missing)]
    );
    assert_eq!(
        Skipped::list(&want[..1]),
        "/var/run/xenstored/socket (missing)"
    );
}

#[test]
fn errno_names() {
    use std::io::Error;
    use xs_wire::Errno;
    assert_eq!(
        errno_name(&Error::from_raw_os_error(libc::EACCES)),
        Errno::EACCES
    );
    assert_eq!(
        errno_name(&Error::from_raw_os_error(libc::ENOSPC)),
        Errno::ENOSPC
    );
    assert_eq!(
        errno_name(&Error::from_raw_os_error(libc::EAGAIN)),
        Errno::EAGAIN
    );
    assert_eq!(
        errno_name(&Error::from_raw_os_error(libc::E2BIG)),
        Errno::E2BIG
    );
    assert_eq!(
        errno_name(&Error::from_raw_os_error(libc::EPERM)),
        Errno::EPERM
    );
    // Outside xenstored's table, or no errno at all: EINVAL.
    assert_eq!(
        errno_name(&Error::from_raw_os_error(libc::EPIPE)),
        Errno::EINVAL
    );
    assert_eq!(
        errno_name(&Error::from_raw_os_error(libc::EBADF)),
        Errno::EINVAL
    );
    assert_eq!(errno_name(&Error::other("no errno")), Errno::EINVAL);
}

#[test]
fn types_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<crate::Connection>();
    send::<crate::FrameReceiver>();
    send::<crate::FrameSender>();
    send::<crate::FrameReader>();
    send::<crate::FrameWriter>();
    send::<crate::TransportError>();
    fn sync<T: Sync>() {}
    sync::<crate::TransportError>();
    sync::<crate::Connection>();
}
