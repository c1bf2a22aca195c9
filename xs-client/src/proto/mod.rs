//! The client's protocol core: every wire decision, and no I/O.
//!
//! [`Core`] is a plain state machine in the manner of `quinn-proto`'s
//! `Connection`. It owns request ids and the encoding of requests into its
//! own outgoing buffer, reply matching and checking, watch registrations
//! (shared pairs, their counts, made-up initial events, when WATCH and
//! UNWATCH go on the wire), the bounded event queues, deadlines, the undoing
//! of what late replies created, and the transport-kind policy (on the
//! xenbus device, one request on the wire at a time). It never reads a
//! socket, starts a thread or looks at a clock: a driver feeds it and
//! drains it.
//!
//! * in: [`Core::submit`] (and [`Core::submit_raw`], [`Core::watch`],
//!   [`Core::unwatch`], [`Core::remove_monitor`]) queue requests;
//!   [`Core::handle_frame`] takes each frame read; [`Core::handle_timeout`]
//!   takes the time; [`Core::fail`] takes a transport failure;
//! * out: [`Core::poll_transmit`] / [`Core::advance_transmit`] give the
//!   bytes to write (or [`Core::take_transmit`] hands them over, to be
//!   written away from the core); [`Core::poll_reply`] and [`Core::poll_event`] give
//!   answers and events; [`Core::take_woken`] says whom to wake;
//!   [`Core::poll_timeout`] says when to call back.
//!
//! `W` is whatever wakes a caller: a condition variable for the threaded
//! driver, a `std::task::Waker` for the async ones, a number in tests.
//!
//! A driver's loop, in short: after anything that may queue output, write
//! what `poll_transmit` gives; when the fd is readable, feed every frame to
//! `handle_frame`; when `poll_timeout` passes, call `handle_timeout`; after
//! each of these, wake what `take_woken` names. Before blocking, pass the
//! time with `handle_timeout`, unless [`Core::may_wait_unclocked`] allows a
//! short wait without it (a lone caller's usual round trip).

mod id_table;
mod outbox;
mod requests;
mod response;
mod watches;

use std::time::{Duration, Instant};

use xs_transport::TransportKind;
use xs_wire::{Frame, Header, Ids, Op, Path, Reply, ReplyKind, Request, WatchEvent, HEADER_SIZE};

use crate::error::Refusal;
use crate::{Error, Event, Problem};

use outbox::Outbox;
pub use outbox::Outgoing;
pub use requests::Deadline;
use requests::{Entry, OnLoss, Requests, State, Submitted, Waiter, WatchOrigin};
pub use response::Response;
pub use watches::MonitorId;
use watches::{Pair, Watches, Wire};

/// Requests whose callers gave up are kept until their replies come (so
/// the replies are recognised); past this many the daemon is considered
/// unresponsive and the connection is declared dead.
pub const ABANDONED_MAX: usize = 4096;

/// The largest payload limit the outbox keeps room for at all times;
/// above it, room is made for each request's own payload.
const ROOM_MAX: usize = 64 * 1024;

/// The protocol state of one connection (see the module docs).
pub struct Core<W> {
    kind: TransportKind,
    max_payload: usize,
    timeout: Option<Duration>,
    /// 1/64 of `timeout`, in nanoseconds (`u64::MAX` without a timeout):
    /// how late a request's clock may start. One word, for
    /// [`Core::may_wait_unclocked`]'s one comparison (with a constant, as
    /// a driver's slice usually is; as `u128` it cost 5 to 7 instructions
    /// more per READ).
    slack_nanos: u64,
    requests: Requests<W>,
    outbox: Outbox,
    watches: Watches<W>,
    woken: Vec<W>,
    dead: Option<Error>,
    /// Keep what is needed to carry on over a new connection.
    resend: bool,
    /// The connection was lost and a new one is being made: why.
    lost: Option<Error>,
    /// Connections made so far, minus one.
    epoch: u64,
    /// No connection was made yet ([`Core::start_unconnected`]).
    unconnected: bool,
    /// A frame came on the current connection.
    heard: bool,
    /// What the daemon answered optional operations with: implemented
    /// (`true`) or `ENOSYS` (`false`), by op number.
    capabilities: [Option<bool>; 32],
}

/// The operations a daemon may lack (answering `ENOSYS`).
fn is_optional(op: Op) -> bool {
    matches!(
        op,
        Op::DirectoryPart | Op::GetFeature | Op::SetFeature | Op::GetQuota | Op::SetQuota
    )
}

/// `d` in nanoseconds, `u64::MAX` from 584 years on: a slice and a
/// timeout that long compare as equal (no driver waits a slice that long).
#[inline]
fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Keeps the frame of the request just queued (its newest `len` bytes)
/// in its entry `e` if it may be sent again over a new connection.
#[inline(always)]
fn keep_frame<W>(e: &mut Entry<W>, resend: bool, outbox: &Outbox, len: usize) {
    if resend && e.on_loss() == OnLoss::Resend {
        e.set_frame(Some(Box::from(outbox.newest(len))));
    }
}

