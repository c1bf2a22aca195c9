//! Nothing blocks past its deadline, nothing breaks across `fork()`, and
//! footguns are refused before anything is sent (issue 15).
//!
//! The daemons here are one scripted fake ([`Fake`], over `peer/`) with
//! faults that can be combined: requests of some types are held
//! unanswered (a stall), every byte is sent some time after the previous
//! one (a trickle), or nothing is read any more (the socket fills up). All
//! end when the test releases them, so the late replies of abandoned
//! requests do arrive and the connection can be checked afterwards. Each scenario asserts its time bound (the limit plus
//! [`SLACK`] for a busy 2-core machine) and, where the connection should
//! survive, that a later request succeeds on it. Every scenario runs under a
//! watchdog ([`peer::bounded`]), so a hang fails instead of stalling the run.

mod peer;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use peer::{bounded, timed, Conn, Msg, Peer, Trickle};
use xs_client::compat::{Xs, XBT_NULL};
use xs_client::{
    Access, Client, Error, Perm, Refusal, Router, Store, CLEANUP_TIMEOUT, DEFAULT_TIMEOUT,
    DEFAULT_TRANSACT_ATTEMPTS, DOMID_ANY, DOMID_MAX,
};
use xs_wire::Op;

/// What a bound may be overshot by on a loaded machine.
const SLACK: Duration = Duration::from_millis(500);
/// The watchdog around each scenario.
const WATCHDOG: Duration = Duration::from_secs(30);
/// The deadline given to `wait_for` / `wait_until`.
const WAIT: Duration = Duration::from_secs(1);
/// A short client timeout, to test the mechanism the 30 s default uses.
const SHORT: Duration = Duration::from_millis(300);
/// The pause between two bytes of a trickling daemon.
const TRICKLE: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------
// The fake daemon

/// How the fake misbehaves.
#[derive(Clone, Default)]
struct Faults {
    /// Requests of these types are held unanswered until released.
    stall: &'static [Op],
    /// Every byte sent is followed by this pause, until released.
    trickle: Option<Duration>,
    /// Nodes the store starts with.
    store: &'static [(&'static str, &'static str)],
}

enum Control {
    /// Answer what is held, stop trickling, and serve normally from now on.
    Release,
    /// Read what has arrived, then report.
    Mark(mpsc::Sender<Mark>),
    /// Stop reading (until released), then acknowledge.
    Deaf(mpsc::Sender<()>),
}

/// What the fake had received at a [`Fake::mark`].
#[derive(Debug, PartialEq, Eq)]
struct Mark {
    frames: usize,
    partial_bytes: usize,
}

/// A scripted daemon serving like [`Conn::serve`] (plus an event for every
/// WRITE under a watched path), with [`Faults`].
struct Fake {
    peer: Peer,
    control: mpsc::Sender<Control>,
    hurry: Arc<AtomicBool>,
    seen: mpsc::Receiver<Vec<Msg>>,
}

struct FakeState {
    conn: Conn,
    faults: Faults,
    released: bool,
    deaf: bool,
    held: Vec<Msg>,
    seen: Vec<Msg>,
    watches: Vec<(String, String)>,
}

impl FakeState {
    fn handle(&mut self, m: Msg) {
        self.seen.push(m.clone());
        if !self.released && self.faults.stall.contains(&m.op()) {
            self.held.push(m);
        } else {
            self.answer(&m);
        }
    }

    fn answer(&mut self, m: &Msg) {
        self.conn.serve(m);
        let s = m.strings();
        match m.op() {
            Op::Watch => self.watches.push((s[0].clone(), s[1].clone())),
            Op::Unwatch => self.watches.retain(|w| w.0 != s[0] || w.1 != s[1]),
            Op::Write => {
                let path = m.path();
                let fired: Vec<String> = self
                    .watches
                    .iter()
                    .filter(|(w, _)| path == *w || path.starts_with(&format!("{w}/")))
                    .map(|(_, token)| token.clone())
                    .collect();
                for token in fired {
                    self.conn.event(&path, &token);
                }
            }
            _ => {}
        }
    }

    fn release(&mut self) {
        self.released = true;
        self.deaf = false;
        for m in std::mem::take(&mut self.held) {
            self.answer(&m);
        }
    }

    /// Everything already received, without waiting.
    fn drain(&mut self) {
        while let Ok(Some(m)) = self.conn.recv_timeout(Duration::ZERO) {
            self.handle(m);
        }
    }
}

impl Fake {
    fn start(faults: Faults) -> Fake {
        let (control, orders) = mpsc::channel();
        let (report, seen) = mpsc::channel();
        let hurry = Arc::new(AtomicBool::new(false));
        let stop = hurry.clone();
        let peer = Peer::start(move |mut conn| {
            for (path, value) in faults.store {
                conn.store
                    .insert(path.to_string(), value.as_bytes().to_vec());
            }
            conn.trickle = faults.trickle.map(|per_byte| Trickle { per_byte, stop });
            let mut st = FakeState {
                conn,
                faults,
                released: false,
                deaf: false,
                held: Vec::new(),
                seen: Vec::new(),
                watches: Vec::new(),
            };
            loop {
                loop {
                    match orders.try_recv() {
                        Ok(Control::Release) => st.release(),
                        Ok(Control::Mark(to)) => {
                            st.drain();
                            let _ = to.send(Mark {
                                frames: st.seen.len(),
                                partial_bytes: st.conn.buffered(),
                            });
                        }
                        Ok(Control::Deaf(to)) => {
                            st.deaf = true;
                            let _ = to.send(());
                        }
                        Err(mpsc::TryRecvError::Empty) => break,
                        // The test is over (or failed): stop serving.
                        Err(mpsc::TryRecvError::Disconnected) => return,
                    }
                }
                if st.deaf {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                }
                match st.conn.recv_timeout(Duration::from_millis(5)) {
                    Ok(Some(m)) => st.handle(m),
                    Ok(None) => {}
                    Err(()) => break,
                }
            }
            let _ = report.send(st.seen);
        });
        Fake {
            peer,
            control,
            hurry,
            seen,
        }
    }

