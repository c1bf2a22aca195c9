//! The xenbus device transport, with socket pairs standing in for the
//! device. A `SOCK_SEQPACKET` pair shows the boundary of every `write()`
//! (each is one record), which is how the one-message-per-write rule is
//! checked on a real fd; `FrameWriter` is checked against a stricter
//! in-memory double in `framing.rs`.

mod common;

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    fd_flags, frame, read_record, recv_until, seqpacket_pair, split_frames, write_record, Got,
};
use mio::{Events, Interest, Poll, Token};
use xs_transport::{Connection, TransportError, TransportKind};
use xs_wire::{Op, XENBUS_PAYLOAD_MAX};

fn device_pair() -> (Connection, std::os::fd::OwnedFd) {
    let (ours, theirs) = seqpacket_pair();
    (Connection::from_xenbus_fd(ours).unwrap(), theirs)
}

/// Makes the peer refuse further data: our writes then fail with EPIPE,
/// while the peer can still write to us.
fn refuse_writes(peer: &std::os::fd::OwnedFd) {
    let raw = std::os::fd::AsRawFd::as_raw_fd(peer);
    // SAFETY: `raw` is open for the duration of the call.
    assert_eq!(unsafe { libc::shutdown(raw, libc::SHUT_RD) }, 0);
}

#[test]
fn properties() {
    let (conn, _peer) = device_pair();
    assert_eq!(conn.kind(), TransportKind::Xenbus);
    assert_eq!(conn.max_payload(), 4080);
    assert_eq!(conn.interest(), Interest::READABLE);
    assert_eq!(fd_flags(conn.as_fd()), (true, true));
}

#[test]
fn one_message_per_write_even_after_queueing() {
    let (mut conn, peer) = device_pair();
    conn.set_queue_limit(64 << 20);
    // Fill the stand-in's buffer so that frames queue up behind a
    // WouldBlock (the real driver never blocks; a stand-in can).
    let mut sent = Vec::new();
    let mut i = 0u32;
    while conn.queued_bytes() == 0 {
        let f = frame(Op::Write, i, 0, &vec![i as u8; (i as usize * 13) % 1500]);
        conn.send(&f).unwrap();
        sent.push(f);
        i += 1;
    }
    for _ in 0..30 {
        let f = frame(Op::Write, i, 0, &vec![i as u8; (i as usize * 13) % 1500]);
        conn.send(&f).unwrap();
        sent.push(f);
        i += 1;
    }
    assert!(conn.queued_bytes() > 0);
    assert_eq!(
        conn.interest(),
        Interest::READABLE,
        "never asks for writability"
    );

    let n = sent.len();
    let reader = thread::spawn(move || (0..n).map(|_| read_record(&peer)).collect::<Vec<_>>());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !conn.flush().unwrap() {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(1));
    }
    let records = reader.join().unwrap();
    assert_eq!(records, sent, "every write() carried exactly one frame");
}

