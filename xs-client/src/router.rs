//! The router: one connection shared by every thread, transaction and
//! monitor of a client, with requests pipelined and matched by request id.
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
//! inline, exactly like libxenstore.
//!
//! Watch events must be drained even when nobody is waiting (a monitor's
//! bounded queue reports overflow instead of the socket backing up), so while
//! at least one watch is registered a background thread takes the reader
//! role whenever it is free, much as libxenstore starts its reader thread at
//! the first watch. The thread is started at the first watch and joined when
//! the last handle to the router is dropped.
//!
//! # Failure
//!
//! Any read or write error, or a frame the [`Protocol`] rejects, declares
//! the connection dead: every pending caller and every monitor is woken with
//! the error, later calls fail at once, and the background thread exits.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use xs_transport::{Connection, FrameReceiver, FrameSender, TransportKind};
use xs_wire::{Ids, Path, Request, FRAME_MAX};

use crate::protocol::{Cleanup, MonitorId, Protocol, Response};
use crate::Error;

static NEXT_ROUTER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

const SOCKET: Token = Token(0);
const WAKE: Token = Token(1);

type Signal = Arc<Condvar>;

/// State shared under one lock.
pub(crate) struct Shared {
    proto: Protocol<Signal>,
    /// Someone holds the reader role.
    reader_active: bool,
    /// Threads sleeping until a reply, an event or the reader role is free.
    sleepers: Vec<Signal>,
    shutdown: bool,
    background: Option<JoinHandle<()>>,
    /// On the xenbus device only: one request on the wire at a time.
    device: Option<DeviceGate>,
}

/// The Linux xenbus device keeps a pointer to a request's body in the open
/// file's single write buffer and copies it to the ring later, from its
/// xenbus thread; a second `write()` before that overwrites the first
/// request's body (seen on Linux 6.1: the first request reaches xenstored
/// with the second one's path). So on the device a frame is written only
/// when the previous one has been answered; later frames wait here and the
/// reader writes the next one as each reply comes in.
#[derive(Default)]
struct DeviceGate {
    /// The request written and not yet answered.
    busy: Option<u32>,
    /// Frames waiting for their turn, with their request ids.
    queue: std::collections::VecDeque<(u32, Vec<u8>)>,
}

/// What only the reader touches.
struct ReaderIo {
    receiver: FrameReceiver,
    poll: Poll,
    events: Events,
    /// Scratch list of waiters to wake, reused for every frame.
    woken: Vec<Signal>,
}

pub(crate) struct Inner {
    /// Unique for the life of the process.
    id: u64,
    shared: Mutex<Shared>,
    background_signal: Signal,
    reader: Mutex<ReaderIo>,
    writer: Mutex<FrameSender>,
    waker: Waker,
    kind: TransportKind,
    max_payload: usize,
    peer: String,
    timeout: Option<Duration>,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves consistent state here; go on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn transport_error(e: xs_transport::TransportError) -> Error {
    Error::Disconnected {
        reason: e.to_string().into(),
    }
}

/// An error from reading the socket. A frame the transport refuses to
/// decode (a header announcing more than 4096 bytes) is the daemon
/// breaking the protocol, not the connection going away: report it as
/// [`Error::UnexpectedPacket`], like every other frame the client cannot
/// accept. EOF, a frame cut short and I/O errors stay `Disconnected`.
fn receive_error(e: xs_transport::TransportError) -> Error {
    match e {
        xs_transport::TransportError::Protocol(wire) => {
            Error::UnexpectedPacket(format!("undecodable frame from xenstored: {wire}").into())
        }
        other => transport_error(other),
    }
}

impl Router {
    /// Takes ownership of a connection.
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
        Router::with_timeout(conn, None)
    }