/// The slot of `op` in `capabilities`.
fn slot(op: Op) -> Option<usize> {
    let n = op.to_u32();
    (n < 32).then_some(n as usize)
}

impl<W: Clone> Core<W> {
    /// A fresh connection's state: its transport kind (for the device's
    /// rules), the largest payload it may send, and the round-trip timeout
    /// every request gets (`None`: none), counted from the first
    /// [`Core::handle_timeout`] after it is queued.
    pub fn new(kind: TransportKind, max_payload: usize, timeout: Option<Duration>) -> Self {
        Core {
            kind,
            max_payload,
            timeout,
            slack_nanos: timeout.map_or(u64::MAX, |t| saturating_nanos(t / 64)),
            requests: Requests::new(),
            outbox: Outbox::new(kind),
            watches: Watches::new(),
            woken: Vec::new(),
            dead: None,
            resend: false,
            lost: None,
            epoch: 0,
            unconnected: false,
            heard: false,
            capabilities: [None; 32],
        }
    }

    /// Prepares for [`Core::connection_lost`]: read-only requests keep a
    /// copy of their frame to send again. Call before submitting anything.
    pub fn enable_reconnection(&mut self) {
        self.resend = true;
    }

    /// Whether the daemon implements `op` (an optional operation), as far
    /// as its answers on this connection tell; `None` if not asked yet.
    pub fn capability(&self, op: Op) -> Option<bool> {
        // GET and SET come and go together (the same daemon version).
        let twin = match op {
            Op::SetFeature => Op::GetFeature,
            Op::SetQuota => Op::GetQuota,
            other => other,
        };
        slot(op)
            .and_then(|i| self.capabilities[i])
            .or_else(|| slot(twin).and_then(|i| self.capabilities[i]))
    }

    /// How many times the connection was lost (and replaced, or being
    /// replaced).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether a frame (a reply or an event) came on the current
    /// connection: a connection closed before that is no better than one
    /// refused, for a driver's back-off.
    pub fn heard(&self) -> bool {
        self.heard
    }

    /// Whether the connection is lost and a new one awaited.
    pub fn is_reconnecting(&self) -> bool {
        self.lost.is_some()
    }

    /// Refuses a request in transaction `tx_id` opened in another epoch
    /// (on a connection since replaced): [`Error::TransactionLost`].
    pub fn check_transaction(&self, tx_id: u32, epoch: Option<u64>) -> Result<(), Error> {
        if tx_id != 0 && epoch.is_some_and(|e| e != self.epoch) {
            return Err(Error::TransactionLost { tx_id });
        }
        Ok(())
    }

    /// Socket or device.
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// The largest payload a request may have on this connection.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// The round-trip timeout.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The error that killed the connection, if it is dead.
    pub fn error(&self) -> Option<&Error> {
        self.dead.as_ref()
    }

    /// Whether the connection has been declared dead.
    pub fn is_dead(&self) -> bool {
        self.dead.is_some()
    }

