//! Hostile and dying daemons.
//!
//! Each scenario scripts a fake daemon on a raw Unix socket (see
//! `peer/mod.rs`) that misbehaves in one way, and checks that the caller
//! gets the exact typed error (or success, where the protocol allows what
//! the daemon did) within a bounded time: no panic, no hang, no unbounded
//! memory. Every scenario runs under a watchdog ([`peer::bounded`]), so a
//! hang fails the test instead of stalling the run, and the caller-visible
//! latency is asserted below [`FAST`].
//!
//! What the client does with a daemon it cannot trust (see the `# Failure`
//! section of `src/router.rs`):
//!
//! * A frame it cannot accept (unknown or mismatched request id, type or
//!   transaction id, a malformed watch event, a length over the transport's
//!   64 KiB bound for replies) declares
//!   the connection dead with [`Error::UnexpectedPacket`]; EOF or an I/O
//!   error declares it dead with [`Error::Disconnected`]. Every waiter is
//!   woken with that error, and every later call fails at once with it.
//! * A missing reply is [`Error::Timeout`] after the client's timeout
//!   (`DEFAULT_TIMEOUT`, 30 s, unless configured; `tests/never_hang.rs`).
//!   The connection stays usable: the request is abandoned, and its reply,
//!   if it ever comes, is dropped (and what it created on the daemon, a
//!   transaction or a watch, undone).
//! * A reply whose payload has the wrong shape fails only its own call,
//!   with [`Error::UnexpectedPacket`]; the framing is intact.
//! * An error name outside Xen's table is an ordinary [`Error::Daemon`].
//! * A dead connection's socket is shut down at once only when the
//!   transport itself failed (EOF, a length over the limit); after a frame
//!   the router rejects it stays open until the last handle is dropped.

mod peer;

use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use peer::{assert_within, bounded, frame, timed, Conn, Msg, Oxenstored, Peer};
use xs_client::{Client, Error, MonitorOptions, Store};
use xs_wire::{Header, Op};

/// Every error (or success) must reach the caller faster than this.
const FAST: Duration = Duration::from_secs(1);
/// Calls on a connection already known to be dead must fail this fast.
const AT_ONCE: Duration = Duration::from_millis(10);
/// The watchdog around each scenario.
const LIMIT: Duration = Duration::from_secs(20);
/// The timeout for scenarios that configure one.
const TIMEOUT: Duration = Duration::from_millis(200);

/// Runs `f`, which must return at once (< [`AT_ONCE`]). A machine busy
/// with other work can preempt a thread for longer than that, so one slow
/// run is measured again; only two slow runs in a row fail. Returns the
/// last result and the faster time.
#[track_caller]
fn at_once<T>(what: &str, f: impl Fn() -> T) -> (T, Duration) {
    let (r, took) = timed(&f);
    if took < AT_ONCE {
        return (r, took);
    }
    let (r, again) = timed(&f);
    assert_within(what, again, AT_ONCE);
    (r, again)
}

fn connect(peer: &Peer) -> Client {
    Client::unix(peer.socket()).expect("connect to the scripted peer")
}

fn connect_with_timeout(peer: &Peer, timeout: Duration) -> Client {
    Client::builder()
        .unix(peer.socket())
        .timeout(timeout)
        .connect()
        .expect("connect to the scripted peer")
}

#[track_caller]
fn assert_unexpected<T: std::fmt::Debug>(r: &Result<T, Error>) {
    assert!(
        matches!(r, Err(Error::UnexpectedPacket(_))),
        "expected UnexpectedPacket, got {r:?}"
    );
}

#[track_caller]
fn assert_disconnected<T: std::fmt::Debug>(r: &Result<T, Error>) {
    assert!(
        matches!(r, Err(Error::Disconnected { .. })),
        "expected Disconnected, got {r:?}"
    );
}

#[track_caller]
fn assert_timeout<T: std::fmt::Debug>(r: &Result<T, Error>) {
    assert!(
        matches!(r, Err(Error::Timeout(_))),
        "expected Timeout, got {r:?}"
    );
}

/// A peer that answers the first request with `bad` (built from that
/// request), then waits for the client to hang up.
fn answer_first_with(bad: impl FnOnce(&Msg) -> Vec<u8> + Send + 'static) -> Peer {
    Peer::start(move |mut c| {
        let req = c.recv().expect("a request");
        c.send_raw(&bad(&req));
        c.expect_eof(LIMIT);
    })
}

/// Runs `call` against a peer answering with `bad`; asserts the call fails
/// fast with UnexpectedPacket, that the connection is then dead, and that a
/// later call fails at once with the same variant.
fn expect_fatal_reply(bad: impl FnOnce(&Msg) -> Vec<u8> + Send + 'static) {
    bounded(LIMIT, move || {
        let peer = answer_first_with(bad);
        let client = connect(&peer);
        let (r, took) = timed(|| client.read("/hostile/a"));
        assert_unexpected(&r);
        assert_within("the failing call", took, FAST);
        assert!(!client.is_connected());
        let (r, _) = at_once("a call after death", || client.read("/hostile/b"));
        assert_unexpected(&r);
        drop(client);
        peer.finish();
    })
}