    fn socket(&self) -> &Path {
        self.peer.socket()
    }

    /// Ends the faults: held requests get their (late) replies.
    fn release(&self) {
        self.hurry.store(true, Ordering::Relaxed);
        self.control.send(Control::Release).expect("fake alive");
    }

    /// How much the fake has received so far.
    fn mark(&self) -> Mark {
        let (to, from) = mpsc::channel();
        self.control.send(Control::Mark(to)).expect("fake alive");
        from.recv_timeout(Duration::from_secs(10))
            .expect("fake answers a mark")
    }

    /// Stops reading (the socket fills up) until [`Fake::release`].
    fn stop_reading(&self) {
        let (to, from) = mpsc::channel();
        self.control.send(Control::Deaf(to)).expect("fake alive");
        from.recv_timeout(Duration::from_secs(10))
            .expect("fake acknowledges");
    }

    /// Every frame received, once the client has closed the connection.
    fn finish(self) -> Vec<Msg> {
        let seen = self
            .seen
            .recv_timeout(Duration::from_secs(10))
            .expect("the client closes the connection");
        self.peer.finish();
        seen
    }
}

fn client_with(fake: &Fake, timeout: Option<Duration>) -> Client {
    let builder = Client::builder().unix(fake.socket());
    match timeout {
        Some(t) => builder.timeout(t),
        None => builder.no_timeout(),
    }
    .connect()
    .expect("connect to the fake")
}

/// A client with the default timeout (30 s).
fn default_client(fake: &Fake) -> Client {
    Client::unix(fake.socket()).expect("connect to the fake")
}

/// The connection still carries requests: a READ is answered.
#[track_caller]
fn assert_usable(client: &Client, what: &str) {
    assert!(client.is_connected(), "{what}: connection declared dead");
    client
        .write("/usable", "yes")
        .unwrap_or_else(|e| panic!("{what}: WRITE after: {e}"));
    let (r, took) = timed(|| client.read("/usable"));
    assert_eq!(
        r.unwrap_or_else(|e| panic!("{what}: READ after: {e}")),
        b"yes"
    );
    assert!(took < SLACK, "{what}: READ after took {took:?}");
}

#[track_caller]
fn assert_timeout<T: std::fmt::Debug>(what: &str, r: &Result<T, Error>, limit: Duration) {
    assert!(
        matches!(r, Err(Error::Timeout(l)) if *l == limit),
        "{what}: expected Timeout({limit:?}), got {r:?}"
    );
}

/// One timed scenario's outcome, printed as a table row.
struct Measured {
    what: String,
    took: Duration,
    bound: Duration,
}

fn report(title: &str, rows: &[Measured]) {
    eprintln!("{title}:");
    for r in rows {
        eprintln!("  {:<58} {:>9.3?} (bound {:?})", r.what, r.took, r.bound);
    }
}

// ---------------------------------------------------------------------------
// wait_for / wait_until keep their deadline, whatever the daemon does

/// What `wait_for`/`wait_until` should come back with.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    Timeout,
    Value,
}

struct WaitCase {
    what: &'static str,
    faults: Faults,
    /// `wait_until` for state 4, instead of `wait_for`.
    until: bool,
    expect: Outcome,
}

const NODE: &str = "/wait/node";

fn wait_cases() -> Vec<WaitCase> {
    let trickle = Faults {
        trickle: Some(TRICKLE),
        ..Faults::default()
    };
    let stall_read = Faults {
        stall: &[Op::Read],
        ..Faults::default()
    };
    vec![
        WaitCase {
            what: "wait_for, daemon silent (WATCH unanswered)",
            faults: Faults {
                stall: &[Op::Watch, Op::Read, Op::Unwatch],
                ..Faults::default()
            },
            until: false,
            expect: Outcome::Timeout,
        },
        WaitCase {
            what: "wait_for, READ unanswered",
            faults: stall_read.clone(),
            until: false,
            expect: Outcome::Timeout,
        },
        WaitCase {
            what: "wait_until, READ unanswered",
            faults: stall_read,
            until: true,
            expect: Outcome::Timeout,
        },
        WaitCase {
            what: "wait_for, node never appears (no events)",
            faults: Faults::default(),
            until: false,
            expect: Outcome::Timeout,
        },
        WaitCase {
            what: "wait_for, node there, UNWATCH unanswered",
            faults: Faults {
                stall: &[Op::Unwatch],
                store: &[(NODE, "4")],
                ..Faults::default()
            },
            until: false,
            expect: Outcome::Value,
        },
        WaitCase {
            what: "wait_for, a byte per 100 ms",
            faults: trickle.clone(),
            until: false,
            expect: Outcome::Timeout,
        },
        WaitCase {
            what: "wait_until, a byte per 100 ms",
            faults: trickle,
            until: true,
            expect: Outcome::Timeout,
        },
    ]
}

fn run_wait_case(case: WaitCase) -> Measured {
    let fake = Fake::start(case.faults);
    let client = default_client(&fake);
    let (r, took) = timed(|| {
        if case.until {
            client.wait_until(NODE, WAIT, |v| {
                (v == Some(b"4".as_slice())).then(|| b"4".to_vec())
            })
        } else {
            client.wait_for(NODE, WAIT)
        }
    });
    match case.expect {
        Outcome::Timeout => {
            assert_timeout(case.what, &r, WAIT);
            assert!(took >= WAIT, "{}: gave up early, {took:?}", case.what);
        }
        Outcome::Value => assert_eq!(r.expect(case.what), b"4", "{}", case.what),
    }
    assert!(
        took < WAIT + SLACK,
        "{}: took {took:?}, deadline {WAIT:?}",
        case.what
    );
    // The late replies (WATCH, READ, UNWATCH) come now and are dropped.
    fake.release();
    assert_usable(&client, case.what);
    drop(client);
    fake.finish();
    Measured {
        what: case.what.to_owned(),
        took,
        bound: WAIT,
    }
}