    fn check_alive(&self) -> Result<(), Error> {
        match &self.dead {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    // ---- requests -------------------------------------------------------

    /// Checks and encodes `req` (in transaction `tx_id`) into the outgoing
    /// buffer and returns its request id. Nothing is queued for a request
    /// that fails its checks. `waker` is woken when the reply (or an error)
    /// is ready for [`Core::poll_reply`].
    pub fn submit(
        &mut self,
        req: &Request<'_>,
        tx_id: u32,
        deadline: Option<Deadline>,
        waker: W,
    ) -> Result<u32, Error> {
        self.check_alive()?;
        self.enqueue(req, tx_id, deadline, Waiter::Woken(waker), None)
    }

    /// [`Core::submit`] for a caller that reads the reply itself whenever
    /// it can take the reader role, as a synchronous caller does (one
    /// request, or a batch collected in turn): no waker is kept (nor
    /// woken) unless it gives one with [`Core::set_waker`], which it must
    /// do before it sleeps.
    pub fn submit_reading(
        &mut self,
        req: &Request<'_>,
        tx_id: u32,
        deadline: Option<Deadline>,
    ) -> Result<u32, Error> {
        self.check_alive()?;
        self.enqueue_reading(req, tx_id, deadline)
    }

    /// [`Core::enqueue`] for [`Core::submit_reading`], every synchronous
    /// call's way: with the waiter and the missing watch known, the checks
    /// for them (and passing them) fold away, and the usual requests'
    /// encoding is inlined whole (a call to it, or to the outbox's `push`,
    /// cost more than this saves; see `enqueue_inline`).
    #[inline(never)]
    fn enqueue_reading(
        &mut self,
        req: &Request<'_>,
        tx_id: u32,
        deadline: Option<Deadline>,
    ) -> Result<u32, Error> {
        self.enqueue_inline(req, tx_id, deadline, Waiter::Reading, None)
    }

    /// Queues any request as raw bytes: the escape hatch for protocol
    /// tooling. The payload is sent as given (only its length is checked);
    /// the reply is matched like any other. A raw WATCH registers nothing
    /// with the core: its events reach only monitors watching its token.
    pub fn submit_raw(
        &mut self,
        op: Op,
        payload: &[u8],
        tx_id: u32,
        deadline: Option<Deadline>,
        waker: W,
    ) -> Result<u32, Error> {
        self.check_alive()?;
        if matches!(op, Op::WatchEvent | Op::Error) {
            return Err(Error::Refused(Refusal::NotARequest(op)));
        }
        if payload.len() > self.max_payload {
            return Err(xs_wire::WireError::PayloadTooLarge {
                len: payload.len(),
                max: self.max_payload,
            }
            .into());
        }
        let len = HEADER_SIZE + payload.len();
        let commit = op == Op::TransactionEnd && payload.first() == Some(&b'T');
        let new = Submitted { tx_id, deadline };
        let (outbox, resend) = (&mut self.outbox, self.resend);
        self.requests
            .insert_new(new, Waiter::Woken(waker), None, |req_id, e| {
                outbox.push(len, |buf| {
                    let header = Header {
                        op,
                        req_id,
                        tx_id,
                        len: payload.len() as u32,
                    };
                    buf[..HEADER_SIZE].copy_from_slice(&header.to_bytes());
                    buf[HEADER_SIZE..len].copy_from_slice(payload);
                    Ok::<usize, Error>(len)
                })?;
                e.op = op;
                e.commit = commit;
                keep_frame(e, resend, outbox, len);
                Ok(())
            })
    }

    /// Encodes `req` into the outbox and records it (see [`Core::submit`];
    /// `watch` for a monitor's WATCH).
    #[inline]
    fn enqueue(
        &mut self,
        req: &Request<'_>,
        tx_id: u32,
        deadline: Option<Deadline>,
        waiter: Waiter<W>,
        watch: Option<WatchOrigin>,
    ) -> Result<u32, Error> {
        self.enqueue_inline(req, tx_id, deadline, waiter, watch)
    }

    /// [`Core::enqueue`], always inlined (see [`Core::enqueue_reading`]).
    #[inline(always)]
    fn enqueue_inline(
        &mut self,
        req: &Request<'_>,
        tx_id: u32,
        deadline: Option<Deadline>,
        waiter: Waiter<W>,
        watch: Option<WatchOrigin>,
    ) -> Result<u32, Error> {
        let limit = self.max_payload;
        // Room for any frame within the limit (a bigger one is refused
        // before anything is written), unless the limit is huge.
        let room = HEADER_SIZE
            + match limit <= ROOM_MAX {
                true => limit,
                false => req.payload_len().min(limit),
            };
        let new = Submitted { tx_id, deadline };
        // The flag read where it is used, not kept across the encoding.
        let (outbox, resend) = (&mut self.outbox, &self.resend);
        self.requests.insert_new(
            new,
            waiter,
            watch,
            #[inline(always)]
            |req_id, e| {
                let ids = Ids::in_transaction(req_id, tx_id);
                // The type comes out of the encoding's match. The encoder
                // is inlined always: left to the compiler it stays a call
                // in `enqueue_reading`, its captures and result in memory.
                let len = outbox
                    .push(
                        room,
                        #[inline(always)]
                        |buf| {
                            let (op, n) = req.encode_op_with_limit(ids, limit, buf)?;
                            e.op = op;
                            // Looked at in one type of request only.
                            if op == Op::TransactionEnd {
                                e.commit = matches!(req, Request::TransactionEnd { commit: true });
                            }
                            Ok::<usize, xs_wire::WireError>(n)
                        },
                    )?
                    .len();
                keep_frame(e, *resend, outbox, len);
                Ok::<(), Error>(())
            },
        )
    }

    /// Queues a request nobody waits for (undoing something): its reply is
    /// dropped when it comes.
    fn enqueue_detached(&mut self, req: &Request<'_>, tx_id: u32) {
        if self.dead.is_some() {
            return; // what it would undo died with the connection
        }
        // Built from values that were valid on the wire before: cannot fail.
        let _ = self.enqueue(req, tx_id, None, Waiter::Nobody, None);
    }

    /// Takes the reply to `req_id` once it is in: `None` while it is not.
    /// A timed-out request gives [`Error::Timeout`]; once the connection is
    /// dead, every waiting request gives its error. Inline: the call and
    /// part of the answer's copy into the caller's slot go (3 instructions
    /// per sequential READ with a blocking wait).
    #[inline]
    pub fn poll_reply(&mut self, req_id: u32) -> Option<Result<Response, Error>> {
        if !self.requests.expired.is_empty() {
            if let Some(limit) = self.requests.expired.remove(&req_id) {
                return Some(Err(Error::Timeout(limit)));
            }
        }
        self.requests.take_answer(req_id)
    }

    /// Whether [`Core::poll_reply`] has something for `req_id`.
    #[inline]
    pub fn is_ready(&self, req_id: u32) -> bool {
        // Usually the request just answered: no lookup. (0 is no request,
        // always ready.)
        req_id == self.requests.last_answered
            || !matches!(
                self.requests.get(req_id).map(|e| &e.state),
                Some(State::Waiting)
            )
            || (!self.requests.expired.is_empty() && self.requests.expired.contains_key(&req_id))
    }

    /// Replaces the waker of a waiting request (an async caller polled
    /// from another task).
    pub fn set_waker(&mut self, req_id: u32, waker: W) {
        if let Some(e) = self.requests.get_mut(req_id) {
            if matches!(e.state, State::Waiting) {
                e.waker = Some(waker);
            }
        }
    }

    /// The caller of `req_id` gives up (its future was dropped, or it
    /// stopped waiting). A request not yet handed out is withdrawn; one on
    /// the wire has its late reply dropped and whatever that reply created
    /// (a transaction, a watch) undone.
    pub fn abandon(&mut self, req_id: u32) {
        self.requests.expired.remove(&req_id);
        self.give_up(req_id);
    }

    /// The caller of `req_id` stops waiting, but the request still goes
    /// out if it has not yet: for cleanups sent from destructors (aborting
    /// a transaction, unwatching). Its reply is dropped when it comes, and
    /// what it created undone, as for [`Core::abandon`].
    pub fn detach(&mut self, req_id: u32) {
        self.requests.expired.remove(&req_id);
        self.stop_waiting(req_id);
    }

    fn give_up(&mut self, req_id: u32) {
        if self.outbox.withdraw(req_id) {
            if let Some(e) = self.requests.remove(req_id) {
                self.release_watch(&e);
            }
            return;
        }
        self.stop_waiting(req_id);
    }

    fn stop_waiting(&mut self, req_id: u32) {
        match self.requests.abandon(req_id) {
            Some(State::Waiting) => {
                if let Some(e) = self.requests.get(req_id) {
                    let origin = e.watch().cloned();
                    if let Some(o) = origin {
                        self.watches.watch_failed(o.monitor, &o.pair);
                    }
                }
            }
            Some(State::Answered(Ok(resp))) => {
                // The reply came just as its caller gave up.
                if let Some(e) = self.requests.remove(req_id) {
                    self.release_watch(&e);
                    self.undo_late(&e, &resp.header, &resp.payload);
                }
            }
            Some(State::Answered(Err(_))) => {
                self.requests.remove(req_id);
            }
            Some(State::Abandoned) | None => {}
        }
        if self.requests.abandoned > ABANDONED_MAX {
            self.fail(Error::disconnected(
                "too many requests left unanswered by xenstored",
            ));
        }
    }

    fn release_watch(&mut self, e: &Entry<W>) {
        if let Some(o) = e.watch() {
            self.watches.watch_failed(o.monitor, &o.pair);
        }
    }

    /// Requests sent (or queued) whose callers still wait.
    pub fn in_flight(&self) -> usize {
        self.requests.waiting()
    }

    /// Requests kept track of: waiting, answered and not yet taken, or
    /// abandoned (a late reply expected). At least [`Core::in_flight`],
    /// and cheaper to ask.
    pub fn tracked(&self) -> usize {
        self.requests.entries.len()
    }

    // ---- output ---------------------------------------------------------

    /// The bytes to write now, if any: on a socket all that is queued, on
    /// the device one whole frame, and only while no request is on the
    /// wire. Write them (or a prefix, on a socket) and say how many with
    /// [`Core::advance_transmit`].
    pub fn poll_transmit(&self) -> Option<&[u8]> {
        self.outbox.transmit()
    }

    /// Takes what [`Core::poll_transmit`] gives into `out` (after what
    /// `out` holds), as if all of it were written and
    /// [`Core::advance_transmit`] called. Usually a swap of buffers, not a
    /// copy: the way for a driver to get the bytes out while it holds the
    /// core's lock, and write them after letting go.
    #[inline]
    pub fn take_transmit(&mut self, out: &mut Outgoing) {
        self.outbox.take(out);
    }

    /// `n` bytes of [`Core::poll_transmit`] were taken by the driver.
    pub fn advance_transmit(&mut self, n: usize) {
        self.outbox.advance(n);
    }

    /// Frames queued and not yet wholly handed out.
    pub fn queued_frames(&self) -> usize {
        self.outbox.queued_frames()
    }

    // ---- input ----------------------------------------------------------

    /// Handles one frame from the daemon. A frame the client cannot accept
    /// declares the connection dead (every waiter gets the error, which is
    /// also returned). Frames after death are ignored.
    pub fn handle_frame(&mut self, frame: &Frame<'_>) -> Result<(), Error> {
        if self.dead.is_some() || self.lost.is_some() {
            return Ok(()); // from a connection that is gone
        }
        self.heard = true;
        let handled = if frame.header.op == Op::WatchEvent {
            self.handle_event(frame)
        } else {
            // One request on the device's wire at a time: any reply frees it.
            self.outbox.reply_received();
            self.handle_reply(frame)
        };
        match handled {
            Ok(()) => Ok(()),
            Err(problem) => Err(self.reject(problem, frame.header)),
        }
    }

    /// A frame the client cannot accept kills the connection.
    #[cold]
    fn reject(&mut self, problem: Problem, header: Header) -> Error {
        let error = Error::unexpected(problem, Some(header));
        self.fail(error.clone());
        error
    }

    fn handle_event(&mut self, frame: &Frame<'_>) -> Result<(), Problem> {
        let ev = WatchEvent::parse(frame.payload).map_err(Problem::MalformedEvent)?;
        self.watches.deliver(&ev, &mut self.woken);
        Ok(())
    }

    #[inline]
    fn handle_reply(&mut self, frame: &Frame<'_>) -> Result<(), Problem> {
        let h = &frame.header;
        // Request ids are never 0. The xenbus device answers WATCH with
        // req_id 0 (a kernel bug): the daemon answers in order, so it is
        // the oldest WATCH's.
        let req_id = match h.req_id {
            0 if h.op == Op::Watch => self
                .requests
                .oldest_watch()
                .ok_or(Problem::WatchReplyWithoutWatch)?,
            id => id,
        };
        let Some(e) =
            (self.requests.get_mut(req_id)).filter(|e| !matches!(e.state, State::Answered(_)))
        else {
            return Err(Problem::UnknownRequestId);
        };
        if h.op != e.op && h.op != Op::Error {
            return Err(Problem::WrongReplyType { expected: e.op });
        }
        if h.tx_id != e.tx_id && !(h.op == Op::Watch && h.req_id == 0) {
            return Err(Problem::WrongTransactionId { expected: e.tx_id });
        }
        if is_optional(e.op) {
            let lacks = h.op == Op::Error && frame.payload.starts_with(b"ENOSYS\0");
            if let Some(i) = slot(e.op) {
                self.capabilities[i] = Some(!lacks);
            }
        }
        if matches!(e.state, State::Abandoned) {
            if let Some(e) = self.requests.remove(req_id) {
                self.undo_late(&e, h, frame.payload);
            }
            return Ok(());
        }
        e.state = State::Answered(Ok(Response {
            header: *h,
            payload: frame.payload.to_vec(),
            epoch: self.epoch,
        }));
        if let Some(w) = e.waker.take() {
            self.woken.push(w);
        }
        let refused = if h.op == Op::Error {
            e.take_watch()
        } else {
            None
        };
        self.requests.answered += 1;
        self.requests.last_answered = req_id;
        if let Some(o) = refused {
            self.watches.watch_failed(o.monitor, &o.pair);
            self.watch_refused(&o.pair);
        }
        Ok(())
    }

    /// The daemon refused a monitor's WATCH of `pair`. Monitors that
    /// joined it while it was in flight still count on a registration:
    /// ask for one of their own (nobody waits for it), unless another
    /// WATCH of the pair is on its way.
    fn watch_refused(&mut self, pair: &Pair) {
        if !self.watches.is_registered(pair) || self.requests.watch_pending(pair) {
            return;
        }
        if let Ok(path) = Path::new(&pair.0) {
            let depth = self.watches.depth_of(pair);
            let req = Request::Watch {
                path,
                token: &pair.1,
                depth,
            };
            self.enqueue_detached(&req, 0);
        }
    }

    /// Undoes what the late reply to an abandoned request created on the
    /// daemon, by queueing a request nobody waits for.
    fn undo_late(&mut self, e: &Entry<W>, h: &Header, payload: &[u8]) {
        if h.op != e.op {
            // An error reply: nothing was created, but monitors may have
            // joined a refused WATCH.
            if let Some(o) = e.watch() {
                let pair = o.pair.clone();
                self.watch_refused(&pair);
            }
            return;
        }
        match e.op {
            Op::TransactionStart => {
                let kind = ReplyKind::TransactionId;
                if let Ok(Reply::TransactionId(id)) = Reply::parse_payload(e.op, kind, payload) {
                    self.enqueue_detached(&Request::TransactionEnd { commit: false }, id);
                }
            }
            Op::Watch => {
                // Unless a monitor holds the pair (it then relies on this
                // very registration, and unwatches it when done). A stale
                // WATCH is already undone by the UNWATCH its monitor queued.
                let Some(pair) = e.watch().map(|o| &o.pair) else {
                    return;
                };
                if self.watches.is_registered(pair) {
                    return;
                }
                if let Ok(path) = Path::new(&pair.0) {
                    let token = pair.1.clone();
                    self.enqueue_detached(
                        &Request::Unwatch {
                            path,
                            token: &token,
                        },
                        0,
                    );
                }
            }
            _ => {}
        }
    }

    /// Declares the connection dead: every waiting request and every
    /// monitor gets `error`, queued output is dropped, later submissions
    /// fail at once. The first error stays.
    pub fn fail(&mut self, error: Error) {
        if self.dead.is_some() {
            return;
        }
        let woken = &mut self.woken;
        self.requests.entries.retain(|_, e| match e.state {
            State::Abandoned => false,
            State::Answered(_) => true,
            State::Waiting => {
                e.state = State::Answered(Err(Box::new(error.clone())));
                woken.extend(e.waker.take());
                true
            }
        });
        self.requests.recount();
        self.watches.wake_all(&mut self.woken);
        self.outbox.clear();
        self.dead = Some(error);
    }

    // ---- reconnection ---------------------------------------------------

    /// The connection broke (`error`), and the driver will make a new one
    /// (after [`Core::enable_reconnection`]; otherwise this is
    /// [`Core::fail`]). Requests not yet handed out wait for the new
    /// connection. Of those written and unanswered: read-only ones will be
    /// sent again; ones that change the store fail with
    /// [`Error::MaybeApplied`]; ones in a transaction fail with
    /// [`Error::TransactionLost`] (a commit with `MaybeApplied`). Nothing is
    /// handed out until [`Core::reconnected`].
    pub fn connection_lost(&mut self, error: Error) {
        if self.dead.is_some() || self.lost.is_some() {
            return;
        }
        if !self.resend {
            return self.fail(error);
        }
        let unsent = self.outbox.take_unsent();
        let mut again: Vec<(u64, u32, Box<[u8]>)> = Vec::new();
        let mut gone = Vec::new();
        for (id, e) in self.requests.entries.iter_mut() {
            match e.state {
                State::Abandoned => {
                    gone.push(id);
                    continue;
                }
                State::Answered(_) => continue,
                State::Waiting => {}
            }
            let queued = unsent.iter().any(|(q, _)| *q == id);
            let outcome = match (queued, e.on_loss()) {
                (_, OnLoss::TransactionLost) => Err(Error::TransactionLost { tx_id: e.tx_id }),
                // Still queued: it goes on the new connection, and keeps
                // its frame for a further loss.
                (true, _) => continue,
                (false, OnLoss::Resend) => match e.take_frame() {
                    Some(frame) => {
                        again.push((e.seq, id, frame));
                        continue;
                    }
                    None => Err(Error::MaybeApplied { op: e.op }),
                },
                (false, OnLoss::MaybeApplied) => Err(Error::MaybeApplied { op: e.op }),
            };
            e.state = State::Answered(outcome.map_err(Box::new));
            if let Some(w) = e.waker.take() {
                self.woken.push(w);
            }
        }
        for id in gone {
            self.requests.remove(id);
        }
        self.requests.recount();
        again.sort_by_key(|&(seq, _, _)| seq);
        for (_, _, frame) in &again {
            self.outbox.push_frame(frame);
        }
        for (id, frame) in &unsent {
            let waiting = matches!(
                self.requests.get(*id).map(|e| &e.state),
                Some(State::Waiting)
            );
            if waiting {
                self.outbox.push_frame(frame);
            }
        }
        // Frames sent again are kept for a further loss.
        for (_, id, frame) in again {
            if let Some(e) = self.requests.get_mut(id) {
                e.set_frame(Some(frame));
            }
        }
        self.outbox.set_paused(true);
        self.lost = Some(error);
        // Transactions of the old connection are lost from now on.
        self.epoch += 1;
    }

    /// There is no connection yet (the daemon is not up): requests wait as
    /// after [`Core::connection_lost`] (`error` says why), and the first
    /// [`Core::reconnected`] is the first connection, which monitors are
    /// not told about. Implies [`Core::enable_reconnection`]; call before
    /// submitting anything.
    pub fn start_unconnected(&mut self, error: Error) {
        self.resend = true;
        self.unconnected = true;
        self.outbox.set_paused(true);
        self.lost = Some(error);
    }

    /// The error that lost the connection, while a new one is awaited.
    pub fn lost_error(&self) -> Option<&Error> {
        self.lost.as_ref()
    }

    /// A new connection is up: every watch is registered again (before the
    /// requests waiting to be sent), every monitor first reports
    /// [`Error::Reconnected`], and open transactions are lost.
    pub fn reconnected(&mut self) {
        if self.lost.take().is_none() || self.dead.is_some() {
            return;
        }
        // The new daemon may be another version.
        self.capabilities = [None; 32];
        self.heard = false;
        let waiting = self.outbox.take_unsent();
        // A WATCH still waiting for its answer goes again with the rest.
        let in_flight: Vec<Pair> = self
            .requests
            .entries
            .iter()
            .map(|(_, e)| e)
            .filter(|e| matches!(e.state, State::Waiting))
            .filter_map(|e| e.watch_pair().cloned())
            .collect();
        let again: Vec<(Pair, Option<u32>)> = self
            .watches
            .registrations()
            .filter(|(pair, _)| !in_flight.contains(pair))
            .map(|(pair, depth)| (pair.clone(), depth))
            .collect();
        for ((path, token), depth) in &again {
            if let Ok(path) = Path::new(path) {
                let req = Request::Watch {
                    path,
                    token,
                    depth: *depth,
                };
                let _ = self.enqueue(&req, 0, None, Waiter::Nobody, None);
            }
        }
        for (_, frame) in &waiting {
            self.outbox.push_frame(frame);
        }
        if !std::mem::take(&mut self.unconnected) {
            self.watches.mark_reconnected(&mut self.woken);
        }
        self.outbox.set_paused(false);
    }

    // ---- time -----------------------------------------------------------

    /// The earliest deadline of a waiting request (call
    /// [`Core::handle_timeout`] then); may be early, never late. Call
    /// [`Core::handle_timeout`] before blocking: it starts the clock of the
    /// requests queued since.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.requests.next_deadline()
    }

    /// Starts the round-trip clock of requests queued since the last call
    /// (so a request costs no clock read of its own; it may expire up to
    /// 1/64 of the timeout late, or 1/32 after a wait
    /// [`Core::may_wait_unclocked`] allowed, never early), and expires every
    /// waiting request whose deadline is at or before `now`: its caller
    /// gets [`Error::Timeout`], and a late reply is dropped.
    ///
    /// Returns whether any request expired: one whose caller gave no waker
    /// ([`Core::submit_reading`]) is woken by nobody.
    #[inline]
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if let Some(timeout) = self.timeout {
            self.requests.arm(now, timeout);
        }
        self.requests.may_be_due(now) && self.expire(now)
    }