// ---------------------------------------------------------------------------
// Frames the client cannot accept

/// A header announcing 70,000 payload bytes (over the 64 KiB bound for
/// replies; up to it, a reply over 4096 is accepted, see `oversize.rs`):
/// the stream cannot be trusted any more. UnexpectedPacket (a protocol violation by the
/// daemon, not a vanished daemon), and the socket is shut down at once.
#[test]
fn length_over_the_limit() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let req = c.expect(Op::Read);
            let h = Header {
                op: Op::Read,
                req_id: req.req_id(),
                tx_id: 0,
                len: 70_000,
            };
            c.send_raw(&h.to_bytes());
            c.send_raw(&[b'x'; 5000]);
            // The client closes its end without being dropped.
            c.expect_eof(FAST);
        });
        let client = connect(&peer);
        let (r, took) = timed(|| client.read("/hostile/big"));
        assert_unexpected(&r);
        assert_within("oversized reply", took, FAST);
        assert!(!client.is_connected());
        peer.finish();
        let (r, _) = at_once("a call after death", || client.read("/hostile/big"));
        assert_unexpected(&r);
    })
}

/// A reply whose type is no XenStore op at all (77).
#[test]
fn unknown_op_in_a_reply() {
    expect_fatal_reply(|req| frame(Op::Unknown(77), req.req_id(), 0, b"OK\0"));
}

/// A reply to a request id the client never used.
#[test]
fn reply_with_a_request_id_never_sent() {
    expect_fatal_reply(|req| frame(Op::Read, req.req_id().wrapping_add(1000), 0, b"v"));
}

/// A READ answered with a DIRECTORY reply.
#[test]
fn reply_of_the_wrong_type() {
    expect_fatal_reply(|req| frame(Op::Directory, req.req_id(), 0, b"a\0"));
}

/// A reply outside any transaction carrying a transaction id.
#[test]
fn reply_with_a_wrong_transaction_id() {
    expect_fatal_reply(|req| frame(Op::Read, req.req_id(), 42, b"v"));
}

/// Inside a transaction: the reply names another transaction.
#[test]
fn reply_in_a_transaction_with_another_transaction_id() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let start = c.expect(Op::TransactionStart);
            c.reply(&start, b"7\0");
            let read = c.expect(Op::Read);
            assert_eq!(read.tx_id(), 7);
            c.send(Op::Read, read.req_id(), 8, b"v");
            c.expect_eof(LIMIT);
        });
        let client = connect(&peer);
        let tx = client.transaction().expect("transaction start");
        assert_eq!(tx.id(), 7);
        let (r, took) = timed(|| tx.read("/hostile/t"));
        assert_unexpected(&r);
        assert_within("wrong tx reply", took, FAST);
        // Committing a transaction on a dead connection fails at once.
        let (r, _) = at_once("a read in it after death", || tx.read("/hostile/t"));
        assert_unexpected(&r);
        let (r, took) = timed(|| tx.commit());
        assert_unexpected(&r);
        assert_within("commit after death", took, FAST);
        drop(client);
        peer.finish();
    })
}

/// A reply whose payload has the wrong shape for its request (a
/// TRANSACTION_START answer that is not a number): the call fails with
/// UnexpectedPacket. The framing is intact, so only that call fails.
#[test]
fn reply_payload_of_the_wrong_shape() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let start = c.expect(Op::TransactionStart);
            c.reply(&start, b"not-a-number\0");
            c.serve_until_eof();
        });
        let client = connect(&peer);
        let (r, took) = timed(|| client.transaction().map(|t| t.id()));
        assert_unexpected(&r);
        assert_within("malformed reply", took, FAST);
        drop(client);
        peer.finish();
    })
}

// ---------------------------------------------------------------------------
// Dying daemons

/// Half a header, then EOF: Disconnected.
#[test]
fn truncated_header_then_eof() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let req = c.expect(Op::Read);
            let bytes = frame(Op::Read, req.req_id(), 0, b"value");
            c.send_raw(&bytes[..8]);
            // Dropping the connection closes it.
        });
        let client = connect(&peer);
        let (r, took) = timed(|| client.read("/hostile/a"));
        assert_disconnected(&r);
        assert_within("truncated header", took, FAST);
        assert!(!client.is_connected());
        peer.finish();
    })
}

/// A whole header announcing 10 bytes, 3 of them, then EOF: Disconnected.
#[test]
fn truncated_payload_then_eof() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let req = c.expect(Op::Read);
            let bytes = frame(Op::Read, req.req_id(), 0, b"0123456789");
            c.send_raw(&bytes[..16 + 3]);
        });
        let client = connect(&peer);
        let (r, took) = timed(|| client.read("/hostile/a"));
        assert_disconnected(&r);
        assert_within("truncated payload", took, FAST);
        if let Err(Error::Disconnected { reason }) = &r {
            assert!(reason.contains("mid-frame"), "{reason}");
        }
        peer.finish();
    })
}

