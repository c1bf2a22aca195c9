//! The threaded driver: one connection shared by every thread, transaction
//! and monitor of a client, over the protocol [`Core`].
//!
//! Every wire decision is the core's (`proto/`); this file only decides who
//! holds which lock, who reads, who sleeps, and writes what the core hands
//! out.
//!
//! # Who reads the socket
//!
//! The C library writes a request and reads the reply in the calling
//! thread; a router that hands every reply over from a background thread
//! adds a thread wake-up to every round trip. So this router uses a
//! *leader/follower* scheme: whichever waiting thread finds no reader active
//! becomes the reader, reads and dispatches frames (its own reply and
//! everyone else's) until its own reply is in, then hands the role on.
//! A lone thread doing one request at a time therefore writes and reads
//! inline, exactly like libxenstore. Such a *lone* reader (no other thread
//! waiting, no watch, no reconnection under way, on a socket) may wait in a
//! blocking `recv` instead of epoll, as libxenstore does, when that is
//! faster: [`crate::wait_policy`] decides per round trip, by measuring.
//! Nothing needs to interrupt such a wait: others' replies come through
//! it, a new waiter or watch takes effect at the next frame, and it is
//! bounded by the socket's receive timeout.
//!
//! Watch events must be drained even when nobody is waiting (a monitor's
//! bounded queue reports overflow instead of the socket backing up), so while
//! at least one watch is registered a background thread takes the reader
//! role whenever it is free, much as libxenstore starts its reader thread at
//! the first watch. The thread is started at the first watch and joined when
//! the last handle to the router is dropped.
//!
//! # Time
//!
//! Whoever is about to block passes the time to the core
//! ([`Core::handle_timeout`]: it starts the clock of new requests and expires
//! due ones), so a request times out whether its own thread, another thread
//! or the background reader holds the socket, and a request costs no clock
//! read of its own.
//!
//! # Locks
//!
//! Three: the shared state, the reader's I/O and the writer's, taken about
//! six times per round trip. They are `parking_lot`'s, which do not poison:
//! a panic while one is held leaves the state here consistent, so std's
//! poisoning was only ever ignored, and its checks (two looks at the
//! global panic count per lock taken) cost about 40 instructions per
//! synchronous READ, some 3.5% of the client's whole count.
//!
//! # Failure and fork
//!
//! Any read or write error, or a frame the core rejects, declares the
//! connection dead: every pending caller and every monitor is woken with the
//! error, later calls fail at once, and the background thread exits. In the
//! child of a `fork()`, every call fails with [`Error::Forked`] and drops
//! touch nothing: the connection is the parent's.

use parking_lot::{Condvar, Mutex, MutexGuard};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use xs_transport::{Connection, Endpoint, FrameReceiver, FrameSender, TransportKind};
use xs_wire::{Op, Path, Request};

use crate::proto::{Core, Deadline, MonitorId, Outgoing, Response};
use crate::reconnect::Attempts;
use crate::wait_policy::{Wait, WaitPolicy};
use crate::{Error, Event, Problem, Reconnect};

static NEXT_ROUTER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

const SOCKET: Token = Token(0);
const WAKE: Token = Token(1);

/// The longest a lone reader waits (blocked in `recv`, or for readiness)
/// before it looks at the time again (its deadline, if sooner, bounds it
/// exactly). A new waiter never needs to interrupt a blocked `recv`, but a
/// shutdown would wait for this at most.
const LONE_WAIT_SLICE: Duration = Duration::from_millis(100);

/// How long the reader role must stay free, with no caller taking it,
/// before the background thread reads (while watches exist). A caller that
/// reads for itself wakes once per reply; a reply read by the background
/// thread wakes two threads. Events meanwhile wait in the socket.
const BACKGROUND_GRACE: Duration = Duration::from_millis(1);

/// How long a round trip may take when the client sets no timeout of its
/// own: long enough for any healthy daemon, short enough that a wedged one
/// does not wedge its callers forever. [`crate::ClientBuilder::no_timeout`]
/// opts out.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a destructor (dropping a [`crate::Monitor`] or an unfinished
/// [`crate::Transaction`]) or [`crate::Transaction::rollback`] waits for the
/// daemon's answer (less if the client's timeout is shorter). Past it the
/// request is abandoned: its late reply is dropped when it comes.
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(2);

type Signal = Arc<Condvar>;

/// What the background thread sleeps until, when it sleeps with no time
/// limit (see [`Inner::release_reader`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum BackgroundSleep {
    /// It sleeps at most [`BACKGROUND_GRACE`], or does not sleep.
    Timed,
    /// A watch registered.
    UntilWatch,
    /// The reader role let go.
    UntilRelease,
}

/// State shared under one lock.
struct Shared {
    core: Core<Signal>,
    /// Someone holds the reader role.
    reader_active: bool,
    /// How many times a caller (not the background thread) took the
    /// reader role: the background thread reads only after a quiet
    /// [`BACKGROUND_GRACE`].
    caller_reads: u64,
    /// What the background thread sleeps until, if it sleeps with no
    /// time limit: a release of the reader role wakes it only then.
    background_sleeps: BackgroundSleep,
    /// How many times the background thread woke (for tests: it must not
    /// tick while a caller holds the reader role).
    background_wakes: u64,
    /// Threads sleeping until a reply, an event or the reader role is free.
    sleepers: Vec<Signal>,
    shutdown: bool,
    background: Option<JoinHandle<()>>,
    /// Scratch list of waiters to wake.
    woken: Vec<Signal>,
    /// Monitors that report readiness through a pipe (their signal, and
    /// the pipe's write end): see [`crate::Monitor::readiness_fd`].
    pipes: Vec<(Signal, std::os::unix::net::UnixStream)>,
    /// While a lost connection is being replaced: the attempts so far.
    retry: Option<Attempts>,
    /// The attempts that made the current connection, if a reconnection
    /// did (see [`Attempts::after_loss`]).
    made_by: Option<Attempts>,
}

/// What only the reader touches.
struct ReaderIo {
    receiver: FrameReceiver,
    /// Whether `receiver` is registered with `poll` (not after a loss).
    registered: bool,
    poll: Poll,
    events: Events,
    /// Scratch list of sleepers a frame woke.
    woken: std::cell::RefCell<Vec<Signal>>,
    wait: WaitPolicy,
}

/// What only the writer touches: the sender and the bytes the core handed
/// out, written without holding the shared lock.
struct WriterIo {
    sender: FrameSender,
    bytes: Outgoing,
}