    /// Expires what is due at `now` (see [`Core::handle_timeout`]).
    #[cold]
    fn expire(&mut self, now: Instant) -> bool {
        let timeout = self.timeout.unwrap_or_default();
        let mut expired = false;
        for (req_id, limit) in self.requests.due(now, timeout) {
            let Some(e) = self.requests.get_mut(req_id) else {
                continue;
            };
            if let Some(w) = e.waker.take() {
                self.woken.push(w);
            }
            self.give_up(req_id);
            self.requests.expired.insert(req_id, limit);
            expired = true;
        }
        expired
    }

    /// Whether a driver may wait up to `slice` once without passing the
    /// time first (so without reading the clock): true when no waiting
    /// request's clock has started and none has a deadline of its own, and
    /// `slice` is at most 1/64 of the timeout (in nanoseconds, counted up
    /// to 584 years). The clock of the requests
    /// queued since then starts at the next [`Core::handle_timeout`], at
    /// most `slice` late. At most once per request queued: after that wait
    /// the driver must pass the time again.
    ///
    /// A lone caller's usual round trip thus costs no clock read: its
    /// reply comes within the slice, and nothing needed the time.
    #[inline]
    pub fn may_wait_unclocked(&mut self, slice: Duration) -> bool {
        saturating_nanos(slice) <= self.slack_nanos && self.requests.may_wait_unclocked()
    }