/// The daemon closes the connection right after accepting it: the first
/// write meets a closed socket (EPIPE, no SIGPIPE killing the process) or
/// the read meets EOF; either way Disconnected.
#[test]
fn hang_up_before_the_first_request() {
    bounded(LIMIT, || {
        let (tx, rx) = mpsc::channel();
        let peer = Peer::start(move |c| {
            drop(c);
            tx.send(()).unwrap();
        });
        let client = connect(&peer);
        rx.recv().unwrap();
        let (r, took) = timed(|| client.write("/hostile/a", "1"));
        assert_disconnected(&r);
        assert_within("write to a closed socket", took, FAST);
        peer.finish();
    })
}

/// EOF with requests from eight threads in flight: every one of them gets
/// Disconnected, promptly.
#[test]
fn eof_with_requests_in_flight() {
    const THREADS: usize = 8;
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            for _ in 0..THREADS {
                c.expect(Op::Read);
            }
            // All eight are in flight now; hang up without answering.
            c.hang_up();
        });
        let client = connect(&peer);
        let t0 = Instant::now();
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let c = client.clone();
                thread::spawn(move || c.read(&format!("/hostile/inflight/{i}")))
            })
            .collect();
        for h in handles {
            let r = h.join().expect("no panic");
            assert_disconnected(&r);
        }
        assert_within("eight callers told", t0.elapsed(), FAST);
        peer.finish();
    })
}

/// EOF while a monitor waits (after its initial event): the wait returns
/// Disconnected.
#[test]
fn eof_while_a_monitor_waits() {
    bounded(LIMIT, || {
        let (hang_up, now) = mpsc::channel::<()>();
        let peer = Peer::start(move |mut c| {
            let w = c.expect(Op::Watch);
            c.serve(&w);
            now.recv().unwrap();
            c.hang_up();
        });
        let client = connect(&peer);
        let m = client.monitor();
        m.watch("/hostile/w", "tok").unwrap();
        assert_eq!(m.wait().unwrap(), ("/hostile/w", "tok"));
        let waiter = thread::spawn(move || {
            let r = m.wait();
            (r, Instant::now())
        });
        thread::sleep(Duration::from_millis(50));
        let hung_up = Instant::now();
        hang_up.send(()).unwrap();
        let (r, returned) = waiter.join().expect("no panic");
        assert_disconnected(&r);
        assert_within("monitor told of EOF", returned - hung_up, FAST);
        assert!(!client.is_connected());
        peer.finish();
    })
}

/// A watch event with the wrong number of fields, received while a monitor
/// waits (and, in the second case, while a READ is in flight too).
fn garbage_event(payload: &'static [u8], with_pending_read: bool) {
    bounded(LIMIT, move || {
        let (go, when) = mpsc::channel::<()>();
        let peer = Peer::start(move |mut c| {
            let w = c.expect(Op::Watch);
            c.serve(&w);
            if with_pending_read {
                c.expect(Op::Read);
            }
            when.recv().unwrap();
            c.send(Op::WatchEvent, 0, 0, payload);
            c.expect_eof(LIMIT);
        });
        let client = connect(&peer);
        let m = client.monitor();
        m.watch("/hostile/g", "tok").unwrap();
        assert_eq!(m.wait().unwrap(), ("/hostile/g", "tok"));
        let waiter = thread::spawn(move || m.wait());
        let reader = with_pending_read.then(|| {
            let c = client.clone();
            thread::spawn(move || c.read("/hostile/pending"))
        });
        thread::sleep(Duration::from_millis(50));
        let sent = Instant::now();
        go.send(()).unwrap();
        let r = waiter.join().expect("no panic");
        assert_unexpected(&r);
        if let Some(reader) = reader {
            let r = reader.join().expect("no panic");
            assert_unexpected(&r);
        }
        assert_within("garbage event reported", sent.elapsed(), FAST);
        assert!(!client.is_connected());
        drop(client);
        peer.finish();
    })
}

#[test]
fn garbage_watch_event_with_one_field() {
    garbage_event(b"/hostile/g\0", false);
}

#[test]
fn garbage_watch_event_with_three_fields() {
    garbage_event(b"/hostile/g\0tok\0extra\0", true);
}

// ---------------------------------------------------------------------------
// Odd but legal daemons