/// `wait_for(path, 1 s)` and `wait_until` return within 1 s (+ slack)
/// whichever of their requests the daemon stalls or trickles: their WATCH,
/// READs and UNWATCH all count against the caller's deadline. The client
/// has the default (30 s) timeout, so nothing else bounds them. Afterwards
/// the connection carries requests, with the abandoned requests' late
/// replies discarded.
#[test]
fn wait_for_keeps_its_deadline() {
    let rows = bounded(WATCHDOG, || {
        let handles: Vec<_> = wait_cases()
            .into_iter()
            .map(|case| thread::spawn(move || run_wait_case(case)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect::<Vec<_>>()
    });
    report("wait_for / wait_until", &rows);
}

/// A watcher: what it watches through, and its bounded wait.
trait Watcher {
    fn watch(&self, path: &str, token: &str) -> Result<(), Error>;
    fn wait_timeout(&self, timeout: Duration) -> Result<Option<xs_client::Event>, Error>;
}

impl Watcher for xs_client::Monitor {
    fn watch(&self, path: &str, token: &str) -> Result<(), Error> {
        xs_client::Monitor::watch(self, path, token)
    }
    fn wait_timeout(&self, timeout: Duration) -> Result<Option<xs_client::Event>, Error> {
        xs_client::Monitor::wait_timeout(self, timeout)
    }
}

impl Watcher for Xs {
    fn watch(&self, path: &str, token: &str) -> Result<(), Error> {
        Xs::watch(self, path, token)
    }
    fn wait_timeout(&self, timeout: Duration) -> Result<Option<xs_client::Event>, Error> {
        self.read_watch_timeout(timeout)
    }
}

/// `Monitor::wait_timeout` and compat `Xs::read_watch_timeout` return at
/// their deadline while an event is still trickling in (the background
/// reader is in the middle of a frame), and the event is delivered whole
/// once it has arrived.
#[test]
fn event_waits_keep_their_deadline_mid_frame() {
    const BOUND: Duration = Duration::from_millis(200);
    type MakeWatcher = fn(&Client) -> Box<dyn Watcher>;
    let rows: [(&str, MakeWatcher); 2] = [
        ("Monitor::wait_timeout(200 ms), event trickling in", |c| {
            Box::new(c.monitor())
        }),
        ("Xs::read_watch_timeout(200 ms), event trickling in", |c| {
            Box::new(Xs::with_client(c.clone()))
        }),
    ];
    let measured = bounded(WATCHDOG, move || {
        let handles: Vec<_> = rows
            .into_iter()
            .map(|(what, make)| {
                thread::spawn(move || {
                    let fake = Fake::start(Faults {
                        trickle: Some(Duration::from_millis(20)),
                        ..Faults::default()
                    });
                    let client = default_client(&fake);
                    let w = make(&client);
                    w.watch("/slow/events", "s")
                        .expect("watch (trickled reply)");
                    // The initial event (31 bytes at 20 ms each) has just begun.
                    let (r, took) = timed(|| w.wait_timeout(BOUND));
                    assert_eq!(r.expect("no error"), None, "{what}");
                    assert!(took >= BOUND && took < BOUND + SLACK, "{what}: {took:?}");
                    let ev = w.wait_timeout(Duration::from_secs(5)).expect("no error");
                    assert_eq!(ev.expect("the event, whole"), ("/slow/events", "s"));
                    fake.release();
                    assert_usable(&client, what);
                    drop(w);
                    drop(client);
                    fake.finish();
                    Measured {
                        what: what.to_owned(),
                        took,
                        bound: BOUND,
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect::<Vec<_>>()
    });
    report("event waits", &measured);
}

/// A `wait_for` with a long deadline that has its value stops waiting for
/// its UNWATCH after the cleanup bound, like a dropped monitor: the caller
/// does not sit out the rest of its deadline for a cleanup.
#[test]
fn wait_for_with_its_value_waits_for_unwatch_at_most_the_cleanup_bound() {
    let long = Duration::from_secs(10);
    bounded(WATCHDOG, move || {
        let fake = Fake::start(Faults {
            stall: &[Op::Unwatch],
            store: &[(NODE, "4")],
            ..Faults::default()
        });
        let client = default_client(&fake);
        let (r, took) = timed(|| client.wait_for(NODE, long));
        assert_eq!(r.expect("the value"), b"4");
        assert!(
            took < CLEANUP_TIMEOUT + SLACK,
            "took {took:?}: waited for UNWATCH past the cleanup bound"
        );
        fake.release();
        assert_usable(&client, "after an abandoned UNWATCH");
        drop(client);
        fake.finish();
        report(
            "wait_for cleanup",
            &[Measured {
                what: "wait_for(p, 10 s), node there, UNWATCH unanswered".into(),
                took,
                bound: CLEANUP_TIMEOUT,
            }],
        );
    })
}

// ---------------------------------------------------------------------------
// Cleanups are bounded

#[derive(Clone, Copy, Debug)]
enum Cleanup {
    DropMonitor,
    DropTransaction,
    Rollback,
}

impl Cleanup {
    /// The request the daemon leaves unanswered.
    fn stalled(self) -> &'static [Op] {
        match self {
            Cleanup::DropMonitor => &[Op::Unwatch],
            Cleanup::DropTransaction | Cleanup::Rollback => &[Op::TransactionEnd],
        }
    }
}

/// Runs `cleanup` against a daemon that never answers it; returns how long
/// it took. The late answer is then sent, and the connection must be fine.
fn run_cleanup(cleanup: Cleanup, timeout: Option<Duration>, bound: Duration) -> Duration {
    let what = format!("{cleanup:?} with timeout {timeout:?}");
    let fake = Fake::start(Faults {
        stall: cleanup.stalled(),
        ..Faults::default()
    });
    let client = match timeout {
        // `Client::unix`: the default client, no timeout set by the caller.
        Some(t) if t == DEFAULT_TIMEOUT => default_client(&fake),
        other => client_with(&fake, other),
    };
    let took = match cleanup {
        Cleanup::DropMonitor => {
            let m = client.monitor();
            m.watch("/cleanup", "c").expect("watch");
            assert_eq!(m.wait().expect("initial event"), ("/cleanup", "c"));
            timed(|| drop(m)).1
        }
        Cleanup::DropTransaction => {
            let tx = client.transaction().expect("transaction");
            tx.write("/cleanup", "in tx").expect("write in tx");
            timed(|| drop(tx)).1
        }
        Cleanup::Rollback => {
            let tx = client.transaction().expect("transaction");
            tx.write("/cleanup", "in tx").expect("write in tx");
            let (r, took) = timed(|| tx.rollback());
            assert_timeout(&what, &r, bound);
            took
        }
    };
    assert!(took >= bound, "{what}: gave up early, {took:?}");
    assert!(
        took < bound + SLACK,
        "{what}: took {took:?}, bound {bound:?}"
    );
    fake.release(); // the late UNWATCH / TRANSACTION_END reply
    assert_usable(&client, &what);
    drop(client);
    let seen = fake.finish();
    let stalled = cleanup.stalled()[0];
    assert_eq!(
        seen.iter().filter(|m| m.op() == stalled).count(),
        1,
        "{what}: the cleanup request went out once: {seen:?}"
    );
    took
}

/// Runs `cleanup` while the daemon has stopped reading and another
/// thread holds the writer, stuck on the full socket; returns how long it
/// took. Once the daemon reads again, everything queued is served and the
/// connection is fine.
fn run_cleanup_behind_a_stuck_writer(cleanup: Cleanup, timeout: Option<Duration>) -> Duration {
    const WRITERS: usize = 100;
    let what = format!("{cleanup:?} behind a stuck writer, timeout {timeout:?}");
    let fake = Fake::start(Faults::default());
    let client = match timeout {
        Some(t) if t == DEFAULT_TIMEOUT => default_client(&fake),
        other => client_with(&fake, other),
    };
    let monitor = client.monitor();
    monitor.watch("/cleanup", "c").expect("watch");
    let tx = client.transaction().expect("transaction");
    fake.stop_reading();
    // 100 x 4 KB is more than a Unix socket holds: the last writers block
    // in the write, one of them holding the writer.
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let c = client.clone();
            thread::spawn(move || c.write(&format!("/full/{i}"), vec![b'v'; 4000]))
        })
        .collect();
    thread::sleep(Duration::from_millis(300));
    let (mut monitor, mut tx) = (Some(monitor), Some(tx));
    let took = match cleanup {
        Cleanup::DropMonitor => timed(|| drop(monitor.take())).1,
        Cleanup::DropTransaction => timed(|| drop(tx.take())).1,
        Cleanup::Rollback => {
            let (r, took) = timed(|| tx.take().map(|t| t.rollback()));
            assert_timeout(&what, &r.expect("a transaction"), CLEANUP_TIMEOUT);
            took
        }
    };
    assert!(
        took < CLEANUP_TIMEOUT + SLACK,
        "{what}: took {took:?}, bound {CLEANUP_TIMEOUT:?}"
    );
    fake.release();
    for w in writers {
        w.join()
            .expect("no panic")
            .unwrap_or_else(|e| panic!("{what}: a stuck write, once the daemon reads: {e}"));
    }
    assert_usable(&client, &what);
    drop((monitor, tx));
    drop(client);
    fake.finish();
    took
}

/// The cleanups keep their bound even when they cannot write: the daemon
/// stopped reading, the socket is full, and other threads' writes are
/// stuck (for the client's timeout, or forever with `no_timeout()`). The
/// cleanup request is then not sent (the watch or transaction stays on the
/// daemon until the connection closes), and nothing else is lost.
#[test]
fn cleanups_do_not_wait_behind_a_stuck_writer() {
    let rows = bounded(WATCHDOG, || {
        let handles: Vec<_> = [
            (
                Cleanup::DropMonitor,
                Some(DEFAULT_TIMEOUT),
                "default client",
            ),
            (
                Cleanup::DropTransaction,
                Some(DEFAULT_TIMEOUT),
                "default client",
            ),
            (Cleanup::Rollback, Some(DEFAULT_TIMEOUT), "default client"),
            (Cleanup::DropMonitor, None, "no_timeout()"),
        ]
        .into_iter()
        .map(|(kind, timeout, name)| {
            let h = thread::spawn(move || run_cleanup_behind_a_stuck_writer(kind, timeout));
            (format!("{kind:?} behind a stuck writer, {name}"), h)
        })
        .collect();
        handles
            .into_iter()
            .map(|(what, h)| Measured {
                what,
                took: h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                bound: CLEANUP_TIMEOUT,
            })
            .collect::<Vec<_>>()
    });
    report("cleanups, socket full", &rows);
}

/// Dropping a Monitor, dropping an unfinished Transaction and
/// `Transaction::rollback` return within [`CLEANUP_TIMEOUT`] (2 s) when the
/// daemon never answers UNWATCH / TRANSACTION_END, whatever the client's
/// timeout (the default 30 s, none at all), or within the client's timeout
/// if that is shorter. The late reply, sent afterwards, is discarded and
/// the connection carries on.
#[test]
fn cleanups_are_bounded() {
    let configs = [
        ("default client", Some(DEFAULT_TIMEOUT), CLEANUP_TIMEOUT),
        ("no_timeout()", None, CLEANUP_TIMEOUT),
        ("timeout(300 ms)", Some(SHORT), SHORT),
    ];
    let kinds = [
        Cleanup::DropMonitor,
        Cleanup::DropTransaction,
        Cleanup::Rollback,
    ];
    let rows = bounded(WATCHDOG, move || {
        let handles: Vec<_> = configs
            .iter()
            .flat_map(|&(name, timeout, bound)| {
                kinds.iter().map(move |&kind| {
                    let h = thread::spawn(move || run_cleanup(kind, timeout, bound));
                    (format!("{kind:?}, {name}"), bound, h)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|(what, bound, h)| Measured {
                what,
                took: h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                bound,
            })
            .collect::<Vec<_>>()
    });
    report("cleanups", &rows);
}

// ---------------------------------------------------------------------------
// The round-trip timeout

/// The documented defaults, and which constructor gets which timeout.
#[test]
fn default_timeouts_are_the_documented_ones() {
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(30));
    assert_eq!(CLEANUP_TIMEOUT, Duration::from_secs(2));
    assert_eq!(DEFAULT_TRANSACT_ATTEMPTS, 64);
    let server = xs_server::Server::spawn_temp();
    let socket = server.socket_path();
    let conn = || xs_transport::Connection::unix(socket).expect("connection");
    let builder = || Client::builder().unix(socket);
    let cases: [(&str, Client, Option<Duration>); 7] = [
        (
            "Client::unix",
            Client::unix(socket).unwrap(),
            Some(DEFAULT_TIMEOUT),
        ),
        (
            "builder",
            builder().connect().unwrap(),
            Some(DEFAULT_TIMEOUT),
        ),
        (
            "builder.no_timeout()",
            builder().no_timeout().connect().unwrap(),
            None,
        ),
        (
            "builder.timeout(5 s)",
            builder().timeout(Duration::from_secs(5)).connect().unwrap(),
            Some(Duration::from_secs(5)),
        ),
        (
            "Client::with_connection",
            Client::with_connection(conn()).unwrap(),
            Some(DEFAULT_TIMEOUT),
        ),
        (
            "Router::new",
            Client::with_router(Router::new(conn()).unwrap()),
            Some(DEFAULT_TIMEOUT),
        ),
        (
            "Router::with_timeout(None)",
            Client::with_router(Router::with_timeout(conn(), None).unwrap()),
            None,
        ),
    ];
    for (what, client, expected) in cases {
        assert_eq!(client.router().timeout(), expected, "{what}");
        client
            .write("/t", "ok")
            .unwrap_or_else(|e| panic!("{what}: {e}"));
    }
    let xs = Xs::with_client(Client::unix(socket).unwrap());
    assert_eq!(
        xs.read(XBT_NULL, "/t").unwrap().as_deref(),
        Some(&b"ok"[..])
    );
}

/// The default in virtual time: the protocol core, built with the
/// router's default, gives a round trip exactly [`DEFAULT_TIMEOUT`], not a
/// nanosecond less, then `Timeout(30 s)`.
#[test]
fn default_timeout_expires_at_30_s_in_virtual_time() {
    use xs_client::_unstable_core::Core;
    let mut core: Core<u32> = Core::new(
        xs_client::TransportKind::Socket,
        4096,
        Some(DEFAULT_TIMEOUT),
    );
    let t0 = Instant::now();
    let req = xs_wire::Request::Read {
        path: xs_wire::Path::new("/stalled").unwrap(),
    };
    let id = core.submit(&req, 0, None, 7).expect("submitted");
    // The clock starts at the driver's first look at the time.
    core.handle_timeout(t0);
    assert_eq!(core.poll_timeout(), Some(t0 + DEFAULT_TIMEOUT));
    core.handle_timeout(t0 + DEFAULT_TIMEOUT - Duration::from_nanos(1));
    assert!(!core.is_ready(id), "expired early");
    core.handle_timeout(t0 + DEFAULT_TIMEOUT);
    let mut woken = Vec::new();
    core.take_woken(&mut woken);
    assert_eq!(woken, [7], "the caller is woken");
    assert!(matches!(
        core.poll_reply(id),
        Some(Err(Error::Timeout(d))) if d == DEFAULT_TIMEOUT
    ));
    assert!(!core.is_dead(), "a timeout does not kill the connection");
}

/// The mechanism behind the default, with a short timeout: a stalled round
/// trip fails with `Timeout` after it (not before, not much after); the
/// connection stays usable and the late reply is discarded.
#[test]
fn a_stalled_round_trip_gives_up_after_the_timeout() {
    let rows = bounded(WATCHDOG, || {
        let fake = Fake::start(Faults {
            stall: &[Op::Read],
            ..Faults::default()
        });
        let client = client_with(&fake, Some(SHORT));
        let (r, took) = timed(|| client.read("/stalled"));
        assert_timeout("stalled READ", &r, SHORT);
        assert!(took >= SHORT && took < SHORT + SLACK, "{took:?}");
        fake.release();
        assert_usable(&client, "after a timed-out READ");
        drop(client);
        fake.finish();
        vec![Measured {
            what: "READ on a stalled daemon, timeout(300 ms)".into(),
            took,
            bound: SHORT,
        }]
    });
    report("round trip", &rows);
}

/// A lone caller's round trip reads no clock while its reply is on time:
/// the client may wait up to 100 ms once without it when that is at most
/// 1/64 of the timeout (docs/benchmarks.md). On a stalled daemon the clock
/// then starts after that wait, so the timeout comes at most 100 ms late,
/// never early, and is not lost.
#[test]
fn a_stalled_round_trip_with_a_long_timeout_gives_up_at_most_a_slice_late() {
    const LONG: Duration = Duration::from_millis(6_400);
    const SLICE: Duration = Duration::from_millis(100);
    let rows = bounded(WATCHDOG, || {
        let fake = Fake::start(Faults {
            stall: &[Op::Read],
            ..Faults::default()
        });
        let client = client_with(&fake, Some(LONG));
        // A few round trips answered on time first: the usual path.
        for i in 0..3 {
            client
                .write("/on-time", format!("{i}"))
                .expect("WRITE answered");
        }
        let (r, took) = timed(|| client.read("/stalled"));
        assert_timeout("stalled READ", &r, LONG);
        assert!(took >= LONG && took < LONG + SLICE + SLACK, "{took:?}");
        fake.release();
        assert_usable(&client, "after a timed-out READ");
        drop(client);
        fake.finish();
        vec![Measured {
            what: "READ on a stalled daemon, timeout(6.4 s)".into(),
            took,
            bound: LONG,
        }]
    });
    report("round trip, clock started after an unclocked wait", &rows);
}

/// `no_timeout()` really waits: still blocked well past a short bound, and
/// it succeeds once the daemon answers.
#[test]
fn no_timeout_waits_until_the_daemon_answers() {
    bounded(WATCHDOG, || {
        let fake = Fake::start(Faults {
            stall: &[Op::Read],
            store: &[("/slow", "at last")],
            ..Faults::default()
        });
        let client = client_with(&fake, None);
        let (done, result) = mpsc::channel();
        let reader = client.clone();
        let t0 = Instant::now();
        thread::spawn(move || {
            let _ = done.send(reader.read("/slow"));
        });
        assert!(
            matches!(
                result.recv_timeout(SHORT),
                Err(mpsc::RecvTimeoutError::Timeout)
            ),
            "returned within {SHORT:?} without a reply"
        );
        fake.release();
        let r = result
            .recv_timeout(Duration::from_secs(5))
            .expect("answered");
        assert_eq!(r.expect("the late answer"), b"at last");
        eprintln!("no_timeout: READ answered after {:?}", t0.elapsed());
        drop(client);
        fake.finish();
    })
}

// ---------------------------------------------------------------------------
// Footguns

type Call<'a> = Box<dyn Fn() -> Result<(), Error> + 'a>;

/// `delete("/")` and out-of-range domids are refused with a typed error,
/// before a single byte is written (the fake has received nothing at all,
/// not even part of a frame); the explicit and in-range forms next to them
/// do go out.
#[test]
fn footguns_are_refused_before_sending() {
    bounded(WATCHDOG, || {
        let fake = Fake::start(Faults::default());
        let owned_client = default_client(&fake);
        let owned_tx = owned_client.transaction().expect("transaction");
        let owned_xs = Xs::with_client(owned_client.clone());
        let (client, tx, xs) = (&owned_client, &owned_tx, &owned_xs);
        let bad = |domid| vec![Perm::new(Access::None, 0), Perm::new(Access::Read, domid)];
        let refused: Vec<(&str, Call<'_>, Refusal)> = vec![
            (
                "delete /",
                Box::new(|| client.delete("/")),
                Refusal::DeleteRoot,
            ),
            (
                "tx delete /",
                Box::new(|| tx.delete("/")),
                Refusal::DeleteRoot,
            ),
            (
                "compat rm /",
                Box::new(|| xs.rm(XBT_NULL, "/")),
                Refusal::DeleteRoot,
            ),
            (
                "set_perms 70000",
                Box::new(move || client.set_perms("/a", &bad(70000))),
                Refusal::DomainId(70000),
            ),
            (
                "set_perms owner 0x7FF0",
                Box::new(|| client.set_perms("/a", &[Perm::new(Access::Read, 0x7FF0)])),
                Refusal::DomainId(0x7FF0),
            ),
            (
                "tx set_perms 0xFFFF",
                Box::new(move || tx.set_perms("/a", &bad(0xFFFF))),
                Refusal::DomainId(0xFFFF),
            ),
            (
                "compat set_permissions 0x10000",
                Box::new(move || xs.set_permissions(XBT_NULL, "/a", &bad(0x10000))),
                Refusal::DomainId(0x10000),
            ),
            (
                "get_domain_path 0x7FF0",
                Box::new(|| client.get_domain_path(0x7FF0).map(drop)),
                Refusal::DomainId(0x7FF0),
            ),
            (
                "is_domain_introduced 0x7FF1",
                Box::new(|| client.is_domain_introduced(0x7FF1).map(drop)),
                Refusal::DomainId(0x7FF1),
            ),
            (
                "introduce_domain 70000",
                Box::new(|| client.introduce_domain(70000, 1, 1)),
                Refusal::DomainId(70000),
            ),
            (
                "release_domain 0x7FF2",
                Box::new(|| client.release_domain(0x7FF2)),
                Refusal::DomainId(0x7FF2),
            ),
            (
                "resume_domain 0x8000",
                Box::new(|| client.resume_domain(0x8000)),
                Refusal::DomainId(0x8000),
            ),
            (
                "set_target target 0x7FF0",
                Box::new(|| client.set_target(1, 0x7FF0)),
                Refusal::DomainId(0x7FF0),
            ),
            (
                "set_target domid 0x7FF0",
                Box::new(|| client.set_target(0x7FF0, 1)),
                Refusal::DomainId(0x7FF0),
            ),
            (
                "get_features 0x7FF0",
                Box::new(|| client.get_features(Some(0x7FF0)).map(drop)),
                Refusal::DomainId(0x7FF0),
            ),
            (
                "set_features 0x7FF0",
                Box::new(|| client.set_features(0x7FF0, xs_client::Features::NONE)),
                Refusal::DomainId(0x7FF0),
            ),
            (
                "get_quota 70000",
                Box::new(|| client.get_quota(Some(70000), "nodes").map(drop)),
                Refusal::DomainId(70000),
            ),
            (
                "set_quota 70000",
                Box::new(|| client.set_quota(Some(70000), "nodes", 1)),
                Refusal::DomainId(70000),
            ),
            (
                "compat introduce_domain 70000",
                Box::new(|| xs.introduce_domain(70000, 1, 1)),
                Refusal::DomainId(70000),
            ),
            (
                "compat release_domain 70000",
                Box::new(|| xs.release_domain(70000)),
                Refusal::DomainId(70000),
            ),
            (
                "compat resume_domain 70000",
                Box::new(|| xs.resume_domain(70000)),
                Refusal::DomainId(70000),
            ),
            (
                "compat set_target 70000",
                Box::new(|| xs.set_target(1, 70000)),
                Refusal::DomainId(70000),
            ),
            (
                "compat get_domain_path 70000",
                Box::new(|| xs.get_domain_path(70000).map(drop)),
                Refusal::DomainId(70000),
            ),
        ];
        let before = fake.mark();
        assert_eq!(before.partial_bytes, 0);
        for (what, call, refusal) in &refused {
            let r = call();
            assert!(
                matches!(&r, Err(Error::Refused(x)) if x == refusal),
                "{what}: expected Refused({refusal:?}), got {r:?}"
            );
        }
        assert_eq!(fake.mark(), before, "refused calls sent bytes");

        // Their legitimate neighbours go out (answered or not).
        let sent: Vec<(&str, Call<'_>, Op)> = vec![
            ("delete_root", Box::new(|| client.delete_root()), Op::Rm),
            (
                "set_perms DOMID_MAX",
                Box::new(move || client.set_perms("/a", &bad(DOMID_MAX))),
                Op::SetPerms,
            ),
            (
                "set_perms DOMID_ANY",
                Box::new(move || client.set_perms("/a", &bad(DOMID_ANY))),
                Op::SetPerms,
            ),
            (
                "is_domain_introduced DOMID_SELF",
                Box::new(|| client.is_domain_introduced(0x7FF0).map(drop)),
                Op::IsDomainIntroduced,
            ),
            (
                "get_domain_path DOMID_MAX",
                Box::new(|| client.get_domain_path(DOMID_MAX).map(drop)),
                Op::GetDomainPath,
            ),
        ];
        for (what, call, _) in &sent {
            let r = call();
            assert!(
                !matches!(r, Err(Error::Refused(_) | Error::Invalid(_))),
                "{what}: refused: {r:?}"
            );
        }
        let ops: Vec<Op> = sent.iter().map(|(_, _, op)| *op).collect();
        drop((refused, sent));
        drop(owned_xs);
        drop(owned_tx); // TRANSACTION_END F
        drop(owned_client);
        let seen = fake.finish();
        let after: Vec<(Op, String)> = seen[before.frames..]
            .iter()
            .map(|m| (m.op(), m.strings().join(" ")))
            .collect();
        let mut expected: Vec<(Op, String)> = ops
            .into_iter()
            .zip(["/", "/a n0 r32751", "/a n0 r32757", "32752", "32751"])
            .map(|(op, text)| (op, text.to_owned()))
            .collect();
        expected.push((Op::TransactionEnd, "F".to_owned()));
        assert_eq!(after, expected);
    })
}

// ---------------------------------------------------------------------------
// fork()

/// The checks the child makes, in order; the child exits with the number
/// of the first that failed (0: all held), so the parent can name it.
const CHILD_CHECKS: &[&str] = &[
    "is_connected() is false",
    "read fails with Forked",
    "write fails with Forked",
    "read in a transaction fails with Forked",
    "try_next fails with Forked",
    "wait_timeout fails with Forked",
    "watch fails with Forked",
    "unwatch fails with Forked",
    "transaction() fails with Forked",
    "transact fails with Forked without running the closure",
    "read_many fails with Forked",
    "wait_for fails with Forked",
    "Forked counts as disconnected",
    "a fresh client in the child works",
    "commit fails with Forked",
];

/// Waits for child `pid` to exit and returns its exit code; kills it and
/// fails if it is still running after `limit`.
fn wait_child(pid: libc::pid_t, limit: Duration) -> u8 {
    let deadline = Instant::now() + limit;
    let mut status = 0;
    loop {
        // SAFETY: our own child's pid and a valid pointer to an int.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if r == pid {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the forked child still runs after {limit:?}: it hangs");
        }
        thread::sleep(Duration::from_millis(5));
    }
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    libc::WEXITSTATUS(status) as u8
}

/// Ends the child at once, never returning into the test harness (whose
/// other threads do not exist in the child).
fn child_exit(code: u8) -> ! {
    // SAFETY: `_exit` takes an int and does not return.
    unsafe { libc::_exit(i32::from(code)) }
}

fn forked<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::Forked))
}

/// A client forked with a live monitor (its background reader running)
/// and two open transactions. In the child every call fails with
/// `Error::Forked`, dropping the monitor, the transactions and the client
/// returns at once and writes nothing, and a client opened in the child
/// works. In the parent nothing changed: reads work, the monitor still
/// gets events, both transactions commit, and the daemon saw no byte from
/// the child (its frames are exactly the parent's).
#[test]
fn fork_with_live_monitor_and_transactions() {
    bounded(WATCHDOG, || {
        let fake = Fake::start(Faults {
            store: &[("/fork/value", "parent")],
            ..Faults::default()
        });
        let fresh = Peer::start(|mut c| {
            c.serve_until_eof();
        });
        let client = default_client(&fake);
        let monitor = client.monitor();
        monitor.watch("/fork/watched", "w").unwrap();
        assert_eq!(monitor.wait().unwrap(), ("/fork/watched", "w"));
        let tx_a = client.transaction().unwrap();
        let tx_b = client.transaction().unwrap();
        tx_a.write("/fork/a", "1").unwrap();
        tx_b.write("/fork/b", "1").unwrap();
        let before = fake.mark();

        let fresh_socket = fresh.socket().to_owned();
        // SAFETY: the child runs the checks below and `_exit`s: it never
        // returns into the test harness. It allocates and takes the
        // client's locks only where the client is wrong, which is what this
        // test is about.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            let checks = || in_forked_child(&client, &monitor, tx_a, &fresh_socket);
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(checks));
            match code {
                Ok(0) => {}
                other => child_exit(other.unwrap_or(100)),
            }
            // Dropping what is still open returns and writes nothing.
            drop(tx_b);
            drop(monitor);
            drop(client); // the last handle: the router itself goes
            child_exit(0);
        }
        let code = wait_child(pid, Duration::from_secs(10));
        assert_eq!(
            code,
            0,
            "in the child: {} failed",
            CHILD_CHECKS
                .get(usize::from(code).wrapping_sub(1))
                .unwrap_or(&"a panic")
        );
        assert_eq!(
            fake.mark(),
            before,
            "the child wrote on the parent's socket"
        );

        // The parent's connection is intact.
        assert!(client.is_connected());
        assert_eq!(client.read("/fork/value").unwrap(), b"parent");
        client.write("/fork/watched/after", "1").unwrap();
        let ev = monitor.wait_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(ev.expect("an event"), ("/fork/watched/after", "w"));
        assert!(tx_a.commit().unwrap());
        assert!(tx_b.commit().unwrap());
        drop(monitor);
        drop(client);
        let seen = fake.finish();
        let ops: Vec<(Op, u32)> = seen.iter().map(|m| (m.op(), m.tx_id())).collect();
        assert_eq!(
            ops,
            [
                (Op::Watch, 0),
                (Op::TransactionStart, 0),
                (Op::TransactionStart, 0),
                (Op::Write, 1),
                (Op::Write, 2),
                (Op::Read, 0),
                (Op::Write, 0),
                (Op::TransactionEnd, 1),
                (Op::TransactionEnd, 2),
                (Op::Unwatch, 0),
            ],
            "the daemon saw exactly the parent's requests"
        );
        fresh.finish();
    })
}

