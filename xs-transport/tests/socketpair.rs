//! Connections over `UnixStream::pair()`: the socket transport end to end.

mod common;

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{fd_flags, frame, header_only, poll_for, read_n, recv_until, split_frames, Got};
use mio::{Events, Interest, Poll, Token, Waker};
use xs_transport::{Connection, TransportError, TransportKind};
use xs_wire::{Op, PAYLOAD_MAX};

fn pair() -> (Connection, UnixStream) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    (Connection::from_unix_stream(ours).unwrap(), theirs)
}

#[test]
fn basic_properties() {
    let (conn, _peer) = pair();
    assert_eq!(conn.kind(), TransportKind::Socket);
    assert_eq!(conn.max_payload(), 4096);
    assert!(conn.peer().contains("unix socket"), "{}", conn.peer());
    assert_eq!(conn.interest(), Interest::READABLE);
    assert_eq!(conn.queued_bytes(), 0);
    assert!(!conn.is_closed());
    // Blocking mode: every call that must not wait says MSG_DONTWAIT.
    assert_eq!(fd_flags(conn.as_fd()), (true, false));
}

#[test]
fn cloexec_is_forced_and_blocking_mode_set_on_handed_in_streams() {
    let (ours, _theirs) = UnixStream::pair().unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&ours);
    // SAFETY: `raw` is open (owned by `ours`); clear FD_CLOEXEC.
    assert_eq!(unsafe { libc::fcntl(raw, libc::F_SETFD, 0) }, 0);
    ours.set_nonblocking(true).unwrap();
    assert_eq!(fd_flags(ours.as_fd()), (false, true));
    let conn = Connection::from_unix_stream(ours).unwrap();
    assert_eq!(fd_flags(conn.as_fd()), (true, false));
    let (rx, tx) = conn.split().unwrap();
    assert_eq!(fd_flags(rx.as_fd()), (true, false));
    assert_eq!(
        fd_flags(tx.as_fd()),
        (true, false),
        "the dup is CLOEXEC too"
    );
    assert_ne!(
        std::os::fd::AsRawFd::as_raw_fd(&rx.as_fd()),
        std::os::fd::AsRawFd::as_raw_fd(&tx.as_fd())
    );
}