    /// Takes ownership of a connection; every wait for a reply gives up
    /// after `timeout` (`None`: wait forever).
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
        let kind = conn.kind();
        let max_payload = conn.max_payload();
        let peer = conn.peer().to_owned();
        let (mut receiver, sender) = conn.split().map_err(transport_error)?;
        let io_err = |e: std::io::Error| Error::Disconnected {
            reason: format!("cannot set up polling: {e}").into(),
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
                    proto: Protocol::new(),
                    reader_active: false,
                    sleepers: Vec::new(),
                    shutdown: false,
                    background: None,
                    device: (kind == TransportKind::Xenbus).then(DeviceGate::default),
                }),
                background_signal: Arc::new(Condvar::new()),
                reader: Mutex::new(ReaderIo {
                    receiver,
                    poll,
                    events: Events::with_capacity(16),
                    woken: Vec::new(),
                }),
                writer: Mutex::new(sender),
                waker,
                kind,
                max_payload,
                peer,
                timeout,
            }),
        })
    }

    /// Socket or xenbus device.
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Router, TransportKind};
    /// use xs_transport::Connection;
    ///
    /// let router = Router::new(Connection::unix(_xs.socket_path())?)?;
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
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Router, TransportKind};
    /// use xs_transport::Connection;
    ///
    /// let router = Router::new(Connection::unix(_xs.socket_path())?)?;
    /// assert_eq!(router.max_payload(), 4096); // 4080 over /dev/xen/xenbus
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_payload(&self) -> usize {
        self.inner.max_payload
    }

    /// What the connection is to (its path).
    ///
    /// ```
    /// # let _xs = xs_server::Server::spawn_temp();
    /// # std::env::set_var("XENSTORED_PATH", _xs.socket_path());
    /// use xs_client::{Router, TransportKind};
    /// use xs_transport::Connection;
    ///
    /// let router = Router::new(Connection::unix(_xs.socket_path())?)?;
    /// assert!(router.peer().ends_with("socket"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peer(&self) -> &str {
        &self.inner.peer
    }

    /// Whether the connection is still usable.
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
        !lock(&self.inner.shared).proto.is_dead()
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let background = {
            let mut st = lock(&self.inner.shared);
            st.shutdown = true;
            let woken = st.proto.fail(Error::Disconnected {
                reason: "client closed".into(),
            });
            notify(&woken);
            notify(&st.sleepers);
            st.background.take()
        };
        self.inner.background_signal.notify_all();
        let _ = self.inner.waker.wake();
        if let Some(handle) = background {
            let _ = handle.join();
        }
    }
}

fn notify(signals: &[Signal]) {
    for s in signals {
        s.notify_all();
    }
}

/// A request that has been sent and not yet collected.
pub(crate) struct Ticket {
    req_id: u32,
    signal: Signal,
}