struct Inner {
    /// Unique for the life of the process.
    id: u64,
    shared: Mutex<Shared>,
    background_signal: Signal,
    reader: Mutex<ReaderIo>,
    writer: Mutex<WriterIo>,
    waker: Waker,
    kind: TransportKind,
    max_payload: usize,
    peer: String,
    timeout: Option<Duration>,
    /// [`xs_transport::fork_generation`] when the connection was made.
    fork_generation: u64,
    /// Where to reconnect, and how, if asked to.
    reconnect: Option<(Endpoint, Reconnect)>,
}

/// Owns a connection to xenstored and routes replies and events to the
/// callers sharing it. Cheap to share: clients hold it in an `Arc`.
///
/// Most programs never touch it directly: [`crate::Client::open`] makes one.
/// Build one by hand to use a connection made elsewhere:
///
/// ```
/// # let _xs = xs_server::Server::spawn_temp();
/// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
/// use xs_client::{Client, Router};
/// use xs_transport::Connection;
///
/// let socket = "/var/run/xenstored/socket";
/// # let socket = _xs.socket_path();
/// let conn = Connection::unix(socket)?;
/// let client = Client::with_router(Router::new(conn)?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Router {
    inner: Arc<Inner>,
}

pub(crate) fn transport_error(e: xs_transport::TransportError) -> Error {
    Error::disconnected(e.to_string())
}

/// An error from reading the socket: `Err` for a frame the transport
/// refuses to decode (a header announcing too long a payload), which is the
/// daemon breaking the protocol, not the connection going away, and is
/// reported as [`Error::UnexpectedPacket`] like every other frame the client
/// cannot accept; `Ok` for EOF, a frame cut short and I/O errors, which lose
/// the connection (`Disconnected`, or a reconnection).
pub(crate) fn receive_error(e: xs_transport::TransportError) -> Result<Error, Error> {
    match e {
        xs_transport::TransportError::Protocol(xs_wire::WireError::FrameTooLarge {
            header,
            max,
        }) => Err(Error::unexpected(Problem::TooLong { max }, Some(header))),
        xs_transport::TransportError::Protocol(wire) => {
            Err(Error::unexpected(Problem::Undecodable(wire), None))
        }
        other => Ok(transport_error(other)),
    }
}

fn notify(signals: &[Signal]) {
    for s in signals {
        s.notify_all();
    }
}

/// The transaction a request belongs to: its id (0: none) and, for a
/// [`crate::Transaction`], the connection epoch it was opened in (a
/// transaction from an earlier connection is lost).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tx {
    pub(crate) id: u32,
    pub(crate) epoch: Option<u64>,
}

/// A request that has been queued and not yet collected.
pub(crate) struct Ticket {
    req_id: u32,
    signal: Signal,
}