/// `EQUOTA` is not in Xen's table (oxenstored sends it): Error::Daemon with
/// no errno and the raw name; the connection stays usable.
#[test]
fn error_reply_with_an_unknown_name() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let w = c.expect(Op::Write);
            c.error(&w, "EQUOTA");
            c.serve_until_eof();
        });
        let client = connect(&peer);
        let (r, took) = timed(|| client.write("/hostile/q", "1"));
        assert_within("EQUOTA", took, FAST);
        match r {
            Err(Error::Daemon {
                op,
                path,
                errno,
                name,
            }) => {
                assert_eq!(op, Op::Write);
                assert_eq!(path.as_deref(), Some("/hostile/q"));
                assert_eq!(errno, None);
                assert_eq!(name, "EQUOTA");
            }
            other => panic!("expected Daemon EQUOTA, got {other:?}"),
        }
        assert!(client.is_connected());
        client.write("/hostile/q", "2").unwrap();
        assert_eq!(client.read("/hostile/q").unwrap(), b"2");
        drop(client);
        peer.finish();
    })
}

/// Sixteen threads' requests answered in reverse order, then a pipelined
/// batch of 50 reads answered in a scrambled order: everything succeeds and
/// each caller gets its own value.
#[test]
fn out_of_order_replies_to_pipelined_requests() {
    const THREADS: usize = 16;
    const BATCH: usize = 50;
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let value = |m: &Msg| format!("value of {}", m.path()).into_bytes();
            let mut reqs: Vec<Msg> = (0..THREADS).map(|_| c.expect(Op::Read)).collect();
            reqs.reverse();
            for r in &reqs {
                c.reply(r, &value(r));
            }
            let mut reqs: Vec<Msg> = (0..BATCH).map(|_| c.expect(Op::Read)).collect();
            // A fixed permutation: stride 7 through 50 entries.
            let order: Vec<usize> = (0..BATCH).map(|i| (i * 7) % BATCH).collect();
            for &i in &order {
                let r = &reqs[i];
                c.reply(r, &value(r));
            }
            reqs.clear();
            c.serve_until_eof();
        });
        let client = connect(&peer);
        let t0 = Instant::now();
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let c = client.clone();
                let b = barrier.clone();
                thread::spawn(move || {
                    b.wait();
                    let path = format!("/hostile/ooo/{i}");
                    (path.clone(), c.read(&path))
                })
            })
            .collect();
        for h in handles {
            let (path, r) = h.join().expect("no panic");
            assert_eq!(r.unwrap(), format!("value of {path}").into_bytes());
        }
        let paths: Vec<String> = (0..BATCH).map(|i| format!("/hostile/batch/{i}")).collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let got = client.read_many(&refs);
        for (path, r) in paths.iter().zip(got) {
            assert_eq!(r.unwrap(), format!("value of {path}").into_bytes());
        }
        assert_within("pipelined out-of-order round", t0.elapsed(), FAST);
        assert!(client.is_connected());
        drop(client);
        peer.finish();
    })
}

/// A response trickled one byte at a time (a slow but valid daemon).
#[test]
fn reply_trickled_byte_by_byte() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let req = c.expect(Op::Read);
            for b in frame(Op::Read, req.req_id(), 0, b"slowly") {
                c.send_raw(&[b]);
                thread::sleep(Duration::from_millis(1));
            }
            c.serve_until_eof();
        });
        let client = connect(&peer);
        let (r, took) = timed(|| client.read("/hostile/slow"));
        assert_eq!(r.unwrap(), b"slowly");
        assert_within("trickled reply", took, FAST);
        drop(client);
        peer.finish();
    })
}

/// WATCH answered with req_id 0 (the xenbus device's quirk): accepted, and
/// the initial event is delivered.
#[test]
fn watch_reply_with_request_id_zero() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let w = c.expect(Op::Watch);
            assert_ne!(w.req_id(), 0);
            c.send(Op::Watch, 0, 0, b"OK\0");
            let s = w.strings();
            c.event(&s[0], &s[1]);
            c.serve_until_eof();
        });
        let client = connect(&peer);
        let m = client.monitor();
        let (r, took) = timed(|| m.watch("/hostile/zero", "z"));
        r.expect("WATCH reply with req_id 0 accepted");
        assert_within("watch", took, FAST);
        let ev = m.wait_timeout(FAST).unwrap().expect("initial event");
        assert_eq!(ev, ("/hostile/zero", "z"));
        assert!(client.is_connected());
        // And the connection goes on normally.
        client.write("/hostile/zero/x", "1").unwrap();
        drop(m);
        drop(client);
        peer.finish();
    })
}

/// The initial event arrives before the WATCH reply (as through the xenbus
/// device): the watch succeeds and the event is delivered.
#[test]
fn initial_event_before_the_watch_reply() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let w = c.expect(Op::Watch);
            let s = w.strings();
            c.event(&s[0], &s[1]);
            thread::sleep(Duration::from_millis(20));
            c.ok(&w);
            c.serve_until_eof();
        });
        let client = connect(&peer);
        let m = client.monitor();
        m.watch("/hostile/early", "e").unwrap();
        let (ev, took) = timed(|| m.wait_timeout(FAST));
        assert_eq!(ev.unwrap().expect("initial event"), ("/hostile/early", "e"));
        assert_within("initial event", took, FAST);
        assert_eq!(m.try_next().unwrap(), None, "delivered exactly once");
        drop(m);
        drop(client);
        peer.finish();
    })
}