impl Inner {
    /// Encodes and sends `req`; the reply is collected with [`Inner::wait`].
    /// The request is checked (paths, sizes, transaction rules) before
    /// anything is written.
    pub(crate) fn submit(
        &self,
        req: &Request<'_>,
        tx_id: u32,
        signal: &Signal,
    ) -> Result<Ticket, Error> {
        thread_local! {
            // A frame buffer per thread: zeroing 4 KiB for every request
            // cost more than the rest of the client's work put together.
            static FRAME: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; FRAME_MAX]);
        }
        FRAME.with(|frame| self.submit_in(req, tx_id, signal, &mut frame.borrow_mut()))
    }

    fn submit_in(
        &self,
        req: &Request<'_>,
        tx_id: u32,
        signal: &Signal,
        buf: &mut [u8],
    ) -> Result<Ticket, Error> {
        // Validate with a dummy id so nothing is registered for a bad request.
        let len = req.encode_with_limit(Ids::in_transaction(0, tx_id), self.max_payload, buf)?;
        let req_id = {
            let mut st = lock(&self.shared);
            let req_id = st.proto.register(req.op(), tx_id, signal.clone())?;
            if let Request::Watch { path, token, .. } = req {
                st.proto.note_watch(req_id, path.as_str(), token);
            }
            req_id
        };
        buf[4..8].copy_from_slice(&req_id.to_ne_bytes());
        let sent = {
            let mut writer = lock(&self.writer);
            // The connection may have died while this thread waited for
            // the writer (e.g. the holder's write timed out against a daemon
            // that stopped reading): fail now instead of queueing behind a
            // half-written frame and waiting a whole timeout of our own.
            // Lock order writer -> shared; nothing takes them the other way.
            let dead = {
                let mut st = lock(&self.shared);
                st.proto.is_dead().then(|| {
                    st.proto.unregister(req_id);
                    st.proto.dead_error()
                })
            };
            if let Some(err) = dead {
                return Err(err);
            }
            if self.take_device_turn(req_id, &buf[..len]) {
                xs_transport::blocking::send_all(&mut *writer, &buf[..len], self.timeout)
            } else {
                Ok(())
            }
        };
        if let Err(e) = sent {
            let err = transport_error(e);
            let mut st = lock(&self.shared);
            st.proto.unregister(req_id);
            let woken = st.proto.fail(err.duplicate());
            notify(&woken);
            notify(&st.sleepers);
            return Err(err);
        }
        Ok(Ticket {
            req_id,
            signal: signal.clone(),
        })
    }

    /// Sends several requests in one write (sockets only; the device takes
    /// one at a time, so there this is [`Inner::submit`] in a loop). Returns
    /// a result per request, in order; a request refused before sending
    /// gets its own error and the others still go.
    pub(crate) fn submit_window(
        &self,
        reqs: &[Request<'_>],
        tx_id: u32,
        signal: &Signal,
    ) -> Vec<Result<Ticket, Error>> {
        if self.kind == TransportKind::Xenbus {
            return reqs.iter().map(|r| self.submit(r, tx_id, signal)).collect();
        }
        let mut frames = Vec::new();
        // (index in reqs, offset of its frame) for the requests that encode.
        let mut placed = Vec::with_capacity(reqs.len());
        let mut results: Vec<Option<Result<Ticket, Error>>> =
            (0..reqs.len()).map(|_| None).collect();
        let mut buf = [0u8; FRAME_MAX];
        for (i, req) in reqs.iter().enumerate() {
            match req.encode_with_limit(Ids::in_transaction(0, tx_id), self.max_payload, &mut buf) {
                Ok(len) => {
                    placed.push((i, frames.len()));
                    frames.extend_from_slice(&buf[..len]);
                }
                Err(e) => results[i] = Some(Err(e.into())),
            }
        }
        let mut ids = Vec::with_capacity(placed.len());
        {
            let mut st = lock(&self.shared);
            for &(i, at) in &placed {
                match st.proto.register(reqs[i].op(), tx_id, signal.clone()) {
                    Ok(req_id) => {
                        if let Request::Watch { path, token, .. } = &reqs[i] {
                            st.proto.note_watch(req_id, path.as_str(), token);
                        }
                        frames[at + 4..at + 8].copy_from_slice(&req_id.to_ne_bytes());
                        ids.push((i, req_id));
                    }
                    Err(e) => results[i] = Some(Err(e)),
                }
            }
        }
        if ids.len() < placed.len() {
            // Registration failed (the connection died): send nothing.
            let mut st = lock(&self.shared);
            for &(i, req_id) in &ids {
                st.proto.unregister(req_id);
                results[i] = Some(Err(st.proto.dead_error()));
            }
        } else if !ids.is_empty() {
            let sent = {
                let mut writer = lock(&self.writer);
                let dead = lock(&self.shared).proto.is_dead();
                if dead {
                    Err(None)
                } else {
                    writer.send_frames(&frames, self.timeout).map_err(Some)
                }
            };
            match sent {
                Ok(()) => {
                    for (i, req_id) in ids {
                        results[i] = Some(Ok(Ticket {
                            req_id,
                            signal: signal.clone(),
                        }));
                    }
                }
                Err(e) => {
                    let mut st = lock(&self.shared);
                    for &(_, req_id) in &ids {
                        st.proto.unregister(req_id);
                    }
                    if let Some(e) = e {
                        let woken = st.proto.fail(transport_error(e));
                        notify(&woken);
                        notify(&st.sleepers);
                    }
                    for (i, _) in ids {
                        results[i] = Some(Err(st.proto.dead_error()));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::Disconnected {
                        reason: "not sent".into(),
                    })
                })
            })
            .collect()
    }

    /// On the device, claims the wire for `req_id` if no request is
    /// unanswered (true: write the frame now), else queues a copy of the
    /// frame (false). Always true on a socket. Called with the writer lock
    /// held, so frames keep their order.
    fn take_device_turn(&self, req_id: u32, frame: &[u8]) -> bool {
        let mut st = lock(&self.shared);
        match st.device.as_mut() {
            None => true,
            Some(gate) if gate.busy.is_none() && gate.queue.is_empty() => {
                gate.busy = Some(req_id);
                true
            }
            Some(gate) => {
                gate.queue.push_back((req_id, frame.to_vec()));
                false
            }
        }
    }

    /// On the device, after a reply to the request holding the wire: frees
    /// the wire and returns the next queued frame, now holding it, for the
    /// caller to write once the lock is released.
    fn next_device_frame(st: &mut Shared, header: &xs_wire::Header) -> Option<Vec<u8>> {
        let dead = st.proto.is_dead();
        let gate = st.device.as_mut()?;
        // One request is on the wire at a time, so any reply answers it,
        // whatever its req_id says: the device answers WATCH with req_id 0
        // (a known kernel bug), which must free the wire too.
        if header.op == xs_wire::Op::WatchEvent || gate.busy.is_none() {
            return None;
        }
        gate.busy = None;
        if dead {
            gate.queue.clear();
            return None;
        }
        let (req_id, frame) = gate.queue.pop_front()?;
        gate.busy = Some(req_id);
        Some(frame)
    }

    /// Writes a frame that waited for its turn on the device; a failure
    /// kills the connection like any other write error.
    fn write_queued(&self, frame: &[u8]) {
        let sent = xs_transport::blocking::send_all(&mut *lock(&self.writer), frame, self.timeout);
        if let Err(e) = sent {
            self.fail(transport_error(e));
        }
    }

    /// Waits for a submitted request's reply, reading the socket itself when
    /// nobody else is.
    pub(crate) fn wait(&self, ticket: Ticket) -> Result<Response, Error> {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let req_id = ticket.req_id;
        let result = self.wait_until(&ticket.signal, deadline, |st| st.proto.is_ready(req_id));
        let mut st = lock(&self.shared);
        match result {
            Err(e) => {
                st.proto.abandon(req_id);
                let cleanups = st.proto.take_cleanups();
                drop(st);
                self.send_cleanups(cleanups);
                Err(e)
            }
            Ok(()) => st
                .proto
                .take(req_id)
                .unwrap_or_else(|| Err(st.proto.dead_error())),
        }
    }

    /// Sends `req` and waits for its reply.
    pub(crate) fn call(&self, req: &Request<'_>, tx_id: u32) -> Result<Response, Error> {
        let signal = self.thread_signal();
        let ticket = self.submit(req, tx_id, &signal)?;
        self.wait(ticket)
    }

    /// This thread's condition variable for this router, made once and
    /// reused by every call (a thread waits for one call at a time).
    /// Keyed by the router's unique id, so a condition variable is never
    /// shared between two routers' mutexes.
    pub(crate) fn thread_signal(&self) -> Signal {
        thread_local! {
            static SIGNAL: std::cell::RefCell<Option<(u64, Signal)>> = const { std::cell::RefCell::new(None) };
        }
        SIGNAL.with(|cell| {
            let mut cached = cell.borrow_mut();
            match &*cached {
                Some((id, signal)) if *id == self.id => signal.clone(),
                _ => {
                    let signal = Arc::new(Condvar::new());
                    *cached = Some((self.id, signal.clone()));
                    signal
                }
            }
        })
    }

    /// Blocks until `ready` holds (checked under the lock), taking the
    /// reader role whenever it is free. `Err(Timeout)` at the deadline.
    pub(crate) fn wait_until(
        &self,
        signal: &Signal,
        deadline: Option<Instant>,
        ready: impl Fn(&Shared) -> bool,
    ) -> Result<(), Error> {
        let mut st = lock(&self.shared);
        loop {
            if ready(&st) || st.proto.is_dead() {
                return Ok(());
            }
            let remaining = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(r) if !r.is_zero() => Some(r),
                    _ => return Err(Error::Timeout(self.timeout.unwrap_or_default())),
                },
                None => None,
            };
            if !st.reader_active {
                st.reader_active = true;
                drop(st);
                self.read_until(&ready, deadline);
                st = lock(&self.shared);
                self.release_reader(&mut st);
                continue;
            }
            st.sleepers.push(signal.clone());
            st = match remaining {
                Some(r) => signal
                    .wait_timeout(st, r)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0),
                None => signal.wait(st).unwrap_or_else(|e| e.into_inner()),
            };
            if let Some(i) = st.sleepers.iter().position(|s| Arc::ptr_eq(s, signal)) {
                st.sleepers.swap_remove(i);
            }
        }
    }

    fn release_reader(&self, st: &mut Shared) {
        st.reader_active = false;
        notify(&st.sleepers);
        if st.background.is_some() {
            self.background_signal.notify_all();
        }
    }

    /// The reader's loop: poll, drain, dispatch, until `done` or the
    /// deadline, shutdown or death.
    fn read_until(&self, done: &impl Fn(&Shared) -> bool, deadline: Option<Instant>) {
        let mut io = lock(&self.reader);
        let ReaderIo {
            receiver,
            poll,
            events,
            woken,
        } = &mut *io;
        loop {
            let (cleanups, stop) = {
                let mut st = lock(&self.shared);
                let stop = done(&st) || st.proto.is_dead() || st.shutdown;
                (st.proto.take_cleanups(), stop)
            };
            self.send_cleanups(cleanups);
            if stop {
                return;
            }
            let timeout = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(r) => Some(r),
                    None => return,
                },
                None => None,
            };
            if let Err(e) = poll.poll(events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                self.fail(Error::Disconnected {
                    reason: format!("poll failed: {e}").into(),
                });
                return;
            }
            // The lock is taken per frame, not for the whole drain: a peer
            // flooding events must not stall other threads' requests.
            let outcome = receiver.recv(|frame| {
                woken.clear();
                let mut st = lock(&self.shared);
                if !st.proto.is_dead() {
                    // A rejected frame kills the connection inside
                    // `handle_frame`, waking every waiter.
                    let _ = st
                        .proto
                        .handle_frame(&frame, &mut |s: &Signal| woken.push(s.clone()));
                }
                let next = Self::next_device_frame(&mut st, &frame.header);
                // Only sleeping threads need a (system call) wake-up: the
                // reader itself, and anyone not asleep yet, re-check under
                // this lock before sleeping.
                woken.retain(|s| st.sleepers.iter().any(|z| Arc::ptr_eq(z, s)));
                drop(st);
                notify(woken);
                if let Some(frame) = next {
                    self.write_queued(&frame);
                }
            });
            if let Err(e) = outcome {
                self.fail(receive_error(e));
            }
            let st = lock(&self.shared);
            if st.proto.is_dead() {
                notify(&st.sleepers);
                self.background_signal.notify_all();
            }
        }
    }

    /// Sends whatever undoing requests late replies have made necessary
    /// (see [`Protocol::take_cleanups`]).
    pub(crate) fn run_cleanups(&self) {
        let cleanups = lock(&self.shared).proto.take_cleanups();
        self.send_cleanups(cleanups);
    }

    /// Sends each cleanup request without waiting for its answer (it is
    /// abandoned at once, so the answer is dropped when it comes). Best
    /// effort: on a dead connection there is nothing left to undo.
    fn send_cleanups(&self, cleanups: Vec<Cleanup>) {
        for cleanup in cleanups {
            let (req, tx_id) = match &cleanup {
                Cleanup::EndTransaction(id) => (Request::TransactionEnd { commit: false }, *id),
                Cleanup::Unwatch { path, token } => match Path::new(path) {
                    Ok(path) => (Request::Unwatch { path, token }, 0),
                    Err(_) => continue,
                },
            };
            let signal = Arc::new(Condvar::new());
            if let Ok(ticket) = self.submit(&req, tx_id, &signal) {
                lock(&self.shared).proto.abandon(ticket.req_id);
            }
        }
    }

    /// Declares the connection dead and wakes everyone.
    pub(crate) fn fail(&self, err: Error) {
        let mut st = lock(&self.shared);
        let woken = st.proto.fail(err);
        notify(&woken);
        notify(&st.sleepers);
        self.background_signal.notify_all();
    }

    /// Runs `f` on the protocol state under the lock.
    pub(crate) fn with_proto<T>(&self, f: impl FnOnce(&mut Protocol<Signal>) -> T) -> T {
        f(&mut lock(&self.shared).proto)
    }

    /// Starts the background reader if watches exist and it is not running.
    pub(crate) fn ensure_background(self: &Arc<Self>) {
        let mut st = lock(&self.shared);
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

    fn background_loop(self: Arc<Self>) {
        loop {
            let mut st = lock(&self.shared);
            loop {
                if st.shutdown || st.proto.is_dead() {
                    return;
                }
                if st.proto.registration_count() > 0 && !st.reader_active {
                    break;
                }
                st = self
                    .background_signal
                    .wait(st)
                    .unwrap_or_else(|e| e.into_inner());
            }
            st.reader_active = true;
            drop(st);
            self.read_until(&|st: &Shared| st.proto.registration_count() == 0, None);
            let mut st = lock(&self.shared);
            self.release_reader(&mut st);
        }
    }

    /// Wakes the reader out of its poll (e.g. after the last unwatch).
    pub(crate) fn wake_reader(&self) {
        let _ = self.waker.wake();
    }

    /// Registers a monitor.
    pub(crate) fn add_monitor(
        &self,
        capacity: usize,
        keep_unwatched: bool,
        signal: Signal,
    ) -> MonitorId {
        lock(&self.shared)
            .proto
            .add_monitor(capacity, keep_unwatched, signal)
    }
}