/// The checks of [`fork_with_live_monitor_and_transactions`] in the child:
/// 0 if all hold, else the number of the first that failed.
fn in_forked_child(
    client: &Client,
    monitor: &xs_client::Monitor,
    tx: xs_client::Transaction<'_>,
    fresh_socket: &Path,
) -> u8 {
    let fresh_client = || -> Result<Vec<u8>, Error> {
        let c = Client::unix(fresh_socket)?;
        c.write("/child", "hello")?;
        c.read("/child")
    };
    let transact_ran = std::cell::Cell::new(false);
    let checks: [&dyn Fn() -> bool; 14] = [
        &|| !client.is_connected(),
        &|| forked(client.read("/fork/value")),
        &|| forked(client.write("/fork/value", "child")),
        &|| forked(tx.read("/fork/a")),
        &|| forked(monitor.try_next()),
        &|| forked(monitor.wait_timeout(Duration::from_millis(10))),
        &|| forked(monitor.watch("/fork/other", "o")),
        &|| forked(monitor.unwatch("/fork/watched", "w")),
        &|| forked(client.transaction().map(|t| t.id())),
        &|| {
            let r = client.transact(|_| {
                transact_ran.set(true);
                Ok::<_, Error>(())
            });
            forked(r) && !transact_ran.get()
        },
        &|| client.read_many(&["/fork/value"]).into_iter().all(forked),
        &|| forked(client.wait_for("/fork/value", Duration::from_millis(10))),
        &|| Error::Forked.is_disconnected(),
        &|| fresh_client().is_ok_and(|v| v == b"hello"),
    ];
    for (i, check) in checks.iter().enumerate() {
        if !check() {
            return i as u8 + 1;
        }
    }
    if !forked(tx.commit()) {
        return 15;
    }
    0
}