impl Router {
    /// Takes ownership of a connection; round trips time out after
    /// [`DEFAULT_TIMEOUT`].
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Router, TransportKind};
    /// use xs_transport::Connection;
    ///
    /// let router = Router::new(Connection::unix(_xs.socket_path())?)?;
    /// assert!(router.is_connected());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(conn: Connection) -> Result<Router, Error> {
        Router::with_timeout(conn, Some(DEFAULT_TIMEOUT))
    }

    /// Takes ownership of a connection; every wait for a reply gives up
    /// after `timeout` (`None`: wait forever, as libxenstore does).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use std::time::Duration;
    /// use xs_client::{Client, Router, Store};
    /// use xs_transport::Connection;
    ///
    /// let conn = Connection::unix(_xs.socket_path())?;
    /// let client = Client::with_router(Router::with_timeout(conn, Some(Duration::from_secs(5)))?);
    /// assert!(client.exists("/tool/xenstored")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_timeout(conn: Connection, timeout: Option<Duration>) -> Result<Router, Error> {
        Router::build(conn, timeout, None)
    }

    /// A router that replaces a lost connection to `endpoint` by `policy`.
    pub(crate) fn reconnecting(
        conn: Connection,
        timeout: Option<Duration>,
        endpoint: Endpoint,
        policy: Reconnect,
    ) -> Result<Router, Error> {
        Router::build(conn, timeout, Some((endpoint, policy)))
    }

    fn build(
        conn: Connection,
        timeout: Option<Duration>,
        reconnect: Option<(Endpoint, Reconnect)>,
    ) -> Result<Router, Error> {
        let kind = conn.kind();
        let max_payload = conn.max_payload();
        let peer = conn.peer().to_owned();
        let (mut receiver, sender) = conn.split().map_err(transport_error)?;
        let io_err = |e: std::io::Error| Error::Connect {
            path: peer.clone().into(),
            source: Arc::new(std::io::Error::new(
                e.kind(),
                format!("cannot poll the connection: {e}"),
            )),
        };
        let poll = Poll::new().map_err(io_err)?;
        poll.registry()
            .register(&mut receiver, SOCKET, Interest::READABLE)
            .map_err(io_err)?;
        let waker = Waker::new(poll.registry(), WAKE).map_err(io_err)?;
        Ok(Router {
            inner: Arc::new(Inner {
                id: NEXT_ROUTER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                shared: Mutex::new(Shared {
                    core: {
                        let mut core = Core::new(kind, max_payload, timeout);
                        if reconnect.is_some() {
                            core.enable_reconnection();
                        }
                        core
                    },
                    retry: None,
                    made_by: None,
                    reader_active: false,
                    caller_reads: 0,
                    background_sleeps: BackgroundSleep::Timed,
                    background_wakes: 0,
                    sleepers: Vec::new(),
                    shutdown: false,
                    background: None,
                    woken: Vec::new(),
                    pipes: Vec::new(),
                }),
                background_signal: Arc::new(Condvar::new()),
                reader: Mutex::new(ReaderIo {
                    receiver,
                    registered: true,
                    poll,
                    events: Events::with_capacity(16),
                    woken: std::cell::RefCell::new(Vec::new()),
                    wait: WaitPolicy::new(),
                }),
                writer: Mutex::new(WriterIo {
                    sender,
                    bytes: Outgoing::new(),
                }),
                waker,
                kind,
                max_payload,
                peer,
                timeout,
                fork_generation: xs_transport::fork_generation(),
                reconnect,
            }),
        })
    }

    /// Socket or xenbus device.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// use xs_client::{Router, TransportKind};
    /// let router = Router::new(xs_transport::Connection::unix(_xs.socket_path())?)?;
    /// assert_eq!(router.kind(), TransportKind::Socket);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kind(&self) -> TransportKind {
        self.inner.kind
    }

    /// The largest payload this connection carries (4096, or 4080 on the
    /// xenbus device).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// use xs_client::Router;
    /// let router = Router::new(xs_transport::Connection::unix(_xs.socket_path())?)?;
    /// assert_eq!(router.max_payload(), 4096); // 4080 over /dev/xen/xenbus
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_payload(&self) -> usize {
        self.inner.max_payload
    }

    /// The round-trip timeout (`None`: none).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// use xs_client::{Router, DEFAULT_TIMEOUT};
    /// let router = Router::new(xs_transport::Connection::unix(_xs.socket_path())?)?;
    /// assert_eq!(router.timeout(), Some(DEFAULT_TIMEOUT));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn timeout(&self) -> Option<Duration> {
        self.inner.timeout
    }

    /// What the connection is to (its path).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// use xs_client::Router;
    /// let router = Router::new(xs_transport::Connection::unix(_xs.socket_path())?)?;
    /// assert!(router.peer().ends_with("socket"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peer(&self) -> &str {
        &self.inner.peer
    }

    /// Whether the connection is still usable (false in a forked child).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Client, Store};
    ///
    /// let client = Client::open()?;
    /// assert!(client.router().is_connected());
    /// drop(_xs);
    /// let _ = client.read("/tool/xenstored"); // finds the connection closed
    /// assert!(!client.router().is_connected());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_connected(&self) -> bool {
        !self.inner.forked() && !self.inner.shared.lock().core.is_dead()
    }

    /// How many times a lost connection was replaced (see
    /// [`crate::ClientBuilder::reconnect`]); also the epoch transactions
    /// belong to.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// let client = xs_client::Client::open()?;
    /// assert_eq!(client.router().reconnections(), 0);
    /// # Ok::<(), xs_client::Error>(())
    /// ```
    pub fn reconnections(&self) -> u64 {
        self.inner.shared.lock().core.epoch()
    }

    // ---- crate API: what Client, Transaction, Monitor, batch use --------

    /// What the core learnt of optional operation `op` (see
    /// [`crate::Client::supports`]).
    pub(crate) fn capability(&self, op: Op) -> Option<bool> {
        self.inner.shared.lock().core.capability(op)
    }

    /// Sends `req` in transaction `tx_id` and waits for its reply.
    pub(crate) fn call(
        &self,
        req: &Request<'_>,
        tx: Tx,
        limit: Option<Deadline>,
    ) -> Result<Response, Error> {
        // This thread reads the reply itself unless it must sleep: no
        // waker (nor a thread's signal to find) until then.
        let req_id = self.inner.queue(|core| {
            core.check_transaction(tx.id, tx.epoch)?;
            core.submit_reading(req, tx.id, limit)
        })?;
        self.wait_reply(req_id, None)
    }

    /// Sends a raw request (any op, payload as given) and waits.
    pub(crate) fn call_raw(&self, op: Op, payload: &[u8], tx: Tx) -> Result<Response, Error> {
        let signal = self.inner.thread_signal();
        let req_id = self.inner.queue(|core| {
            core.check_transaction(tx.id, tx.epoch)?;
            core.submit_raw(op, payload, tx.id, None, signal.clone())
        })?;
        self.wait(Ticket { req_id, signal })
    }

    /// Queues several requests and writes them together (one write on a
    /// socket), appending one outcome per request to `out`, in order: its
    /// id, for [`Router::wait_for`], or the error that kept it from being
    /// sent (the others still go). Like [`Router::call`]'s, the requests
    /// wake nobody: the caller waits for each in turn.
    pub(crate) fn submit_many(
        &self,
        reqs: &[Request<'_>],
        tx: Tx,
        out: &mut Vec<Result<u32, Error>>,
    ) {
        let start = out.len();
        let queued = self.inner.queue(|core| {
            core.check_transaction(tx.id, tx.epoch)?;
            out.extend(reqs.iter().map(|req| core.submit_reading(req, tx.id, None)));
            Ok(())
        });
        // Queued requests whose write found the connection dead get its
        // error when waited for; if nothing was queued (forked, or a
        // transaction of an earlier connection), every request gets it.
        if let Err(e) = queued {
            if out.len() == start {
                out.extend(reqs.iter().map(|_| Err(e.clone())));
            }
        }
    }

    /// Waits for the reply to a request from [`Router::submit_many`].
    pub(crate) fn wait_for(&self, req_id: u32) -> Result<Response, Error> {
        self.wait_reply(req_id, None)
    }

    /// Waits for a queued request's reply (or its deadline).
    pub(crate) fn wait(&self, ticket: Ticket) -> Result<Response, Error> {
        self.wait_reply(ticket.req_id, Some(&ticket.signal))
    }

    /// Waits for request `req_id`'s reply, woken by `signal`, or (a request
    /// from [`Core::submit_reading`]) by the thread's own signal, given to
    /// the core only if this thread must sleep.
    fn wait_reply(&self, req_id: u32, signal: Option<&Signal>) -> Result<Response, Error> {
        let mut st = self.inner.wait_until(
            signal,
            None,
            |core| core.is_ready(req_id),
            |core, signal| core.set_waker(req_id, signal.clone()),
        );
        let result = st.core.poll_reply(req_id);
        drop(st);
        // Only shutdown ends a wait without an answer.
        result.unwrap_or_else(|| Err(Error::disconnected("client closed")))
    }

    /// Waits at most until `until` for a queued request; gives up on it
    /// (its late reply is dropped) if it has not come. For cleanups.
    pub(crate) fn wait_bounded(
        &self,
        ticket: Ticket,
        until: Instant,
    ) -> Option<Result<Response, Error>> {
        let req_id = ticket.req_id;
        let mut st = self.inner.wait_until(
            Some(&ticket.signal),
            Some(until),
            |core| core.is_ready(req_id),
            |_, _| {},
        );
        let result = if st.core.is_ready(req_id) {
            st.core.poll_reply(req_id)
        } else {
            None
        };
        if result.is_none() {
            st.core.abandon(req_id);
        }
        drop(st);
        if self.inner.kind == TransportKind::Xenbus {
            // Device writes never block: the writer is never held long.
            self.inner.flush_queued();
        } else {
            self.inner.flush_until(until);
        }
        result
    }

    /// The deadline of a cleanup starting now: [`CLEANUP_TIMEOUT`], or the
    /// client's timeout if shorter.
    pub(crate) fn cleanup_deadline(&self) -> Deadline {
        let limit = self
            .inner
            .timeout
            .map_or(CLEANUP_TIMEOUT, |t| t.min(CLEANUP_TIMEOUT));
        let now = Instant::now();
        Deadline::after(now, limit).unwrap_or(Deadline { at: now, limit })
    }

    /// Sends `req` and waits for it at most the cleanup bound; `None` if it
    /// was abandoned unanswered (or nothing could be sent).
    pub(crate) fn call_cleanup(
        &self,
        req: &Request<'_>,
        tx: Tx,
    ) -> Option<Result<Response, Error>> {
        let deadline = self.cleanup_deadline();
        let signal = self.inner.thread_signal();
        let queued = self.inner.queue_until(deadline.at, |core| {
            core.check_transaction(tx.id, tx.epoch)?;
            core.submit(req, tx.id, Some(deadline), signal.clone())
        });
        match queued {
            Ok(req_id) => self.wait_bounded(Ticket { req_id, signal }, deadline.at),
            Err(e) => Some(Err(e)),
        }
    }

    /// Whether this handle is used in a forked child.
    pub(crate) fn is_forked(&self) -> bool {
        self.inner.forked()
    }

    // ---- monitors -------------------------------------------------------

    pub(crate) fn add_monitor(
        &self,
        capacity: usize,
        keep_unwatched: bool,
        signal: Signal,
    ) -> MonitorId {
        if self.is_forked() {
            // Its every call fails with Forked before using the id.
            return MonitorId::MAX;
        }
        self.inner
            .shared
            .lock()
            .core
            .add_monitor(capacity, keep_unwatched, signal)
    }

    /// Registers a watch for monitor `id` and waits for the daemon's answer
    /// (nothing is sent if another monitor holds the registration).
    pub(crate) fn watch(
        &self,
        id: MonitorId,
        req: &Request<'_>,
        limit: Option<Deadline>,
    ) -> Result<(), Error> {
        let Request::Watch { path, token, depth } = *req else {
            return Err(Error::Invalid(xs_wire::WireError::Malformed {
                op: req.op(),
                what: "not a WATCH",
            }));
        };
        let signal = self.inner.thread_signal();
        let mut shared = false;
        let req_id = self.inner.queue(|core| {
            let deadline = limit;
            let sent = core.watch(id, path, token, depth, deadline, signal.clone())?;
            shared = sent.is_none();
            Ok(sent.unwrap_or(0))
        });
        let req_id = match req_id {
            Ok(_) if shared => {
                self.inner.wake_sleepers();
                return Ok(());
            }
            Ok(req_id) => req_id,
            Err(e) => return Err(e),
        };
        self.inner.ensure_background();
        let resp = self.wait(Ticket { req_id, signal });
        // A failed or timed-out WATCH is undone by the core; the reader
        // may be waiting for a registration count that changed.
        self.inner.wake_reader();
        crate::reply::parse(req, &resp?).map(drop)
    }

    /// Removes monitor `id`'s watch and waits for the UNWATCH, if one goes
    /// out (`ENOENT` from the daemon counts as done).
    pub(crate) fn unwatch(&self, id: MonitorId, path: Path<'_>, token: &str) -> Result<(), Error> {
        let signal = self.inner.thread_signal();
        let queued = self.inner.queue(|core| {
            core.unwatch(id, path, token, None, signal.clone())
                .map(|sent| sent.unwrap_or(0))
        });
        self.inner.wake_reader();
        let req_id = match queued {
            Ok(0) => return Ok(()),
            Ok(req_id) => req_id,
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        };
        let req = Request::Unwatch { path, token };
        let resp = self.wait(Ticket { req_id, signal })?;
        match crate::reply::parse(&req, &resp) {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(drop),
        }
    }

    /// Removes a monitor, waiting for its UNWATCHes at most the cleanup
    /// bound (or until `until`, if earlier).
    pub(crate) fn remove_monitor(&self, id: MonitorId, until: Option<Deadline>) {
        if self.is_forked() {
            return;
        }
        let cleanup = self.cleanup_deadline();
        let deadline = until.map_or(cleanup, |u| if u.at < cleanup.at { u } else { cleanup });
        let signal = self.inner.thread_signal();
        let ids = self.inner.queue_until(deadline.at, |core| {
            Ok(core.remove_monitor(id, Some(deadline), signal.clone()))
        });
        self.inner.wake_reader();
        for req_id in ids.unwrap_or_default() {
            let ticket = Ticket {
                req_id,
                signal: signal.clone(),
            };
            let _ = self.wait_bounded(ticket, deadline.at);
        }
    }

    pub(crate) fn set_depth_filter(
        &self,
        id: MonitorId,
        path: &str,
        token: &str,
        depth: Option<u32>,
    ) {
        if self.is_forked() {
            return;
        }
        self.inner
            .shared
            .lock()
            .core
            .set_depth_filter(id, path, token, depth);
    }

    /// Monitor `id` (woken through `signal`) also reports readiness by
    /// writing to `pipe`; a byte goes in at once if it has events already.
    pub(crate) fn add_pipe(
        &self,
        id: MonitorId,
        signal: &Signal,
        pipe: std::os::unix::net::UnixStream,
    ) {
        let mut st = self.inner.shared.lock();
        let entry = (signal.clone(), pipe);
        if st.core.has_event(id) {
            ring(std::slice::from_ref(&entry), std::slice::from_ref(signal));
        }
        st.pipes.push(entry);
    }

    /// Forgets monitor `signal`'s pipe.
    pub(crate) fn remove_pipe(&self, signal: &Signal) {
        self.inner
            .shared
            .lock()
            .pipes
            .retain(|(s, _)| !Arc::ptr_eq(s, signal));
    }

    pub(crate) fn watched(&self, id: MonitorId) -> Vec<(String, String)> {
        if self.is_forked() {
            return Vec::new(); // the watches are the parent's
        }
        self.inner.shared.lock().core.watched(id)
    }

    pub(crate) fn poll_event(&self, id: MonitorId) -> Option<Result<Event, Error>> {
        if self.is_forked() {
            return Some(Err(Error::Forked));
        }
        self.inner.shared.lock().core.poll_event(id)
    }

    /// Waits until monitor `id` has something, or `until` passes.
    pub(crate) fn wait_event(&self, id: MonitorId, signal: &Signal, until: Option<Instant>) {
        drop(
            self.inner
                .wait_until(Some(signal), until, |core| core.has_event(id), |_, _| {}),
        );
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if self.inner.forked() {
            // The connection, the background thread and whoever held the
            // lock at the fork are the parent's: touch nothing (a lock
            // held at the fork would never be released here).
            return;
        }
        let background = {
            let mut st = self.inner.shared.lock();
            st.shutdown = true;
            st.core.fail(Error::disconnected("client closed"));
            self.inner.wake_everyone(&mut st);
            st.background.take()
        };
        let _ = self.inner.waker.wake();
        if let Some(handle) = background {
            let _ = handle.join();
        }
    }
}