    // ---- waking ---------------------------------------------------------

    /// Whether [`Core::take_woken`] has anything.
    pub fn has_woken(&self) -> bool {
        !self.woken.is_empty()
    }

    /// Moves the wakers of callers with something new into `out`.
    pub fn take_woken(&mut self, out: &mut Vec<W>) {
        out.append(&mut self.woken);
    }

    // ---- monitors -------------------------------------------------------

    /// A new monitor with a queue of at most `capacity` events; one that
    /// keeps unwatched events also gets events for tokens it watched
    /// before.
    pub fn add_monitor(&mut self, capacity: usize, keep_unwatched: bool, waker: W) -> MonitorId {
        self.watches.add(capacity, keep_unwatched, waker)
    }

    /// Replaces a monitor's waker.
    pub fn set_monitor_waker(&mut self, id: MonitorId, waker: W) {
        self.watches.set_waker(id, waker);
    }

    /// Removes a monitor, queueing an UNWATCH for each registration nobody
    /// else uses; returns their request ids (the caller may wait for them
    /// a bounded time, then [`Core::abandon`] them).
    pub fn remove_monitor(
        &mut self,
        id: MonitorId,
        deadline: Option<Deadline>,
        waker: W,
    ) -> Vec<u32> {
        // Its WATCHes in flight for pairs it still holds stop speaking for
        // it (the UNWATCH, or the other holders, take over); one whose pair
        // it already let go of (abandoned) is still undone when it lands.
        for pair in self.watches.watched(id) {
            self.requests.forget_watch(id, Some(&pair));
        }
        let released = self.watches.remove(id);
        if self.dead.is_some() {
            return Vec::new();
        }
        released
            .iter()
            .filter_map(|(path, token)| {
                let path = Path::new(path).ok()?;
                let req = Request::Unwatch { path, token };
                self.enqueue(&req, 0, deadline, Waiter::Woken(waker.clone()), None)
                    .ok()
            })
            .collect()
    }