/// Events for a token nobody watches are ignored, however many.
#[test]
fn stray_events_for_unknown_tokens_are_ignored() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let w = c.expect(Op::Watch);
            c.serve(&w);
            for i in 0..10_000 {
                c.event(&format!("/stray/{i}"), "nobody");
            }
            c.serve_until_eof();
        });
        let client = connect(&peer);
        let m = client.monitor_with(MonitorOptions {
            capacity: 8,
            ..Default::default()
        });
        m.watch("/hostile/mine", "mine").unwrap();
        assert_eq!(m.wait().unwrap(), ("/hostile/mine", "mine"));
        // The peer answers this after the strays: they have all been read.
        client.write("/hostile/mine/x", "1").unwrap();
        assert_eq!(m.try_next().unwrap(), None);
        assert!(client.is_connected());
        drop(m);
        drop(client);
        peer.finish();
    })
}

/// A flood of 20000 watch events against a consumer that does not read:
/// the monitor's queue stays bounded (capacity 64), the overflow is
/// reported with the exact count of lost events, and meanwhile other
/// requests on the same client are served promptly.
#[test]
fn event_flood_against_a_slow_consumer() {
    const FLOOD: usize = 20_000;
    const ROUNDS: usize = 20;
    const CAPACITY: usize = 64;
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c: Conn| {
            let w = c.expect(Op::Watch);
            c.serve(&w);
            // Flood in rounds; each round ends by answering one request,
            // so every request is served behind a thousand events.
            for round in 0..ROUNDS {
                for j in 0..FLOOD / ROUNDS {
                    let i = round * (FLOOD / ROUNDS) + j;
                    c.event(&format!("/hostile/flood/{i}"), "f");
                }
                let req = c.expect(Op::Write);
                c.serve(&req);
            }
            c.serve_until_eof();
        });
        let client = connect(&peer);
        let m = client.monitor_with(MonitorOptions {
            capacity: CAPACITY,
            ..Default::default()
        });
        m.watch("/hostile/flood", "f").unwrap();
        // Requests during the flood: each is answered promptly.
        let mut worst = Duration::ZERO;
        for i in 0..ROUNDS {
            let (r, took) = timed(|| client.write(&format!("/hostile/other/{i}"), "v"));
            r.unwrap();
            worst = worst.max(took);
        }
        assert_within("worst request during the flood", worst, FAST);
        // The last write was answered after the whole flood: every event
        // has been read by now.
        // Now the consumer looks: the overflow first, then what fitted.
        let dropped = match m.try_next() {
            Err(Error::Overflow { dropped }) => dropped,
            other => panic!("expected Overflow, got {other:?}"),
        };
        let mut delivered = Vec::new();
        while let Some(ev) = m.try_next().unwrap() {
            delivered.push(ev);
        }
        assert_eq!(
            delivered.len(),
            CAPACITY,
            "the queue held exactly its capacity"
        );
        assert_eq!(delivered[0], ("/hostile/flood", "f"), "initial event first");
        assert_eq!(delivered[1].path, "/hostile/flood/0");
        assert_eq!(
            dropped as usize + delivered.len(),
            FLOOD + 1,
            "every event either delivered or counted"
        );
        eprintln!(
            "flood: {FLOOD} events + initial, {} delivered, {dropped} reported lost, \
             worst concurrent request {worst:?}",
            delivered.len()
        );
        // Once drained, the monitor works normally again.
        assert_eq!(m.try_next().unwrap(), None);
        assert!(client.is_connected());
        drop(m);
        drop(client);
        peer.finish();
    })
}

// ---------------------------------------------------------------------------
// Silent daemons and timeouts

/// The daemon never answers one request: Error::Timeout after the
/// configured timeout. Documented behaviour: the connection stays usable
/// (the request is abandoned; a late reply would be dropped), so the next
/// request, which the daemon does answer, succeeds.
#[test]
fn daemon_that_never_answers() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let ignored = c.expect(Op::Read);
            assert_eq!(ignored.path(), "/hostile/silent");
            c.serve_until_eof();
        });
        let client = connect_with_timeout(&peer, TIMEOUT);
        let (r, took) = timed(|| client.read("/hostile/silent"));
        assert_timeout(&r);
        assert!(took >= TIMEOUT, "gave up early: {took:?}");
        assert_within("timeout", took, FAST);
        assert!(
            client.is_connected(),
            "a timeout does not kill the connection"
        );
        client.write("/hostile/next", "1").unwrap();
        assert_eq!(client.read("/hostile/next").unwrap(), b"1");
        drop(client);
        peer.finish();
    })
}