impl Inner {
    fn forked(&self) -> bool {
        xs_transport::fork_generation() != self.fork_generation
    }

    /// Runs `f` on the core, then writes what it queued.
    /// Lock order: writer, then shared; nothing takes them the other way.
    fn queue<T>(&self, f: impl FnOnce(&mut Core<Signal>) -> Result<T, Error>) -> Result<T, Error> {
        if self.forked() {
            return Err(Error::Forked);
        }
        let mut w = self.writer.lock();
        let value = {
            let mut st = self.shared.lock();
            let value = f(&mut st.core)?;
            st.core.take_transmit(&mut w.bytes);
            self.wake_woken(&mut st);
            value
        };
        self.write(&mut w)?;
        Ok(value)
    }

    /// Writes whatever the core has queued (after a reply on the device,
    /// or cleanups it made up).
    fn flush_queued(&self) {
        if self.forked() {
            return;
        }
        let mut w = self.writer.lock();
        let mut st = self.shared.lock();
        if st.core.poll_transmit().is_none() {
            return;
        }
        st.core.take_transmit(&mut w.bytes);
        drop(st);
        let _ = self.write(&mut w);
    }

    /// [`Inner::queue`] for cleanups, which must not block past `until`:
    /// another thread may hold the writer for as long as the client's
    /// timeout (or forever), stuck on a daemon that stopped reading. `f`
    /// always runs; its bytes are written only if the writer is free by
    /// `until`, and only for the time left (what is left over stays queued,
    /// and the caller abandons what is unanswered at `until`).
    fn queue_until<T>(
        &self,
        until: Instant,
        f: impl FnOnce(&mut Core<Signal>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.forked() {
            return Err(Error::Forked);
        }
        let writer = self.lock_writer_until(until);
        let mut st = self.shared.lock();
        let value = f(&mut st.core);
        let Some(mut w) = writer else {
            self.wake_woken(&mut st);
            return value;
        };
        st.core.take_transmit(&mut w.bytes);
        self.wake_woken(&mut st);
        drop(st);
        self.write_until(&mut w, until);
        value
    }

    /// Writes what the core has queued if the writer is free by `until`.
    fn flush_until(&self, until: Instant) {
        if self.forked() {
            return;
        }
        let Some(mut w) = self.lock_writer_until(until) else {
            return;
        };
        let mut st = self.shared.lock();
        st.core.take_transmit(&mut w.bytes);
        drop(st);
        self.write_until(&mut w, until);
    }

    /// The writer, if it is free (or freed) by `until`; tried at least once.
    fn lock_writer_until(&self, until: Instant) -> Option<MutexGuard<'_, WriterIo>> {
        self.writer.try_lock_until(until)
    }

