//! With SIGPIPE at its default action (terminate), writing to a vanished
//! peer must give EPIPE and leave the process alive. Rust's runtime ignores
//! SIGPIPE before `main`, which would hide the bug, so this binary restores
//! the default first. It has a single test so nothing else runs meanwhile.

mod common;

use std::os::unix::net::UnixStream;

use common::frame;
use xs_transport::{Connection, TransportError};
use xs_wire::Op;

#[test]
fn no_write_path_raises_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_DFL installs no handler.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR);

    // A socket connection.
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut conn = Connection::from_unix_stream(ours).unwrap();
    drop(theirs);
    match conn.send(&frame(Op::Read, 1, 0, b"/a\0")) {
        Err(TransportError::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::EPIPE)),
        other => panic!("{other:?}"),
    }

    // The device transport over a socket stand-in: a READ fails as I/O...
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut dev = Connection::from_xenbus_fd(ours.into()).unwrap();
    drop(theirs);
    assert!(matches!(
        dev.send(&frame(Op::Read, 1, 0, b"/a\0")),
        Err(TransportError::Io(_))
    ));

    // ...and a WATCH is turned into an error reply; with the receiver gone,
    // waking it writes to a closed socket pair too.
    let (ours, theirs) = UnixStream::pair().unwrap();
    let (rx, mut tx) = Connection::from_xenbus_fd(ours.into())
        .unwrap()
        .split()
        .unwrap();
    drop(rx);
    drop(theirs);
    tx.send(&frame(Op::Watch, 1, 0, b"/a\0t\0")).unwrap();

    // Still alive.
    // SAFETY: restores what the runtime had installed.
    unsafe { libc::signal(libc::SIGPIPE, previous) };
}
