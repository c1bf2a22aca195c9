//! Discovery against the real file system, with the environment passed in
//! (no test mutates the process environment).

mod common;

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use common::TempDir;
use xs_transport::endpoint::SkipReason;
use xs_transport::{Connection, Endpoint, TransportError, TransportKind};

fn env<'a>(vars: &'a [(&'a str, &'a Path)]) -> impl Fn(&str) -> Option<OsString> + 'a {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_os_str().to_owned())
    }
}

/// What a case is about, its environment, and the expected endpoint.
type Case<'a> = (&'a str, Vec<(&'a str, &'a Path)>, Endpoint);

struct Fixture {
    dir: TempDir,
    socket: PathBuf,
    _listener: UnixListener,
    rundir: PathBuf,
    file: PathBuf,
    missing: PathBuf,
    empty_rundir: PathBuf,
    fake_rundir: PathBuf,
}

fn fixture(tag: &str) -> Fixture {
    let dir = TempDir::new(tag);
    let rundir = dir.path().join("run");
    std::fs::create_dir(&rundir).unwrap();
    let socket = rundir.join("socket");
    let listener = UnixListener::bind(&socket).unwrap();
    let file = dir.path().join("regular");
    std::fs::write(&file, b"").unwrap();
    let empty_rundir = dir.path().join("empty");
    std::fs::create_dir(&empty_rundir).unwrap();
    // A run directory whose "socket" is a regular file.
    let fake_rundir = dir.path().join("fake");
    std::fs::create_dir(&fake_rundir).unwrap();
    std::fs::write(fake_rundir.join("socket"), b"").unwrap();
    Fixture {
        missing: dir.path().join("missing"),
        dir,
        socket,
        _listener: listener,
        rundir,
        file,
        empty_rundir,
        fake_rundir,
    }
}

#[test]
fn table() {
    let f = fixture("table");
    let empty = Path::new("");
    let device = Endpoint::device();
    let cases: Vec<Case<'_>> = vec![
        (
            "XENSTORED_PATH at a socket",
            vec![("XENSTORED_PATH", &f.socket)],
            Endpoint::Socket(f.socket.clone()),
        ),
        (
            "XENSTORED_PATH at a regular file is a device",
            vec![("XENSTORED_PATH", &f.file)],
            Endpoint::Xenbus(f.file.clone()),
        ),
        (
            "XENSTORED_PATH at a character device",
            vec![("XENSTORED_PATH", Path::new("/dev/null"))],
            Endpoint::Xenbus("/dev/null".into()),
        ),
        (
            "XENSTORED_PATH at nothing is still the only place tried",
            vec![
                ("XENSTORED_PATH", &f.missing),
                ("XENSTORED_RUNDIR", &f.rundir),
            ],
            Endpoint::Xenbus(f.missing.clone()),
        ),
        (
            "XENSTORED_PATH overrides XENSTORED_RUNDIR",
            vec![("XENSTORED_PATH", &f.file), ("XENSTORED_RUNDIR", &f.rundir)],
            Endpoint::Xenbus(f.file.clone()),
        ),
        (
            "XENSTORED_RUNDIR with a socket",
            vec![("XENSTORED_RUNDIR", &f.rundir)],
            Endpoint::Socket(f.socket.clone()),
        ),
        (
            "empty XENSTORED_PATH counts as unset",
            vec![("XENSTORED_PATH", empty), ("XENSTORED_RUNDIR", &f.rundir)],
            Endpoint::Socket(f.socket.clone()),
        ),
        (
            "XENSTORED_RUNDIR without a socket falls back to the device",
            vec![("XENSTORED_RUNDIR", &f.empty_rundir)],
            device.clone(),
        ),
        (
            "XENSTORED_RUNDIR whose socket is not a socket falls back to the device",
            vec![("XENSTORED_RUNDIR", &f.fake_rundir)],
            device.clone(),
        ),
    ];
    for (what, vars, expected) in cases {
        assert_eq!(Endpoint::discover_with(env(&vars)), expected, "{what}");
    }
    drop(f.dir);
}

#[test]
fn the_device_path_is_the_os_one() {
    let Endpoint::Xenbus(path) = Endpoint::device() else {
        panic!("device() is a device")
    };
    let allowed: &[&str] = if cfg!(target_os = "linux") {
        &["/dev/xen/xenbus", "/proc/xen/xenbus"]
    } else if cfg!(target_os = "netbsd") {
        &["/kern/xen/xenbus"]
    } else if cfg!(target_os = "freebsd") {
        &["/dev/xen/xenstore"]
    } else {
        &["/dev/xen/xenbus"]
    };
    assert!(allowed.contains(&path.to_str().unwrap()), "{path:?}");
}