/// A monitor waiting on a daemon that sends nothing: wait_timeout returns
/// Ok(None) on time; the connection is fine.
#[test]
fn monitor_wait_on_a_silent_daemon() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let w = c.expect(Op::Watch);
            c.ok(&w); // and no initial event
            c.serve_until_eof();
        });
        let client = connect(&peer);
        let m = client.monitor();
        m.watch("/hostile/quiet", "q").unwrap();
        let (r, took) = timed(|| m.wait_timeout(TIMEOUT));
        assert_eq!(r.unwrap(), None);
        assert!(took >= TIMEOUT && took < FAST, "{took:?}");
        assert!(client.is_connected());
        drop(m);
        drop(client);
        peer.finish();
    })
}

/// The reply to a request whose caller timed out arrives late: it is
/// dropped, and the next caller gets its own reply.
#[test]
fn late_reply_after_a_timeout_is_dropped() {
    bounded(LIMIT, || {
        let (timed_out, told) = mpsc::channel::<()>();
        let peer = Peer::start(move |mut c| {
            let first = c.expect(Op::Read);
            told.recv().unwrap();
            c.reply(&first, b"late value");
            let second = c.expect(Op::Read);
            c.reply(&second, b"fresh value");
            c.serve_until_eof();
        });
        let client = connect_with_timeout(&peer, TIMEOUT);
        let r = client.read("/hostile/late");
        assert_timeout(&r);
        timed_out.send(()).unwrap();
        let (r, took) = timed(|| client.read("/hostile/late"));
        assert_eq!(r.unwrap(), b"fresh value");
        assert_within("next call", took, FAST);
        assert!(client.is_connected());
        drop(client);
        peer.finish();
    })
}

/// The xenbus device answers WATCH with req_id 0. When that WATCH's caller
/// has already timed out, the late `req_id 0` reply belongs to the
/// abandoned WATCH: it is dropped and the connection carries on.
#[test]
fn late_watch_reply_with_request_id_zero_is_dropped() {
    bounded(LIMIT, || {
        let (timed_out, told) = mpsc::channel::<()>();
        let peer = Peer::start(move |mut c| {
            let _w = c.expect(Op::Watch);
            told.recv().unwrap();
            c.send(Op::Watch, 0, 0, b"OK\0");
            c.serve_until_eof();
        });
        let client = connect_with_timeout(&peer, TIMEOUT);
        let m = client.monitor();
        assert_timeout(&m.watch("/hostile/late-zero", "lz"));
        timed_out.send(()).unwrap();
        let (r, took) = timed(|| client.write("/hostile/after", "1"));
        r.expect("the connection survives a late req_id-0 WATCH reply");
        assert_within("next call", took, FAST);
        assert!(client.is_connected());
        drop(m);
        drop(client);
        peer.finish();
    })
}

/// A TRANSACTION_START whose caller timed out still opens a transaction
/// on the daemon when its reply comes late. Nobody will ever use it, so
/// the client ends it with `F` (otherwise it would stay open, counting
/// against the daemon's transaction limit, until the connection closes).
#[test]
fn late_transaction_start_reply_is_ended() {
    bounded(LIMIT, || {
        let (timed_out, told) = mpsc::channel::<()>();
        let peer = Peer::start(move |mut c| {
            let start = c.expect(Op::TransactionStart);
            told.recv().unwrap();
            c.reply(&start, b"5\0");
            let rest = c.serve_until_eof();
            assert!(
                rest.iter()
                    .any(|m| m.op() == Op::TransactionEnd && m.tx_id() == 5 && m.payload == b"F\0"),
                "transaction 5 was never ended: {rest:?}"
            );
        });
        let client = connect_with_timeout(&peer, TIMEOUT);
        assert_timeout(&client.transaction().map(|t| t.id()));
        timed_out.send(()).unwrap();
        client.write("/hostile/after", "1").unwrap();
        drop(client);
        peer.finish();
    })
}

/// The same for a WATCH whose caller timed out: the daemon registers the
/// watch when it finally answers, so the client sends UNWATCH for it
/// (otherwise the daemon would keep it, and its quota slot, and fire events
/// nobody wants until the connection closes).
#[test]
fn late_watch_reply_is_unwatched() {
    bounded(LIMIT, || {
        let (timed_out, told) = mpsc::channel::<()>();
        let peer = Peer::start(move |mut c| {
            let w = c.expect(Op::Watch);
            told.recv().unwrap();
            c.ok(&w);
            let rest = c.serve_until_eof();
            assert!(
                rest.iter()
                    .any(|m| m.op() == Op::Unwatch && m.strings() == w.strings()),
                "the late watch was never removed: {rest:?}"
            );
        });
        let client = connect_with_timeout(&peer, TIMEOUT);
        let m = client.monitor();
        assert_timeout(&m.watch("/hostile/late-watch", "lw"));
        timed_out.send(()).unwrap();
        client.write("/hostile/after", "1").unwrap();
        drop(m);
        drop(client);
        peer.finish();
    })
}