    /// Writes for at most the time left until `until`. Running out of time
    /// is not fatal here: the transport keeps the rest queued and the next
    /// write continues it. Any other failure loses the connection.
    fn write_until(&self, w: &mut WriterIo, until: Instant) {
        if w.bytes.bytes().is_empty() {
            return;
        }
        let left = until.saturating_duration_since(Instant::now());
        let timeout = Some(self.timeout.map_or(left, |t| t.min(left)));
        let WriterIo { sender, bytes: out } = w;
        let sent = xs_transport::blocking::send_any(sender, out.bytes(), timeout);
        out.clear();
        match sent {
            Ok(()) | Err(xs_transport::TransportError::TimedOut { .. }) => {}
            Err(e) => self.lost(transport_error(e)),
        }
    }

    /// Writes the bytes taken from the core. A failure loses the
    /// connection: an error only if that makes it dead (no reconnection).
    // The failure is out of line, so the usual write (one `send`) carries
    // no error plumbing.
    #[inline]
    fn write(&self, w: &mut WriterIo) -> Result<(), Error> {
        let WriterIo { sender, bytes: out } = w;
        let bytes = out.bytes();
        if bytes.is_empty() {
            return Ok(());
        }
        // One frame (the usual case, and always on the device) or a batch.
        let sent = xs_transport::blocking::send_any(sender, bytes, self.timeout);
        out.clear();
        match sent {
            Ok(()) => Ok(()),
            Err(e) => self.write_failed(e),
        }
    }

    /// [`Inner::write`] failed with `e`: the connection is lost.
    #[cold]
    #[inline(never)]
    fn write_failed(&self, e: xs_transport::TransportError) -> Result<(), Error> {
        let err = transport_error(e);
        self.lost(err.clone());
        // Reconnecting: what was written waits in the core for its fate.
        match self.shared.lock().core.error() {
            Some(dead) => Err(dead.clone()),
            None => Ok(()),
        }
    }

    /// Wakes the sleepers the core named (on most calls, nobody).
    #[inline]
    fn wake_woken(&self, st: &mut Shared) {
        if st.core.has_woken() {
            self.wake_named(st);
        }
    }

    fn wake_named(&self, st: &mut Shared) {
        let mut woken = std::mem::take(&mut st.woken);
        take_woken_sleepers(st, &mut woken);
        notify(&woken);
        woken.clear();
        st.woken = woken;
    }

    /// Wakes whoever the core named, every sleeper and the background
    /// thread: after a change everyone must look at (death, a lost or new
    /// connection).
    fn wake_everyone(&self, st: &mut Shared) {
        let mut woken = std::mem::take(&mut st.woken);
        st.core.take_woken(&mut woken);
        ring(&st.pipes, &woken);
        notify(&woken);
        woken.clear();
        st.woken = woken;
        notify(&st.sleepers);
        self.background_signal.notify_all();
    }

    fn wake_sleepers(&self) {
        notify(&self.shared.lock().sleepers);
    }