    /// Monitor `id` watches `path` with `token` (and `depth`, Xen 4.22).
    /// The registration is recorded before the WATCH is queued, so the
    /// initial event cannot be missed. Returns the WATCH's request id, or
    /// `None` when another monitor already holds the registration (then
    /// the initial event is made up here). If the WATCH fails or its caller
    /// gives up, the registration is undone.
    pub fn watch(
        &mut self,
        id: MonitorId,
        path: Path<'_>,
        token: &str,
        depth: Option<u32>,
        deadline: Option<Deadline>,
        waker: W,
    ) -> Result<Option<u32>, Error> {
        self.check_alive()?;
        if depth.is_some() && self.kind == TransportKind::Xenbus {
            // The Linux driver keeps path and token and drops the rest.
            return Err(Error::Refused(Refusal::DepthOnDevice));
        }
        let req = Request::Watch { path, token, depth };
        req.validate(0)?;
        let pair = (path.as_str().to_owned(), token.to_owned());
        match self.watches.watch(id, pair.clone(), depth, &mut self.woken) {
            None => Err(Error::disconnected("the monitor is closed")),
            Some(Err(e)) => Err(e),
            Some(Ok(Wire::Nothing)) => Ok(None),
            Some(Ok(Wire::Send)) => {
                if let Some(req_id) = self.requests.abandoned_watch(&pair, depth) {
                    let default_timeout = self.timeout.is_some();
                    self.requests
                        .readopt(req_id, id, waker, deadline, default_timeout);
                    return Ok(Some(req_id));
                }
                let origin = WatchOrigin {
                    monitor: id,
                    pair,
                    depth,
                    stale: false,
                };
                match self.enqueue(
                    &req,
                    0,
                    deadline,
                    Waiter::Woken(waker),
                    Some(origin.clone()),
                ) {
                    Ok(req_id) => Ok(Some(req_id)),
                    Err(e) => {
                        self.watches.watch_failed(id, &origin.pair);
                        Err(e)
                    }
                }
            }
        }
    }