/// Forks again and again while the daemon floods the monitor with events,
/// so the parent's background reader is often inside the client's lock at
/// the moment of the fork. Each child drops the monitor and the last
/// client handle: that must return (a drop in the child that took a lock
/// held by a thread that does not exist there would wait forever).
#[test]
fn fork_during_an_event_flood() {
    const FORKS: usize = 200;
    bounded(Duration::from_secs(120), || {
        let stop = Arc::new(AtomicBool::new(false));
        let flooding = stop.clone();
        let peer = Peer::start(move |mut c| {
            let w = c.expect(Op::Watch);
            c.serve(&w);
            while !flooding.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    c.event("/flood/x", "f");
                }
                if let Ok(Some(m)) = c.recv_timeout(Duration::ZERO) {
                    c.serve(&m);
                }
            }
            c.serve_until_eof();
        });
        let client = Client::unix(peer.socket()).unwrap();
        let monitor = client.monitor_with(xs_client::MonitorOptions {
            capacity: 16,
            ..Default::default()
        });
        monitor.watch("/flood", "f").unwrap();
        let t0 = Instant::now();
        for i in 0..FORKS {
            // SAFETY: the child only drops the client's handles and
            // `_exit`s; it never returns into the test harness.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
            if pid == 0 {
                let calls = forked(client.wait_for("/flood/x", Duration::from_millis(1)))
                    && forked(client.monitor().watch("/flood", "g"))
                    && forked(monitor.watch("/flood", "h"));
                let _ = format!("{monitor:?}"); // lists its watches
                drop(monitor);
                drop(client);
                child_exit(if calls { 0 } else { 1 });
            }
            let code = wait_child(pid, Duration::from_secs(5));
            assert_eq!(code, 0, "fork {i}");
        }
        eprintln!("{FORKS} forks during a flood: {:?}", t0.elapsed());
        stop.store(true, Ordering::Relaxed);
        assert!(client.is_connected());
        client.write("/flood/done", "1").unwrap();
        drop(monitor);
        drop(client);
        peer.finish();
    })
}