#[test]
fn recv_on_an_idle_connection_returns_at_once() {
    let (mut conn, _peer) = pair();
    let start = Instant::now();
    conn.recv(|_| panic!("no frames")).unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn send_writes_whole_frames() {
    let (mut conn, mut peer) = pair();
    let frames: Vec<Vec<u8>> = (0..5).map(|i| frame(Op::Read, i, 0, b"/a\0")).collect();
    for f in &frames {
        conn.send(f).unwrap();
    }
    assert_eq!(conn.queued_bytes(), 0);
    let got = read_n(&mut peer, frames.concat().len());
    assert_eq!(got, frames.concat());
}

#[test]
fn partial_reads_one_byte_at_a_time() {
    let (mut conn, mut peer) = pair();
    let frames: Vec<Vec<u8>> = (0..4)
        .map(|i| frame(Op::Read, i, i * 3, &vec![b'a' + i as u8; i as usize * 5]))
        .collect();
    let stream = frames.concat();
    let writer = thread::spawn(move || {
        for b in stream {
            peer.write_all(&[b]).unwrap();
            thread::sleep(Duration::from_micros(200));
        }
        peer
    });
    let mut poll = poll_for(&mut conn);
    let got = recv_until(&mut poll, &mut conn, |g| g.len() == 4).unwrap();
    assert_eq!(got, split_frames(&frames.concat()));
    drop(writer.join().unwrap());
}

#[test]
fn many_frames_per_read() {
    let (mut conn, mut peer) = pair();
    let frames: Vec<Vec<u8>> = (0..100)
        .map(|i| frame(Op::WatchEvent, i, 0, b"/p\0tok\0"))
        .collect();
    peer.write_all(&frames.concat()).unwrap();
    let mut got = Vec::new();
    conn.recv(|f| got.push(Got::of(f))).unwrap();
    assert_eq!(got, split_frames(&frames.concat()), "all in one recv call");
}

#[test]
fn frame_split_across_reads() {
    let (mut conn, mut peer) = pair();
    let f = frame(Op::Read, 1, 0, &[9; 3000]);
    peer.write_all(&f[..7]).unwrap();
    let mut got = Vec::new();
    conn.recv(|fr| got.push(Got::of(fr))).unwrap();
    assert!(got.is_empty());
    peer.write_all(&f[7..2000]).unwrap();
    conn.recv(|fr| got.push(Got::of(fr))).unwrap();
    assert!(got.is_empty());
    peer.write_all(&f[2000..]).unwrap();
    conn.recv(|fr| got.push(Got::of(fr))).unwrap();
    assert_eq!(got, split_frames(&f));
}

#[test]
fn partial_writes_are_queued_and_flushed_on_writability() {
    let (mut conn, mut peer) = pair();
    conn.set_queue_limit(64 << 20);
    // Fill the socket buffer: the peer reads nothing yet.
    let big = frame(Op::Write, 0, 0, &[0xab; PAYLOAD_MAX]);
    let mut sent = Vec::new();
    while conn.queued_bytes() == 0 {
        conn.send(&big).unwrap();
        sent.extend_from_slice(&big);
    }
    for i in 1..=20 {
        let f = frame(Op::Write, i, 0, &[i as u8; 1000]);
        conn.send(&f).unwrap();
        sent.extend_from_slice(&f);
    }
    assert!(conn.queued_bytes() > 0);
    assert_eq!(conn.interest(), Interest::READABLE | Interest::WRITABLE);
    // Nobody reads yet: flushing gets nowhere, and says so.
    let before = conn.queued_bytes();
    assert!(!conn.flush().unwrap());
    assert_eq!(conn.queued_bytes(), before);

    let total = sent.len();
    let reader = thread::spawn(move || {
        // Read slowly, in small pieces, so writes complete partially.
        let mut got = Vec::new();
        let mut buf = [0u8; 1500];
        while got.len() < total {
            let n = peer.read(&mut buf).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        got
    });

    let mut poll = Poll::new().unwrap();
    let interest = conn.interest();
    poll.registry()
        .register(&mut conn, Token(0), interest)
        .unwrap();
    let mut events = Events::with_capacity(8);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !conn.flush().unwrap() {
        assert!(Instant::now() < deadline, "flush did not finish");
        poll.poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
    }
    assert_eq!(conn.interest(), Interest::READABLE);
    let interest = conn.interest();
    poll.registry()
        .reregister(&mut conn, Token(0), interest)
        .unwrap();
    assert_eq!(reader.join().unwrap(), sent);
}

#[test]
fn clean_eof_is_closed() {
    let (mut conn, mut peer) = pair();
    peer.write_all(&frame(Op::Read, 1, 0, b"v")).unwrap();
    drop(peer);
    let mut got = Vec::new();
    let err = conn.recv(|f| got.push(Got::of(f))).unwrap_err();
    assert!(matches!(err, TransportError::Closed), "{err:?}");
    assert_eq!(got.len(), 1);
    assert!(conn.is_closed());
    assert!(matches!(conn.recv(|_| {}), Err(TransportError::Closed)));
    assert!(matches!(
        conn.send(&frame(Op::Read, 2, 0, b"/\0")),
        Err(TransportError::Closed)
    ));
}

#[test]
fn eof_mid_header() {
    let (mut conn, mut peer) = pair();
    peer.write_all(&frame(Op::Read, 1, 0, b"abc")[..5]).unwrap();
    drop(peer);
    match conn.recv(|_| panic!("no frame")) {
        Err(TransportError::Truncated {
            have: 5,
            needed: 16,
        }) => {}
        other => panic!("{other:?}"),
    }
    assert!(conn.is_closed());
    assert!(matches!(conn.recv(|_| {}), Err(TransportError::Closed)));
}

#[test]
fn eof_mid_payload() {
    let (mut conn, mut peer) = pair();
    peer.write_all(&frame(Op::Read, 1, 0, &[1; 100])[..50])
        .unwrap();
    drop(peer);
    match conn.recv(|_| panic!("no frame")) {
        Err(
            e @ TransportError::Truncated {
                have: 50,
                needed: 116,
            },
        ) => {
            assert_eq!(
                e.to_string(),
                "xenstore connection closed mid-frame: got 50 of 116 bytes"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversized_length_closes_the_connection() {
    let (mut conn, mut peer) = pair();
    peer.write_all(&frame(Op::Read, 1, 0, b"fine")).unwrap();
    peer.write_all(&header_only(Op::Read, 2, 1 << 20)).unwrap();
    let mut got = Vec::new();
    match conn.recv(|f| got.push(Got::of(f))) {
        Err(e @ TransportError::Protocol(_)) => {
            assert!(e.is_fatal());
            assert!(e.to_string().contains("1048576"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(got.len(), 1, "the frame before the bad one was delivered");
    // The socket was shut down: the peer sees EOF.
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(peer.read(&mut buf).unwrap(), 0);
    assert!(matches!(conn.flush(), Err(TransportError::Closed)));
}

#[cfg(target_os = "linux")]
#[test]
fn connection_reset_is_an_io_error() {
    let (mut conn, peer) = pair();
    // Linux resets a unix stream whose peer closes with unread data.
    conn.send(&frame(Op::Read, 1, 0, b"/a\0")).unwrap();
    drop(peer);
    match conn.recv(|_| {}) {
        Err(TransportError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        Err(TransportError::Closed) => {} // other kernels: plain EOF
        other => panic!("{other:?}"),
    }
    assert!(conn.is_closed());
}

#[test]
fn send_to_a_closed_peer_is_epipe_not_sigpipe() {
    let (mut conn, peer) = pair();
    drop(peer);
    match conn.send(&frame(Op::Read, 1, 0, b"/a\0")) {
        Err(TransportError::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::EPIPE)),
        other => panic!("{other:?}"),
    }
    assert!(conn.is_closed());
}

/// Replies over the protocol's 4096 bytes (oxenstored's long listings)
/// arrive whole up to the receive limit; the connection stays usable.
#[test]
fn replies_over_4096_are_received_up_to_the_limit() {
    let (mut conn, mut peer) = pair();
    assert_eq!(conn.recv_limit(), xs_transport::DEFAULT_RECV_LIMIT);
    let big = frame(Op::Directory, 1, 0, &vec![b'n'; 4200]);
    let biggest = frame(
        Op::Directory,
        2,
        0,
        &vec![b'm'; xs_transport::DEFAULT_RECV_LIMIT],
    );
    let small = frame(Op::Read, 3, 0, b"v");
    let stream = [big.clone(), biggest.clone(), small.clone()].concat();
    let writer = thread::spawn(move || {
        peer.write_all(&stream).unwrap();
        peer
    });
    let mut poll = poll_for(&mut conn);
    let got = recv_until(&mut poll, &mut conn, |g| g.len() == 3).unwrap();
    assert_eq!(got, split_frames(&[big, biggest, small].concat()));
    let mut peer = writer.join().unwrap();
    // A server-side limit of 4096 refuses 4097, naming the frame.
    conn.set_recv_limit(PAYLOAD_MAX);
    peer.write_all(&header_only(Op::Write, 9, 4097)).unwrap();
    match conn.recv(|_| panic!("no frame")) {
        Err(TransportError::Protocol(xs_wire::WireError::FrameTooLarge { header, max: 4096 })) => {
            assert_eq!((header.op, header.req_id, header.len), (Op::Write, 9, 4097));
        }
        other => panic!("{other:?}"),
    }
    assert!(conn.is_closed());
}

#[test]
fn payload_limit_is_4096() {
    let (mut conn, mut peer) = pair();
    match conn.send(&frame(Op::Write, 1, 0, &[0; 4097])) {
        Err(
            e @ TransportError::PayloadTooLarge {
                len: 4097,
                max: 4096,
            },
        ) => assert!(!e.is_fatal()),
        other => panic!("{other:?}"),
    }
    assert!(!conn.is_closed());
    let ok = frame(Op::Write, 2, 0, &[0; 4096]);
    conn.send(&ok).unwrap();
    assert_eq!(read_n(&mut peer, ok.len()), ok);
    assert!(matches!(
        conn.send(b"short"),
        Err(TransportError::MalformedFrame {
            len: 5,
            expected: 16
        })
    ));
}

#[test]
fn queue_full_is_refused_with_a_typed_error() {
    let (mut conn, _peer) = pair();
    conn.set_queue_limit(0);
    assert_eq!(conn.queue_limit(), xs_wire::FRAME_MAX);
    let big = frame(Op::Write, 0, 0, &[0; PAYLOAD_MAX]);
    // Fill the socket buffer, then the queue.
    let err = loop {
        if let Err(e) = conn.send(&big) {
            break e;
        }
    };
    match err {
        TransportError::QueueFull { queued, limit } => {
            assert_eq!(limit, xs_wire::FRAME_MAX);
            assert!(queued > 0 && queued <= limit);
            assert_eq!(queued, conn.queued_bytes());
        }
        other => panic!("{other:?}"),
    }
    assert!(!conn.is_closed());
}

#[test]
fn waker_wakes_a_blocked_poll() {
    let (mut conn, _peer) = pair();
    let mut poll = poll_for(&mut conn);
    let waker = Arc::new(Waker::new(poll.registry(), Token(99)).unwrap());
    let w = waker.clone();
    let t = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        w.wake().unwrap();
    });
    let mut events = Events::with_capacity(8);
    let start = Instant::now();
    poll.poll(&mut events, Some(Duration::from_secs(10)))
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(9),
        "woken by the waker, not the timeout"
    );
    let tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
    assert_eq!(tokens, [Token(99)]);
    t.join().unwrap();
}

#[test]
fn poll_reports_frames_and_the_waker_together() {
    let (mut conn, mut peer) = pair();
    let mut poll = poll_for(&mut conn);
    let waker = Waker::new(poll.registry(), Token(1)).unwrap();
    peer.write_all(&frame(Op::Read, 5, 0, b"x")).unwrap();
    waker.wake().unwrap();
    let mut events = Events::with_capacity(8);
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 2 && Instant::now() < deadline {
        poll.poll(&mut events, Some(Duration::from_secs(1)))
            .unwrap();
        seen.extend(events.iter().map(|e| e.token().0));
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [0, 1]);
    let mut got = Vec::new();
    conn.recv(|f| got.push(f.header.req_id)).unwrap();
    assert_eq!(got, [5]);
}

#[test]
fn split_halves_from_two_threads() {
    // An echo "daemon" thread answers every frame with the same frame.
    let (ours, theirs) = UnixStream::pair().unwrap();
    let daemon = thread::spawn(move || {
        let mut d = Connection::from_unix_stream(theirs).unwrap();
        let mut poll = poll_for(&mut d);
        let mut events = Events::with_capacity(8);
        let mut echoed = 0;
        loop {
            let mut got = Vec::new();
            match d.recv(|f| got.push(Got::of(f))) {
                Ok(()) => {}
                Err(TransportError::Closed) => return echoed,
                Err(e) => panic!("daemon: {e}"),
            }
            for g in got {
                while let Err(TransportError::QueueFull { .. }) = d.send(&g.encoded()) {
                    d.flush().unwrap();
                    thread::sleep(Duration::from_millis(1));
                }
                echoed += 1;
            }
            while !d.flush().unwrap() {
                thread::sleep(Duration::from_millis(1));
            }
            poll.poll(&mut events, Some(Duration::from_secs(10)))
                .unwrap();
        }
    });

    const N: u32 = 2000;
    let (mut rx, mut tx) = Connection::from_unix_stream(ours).unwrap().split().unwrap();
    assert_eq!(rx.kind(), TransportKind::Socket);
    assert_eq!(tx.max_payload(), 4096);
    let reader = thread::spawn(move || {
        let mut poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut rx, Token(0), Interest::READABLE)
            .unwrap();
        let got = common::recv_half_until(&mut poll, &mut rx, |g| g.len() == N as usize).unwrap();
        (got, rx)
    });
    let writer = thread::spawn(move || {
        let mut sent = Vec::new();
        for i in 0..N {
            let f = frame(Op::Write, i, 0, &vec![i as u8; (i % 700) as usize]);
            xs_transport::blocking::send_all(&mut tx, &f, Some(Duration::from_secs(10))).unwrap();
            sent.push(f);
        }
        (sent, tx)
    });
    let (sent, tx) = writer.join().unwrap();
    let (got, rx) = reader.join().unwrap();
    assert_eq!(got, split_frames(&sent.concat()));
    drop((rx, tx));
    assert_eq!(daemon.join().unwrap(), N);
}

#[test]
fn send_all_times_out_on_a_stuck_peer_and_resumes() {
    let (ours, mut peer) = UnixStream::pair().unwrap();
    let (_rx, mut tx) = Connection::from_unix_stream(ours).unwrap().split().unwrap();
    tx.set_queue_limit(64 << 20);
    let big = frame(Op::Write, 0, 0, &[1; PAYLOAD_MAX]);
    let mut sent = 0usize;
    let err = loop {
        match xs_transport::blocking::send_all(&mut tx, &big, Some(Duration::from_millis(50))) {
            Ok(()) => sent += big.len(),
            Err(e) => break e,
        }
    };
    let queued = match err {
        TransportError::TimedOut { queued } => queued,
        other => panic!("{other:?}"),
    };
    assert!(queued > 0 && queued <= big.len());
    assert_eq!(tx.queued_bytes(), queued);
    sent += big.len(); // the timed-out frame stays queued
    let reader = thread::spawn(move || read_n(&mut peer, sent));
    xs_transport::blocking::send_all(&mut tx, &frame(Op::Read, 1, 0, b"/a\0"), None).unwrap();
    assert_eq!(tx.queued_bytes(), 0);
    let got = reader.join().unwrap();
    assert_eq!(got.len(), sent);
}

#[test]
fn a_failure_on_one_half_reaches_the_other() {
    let (ours, mut peer) = UnixStream::pair().unwrap();
    let (mut rx, mut tx) = Connection::from_unix_stream(ours).unwrap().split().unwrap();
    // Over the default 64 KiB bound for replies.
    peer.write_all(&header_only(Op::Read, 1, 70_000)).unwrap();
    assert!(matches!(rx.recv(|_| {}), Err(TransportError::Protocol(_))));
    assert!(rx.is_closed());
    // The receiver shut the socket down; the sender's next write fails.
    match tx.send(&frame(Op::Read, 2, 0, b"/a\0")) {
        Err(TransportError::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::EPIPE)),
        other => panic!("{other:?}"),
    }
    assert!(tx.is_closed());
}

#[test]
fn registering_senders_and_receivers() {
    let (ours, mut peer) = UnixStream::pair().unwrap();
    let (mut rx, mut tx) = Connection::from_unix_stream(ours).unwrap().split().unwrap();
    let mut poll = Poll::new().unwrap();
    // Both halves in one poll: distinct fds, distinct tokens.
    poll.registry()
        .register(&mut rx, Token(1), Interest::READABLE)
        .unwrap();
    poll.registry()
        .register(&mut tx, Token(2), Interest::WRITABLE)
        .unwrap();
    let mut events = Events::with_capacity(8);
    poll.poll(&mut events, Some(Duration::from_secs(5)))
        .unwrap();
    let tokens: Vec<(usize, bool, bool)> = events
        .iter()
        .map(|e| (e.token().0, e.is_readable(), e.is_writable()))
        .collect();
    assert_eq!(tokens, [(2, false, true)]);
    peer.write_all(&frame(Op::Read, 1, 0, b"")).unwrap();
    poll.poll(&mut events, Some(Duration::from_secs(5)))
        .unwrap();
    assert!(events
        .iter()
        .any(|e| e.token() == Token(1) && e.is_readable()));
    poll.registry().deregister(&mut rx).unwrap();
    poll.registry().deregister(&mut tx).unwrap();
}

#[test]
fn recv_wait_waits_for_a_frame_then_stops_without_draining() {
    use std::time::{Duration, Instant};
    let (ours, mut daemon) = UnixStream::pair().unwrap();
    let (mut rx, _tx) = Connection::from_unix_stream(ours).unwrap().split().unwrap();
    let mut got = Vec::new();
    // Nothing comes: back after the timeout, not before.
    let t0 = Instant::now();
    assert!(!rx
        .recv_wait(Duration::from_millis(30), |f| got.push(f.header.req_id))
        .unwrap());
    assert!(
        t0.elapsed() >= Duration::from_millis(25),
        "{:?}",
        t0.elapsed()
    );
    // A frame written in two pieces by a later writer is waited for whole.
    let writer = std::thread::spawn(move || {
        let f = frame(Op::Read, 5, 0, b"value");
        std::thread::sleep(Duration::from_millis(20));
        daemon.write_all(&f[..7]).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        daemon.write_all(&f[7..]).unwrap();
        daemon.write_all(&frame(Op::Read, 6, 0, b"x")).unwrap();
        daemon
    });
    let mut rounds = 0;
    while got.is_empty() {
        rounds += 1;
        rx.recv_wait(Duration::from_secs(5), |f| got.push(f.header.req_id))
            .unwrap();
    }
    assert!(rounds <= 3, "{rounds} waits for one frame");
    let mut daemon = writer.join().unwrap();
    // It stops once a frame is in; what follows is left for a drain.
    assert!(rx.may_have_unread());
    rx.recv(|f| got.push(f.header.req_id)).unwrap();
    assert!(!rx.may_have_unread());
    assert_eq!(got, [5, 6]);
    // The daemon goes: the wait ends with Closed, not the timeout.
    daemon.flush().unwrap();
    drop(daemon);
    let t0 = Instant::now();
    let err = rx.recv_wait(Duration::from_secs(5), |_| {}).unwrap_err();
    assert!(
        matches!(err, xs_transport::TransportError::Closed),
        "{err:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(1));
    // A closed receiver has nothing left for a readiness reader to drain
    // (else one that skips its poll for it would spin on the error).
    assert!(!rx.may_have_unread());
    // Every way of reading now says Closed, without waiting.
    let closed = |r: Result<(), TransportError>| matches!(r, Err(TransportError::Closed));
    assert!(closed(
        rx.recv_wait(Duration::from_secs(5), |_| {}).map(drop)
    ));
    assert!(closed(rx.recv_until(|_| {}, || true)));
    assert!(closed(rx.recv(|_| {})));
    assert!(t0.elapsed() < Duration::from_secs(1));
}

#[test]
fn recv_until_stops_after_a_short_read_when_told_so() {
    // A frame with the end right behind it.
    let closed_after_a_frame = || {
        let (ours, mut daemon) = UnixStream::pair().unwrap();
        daemon.write_all(&frame(Op::Read, 7, 0, b"a")).unwrap();
        Connection::from_unix_stream(ours)
            .unwrap()
            .split()
            .unwrap()
            .0
    };
    // `recv` reads on and finds the end.
    let mut rx = closed_after_a_frame();
    assert!(matches!(rx.recv(|_| {}), Err(TransportError::Closed)));
    // Enough after the short read: the frame now, the end next time.
    let mut rx = closed_after_a_frame();
    let (mut got, mut asked) = (Vec::new(), 0);
    let enough = || {
        asked += 1;
        true
    };
    rx.recv_until(|f| got.push(f.header.req_id), enough)
        .unwrap();
    assert_eq!((got, asked), (vec![7], 1));
    assert!(matches!(
        rx.recv_until(|_| {}, || true),
        Err(TransportError::Closed)
    ));
    // Not enough: on to "would block" and the end.
    let mut rx = closed_after_a_frame();
    let mut got = Vec::new();
    let err = rx.recv_until(|f| got.push(f.header.req_id), || false);
    assert!(matches!(err, Err(TransportError::Closed)) && got == [7]);
    // Half a frame stays buffered until the rest comes.
    let (ours, mut daemon) = UnixStream::pair().unwrap();
    let (mut rx, _tx) = Connection::from_unix_stream(ours).unwrap().split().unwrap();
    let f = frame(Op::Read, 2, 0, b"value");
    let mut got = Vec::new();
    daemon.write_all(&f[..7]).unwrap();
    rx.recv_until(|f| got.push(f.header.req_id), || true)
        .unwrap();
    assert!(got.is_empty());
    daemon.write_all(&f[7..]).unwrap();
    rx.recv_until(|f| got.push(f.header.req_id), || true)
        .unwrap();
    assert_eq!(got, [2]);
}

#[test]
fn send_any_sends_one_frame_as_send_all_and_several_as_send_frames() {
    use xs_transport::blocking::{send_all, send_any, send_frames};
    use xs_transport::FrameSender;
    fn sender() -> (FrameSender, UnixStream) {
        let (ours, peer) = UnixStream::pair().unwrap();
        let (_rx, tx) = Connection::from_unix_stream(ours).unwrap().split().unwrap();
        (tx, peer)
    }
    let t = Some(Duration::from_secs(5));
    let one = frame(Op::Read, 1, 0, b"/a\0");
    let batch = [
        frame(Op::Read, 2, 0, b"/b\0"),
        frame(Op::Write, 3, 0, b"/c\0v"),
    ]
    .concat();
    let big = frame(Op::Write, 4, 0, &[7; PAYLOAD_MAX]);

    // Refused with nothing written, as by the function for their kind.
    let (mut tx, _peer) = sender();
    let too_big = frame(Op::Write, 5, 0, &[7; PAYLOAD_MAX + 1]);
    let err = send_any(&mut tx, &too_big, t).unwrap_err();
    assert!(
        matches!(err, TransportError::PayloadTooLarge { .. }),
        "{err:?}"
    );
    let by_all = send_all(&mut sender().0, &too_big, t).unwrap_err();
    assert_eq!(format!("{err:?}"), format!("{by_all:?}"));
    let cut = &batch[..batch.len() - 1];
    let err = send_any(&mut tx, cut, t).unwrap_err();
    assert!(
        matches!(err, TransportError::MalformedFrame { .. }),
        "{err:?}"
    );
    let by_frames = send_frames(&mut sender().0, cut, t).unwrap_err();
    assert_eq!(format!("{err:?}"), format!("{by_frames:?}"));
    assert_eq!(tx.queued_bytes(), 0);

    // Sent in order: a lone frame, a batch, then (the peer not reading)
    // big frames until one times out queued, and a lone frame behind it.
    let (mut tx, mut peer) = sender();
    tx.set_queue_limit(64 << 20);
    send_any(&mut tx, &one, t).unwrap();
    send_any(&mut tx, &batch, t).unwrap();
    let mut sent = [&one[..], &batch[..]].concat();
    let quick = Some(Duration::from_millis(20));
    loop {
        let r = send_any(&mut tx, &big, quick);
        sent.extend_from_slice(&big);
        match r {
            Ok(()) => {}
            Err(TransportError::TimedOut { .. }) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(tx.queued_bytes() > 0);
    sent.extend_from_slice(&one);
    let len = sent.len();
    let reader = thread::spawn(move || read_n(&mut peer, len));
    send_any(&mut tx, &one, t).unwrap();
    assert_eq!(tx.queued_bytes(), 0);
    assert_eq!(reader.join().unwrap(), sent);
}