    /// Makes monitor `id` filter events of (`path`, `token`) by `depth`
    /// itself (`None`: stop), for a watch the daemon registers without
    /// depth. Set it before the watch, so no deeper event slips through.
    pub fn set_depth_filter(&mut self, id: MonitorId, path: &str, token: &str, depth: Option<u32>) {
        let pair = (path.to_owned(), token.to_owned());
        self.watches.set_filter(id, pair, depth);
    }

    /// Monitor `id` stops watching (`path`, `token`): `Ok(None)` if another
    /// monitor still uses the registration, else the UNWATCH's request id;
    /// `ENOENT` if the monitor had no such watch.
    pub fn unwatch(
        &mut self,
        id: MonitorId,
        path: Path<'_>,
        token: &str,
        deadline: Option<Deadline>,
        waker: W,
    ) -> Result<Option<u32>, Error> {
        let req = Request::Unwatch { path, token };
        req.validate(0)?;
        let pair = (path.as_str().to_owned(), token.to_owned());
        let wire = self.watches.unwatch(id, &pair);
        if wire.is_some() {
            self.requests.forget_watch(id, Some(&pair));
        }
        match wire {
            None => Err(Error::daemon(Op::Unwatch, Some(path.as_str()), "ENOENT")),
            Some(Wire::Nothing) => Ok(None),
            Some(Wire::Send) => {
                self.check_alive()?;
                self.enqueue(&req, 0, deadline, Waiter::Woken(waker), None)
                    .map(Some)
            }
        }
    }

    /// Watches registered with the daemon.
    pub fn registration_count(&self) -> usize {
        self.watches.registration_count()
    }

    /// Monitor `id`'s watches, as sorted (path, token) pairs.
    pub fn watched(&self, id: MonitorId) -> Vec<(String, String)> {
        self.watches.watched(id)
    }

    /// The next thing monitor `id` should see: an overflow report if events
    /// were dropped, then queued events still covered by its watches;
    /// `None` if nothing is queued; the connection's error once it is dead
    /// and drained.
    pub fn poll_event(&mut self, id: MonitorId) -> Option<Result<Event, Error>> {
        match self.watches.next_event(id) {
            Some(item) => Some(item),
            None if self.watches.exists(id) => self.dead.clone().map(Err),
            None => None,
        }
    }

    /// Whether [`Core::poll_event`] has something for monitor `id`.
    pub fn has_event(&self, id: MonitorId) -> bool {
        self.dead.is_some() || self.watches.has_event(id)
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

#[cfg(test)]
#[path = "detach_tests.rs"]
mod detach_tests;