/// A daemon that stops reading: once the socket buffer is full, writers
/// block. With a timeout, every one of 100 threads writing 4 KB values
/// gets an error (Timeout, or Disconnected once a write timed out part-way
/// and the connection had to be declared dead) within a bounded time; no
/// thread waits a timeout per thread queued before it.
#[test]
fn daemon_that_stops_reading() {
    const THREADS: usize = 100;
    bounded(LIMIT, || {
        let (done, finished) = mpsc::channel::<()>();
        let peer = Peer::start(move |c| {
            // Never read; keep the socket open until the test is done.
            finished.recv().unwrap();
            drop(c);
        });
        let client = connect_with_timeout(&peer, TIMEOUT);
        let value = vec![b'v'; 4000];
        let t0 = Instant::now();
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let c = client.clone();
                let v = value.clone();
                thread::spawn(move || {
                    let r = c.write(&format!("/hostile/full/{i}"), &v);
                    (r, Instant::now())
                })
            })
            .collect();
        let mut timeouts = 0;
        let mut disconnects = 0;
        let mut last = t0;
        for h in handles {
            let (r, at) = h.join().expect("no panic");
            match r {
                Err(Error::Timeout(_)) => timeouts += 1,
                Err(Error::Disconnected { .. }) => disconnects += 1,
                other => panic!("expected Timeout or Disconnected, got {other:?}"),
            }
            last = last.max(at);
        }
        eprintln!(
            "stopped reader: {timeouts} timeouts, {disconnects} disconnects, \
             all done after {:?}",
            last - t0
        );
        // Each thread may wait one timeout for its reply and one for the
        // writer; none waits for the others' timeouts in turn.
        assert_within("all writers told", last - t0, 5 * TIMEOUT);
        done.send(()).unwrap();
        drop(client);
        peer.finish();
    })
}

/// Dropping a monitor sends UNWATCH; if the daemon ignores it, the drop
/// still returns after the configured timeout.
#[test]
fn dropping_a_monitor_on_a_silent_daemon() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let w = c.expect(Op::Watch);
            c.serve(&w);
            c.expect(Op::Unwatch); // never answered
            c.serve_until_eof();
        });
        let client = connect_with_timeout(&peer, TIMEOUT);
        let m = client.monitor();
        m.watch("/hostile/u", "u").unwrap();
        let (_, took) = timed(|| drop(m));
        assert_within("monitor drop", took, FAST);
        client.write("/hostile/u", "still usable").unwrap();
        drop(client);
        peer.finish();
    })
}

// ---------------------------------------------------------------------------
// After death

/// One kind of call, for [`calls_after_death_fail_fast`].
type Check<'a> = Box<dyn Fn() -> Result<(), Error> + 'a>;

/// Once the connection is dead, every kind of call fails at once (< 10 ms
/// each, 100 rounds) with the connection's error.
#[test]
fn calls_after_death_fail_fast() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let w = c.expect(Op::Watch);
            c.serve(&w);
            c.hang_up();
        });
        let client = connect(&peer);
        let m = client.monitor();
        m.watch("/hostile/dead", "d").unwrap();
        // The initial event is delivered, then the error.
        assert_eq!(m.wait().unwrap(), ("/hostile/dead", "d"));
        assert_disconnected(&m.wait());
        let mut worst = Duration::ZERO;
        for i in 0..100 {
            let checks: [(&str, Check<'_>); 7] = [
                ("read", Box::new(|| client.read("/hostile/x").map(drop))),
                ("write", Box::new(|| client.write("/hostile/x", "1"))),
                ("list", Box::new(|| client.list("/hostile").map(drop))),
                ("transaction", Box::new(|| client.transaction().map(drop))),
                (
                    "transact",
                    Box::new(|| client.transact(|tx| tx.write("/hostile/x", "1"))),
                ),
                (
                    "read_many",
                    Box::new(|| client.read_many(&["/a", "/b"]).remove(0).map(drop)),
                ),
                (
                    "watch",
                    Box::new(|| m.watch(&format!("/hostile/w{i}"), "t")),
                ),
            ];
            for (what, f) in checks.iter() {
                let (r, took) = at_once(what, f);
                assert!(
                    matches!(r, Err(Error::Disconnected { .. })),
                    "{what}: expected Disconnected, got {r:?}"
                );
                worst = worst.max(took);
            }
            let (r, took) = at_once("monitor wait", || m.wait());
            assert_disconnected(&r);
            worst = worst.max(took);
        }
        assert_within("worst call after death", worst, AT_ONCE);
        eprintln!("calls after death: worst {worst:?}");
        drop(m);
        drop(client);
        peer.finish();
    })
}

/// EOF in the middle of `transact`: the error comes back at once, with no
/// retry loop.
#[test]
fn eof_during_transact() {
    bounded(LIMIT, || {
        let peer = Peer::start(|mut c| {
            let start = c.expect(Op::TransactionStart);
            c.serve(&start);
            c.expect(Op::Read);
            c.hang_up();
        });
        let client = connect(&peer);
        let mut attempts = 0;
        let (r, took) = timed(|| {
            client.transact(|tx| {
                attempts += 1;
                let v = tx.read_opt("/hostile/counter")?;
                tx.write("/hostile/counter", format!("{}", v.map_or(0, |v| v.len())))
            })
        });
        assert_disconnected(&r);
        assert_eq!(attempts, 1);
        assert_within("transact on EOF", took, FAST);
        peer.finish();
    })
}