    /// Blocks until `ready` holds (checked under the lock), the connection
    /// dies, or `until` passes, taking the reader role whenever it is free
    /// and passing the time to the core. Returns holding the lock, so the
    /// caller takes what it waited for without locking again.
    ///
    /// `signal` is what the core wakes this caller by; without one (a
    /// request from [`Core::submit_reading`]) the thread's own is made
    /// only if it must sleep, and `give_waker` hands it to the core first.
    fn wait_until(
        &self,
        signal: Option<&Signal>,
        until: Option<Instant>,
        ready: impl Fn(&Core<Signal>) -> bool,
        give_waker: impl Fn(&mut Core<Signal>, &Signal),
    ) -> MutexGuard<'_, Shared> {
        let own = std::cell::OnceCell::new();
        let mut st = self.shared.lock();
        loop {
            if ready(&st.core) || st.core.is_dead() || st.shutdown {
                return st;
            }
            if until.is_some_and(|u| u <= Instant::now()) {
                return st;
            }
            // The reader passes the time to the core itself.
            if !st.reader_active {
                st.reader_active = true;
                st.caller_reads = st.caller_reads.wrapping_add(1);
                let (guard, ready_seen) =
                    self.read_until(st, &|st: &Shared| ready(&st.core), until);
                st = guard;
                self.release_reader(&mut st);
                if ready_seen {
                    return st;
                }
                continue;
            }
            let now = Instant::now();
            if self.expire(&mut st, now) {
                continue;
            }
            let signal = match signal {
                Some(signal) => signal,
                None => {
                    let own = own.get_or_init(|| self.thread_signal());
                    give_waker(&mut st.core, own);
                    own
                }
            };
            let wake_at = earliest_instant(until, st.core.poll_timeout());
            st.sleepers.push(signal.clone());
            match wake_at {
                Some(at) => {
                    signal.wait_for(&mut st, at.saturating_duration_since(now));
                }
                None => signal.wait(&mut st),
            };
            if let Some(i) = st.sleepers.iter().position(|s| Arc::ptr_eq(s, signal)) {
                st.sleepers.swap_remove(i);
            }
        }
    }

    /// Passes the time to the core; wakes whoever timed out. Whether
    /// anything happened (someone timed out, or the connection died).
    fn expire(&self, st: &mut MutexGuard<'_, Shared>, now: Instant) -> bool {
        // A request whose caller reads for itself times out waking nobody.
        let expired = st.core.handle_timeout(now);
        if !st.core.has_woken() && !st.core.is_dead() {
            return expired;
        }
        self.wake_woken(st);
        if st.core.is_dead() {
            notify(&st.sleepers);
            self.background_signal.notify_all();
        }
        true
    }

    /// The background thread is woken only if it sleeps with no time limit
    /// for this (or for a watch, and one exists); otherwise it looks again
    /// within [`BACKGROUND_GRACE`] by itself.
    fn release_reader(&self, st: &mut Shared) {
        st.reader_active = false;
        notify(&st.sleepers);
        let wake = match st.background_sleeps {
            BackgroundSleep::Timed => false,
            BackgroundSleep::UntilWatch => st.core.registration_count() > 0,
            BackgroundSleep::UntilRelease => true,
        };
        if wake {
            self.background_signal.notify_all();
        }
    }

    /// The reader's loop: poll, drain, dispatch, until `done`, `until`,
    /// shutdown or death. Called holding the state lock (`done` just seen
    /// false under it, the reader role just taken); returns holding it,
    /// and whether it saw `done` (which nobody else can undo).
    fn read_until<'a>(
        &'a self,
        st: MutexGuard<'a, Shared>,
        done: &impl Fn(&Shared) -> bool,
        until: Option<Instant>,
    ) -> (MutexGuard<'a, Shared>, bool) {
        // Only the thread that took the reader role (under `st`) locks the
        // reader, so it is free: taken without letting go of `st`, whose
        // holder has just seen `done` false.
        let (mut io, st, mut checked) = match self.reader.try_lock() {
            Some(io) => (io, st, true),
            None => {
                drop(st);
                let io = self.reader.lock();
                (io, self.shared.lock(), false)
            }
        };
        let io = &mut *io;
        let mut held = Some(st);
        loop {
            let (wake_at, lone, now) = {
                let mut st = held.take().unwrap_or_else(|| self.shared.lock());
                if !std::mem::take(&mut checked) {
                    if done(&st) {
                        return (st, true);
                    }
                    if st.core.is_dead() || st.shutdown {
                        return (st, false);
                    }
                }
                // Nobody else can need this thread to look up from its
                // wait (see the module docs).
                let lone = io.registered
                    && self.kind == TransportKind::Socket
                    && st.sleepers.is_empty()
                    && st.background.is_none()
                    && st.retry.is_none()
                    && st.core.registration_count() == 0;
                // The usual lone round trip reads no clock: its reply comes
                // within the slice, and no deadline needed the time (the
                // core allows this once per request queued).
                if lone && until.is_none() && st.core.may_wait_unclocked(LONE_WAIT_SLICE) {
                    (None, true, None)
                } else {
                    let now = Instant::now();
                    if until.is_some_and(|u| u <= now) {
                        return (st, false);
                    }
                    // Starts the clock of new requests, expires due ones.
                    if self.expire(&mut st, now) {
                        held = Some(st);
                        continue;
                    }
                    let mut wake_at = earliest_instant(until, st.core.poll_timeout());
                    if let Some(retry) = &st.retry {
                        if io.registered {
                            // The old fd would report its end forever.
                            let _ = io.poll.registry().deregister(&mut io.receiver);
                            io.registered = false;
                        }
                        if retry.next() <= now {
                            drop(st);
                            self.try_reconnect(io);
                            continue;
                        }
                        wake_at = earliest_instant(wake_at, Some(retry.next()));
                    }
                    (wake_at, lone, Some(now))
                }
            };
            let (wait, timed) = if lone {
                io.wait.choose()
            } else {
                (Wait::Readiness, false)
            };
            // A timed round trip's start: the look at the clock above, or
            // one made for it.
            let start = match (timed, now) {
                (true, None) => Some(Instant::now()),
                _ => now,
            };
            let ReaderIo {
                receiver,
                poll,
                events,
                woken,
                registered,
                wait: policy,
            } = &mut *io;
            // The lock is taken per frame, not for the whole drain: a peer
            // flooding events must not stall other threads' requests.
            // (One capture for the three flags the handler sets.)
            let flags = RoundFlags::default();
            let RoundFlags {
                output,
                finished,
                died,
            } = &flags;
            let dispatch = frame_handler(
                #[inline(always)]
                |frame: xs_wire::Frame<'_>| {
                    let RoundFlags {
                        output,
                        finished,
                        died,
                    } = &flags;
                    let mut st = self.shared.lock();
                    // A rejected frame kills the connection inside the core,
                    // waking every waiter.
                    let _ = st.core.handle_frame(&frame);
                    if st.core.poll_transmit().is_some() {
                        output.set(true);
                    }
                    finished.set(done(&st));
                    if st.core.has_woken() || st.core.is_dead() {
                        self.after_frame(st, woken, died);
                    }
                },
            );
            // Whether this round waited (the policy's samples are waits
            // that ended with the reply waited for). A read's error is
            // boxed: the usual `Ok` is then one word carried through the
            // round, not a result the size of a `TransportError`.
            let (outcome, waited) = if wait == Wait::Block {
                let bound = lone_bound(wake_at, now);
                (
                    receiver
                        .recv_wait(bound, dispatch)
                        .map(drop)
                        .map_err(Box::new),
                    true,
                )
            } else {
                // A blocking wait may have left bytes no edge will announce:
                // read them first, then wait in this same round (that read
                // waits for nothing: it is not the round trip's wait).
                let mut outcome = Ok(());
                if receiver.may_have_unread() {
                    outcome = receiver.recv(dispatch).map_err(Box::new);
                }
                let mut polled = false;
                // The poll saw the peer's end or an error.
                let mut end_seen = false;
                if outcome.is_ok() && !finished.get() && !died.get() {
                    // Without the clock (only a lone reader waits so) the
                    // bound is the slice: the usual lone wait is one
                    // `epoll_wait` on the poll's instance with a constant
                    // bound, without mio's event list (see
                    // `xs_transport::epoll`).
                    let result = match now {
                        None => wait_one_slice(poll, events),
                        Some(now) => {
                            let timeout = if lone {
                                Some(lone_bound(wake_at, Some(now)))
                            } else {
                                wake_at.map(|at| at.saturating_duration_since(now))
                            };
                            poll.poll(events, timeout).map(|()| end_or_error(events))
                        }
                    };
                    // Unregistered, only the waker or the time woke us.
                    polled = match result {
                        Ok(end) => {
                            end_seen = end;
                            *registered
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => false,
                        Err(e) => {
                            self.fail(Error::disconnected(format!("poll failed: {e}")));
                            return (self.shared.lock(), false);
                        }
                    };
                }
                if polled {
                    // A lone reader stops at a short read once its frame is
                    // in: the read that would find the socket empty is a
                    // system call per request. Not when the poll saw the
                    // peer's end (no edge would announce it again) or a
                    // reconnection could follow it: an end that came with
                    // the reply is otherwise found by the next write, or the
                    // next poll.
                    let stop_early = lone && self.reconnect.is_none() && !end_seen;
                    outcome = if stop_early {
                        receiver.recv_until(dispatch, || finished.get())
                    } else {
                        receiver.recv(dispatch)
                    }
                    .map_err(Box::new);
                }
                (outcome, polled)
            };
            if timed && waited && finished.get() && outcome.is_ok() {
                if let Some(start) = start {
                    policy.record(wait, start, Instant::now());
                }
            }
            if output.get() {
                self.flush_queued();
            }
            match outcome.map_err(|e| receive_error(*e)) {
                Ok(()) if finished.get() => return (self.shared.lock(), true),
                Ok(()) => {}
                Err(Ok(lost)) => self.lost(lost),
                Err(Err(fatal)) => self.fail(fatal),
            }
        }
    }

    /// The rest of a frame's dispatch when the core named sleepers to wake
    /// or the connection died: wakes them after letting go of the lock.
    #[cold]
    #[inline(never)]
    fn after_frame(
        &self,
        mut st: MutexGuard<'_, Shared>,
        woken: &std::cell::RefCell<Vec<Signal>>,
        died: &std::cell::Cell<bool>,
    ) {
        let mut woken = woken.borrow_mut();
        if st.core.has_woken() {
            take_woken_sleepers(&mut st, &mut woken);
        }
        let dead = st.core.is_dead();
        drop(st);
        notify(&woken);
        woken.clear();
        if dead {
            died.set(true);
            self.wake_all_sleepers();
        }
    }

    fn wake_all_sleepers(&self) {
        notify(&self.shared.lock().sleepers);
        self.background_signal.notify_all();
    }

    /// Declares the connection dead and wakes everyone.
    fn fail(&self, err: Error) {
        let mut st = self.shared.lock();
        st.core.fail(err);
        self.wake_everyone(&mut st);
    }

    /// The connection broke: replace it if asked to (callers wait), else
    /// declare it dead.
    fn lost(&self, err: Error) {
        let Some((_, policy)) = &self.reconnect else {
            return self.fail(err);
        };
        let mut st = self.shared.lock();
        if st.shutdown || st.core.is_dead() || st.retry.is_some() {
            return;
        }
        let (made_by, heard) = (st.made_by.take(), st.core.heard());
        st.retry = Some(Attempts::after_loss(
            *policy,
            Instant::now(),
            made_by,
            heard,
        ));
        st.core.connection_lost(err);
        // Whoever reads (or becomes the reader) makes the new connection.
        self.wake_everyone(&mut st);
        drop(st);
        self.wake_reader();
    }

    /// One attempt to replace the lost connection (the reader's job): on
    /// success the new fds replace the old, the core re-registers watches
    /// and sends what waited; on failure the next attempt is scheduled, or
    /// everyone is failed once the policy gives up.
    fn try_reconnect(&self, io: &mut ReaderIo) {
        let Some((endpoint, _)) = &self.reconnect else {
            return;
        };
        let attempt = endpoint
            .connect()
            .map_err(|e| e.to_string())
            .and_then(|conn| conn.split().map_err(|e| e.to_string()))
            .and_then(|(mut rx, tx)| {
                io.poll
                    .registry()
                    .register(&mut rx, SOCKET, Interest::READABLE)
                    .map(|()| (rx, tx))
                    .map_err(|e| e.to_string())
            });
        match attempt {
            Ok((rx, tx)) => {
                io.receiver = rx;
                io.registered = true;
                let mut w = self.writer.lock();
                w.sender = tx;
                w.bytes.clear();
                {
                    let mut st = self.shared.lock();
                    st.made_by = st.retry.take();
                    st.core.reconnected();
                    st.core.take_transmit(&mut w.bytes);
                    self.wake_everyone(&mut st);
                }
                let _ = self.write(&mut w);
            }
            Err(why) => {
                let mut st = self.shared.lock();
                let Some(retry) = st.retry.as_mut() else {
                    return;
                };
                if !retry.failed(Instant::now()) {
                    let err = retry.gave_up(&self.peer, &why);
                    drop(st);
                    self.fail(err);
                }
            }
        }
    }

    /// Starts the background reader if watches exist and it is not running.
    fn ensure_background(self: &Arc<Self>) {
        let mut st = self.shared.lock();
        if st.background.is_some() || st.shutdown {
            return;
        }
        let me = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("xs-router".into())
            .spawn(move || me.background_loop());
        if let Ok(handle) = spawned {
            st.background = Some(handle);
        }
        // If the thread cannot start, monitors still read for themselves
        // while they wait; events are only drained later.
    }

    /// Reads while watches exist and no caller reads: after a caller let
    /// go of the reader role, only once [`BACKGROUND_GRACE`] passed with no
    /// caller taking it again. It lets go as soon as a caller waits.
    fn background_loop(self: Arc<Self>) {
        // Not a count `caller_reads` can hold now: the first look waits.
        let mut seen = None;
        loop {
            let mut st = self.shared.lock();
            loop {
                if st.shutdown || st.core.is_dead() {
                    return;
                }
                // A caller that held the role through a whole grace period
                // may hold it for as long as it likes (a monitor's wait,
                // for hours): no timer then, but a wake-up when it lets go.
                // Callers that keep taking it again are only looked at.
                let until = if st.core.registration_count() == 0 {
                    Some(BackgroundSleep::UntilWatch)
                } else if st.reader_active && seen == Some(st.caller_reads) {
                    Some(BackgroundSleep::UntilRelease)
                } else {
                    None
                };
                if let Some(until) = until {
                    st.background_sleeps = until;
                    self.background_signal.wait(&mut st);
                    st.background_sleeps = BackgroundSleep::Timed;
                    st.background_wakes += 1;
                    // Whoever let go may come back: a grace period first.
                    seen = None;
                    continue;
                }
                if !st.reader_active && seen == Some(st.caller_reads) {
                    break;
                }
                seen = Some(st.caller_reads);
                self.background_signal.wait_for(&mut st, BACKGROUND_GRACE);
                st.background_wakes += 1;
            }
            st.reader_active = true;
            let done = |st: &Shared| st.core.registration_count() == 0 || !st.sleepers.is_empty();
            let (mut st, _) = self.read_until(st, &done, None);
            self.release_reader(&mut st);
            seen = None;
        }
    }

    /// Wakes the reader out of its poll (e.g. after the last unwatch).
    fn wake_reader(&self) {
        let _ = self.waker.wake();
    }

    /// This thread's condition variable for this router, made once and
    /// reused by every call (a thread waits for one call at a time).
    /// Keyed by the router's unique id, so a condition variable is never
    /// shared between two routers' mutexes. Once the thread's locals are
    /// gone (a C program's atexit handler: xl frees its handle there), each
    /// call gets a fresh one.
    fn thread_signal(&self) -> Signal {
        thread_local! {
            static SIGNAL: std::cell::RefCell<Option<(u64, Signal)>> = const { std::cell::RefCell::new(None) };
        }
        let cached = SIGNAL.try_with(|cell| {
            let mut cached = cell.borrow_mut();
            match &*cached {
                Some((id, signal)) if *id == self.id => signal.clone(),
                _ => {
                    let signal = Arc::new(Condvar::new());
                    *cached = Some((self.id, signal.clone()));
                    signal
                }
            }
        });
        cached.unwrap_or_else(|_| Arc::new(Condvar::new()))
    }
}