#[test]
fn payload_over_4080_is_refused_before_sending() {
    let (mut conn, peer) = device_pair();
    match conn.send(&frame(Op::Write, 1, 0, &[0; XENBUS_PAYLOAD_MAX + 1])) {
        Err(
            e @ TransportError::PayloadTooLarge {
                len: 4081,
                max: 4080,
            },
        ) => {
            assert!(!e.is_fatal())
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(conn.queued_bytes(), 0);
    let ok = frame(Op::Write, 2, 0, &[7; XENBUS_PAYLOAD_MAX]);
    conn.send(&ok).unwrap();
    // The first record the peer sees is the 4080-byte one: nothing of the
    // refused frame went out.
    assert_eq!(read_record(&peer), ok);
}

#[test]
fn replies_up_to_4096_are_received() {
    let (mut conn, peer) = device_pair();
    let reply = frame(Op::Read, 1, 0, &[3; 4096]);
    write_record(&peer, &reply);
    let mut poll = common::poll_for(&mut conn);
    let got = recv_until(&mut poll, &mut conn, |g| !g.is_empty()).unwrap();
    assert_eq!(got, split_frames(&reply));
}

#[test]
fn never_registers_for_writability() {
    let (ours, mut peer) = UnixStream::pair().unwrap();
    let mut conn = Connection::from_xenbus_fd(ours.into()).unwrap();
    let mut poll = Poll::new().unwrap();
    // Ask for both: a socket would be reported writable at once.
    poll.registry()
        .register(&mut conn, Token(0), Interest::READABLE | Interest::WRITABLE)
        .unwrap();
    let mut events = Events::with_capacity(8);
    poll.poll(&mut events, Some(Duration::from_millis(200)))
        .unwrap();
    assert!(events.is_empty(), "no writability event for the device");
    poll.registry()
        .reregister(&mut conn, Token(0), Interest::WRITABLE)
        .unwrap();
    poll.poll(&mut events, Some(Duration::from_millis(100)))
        .unwrap();
    assert!(events.is_empty());

    std::io::Write::write_all(&mut peer, &frame(Op::Read, 4, 0, b"v")).unwrap();
    poll.poll(&mut events, Some(Duration::from_secs(5)))
        .unwrap();
    let seen: Vec<(usize, bool, bool)> = events
        .iter()
        .map(|e| (e.token().0, e.is_readable(), e.is_writable()))
        .collect();
    assert_eq!(seen, [(0, true, false)]);
    let mut got = Vec::new();
    conn.recv(|f| got.push(f.header.req_id)).unwrap();
    assert_eq!(got, [4]);

    // A split sender's registration does nothing on the device.
    let (mut rx, mut tx) = conn.split().unwrap();
    poll.registry().deregister(&mut rx).unwrap();
    poll.registry()
        .register(&mut tx, Token(5), Interest::WRITABLE)
        .unwrap();
    poll.poll(&mut events, Some(Duration::from_millis(100)))
        .unwrap();
    assert!(events.is_empty());
    poll.registry().deregister(&mut tx).unwrap();
}

#[test]
fn failed_watch_write_arrives_as_an_error_reply() {
    let (mut conn, peer) = device_pair();
    let mut poll = common::poll_for(&mut conn);
    refuse_writes(&peer);

    // The stand-in fails the write with EPIPE, which is not in xenstored's
    // table: the reply says EINVAL, as libxenstore would.
    let watch = frame(Op::Watch, 77, 3, b"/local/domain/1\0tok\0");
    conn.send(&watch).unwrap();
    assert_eq!(conn.queued_bytes(), 0, "the refused frame is gone");
    assert!(!conn.is_closed());

    // The poll reports the connection readable although the fd has nothing.
    let mut events = Events::with_capacity(8);
    poll.poll(&mut events, Some(Duration::from_secs(5)))
        .unwrap();
    assert!(events
        .iter()
        .any(|e| e.token() == Token(0) && e.is_readable()));

    // The peer's own frames still arrive; the made-up reply comes first.
    write_record(&peer, &frame(Op::Read, 1, 0, b"value"));
    let got = recv_until(&mut poll, &mut conn, |g| g.len() == 2).unwrap();
    assert_eq!(
        got[0],
        Got {
            op: Op::Error,
            req_id: 77,
            tx_id: 3,
            payload: b"EINVAL\0".to_vec()
        }
    );
    assert_eq!(got[1].req_id, 1);

    // UNWATCH too.
    conn.send(&frame(Op::Unwatch, 78, 0, b"/a\0tok\0")).unwrap();
    let got = recv_until(&mut poll, &mut conn, |g| !g.is_empty()).unwrap();
    assert_eq!((got[0].op, got[0].req_id), (Op::Error, 78));
    assert_eq!(
        xs_wire::ErrorReply::parse(&got[0].payload).unwrap().name(),
        "EINVAL"
    );

    // Any other frame failing to write is an I/O error that closes.
    match conn.send(&frame(Op::Read, 79, 0, b"/a\0")) {
        Err(TransportError::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::EPIPE)),
        other => panic!("{other:?}"),
    }
    assert!(conn.is_closed());
}

#[test]
fn failed_watch_wakes_a_split_receiver_in_another_thread() {
    let (ours, peer) = seqpacket_pair();
    let (mut rx, mut tx) = Connection::from_xenbus_fd(ours).unwrap().split().unwrap();
    refuse_writes(&peer);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = thread::spawn(move || {
        let mut poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut rx, Token(0), Interest::READABLE)
            .unwrap();
        ready_tx.send(()).unwrap();
        // Blocks in poll until the sender's wake-up arrives.
        common::recv_half_until(&mut poll, &mut rx, |g| !g.is_empty()).unwrap()
    });
    ready_rx.recv().unwrap();
    thread::sleep(Duration::from_millis(50));
    xs_transport::blocking::send_all(
        &mut tx,
        &frame(Op::Watch, 5, 0, b"/a\0t\0"),
        Some(Duration::from_secs(5)),
    )
    .unwrap();
    let got = reader.join().unwrap();
    assert_eq!(
        got,
        [Got {
            op: Op::Error,
            req_id: 5,
            tx_id: 0,
            payload: b"EINVAL\0".to_vec()
        }]
    );
    drop(peer);
}