/// Dropping the Client while another thread is blocked in a monitor wait:
/// the monitor holds its own handle on the connection, so the wait is not
/// disturbed and receives the next event; dropping the monitor afterwards
/// sends UNWATCH and closes the connection (the background reader is
/// joined: the peer sees EOF).
#[test]
fn dropping_the_client_while_a_monitor_waits() {
    bounded(LIMIT, || {
        let (fire, when) = mpsc::channel::<()>();
        let peer = Peer::start(move |mut c| {
            let w = c.expect(Op::Watch);
            c.serve(&w);
            when.recv().unwrap();
            c.event("/hostile/drop/child", "d");
            let rest = c.serve_until_eof();
            let ops: Vec<Op> = rest.iter().map(Msg::op).collect();
            assert_eq!(ops, [Op::Unwatch], "UNWATCH, then the connection closes");
        });
        let client = connect(&peer);
        let m = client.monitor();
        m.watch("/hostile/drop", "d").unwrap();
        assert_eq!(m.wait().unwrap(), ("/hostile/drop", "d"));
        let (ready, started) = mpsc::channel();
        let waiter = thread::spawn(move || {
            ready.send(()).unwrap();
            let r = m.wait();
            let (_, took) = timed(|| drop(m));
            (r, took)
        });
        started.recv().unwrap();
        thread::sleep(Duration::from_millis(50));
        drop(client);
        thread::sleep(Duration::from_millis(50));
        fire.send(()).unwrap();
        let (r, drop_took) = waiter.join().expect("no panic");
        assert_eq!(r.unwrap(), ("/hostile/drop/child", "d"));
        assert_within("dropping the last handle", drop_took, FAST);
        peer.finish();
    })
}

// ---------------------------------------------------------------------------
// The real daemon, stopped, killed and restarted

/// The real oxenstored stopped (SIGTERM) and later killed (SIGKILL) while
/// clients are in use: a waiting monitor is told at once, calls fail fast
/// with Disconnected (old clients never reconnect by themselves), and a
/// new client connects once the daemon is back.
#[test]
fn real_daemon_stopped_killed_and_restarted() {
    bounded(Duration::from_secs(60), || {
        let mut d = Oxenstored::start("kill", "");
        for (round, how) in ["stop", "kill"].into_iter().enumerate() {
            let base = format!("/hostile/kill/{round}");
            // A client with a watch (background reader running) and one
            // without (it finds out on its next call).
            let watching = Client::unix(d.socket()).expect("connect");
            let idle = Client::unix(d.socket()).expect("connect");
            watching.write(&format!("{base}/a"), "1").unwrap();
            assert_eq!(idle.read(&format!("{base}/a")).unwrap(), b"1");
            let m = watching.monitor();
            m.watch(&base, "k").unwrap();
            assert_eq!(m.wait().unwrap().path, base);
            let waiter = thread::spawn(move || {
                let r = m.wait();
                (r, Instant::now())
            });
            thread::sleep(Duration::from_millis(50));
            let (_, stop_took) = timed(|| match how {
                "stop" => d.stop(),
                _ => d.kill(),
            });
            let gone = Instant::now();
            let (r, told) = waiter.join().expect("no panic");
            assert_disconnected(&r);
            // The monitor learns of it before `stop` has even returned.
            assert_within(
                &format!("{how}: monitor told"),
                told.saturating_duration_since(gone),
                FAST,
            );
            let (r, _) = at_once(&format!("{how}: call on the watching client"), || {
                watching.read(&format!("{base}/a"))
            });
            assert_disconnected(&r);
            let (r, took) = timed(|| idle.read(&format!("{base}/a")));
            assert_disconnected(&r);
            assert_within(&format!("{how}: first call on the idle client"), took, FAST);
            let (r, _) = at_once(&format!("{how}: later call on the idle client"), || {
                idle.write(&format!("{base}/a"), "2")
            });
            assert_disconnected(&r);
            eprintln!("{how}: daemon down after {stop_took:?}; clients told at once");

            // No daemon: connecting fails with Connect.
            let r = Client::unix(d.socket());
            assert!(matches!(r, Err(Error::Connect { .. })), "{r:?}");

            d.restart();
            let fresh = Client::unix(d.socket()).expect("connect after restart");
            fresh.write(&format!("{base}/b"), "back").unwrap();
            assert_eq!(fresh.read(&format!("{base}/b")).unwrap(), b"back");
            // The old clients stay dead: no silent reconnection.
            assert_disconnected(&watching.read(&format!("{base}/b")));
        }
    })
}