/// Writes a byte into the pipe of each woken monitor that has one (a full
/// pipe is readable already: nothing is lost).
fn ring(pipes: &[(Signal, std::os::unix::net::UnixStream)], woken: &[Signal]) {
    use std::io::Write;
    for (signal, pipe) in pipes {
        if woken.iter().any(|w| Arc::ptr_eq(w, signal)) {
            let _ = (&*pipe).write(&[1]);
        }
    }
}

/// Moves the waiters the core named into `out`, rings the pipes of the
/// monitors among them, and keeps in `out` only those asleep: only they
/// need a (system call) wake-up; the reader itself, and anyone not asleep
/// yet, re-check under the lock.
fn take_woken_sleepers(st: &mut Shared, out: &mut Vec<Signal>) {
    st.core.take_woken(out);
    ring(&st.pipes, out);
    if st.sleepers.is_empty() {
        out.clear();
    } else {
        out.retain(|s| st.sleepers.iter().any(|z| Arc::ptr_eq(z, s)));
    }
}

/// How long a lone reader waits at most, from `now`: until `wake_at` if
/// that comes within [`LONE_WAIT_SLICE`], else the slice (comparing
/// instants is cheaper than subtracting them, and the far deadline is the
/// usual case). Without `now` (a wait the core allowed without the clock,
/// see [`Core::may_wait_unclocked`]), the slice.
#[inline]
fn lone_bound(wake_at: Option<Instant>, now: Option<Instant>) -> Duration {
    match (wake_at, now) {
        (Some(at), Some(now)) if now.checked_add(LONE_WAIT_SLICE).is_none_or(|s| at < s) => {
            at.saturating_duration_since(now)
        }
        _ => LONE_WAIT_SLICE,
    }
}