impl Shared {
    pub(crate) fn proto(&self) -> &Protocol<Signal> {
        &self.proto
    }
}

#[cfg(test)]
mod device_tests {
    use std::io::{ErrorKind, Read, Write};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use xs_transport::Connection;
    use xs_wire::{decode, Header, Op, Status};

    use crate::{Client, Router, Store};

    /// A stand-in for the xenbus device (one end of a socket pair, with the
    /// device's rules): answers each READ with the path it named, after
    /// checking that nothing else was written while it was unanswered.
    /// Returns (frames answered, frames that arrived too early).
    fn one_at_a_time_daemon(mut s: UnixStream) -> (usize, usize) {
        let (mut answered, mut early) = (0, 0);
        let mut buf = Vec::new();
        loop {
            let (header, payload) = loop {
                if let Ok(Status::Complete((f, used))) = decode(&buf) {
                    let item = (f.header, f.payload.to_vec());
                    buf.drain(..used);
                    break item;
                }
                let mut chunk = [0u8; 8192];
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => return (answered, early),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            // Give a pipelining client time to write more, then look.
            std::thread::sleep(Duration::from_millis(1));
            s.set_nonblocking(true).unwrap();
            let mut chunk = [0u8; 8192];
            match s.read(&mut chunk) {
                Ok(n) if n > 0 => {
                    early += 1;
                    buf.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() != ErrorKind::WouldBlock => return (answered, early),
                _ => {}
            }
            if !buf.is_empty() {
                early += 1;
            }
            s.set_nonblocking(false).unwrap();
            assert_eq!(header.op, Op::Read);
            let value = &payload[..payload.len() - 1];
            let reply = Header {
                len: value.len() as u32,
                ..header
            };
            let mut frame = reply.to_bytes().to_vec();
            frame.extend_from_slice(value);
            if s.write_all(&frame).is_err() {
                return (answered, early);
            }
            answered += 1;
        }
    }

    /// Pipelined batches from several threads reach the device one request
    /// at a time, and every reply still goes to its own caller.
    #[test]
    fn the_device_gets_one_request_at_a_time() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let daemon = std::thread::spawn(move || one_at_a_time_daemon(theirs));
        let conn = Connection::from_xenbus_fd(ours.into()).unwrap();
        let client = Client::with_router(Router::new(conn).unwrap());
        std::thread::scope(|scope| {
            for t in 0..4 {
                let c = client.clone();
                scope.spawn(move || {
                    let paths: Vec<String> = (0..20).map(|i| format!("/t{t}/n{i}")).collect();
                    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
                    for (p, r) in refs.iter().zip(c.read_many(&refs)) {
                        assert_eq!(r.unwrap(), p.as_bytes());
                    }
                    for p in &refs[..5] {
                        assert_eq!(c.read(p).unwrap(), p.as_bytes());
                    }
                });
            }
        });
        drop(client);
        let (answered, early) = daemon.join().unwrap();
        assert_eq!(answered, 100);
        assert_eq!(early, 0, "frames written while another was unanswered");
    }

    /// The device answers WATCH with req_id 0 (a kernel bug), sometimes after
    /// the initial event. That reply must free the wire for the next request.
    #[test]
    fn a_watch_reply_with_req_id_zero_frees_the_device() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let daemon = std::thread::spawn(move || {
            let mut writer = theirs.try_clone().unwrap();
            let mut theirs = theirs;
            let mut buf = Vec::new();
            let mut next = || loop {
                if let Ok(Status::Complete((f, used))) = decode(&buf) {
                    let item = (f.header, f.payload.to_vec());
                    buf.drain(..used);
                    return Some(item);
                }
                let mut chunk = [0u8; 4096];
                match theirs.read(&mut chunk) {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let frame = |h: Header, p: &[u8]| {
                let mut f = Header {
                    len: p.len() as u32,
                    ..h
                }
                .to_bytes()
                .to_vec();
                f.extend_from_slice(p);
                f
            };
            let mut out = Vec::new();
            while let Some((h, payload)) = next() {
                out.clear();
                match h.op {
                    Op::Watch => {
                        // Initial event first, then OK with req_id 0.
                        let ev = Header {
                            op: Op::WatchEvent,
                            req_id: 0xdead,
                            tx_id: 0xbeef,
                            len: 0,
                        };
                        let mut body = payload.clone();
                        out.extend(frame(ev, &body));
                        body.clear();
                        out.extend(frame(Header { req_id: 0, ..h }, b"OK\0"));
                    }
                    Op::Read => out.extend(frame(h, b"v")),
                    _ => out.extend(frame(h, b"OK\0")),
                }
                if writer.write_all(&out).is_err() {
                    return;
                }
            }
        });
        let conn = Connection::from_xenbus_fd(ours.into()).unwrap();
        let router = Router::with_timeout(conn, Some(Duration::from_secs(2))).unwrap();
        let client = Client::with_router(router);
        let monitor = client.monitor();
        monitor.watch("/w", "tok").unwrap();
        assert_eq!(
            monitor
                .wait_timeout(Duration::from_secs(2))
                .unwrap()
                .unwrap()
                .path,
            "/w"
        );
        // This READ would wait forever behind a WATCH that never freed the wire.
        assert_eq!(client.read("/w").unwrap(), b"v");
        drop(monitor);
        drop(client);
        daemon.join().unwrap();
    }
}