#[test]
fn made_up_replies_are_bounded() {
    let (ours, peer) = seqpacket_pair();
    let (mut rx, mut tx) = Connection::from_xenbus_fd(ours).unwrap().split().unwrap();
    refuse_writes(&peer);
    let watch = frame(Op::Watch, 1, 0, b"/a\0t\0");
    let mut accepted = 0;
    let err = loop {
        match tx.send(&watch) {
            Ok(()) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 10_000, "never refused");
    };
    assert!(matches!(err, TransportError::QueueFull { .. }), "{err:?}");
    assert!(!err.is_fatal());
    assert!(rx.has_pending());
    let mut n = 0;
    rx.recv(|f| {
        assert_eq!(f.header.op, Op::Error);
        n += 1;
    })
    .unwrap();
    assert_eq!(n, accepted);
    assert!(!rx.has_pending());
    tx.send(&watch).unwrap();
}

#[test]
fn device_waits_are_direct_writes() {
    let (ours, peer) = seqpacket_pair();
    let (_rx, mut tx) = Connection::from_xenbus_fd(ours).unwrap().split().unwrap();
    let frames: Vec<Vec<u8>> = (0..10).map(|i| frame(Op::Read, i, 0, b"/x\0")).collect();
    for f in &frames {
        xs_transport::blocking::send_all(&mut tx, f, Some(Duration::from_secs(5))).unwrap();
    }
    for f in &frames {
        assert_eq!(&read_record(&peer), f);
    }
}

#[test]
fn open_names_the_path_on_failure() {
    let err = Connection::xenbus("/nonexistent/xenbus-test").unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/xenbus-test"),
        "{err}"
    );
    match err {
        TransportError::Connect { path, source } => {
            assert_eq!(path, std::path::Path::new("/nonexistent/xenbus-test"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn open_by_path_gives_a_device_connection() {
    // A FIFO opens read-write like the device and can be polled: what is
    // written comes back, so a frame sent is the frame received.
    let dir = common::TempDir::new("fifo");
    let path = dir.path().join("xenbus");
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let mut conn = Connection::xenbus(&path).unwrap();
    assert_eq!(conn.kind(), TransportKind::Xenbus);
    assert_eq!(conn.peer(), path.display().to_string());
    assert_eq!(fd_flags(conn.as_fd()), (true, true));
    let mut poll = common::poll_for(&mut conn);
    let f = frame(Op::Read, 1, 0, b"/a\0");
    conn.send(&f).unwrap();
    let got = recv_until(&mut poll, &mut conn, |g| !g.is_empty()).unwrap();
    assert_eq!(got, split_frames(&f));
}