#[test]
fn discovered_socket_connects() {
    let f = fixture("connect");
    let vars = [("XENSTORED_PATH", f.socket.as_path())];
    let endpoint = Endpoint::discover_with(env(&vars));
    assert_eq!(endpoint.kind(), TransportKind::Socket);
    assert_eq!(endpoint.path(), f.socket);
    let conn = endpoint.connect().unwrap();
    assert_eq!(conn.kind(), TransportKind::Socket);
    assert_eq!(conn.peer(), f.socket.display().to_string());
    let (cloexec, nonblocking) = common::fd_flags(std::os::fd::AsFd::as_fd(&conn));
    assert!(
        cloexec && !nonblocking,
        "a socket is left blocking (MSG_DONTWAIT)"
    );
}

#[test]
fn errors_name_the_path() {
    let f = fixture("errors");
    let no_listener = f.dir.path().join("stale-socket");
    drop(UnixListener::bind(&no_listener).unwrap()); // the file stays, nobody listens
    let cases = [
        (
            Endpoint::Socket(f.missing.clone()),
            std::io::ErrorKind::NotFound,
        ),
        (
            Endpoint::Xenbus(f.missing.clone()),
            std::io::ErrorKind::NotFound,
        ),
        (
            Endpoint::Socket(f.file.clone()),
            std::io::ErrorKind::ConnectionRefused,
        ),
        (
            Endpoint::Socket(no_listener.clone()),
            std::io::ErrorKind::ConnectionRefused,
        ),
    ];
    for (endpoint, kind) in cases {
        let err = endpoint.connect().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&endpoint.path().display().to_string()),
            "{text}"
        );
        assert!(
            text.starts_with("cannot connect to xenstored at "),
            "{text}"
        );
        match err {
            TransportError::Connect { path, source } => {
                assert_eq!(path, endpoint.path());
                assert_eq!(source.kind(), kind, "{endpoint:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    // The same through Connection's constructors.
    let err = Connection::unix(&f.missing).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

/// Connecting after discovery names every place tried: the run
/// directory's "socket" (here a regular file) and the device paths.
#[test]
fn discovery_errors_list_every_path_tried() {
    let f = fixture("trail");
    let vars = [("XENSTORED_RUNDIR", f.fake_rundir.as_path())];
    let found = Endpoint::discover_traced_with(env(&vars));
    let fake_socket = f.fake_rundir.join("socket");
    assert_eq!(found.skipped[0].path, fake_socket);
    assert_eq!(found.skipped[0].reason, SkipReason::NotASocket);
    assert_eq!(found.endpoint, Endpoint::device());
    let err = match found.connect() {
        Ok(_) => {
            println!("skipped: this machine has a working xenbus device");
            return;
        }
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(
        text.contains(&format!("{} (not a socket)", fake_socket.display())),
        "{text}"
    );
    // The device path chosen is named too (by the cause), and on Linux the
    // /dev/xen/xenbus passed over for /proc/xen/xenbus, if it was.
    assert!(
        text.contains(&found.endpoint.path().display().to_string()),
        "{text}"
    );
    for s in &found.skipped {
        assert!(text.contains(&s.path.display().to_string()), "{text}");
    }
    match err {
        TransportError::Discovery { skipped, cause } => {
            assert_eq!(skipped, found.skipped);
            // The failure at the chosen place is kept as it was.
            match *cause {
                TransportError::Connect { path, .. } | TransportError::NotPollable { path, .. } => {
                    assert_eq!(path, found.endpoint.path())
                }
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
    // With XENSTORED_PATH nothing is passed over: the error is the plain one.
    let vars = [("XENSTORED_PATH", f.missing.as_path())];
    let found = Endpoint::discover_traced_with(env(&vars));
    assert!(found.skipped.is_empty());
    assert!(matches!(
        found.connect(),
        Err(TransportError::Connect { .. })
    ));
}

/// A path that is no device, opened as the xenbus device, is a connect
/// error naming it and what it is, not a later failure to poll.
#[test]
fn a_non_device_as_xenbus_is_refused_naming_the_path() {
    let f = fixture("notdev");
    let cases: [(&Path, &str); 2] = [
        (&f.file, "regular file"),
        (Path::new("/dev/null"), "character device"),
    ];
    for (path, file_type) in cases {
        let err = Connection::xenbus(path).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "cannot connect to xenstored at {}",
                path.display()
            )),
            "{text}"
        );
        match err {
            TransportError::NotPollable {
                path: p,
                file_type: t,
                source,
            } => {
                assert_eq!((p.as_path(), t), (path, file_type));
                assert!(source.raw_os_error().is_some(), "{source}");
            }
            other => panic!("{other:?}"),
        }
        // Through discovery (XENSTORED_PATH at it) and Endpoint::connect too.
        let vars = [("XENSTORED_PATH", path)];
        let found = Endpoint::discover_traced_with(env(&vars));
        assert!(matches!(
            found.connect(),
            Err(TransportError::NotPollable { .. })
        ));
        // And an fd handed in: named by where it was opened.
        let fd = OwnedFd::from(
            std::fs::File::options()
                .read(true)
                .write(true)
                .open(path)
                .unwrap(),
        );
        match Connection::from_xenbus_fd(fd) {
            Err(TransportError::NotPollable { path: p, .. }) => assert_eq!(p, path),
            other => panic!("{other:?}"),
        }
    }
}