/// What the reader's frame handler saw in a round of reads.
#[derive(Default)]
struct RoundFlags {
    /// The core has output to write (a reply freed the device's wire).
    output: std::cell::Cell<bool>,
    /// `done` as seen after the last frame: no second look needed.
    finished: std::cell::Cell<bool>,
    /// The connection died in a dispatch: nothing more to wait for.
    died: std::cell::Cell<bool>,
}

/// A lone reader's wait of one [`LONE_WAIT_SLICE`] for readiness; whether
/// it saw the peer's end or an error. On Linux, one `epoll_wait` on the
/// poll's instance, without mio's event list (about 20 instructions per
/// round trip less; see [`xs_transport::epoll`]).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
fn wait_one_slice(poll: &mut Poll, _events: &mut Events) -> std::io::Result<bool> {
    use std::os::fd::AsFd;
    xs_transport::epoll::wait(poll.registry().as_fd(), Some(LONE_WAIT_SLICE))
        .map(|seen| seen.end_or_error)
}

/// A lone reader's wait of one [`LONE_WAIT_SLICE`] for readiness; whether
/// it saw the peer's end or an error.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[inline(always)]
fn wait_one_slice(poll: &mut Poll, events: &mut Events) -> std::io::Result<bool> {
    poll.poll(events, Some(LONE_WAIT_SLICE))
        .map(|()| end_or_error(events))
}

/// Whether a poll's events include the peer's end or an error.
fn end_or_error(events: &Events) -> bool {
    events.iter().any(|e| e.is_read_closed() || e.is_error())
}

/// Pins the signature of the reader's frame handler (higher-ranked in the
/// frame's lifetime). A closure passed here may carry `#[inline(always)]`
/// (attributes on closures are stable in argument position): the handler
/// then sits in the transport's read loops, where as an out-of-line call
/// it cost about 30 instructions per READ (its captures gathered, a call
/// frame, the frame passed through memory). It captures only shared
/// references (cells), so it is `Copy` and each read takes it by value.
fn frame_handler<F: Fn(xs_wire::Frame<'_>) + Copy>(f: F) -> F {
    f
}

fn earliest_instant(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod device_tests;

#[cfg(test)]
#[path = "router_background_tests.rs"]
mod background_tests;

#[cfg(test)]
#[path = "router_wait_tests.rs"]
mod wait_tests;
