//! The async driver: one connection shared by every task of a client, over
//! the protocol [`Core`], with no thread and no task of its own.
//!
//! # Who reads the socket
//!
//! Every future waiting on the connection (a request, a monitor's stream)
//! is a *participant*. Whichever participant is polled while nobody is
//! reading takes the reader (a `try_lock`, never a wait): it writes what
//! the core queued, reads and dispatches every frame (waking the owners of
//! the replies it finds), passes the time to the core, and arms the
//! reactor for more. A lone task doing one request at a time therefore
//! writes and reads inline, like the sync client, and a reply is never
//! handed from one thread or task to another before its owner sees it.
//!
//! The reactor (and the deadline timer) is armed with one waker of the
//! connection's own, which wakes every waiting participant: a reactor
//! keeps one waker per direction, and the participant that armed it last
//! may stop being polled (a monitor's `next()` lost in a `select!`), so
//! readiness must reach all of them. Those whose answer is not in find
//! the reader busy or the fd drained and go back to sleep: a spurious
//! wake-up per waiting participant per readiness event, the price of
//! needing no task of our own.
//!
//! # What a request costs
//!
//! A lone task reading in a loop is the case to keep cheap (it competes
//! with the sync client): per request one `send`, one reactor wait and one
//! `recv`, and no work that a turn of the driver does not need:
//!
//! - The reactor and the deadline timer are polled again only once they
//!   have fired: "not ready" means the waker will be woken (the `Future`
//!   contract), so the driver remembers that each is armed
//!   (`Reader::read_armed`, `Timed::armed`) until the connection's waker
//!   (for the reactor) or the timer's own ([`TimerFired`]) says otherwise.
//!   The time is looked at only when that timer fires.
//! - A reader does not wake itself for the replies it reads: the core
//!   keeps each participant's waker with the participant's seat id
//!   ([`Caller`]), and the reader skips its own (not by `will_wake`, which
//!   a runtime may fail for clones of one waker: tokio's `block_on`, which
//!   then polled the task twice per request).
//! - A read stops at a short read when nothing waits for more (no request
//!   for its reply, no watch): the read that would find the socket empty
//!   was a system call per request. An end of file that came with the
//!   reply is then found by the next use (which fails as it would have);
//!   a reconnecting client reads on, to reconnect before that use.
//! - On tokio the fd is registered for readability only: registered for
//!   writability too, the edge-triggered reactor would wake the runtime
//!   each time the daemon takes a request (on one CPU shared with the
//!   daemon, a second context switch per request). A duplicate fd is
//!   registered for writability only while a write waits for room.
//!
//! # Writing
//!
//! Whoever queues a request writes it at once, without waiting: the bytes
//! the socket does not take stay in the transport's queue, and the driver
//! writes them when the fd is writable. A frame is never half-written by a
//! future that goes away: once handed to the transport it belongs to the
//! connection, and the next driver finishes it (or the connection dies).
//! On the xenbus device the core hands out one request at a time and the
//! device never reports writability: a write that would block (only a
//! stand-in device can) is retried on a short timer.
//!
//! # Cancellation
//!
//! Dropping a participant gives its request up ([`Core::abandon`]: a
//! request not yet written is withdrawn, a late reply is dropped and what
//! it created undone) and hands the driver role on if it held it.
//!
//! # Reconnection
//!
//! With a [`Reconnect`] policy a lost connection is handed to the core
//! ([`Core::connection_lost`]) instead of killing it, and the driver, whoever
//! it is, makes the new one: an attempt when one is due (connecting a Unix
//! socket does not block), otherwise the runtime's timer armed for the next
//! ([`Attempts`] keeps the schedule, as for the threaded driver). Then
//! [`Core::reconnected`] re-registers the watches and releases what waited.
//! As for reading, it takes a waiting task: nothing reconnects while no
//! task waits on the client. A client made before its daemon is up starts
//! the same way, with no connection ([`Core::start_unconnected`]).

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use xs_transport::{
    Connection, Endpoint, FrameReceiver, FrameSender, TransportError, TransportKind,
};
use xs_wire::{Op, Request};

use crate::aio::Runtime;
use crate::client::connect_error;
use crate::proto::{Core, Deadline, Response};
use crate::reconnect::Attempts;
use crate::router::{receive_error, transport_error, Tx};
use crate::{Error, Reconnect};

/// How long the driver waits before retrying a device write that would
/// block (the Linux driver never does; stand-ins might).
const DEVICE_RETRY: Duration = Duration::from_millis(5);

/// The shared state of one connection.
pub(crate) struct Conn<R: Runtime> {
    state: Mutex<State>,
    /// The reader: taken with `try_lock` only. Lock order: `reader`, then
    /// `state`.
    reader: Mutex<Reader<R>>,
    /// Every waiting participant, woken by the reactor through `waker`.
    waiting: Arc<Waiting>,
    waker: Waker,
    /// The deadline timer's waker ([`TimerFired`]).
    timer_waker: Waker,
    kind: TransportKind,
    peer: String,
    timeout: Option<Duration>,
    fork_generation: u64,
    /// Where to reconnect, and how, if asked to.
    reconnect: Option<(Endpoint, Reconnect)>,
}

struct State {
    core: Core<Caller>,
    /// The sending half; `None` while there is no connection.
    sender: Option<FrameSender>,
    /// While there is no connection: the attempts at a new one.
    attempts: Option<Attempts>,
    /// The attempts that made the current connection, if a reconnection
    /// did (see [`Attempts::after_loss`]).
    made_by: Option<Attempts>,
    /// A connection was made (giving up before is a connect error).
    connected: bool,
}

/// What the reader holds: the receiving half and the timers.
struct Reader<R: Runtime> {
    /// The receiving half and its fd registered with the reactor; `None`
    /// while there is no connection.
    link: Option<(FrameReceiver, R::Io)>,
    /// The reactor holds the connection's waker for readability: polled
    /// "not ready" and not woken since, so polling again would only
    /// register the same waker again.
    read_armed: bool,
    /// The earliest deadline's timer.
    timer: Option<Timed<R::Timer>>,
    /// The retry of a device write that would block.
    retry: Option<R::Timer>,
    /// The pause before the next attempt at a new connection.
    backoff: Option<Timed<R::Timer>>,
    /// The wakers a read names, woken once the state lock is dropped
    /// (kept for its allocation).
    woken: Vec<Caller>,
}

impl<R: Runtime> Reader<R> {
    /// A new connection's receiving half (or none): not yet armed.
    fn set_link(&mut self, link: Option<(FrameReceiver, R::Io)>) {
        self.link = link;
        self.read_armed = false;
    }
}

/// A timer and the instant it is set to.
struct Timed<T> {
    at: Instant,
    timer: T,
    /// Polled "not ready" since it was set, with a waker that says when
    /// it fires ([`TimerFired`]): it need not be polled again until then.
    /// By the `Future` contract, "not ready" means the waker will be woken
    /// (also when a runtime refuses to poll a task that spent its budget:
    /// tokio then wakes it at once).
    armed: bool,
}

/// What one turn of the driver's reading and writing came to.
enum Step {
    /// Something moved: go round again.
    Again,
    /// Frames were read: go round again.
    Read,
    /// The connection is dead.
    Dead,
    /// Nothing to do until the reactor or a timer fires; the earliest
    /// deadline, as last seen.
    Idle(Option<Instant>),
}

/// The participants waiting: id, waker, and whether it is a monitor.
#[derive(Default)]
struct Waiting {
    list: Mutex<Vec<(u64, Waker, bool)>>,
    next: AtomicU64,
    /// The reactor or the timer fired and nobody has read since.
    unread: AtomicBool,
    /// The deadline timer fired and nobody has polled it since.
    timer_fired: AtomicBool,
}

/// The deadline timer's waker: marks the timer fired, then wakes as the
/// reactor does. Until it fires, the driver knows the timer armed and
/// does not poll it on every turn.
struct TimerFired(Arc<Waiting>);

impl Wake for TimerFired {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.timer_fired.store(true, SeqCst);
        self.0.wake_by_ref();
    }
}

impl Wake for Waiting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    /// Wakes the longest-waiting request, which will read for everyone,
    /// and every monitor (a monitor's stream may not be polled again soon,
    /// so it cannot be the only one woken; a request future is either
    /// polled when woken or dropped, which passes the turn on).
    fn wake_by_ref(self: &Arc<Self>) {
        self.unread.store(true, SeqCst);
        // Woken outside the lock; no allocation unless monitors wait.
        let mut request = None;
        let mut monitors = Vec::new();
        for (_, w, monitor) in lock(&self.list).iter() {
            match monitor {
                true => monitors.push(w.clone()),
                false if request.is_none() => request = Some(w.clone()),
                false => {}
            }
        }
        request.into_iter().for_each(Waker::wake);
        monitors.into_iter().for_each(Waker::wake);
    }
}

/// A participant's waker as the core keeps it, with the participant's
/// seat id (0: none yet), by which a reader tells its own wake-up (which
/// it skips: it looks again anyway) from that of another participant of
/// the same task (a `join`), which it must not skip.
#[derive(Clone)]
pub(crate) struct Caller {
    seat: u64,
    waker: Waker,
}

impl Caller {
    /// Nobody yet: a request queued before its future is first polled.
    pub(crate) fn none() -> Caller {
        Caller {
            seat: 0,
            waker: Waker::noop().clone(),
        }
    }

    fn wake(self) {
        self.waker.wake();
    }
}

/// One participant's place among the waiting.
#[derive(Default)]
pub(crate) struct Seat {
    /// Its id (0: none yet), given with its first waker.
    id: u64,
    /// On the waiting list.
    seated: bool,
    /// A monitor's stream rather than a request.
    monitor: bool,
    /// The waker last given to the core (and, while seated, to the
    /// waiting list).
    waker: Option<Waker>,
}

impl Seat {
    /// A monitor's place.
    pub(crate) fn monitor() -> Seat {
        Seat {
            monitor: true,
            ..Seat::default()
        }
    }

    /// Whether `waker` differs from the one registered (it must then be
    /// registered again).
    fn is_new(&self, waker: &Waker) -> bool {
        self.waker.as_ref().is_none_or(|w| !same_task(w, waker))
    }
}

/// Whether two wakers wake the same task: [`Waker::will_wake`], or the
/// same (non-null) data pointer. `will_wake` also compares the vtables'
/// addresses, and a runtime may hand out equal vtables at different
/// addresses: tokio's `block_on` polls with a waker whose clones differ
/// from it so, which would register the waker again on every poll.
fn same_task(a: &Waker, b: &Waker) -> bool {
    a.will_wake(b) || (!a.data().is_null() && a.data() == b.data())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves consistent state here; go on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether nothing waits on the connection for now (no request for its
/// reply, no watch for events), so that a read may stop short of "would
/// block": an end of file that came with the bytes read is then found by
/// the next use. Only asked when few requests are tracked (cheap to tell).
fn quiet(core: &Core<Caller>) -> bool {
    const FEW: usize = 4;
    core.registration_count() == 0 && core.tracked() <= FEW && core.in_flight() == 0
}

/// The callers the core named (a reply, an event, an error for them), to
/// wake with [`wake_named`] once the state lock is let go where it can be.
fn named(core: &mut Core<Caller>) -> Vec<Caller> {
    let mut woken = Vec::new();
    core.take_woken(&mut woken);
    woken
}

fn wake_named(callers: Vec<Caller>) {
    callers.into_iter().for_each(Caller::wake);
}

/// Wakes `wakers` (emptying the list, keeping its allocation), but those
/// of seat `me`: the caller itself, which looks again anyway.
fn wake_all(wakers: &mut Vec<Caller>, me: u64) {
    for c in wakers.drain(..) {
        if me == 0 || c.seat != me {
            c.wake();
        }
    }
}

impl<R: Runtime> Conn<R> {
    /// Takes a connection: registers a duplicate of its fd with the
    /// runtime's reactor.
    pub(crate) fn new(conn: Connection, timeout: Option<Duration>) -> Result<Conn<R>, Error> {
        let kind = conn.kind();
        let peer = conn.peer().to_owned();
        let (rx, sender, io) = open::<R>(conn)?;
        let core = Core::new(kind, kind.max_payload(), timeout);
        Ok(Conn::build(core, Some((rx, sender, io)), peer, None))
    }

    /// A connection to `endpoint` that is replaced by `policy` when lost.
    /// `conn` is the first one, if it could be made: without it the client
    /// starts with none, its calls waiting (within their timeouts) for the
    /// attempts at one, bounded like [`crate::ClientBuilder::connect`]'s
    /// wait, after which they fail with the last attempt's error
    /// ([`Error::Connect`], as `connect` would have).
    pub(crate) fn reconnecting(
        conn: Result<Connection, Error>,
        timeout: Option<Duration>,
        endpoint: Endpoint,
        policy: Reconnect,
    ) -> Result<Conn<R>, Error> {
        let kind = match endpoint {
            Endpoint::Socket(_) => TransportKind::Socket,
            Endpoint::Xenbus(_) => TransportKind::Xenbus,
        };
        let mut core = Core::new(kind, kind.max_payload(), timeout);
        let (link, peer, attempts) = match conn {
            Ok(conn) => {
                core.enable_reconnection();
                let peer = conn.peer().to_owned();
                (Some(open::<R>(conn)?), peer, None)
            }
            Err(first_error) => {
                let now = Instant::now();
                let mut attempts = Attempts::connecting(policy, timeout, now);
                if !attempts.failed(now) {
                    return Err(first_error);
                }
                core.start_unconnected(first_error);
                (None, endpoint.path().display().to_string(), Some(attempts))
            }
        };
        let mut conn = Conn::build(core, link, peer, Some((endpoint, policy)));
        let st = conn.state.get_mut().unwrap_or_else(|e| e.into_inner());
        st.connected = attempts.is_none();
        st.attempts = attempts;
        Ok(conn)
    }

    fn build(
        core: Core<Caller>,
        link: Option<(FrameReceiver, FrameSender, R::Io)>,
        peer: String,
        reconnect: Option<(Endpoint, Reconnect)>,
    ) -> Conn<R> {
        let kind = core.kind();
        let timeout = core.timeout();
        let (link, sender) = match link {
            Some((rx, sender, io)) => (Some((rx, io)), Some(sender)),
            None => (None, None),
        };
        let waiting = Arc::new(Waiting::default());
        let timer_waker = Waker::from(Arc::new(TimerFired(Arc::clone(&waiting))));
        Conn {
            state: Mutex::new(State {
                core,
                sender,
                attempts: None,
                made_by: None,
                connected: true,
            }),
            reader: Mutex::new(Reader {
                link,
                read_armed: false,
                timer: None,
                retry: None,
                backoff: None,
                woken: Vec::new(),
            }),
            waker: Waker::from(Arc::clone(&waiting)),
            timer_waker,
            waiting,
            kind,
            peer,
            timeout,
            fork_generation: xs_transport::fork_generation(),
            reconnect,
        }
    }

    pub(crate) fn kind(&self) -> TransportKind {
        self.kind
    }

    pub(crate) fn peer(&self) -> &str {
        &self.peer
    }

    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    pub(crate) fn max_payload(&self) -> usize {
        lock(&self.state).core.max_payload()
    }

    pub(crate) fn forked(&self) -> bool {
        xs_transport::fork_generation() != self.fork_generation
    }

    pub(crate) fn is_connected(&self) -> bool {
        !self.forked() && !lock(&self.state).core.is_dead()
    }

    /// How many times the connection was lost (the epoch transactions
    /// belong to).
    pub(crate) fn reconnections(&self) -> u64 {
        lock(&self.state).core.epoch()
    }

    /// Runs `f` on the core (with the time), then writes what it queued.
    pub(crate) fn queue<T>(
        &self,
        f: impl FnOnce(&mut Core<Caller>, Instant) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.forked() {
            return Err(Error::Forked);
        }
        let mut st = lock(&self.state);
        let now = Instant::now();
        let value = f(&mut st.core, now)?;
        // Starts the round-trip clock of what was just queued (the core
        // applies its timeout at the driver's next look at the time).
        st.core.handle_timeout(now);
        self.flush_locked(&mut st);
        // E.g. the made-up initial event of a shared watch.
        if !st.core.has_woken() {
            return Ok(value);
        }
        let woken = named(&mut st.core);
        drop(st);
        wake_named(woken);
        Ok(value)
    }

    /// The reply to a request queued by hand.
    pub(crate) fn reply(&self, req_id: u32) -> Reply<'_, R> {
        Reply::new(self, req_id)
    }

    /// Queues `req` in transaction `tx_id` (its deadline the earlier of the
    /// client's and `limit`) and writes it; await the returned future for
    /// the reply.
    pub(crate) fn submit(
        &self,
        req: &Request<'_>,
        tx: Tx,
        limit: Option<Deadline>,
    ) -> Result<Reply<'_, R>, Error> {
        let req_id = self.queue(|core, _| {
            let deadline = limit;
            core.check_transaction(tx.id, tx.epoch)?;
            core.submit(req, tx.id, deadline, Caller::none())
        })?;
        Ok(Reply::new(self, req_id))
    }

    /// Queues several requests and writes them together (one write on a
    /// socket); a request refused before sending gets its own error.
    pub(crate) fn submit_many(
        &self,
        reqs: &[Request<'_>],
        tx: Tx,
    ) -> Vec<Result<Reply<'_, R>, Error>> {
        let queued = self.queue(|core, _| {
            let deadline = None;
            core.check_transaction(tx.id, tx.epoch)?;
            Ok(reqs
                .iter()
                .map(|req| core.submit(req, tx.id, deadline, Caller::none()))
                .collect::<Vec<_>>())
        });
        match queued {
            Ok(ids) => ids
                .into_iter()
                .map(|id| id.map(|req_id| Reply::new(self, req_id)))
                .collect(),
            Err(e) => reqs.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    /// Queues a raw request (any op, payload as given).
    pub(crate) fn submit_raw(&self, op: Op, payload: &[u8], tx: Tx) -> Result<Reply<'_, R>, Error> {
        let req_id = self.queue(|core, _| {
            let deadline = None;
            core.check_transaction(tx.id, tx.epoch)?;
            core.submit_raw(op, payload, tx.id, deadline, Caller::none())
        })?;
        Ok(Reply::new(self, req_id))
    }

    /// Sends `req` and forgets it: its reply is dropped when it comes. For
    /// destructors, which cannot wait.
    pub(crate) fn send_detached(&self, req: &Request<'_>, tx: Tx) {
        let _ = self.queue(|core, _| {
            core.check_transaction(tx.id, tx.epoch)?;
            let req_id = core.submit(req, tx.id, None, Caller::none())?;
            core.detach(req_id);
            Ok(())
        });
    }

    /// Runs `f` on the core, under the lock.
    pub(crate) fn with_core<T>(&self, f: impl FnOnce(&mut Core<Caller>) -> T) -> T {
        f(&mut lock(&self.state).core)
    }

    /// Declares the connection dead and wakes everyone.
    pub(crate) fn fail(&self, err: Error) {
        self.fail_locked(&mut lock(&self.state), err);
    }

    /// Writes what the core has queued, without waiting. Returns whether
    /// bytes are left for the driver to write when the fd is writable.
    #[inline]
    fn flush_locked(&self, st: &mut State) -> bool {
        // Nothing to write (most turns of a driver): no call.
        if st.core.poll_transmit().is_none()
            && st.sender.as_ref().is_none_or(|s| s.queued_bytes() == 0)
        {
            return false;
        }
        self.flush_some(st)
    }

    /// [`Conn::flush_locked`] with something to write.
    #[inline(never)]
    fn flush_some(&self, st: &mut State) -> bool {
        let mut sent_any = false;
        let blocked = loop {
            // No connection (lost): the core keeps what waits.
            let Some(sender) = st.sender.as_mut() else {
                break false;
            };
            if sender.queued_bytes() > 0 {
                match sender.flush() {
                    Ok(true) => {}
                    Ok(false) => break true,
                    Err(e) => {
                        self.lost_locked(st, transport_error(e));
                        break false;
                    }
                }
            }
            let Some(sender) = st.sender.as_mut() else {
                break false;
            };
            let Some(out) = st.core.poll_transmit() else {
                break false;
            };
            let n = out.len();
            sent_any = true;
            // Written as far as the fd takes it now, the rest queued: one
            // frame (the usual case) as it is, several checked and
            // written together (a zero timeout).
            let sent = match xs_wire::is_one_frame(out) {
                true => sender.send(out),
                false => sender.send_frames(out, Some(Duration::ZERO)),
            };
            st.core.advance_transmit(n);
            match sent {
                Ok(()) if st.sender.as_ref().is_some_and(|s| s.queued_bytes() > 0) => break true,
                Ok(()) => {}
                Err(TransportError::TimedOut { .. }) => break true,
                Err(e) => {
                    self.lost_locked(st, transport_error(e));
                    break false;
                }
            }
        };
        if self.kind == TransportKind::Xenbus && sent_any {
            // A rejected WATCH comes back through the receiver without
            // making the fd readable: the next reader looks for it.
            self.waker.wake_by_ref();
        }
        blocked
    }

    fn fail_locked(&self, st: &mut State, err: Error) {
        st.core.fail(err);
        st.attempts = None;
        wake_named(named(&mut st.core));
        self.waker.wake_by_ref();
    }

    /// The connection broke: with a policy, the core keeps what can go on
    /// a new one and the next driver makes it; without, it is dead.
    fn lost_locked(&self, st: &mut State, err: Error) {
        let Some((_, policy)) = &self.reconnect else {
            return self.fail_locked(st, err);
        };
        if st.core.is_dead() || st.attempts.is_some() {
            return;
        }
        let (made_by, heard) = (st.made_by.take(), st.core.heard());
        st.attempts = Some(Attempts::after_loss(
            *policy,
            Instant::now(),
            made_by,
            heard,
        ));
        st.core.connection_lost(err);
        st.sender = None;
        wake_named(named(&mut st.core));
        // Somebody waiting must drive the reconnection.
        self.waker.wake_by_ref();
    }

    fn lost(&self, err: Error) {
        self.lost_locked(&mut lock(&self.state), err);
    }

    /// Polls until `take` gets something from the core (`Some`), or the
    /// connection is dead (`None`), reading the connection if nobody else
    /// is. `register` gives the core this participant's waker (for its
    /// reply or its events).
    pub(crate) fn poll_until<T>(
        &self,
        seat: &mut Seat,
        cx: &mut Context<'_>,
        register: &dyn Fn(&mut Core<Caller>, Caller),
        take: &mut dyn FnMut(&mut Core<Caller>) -> Option<T>,
    ) -> Poll<Option<T>> {
        loop {
            let new = seat.is_new(cx.waker());
            {
                let mut st = lock(&self.state);
                let forked = self.forked();
                let found = if forked { None } else { take(&mut st.core) };
                if found.is_some() || forked || st.core.is_dead() {
                    drop(st);
                    self.unseat(seat, false);
                    return Poll::Ready(found);
                }
                if new {
                    if seat.id == 0 {
                        seat.id = 1 + self.waiting.next.fetch_add(1, SeqCst);
                    }
                    let waker = cx.waker().clone();
                    let caller = Caller {
                        seat: seat.id,
                        waker: waker.clone(),
                    };
                    register(&mut st.core, caller);
                    seat.waker = Some(waker);
                }
            }
            self.seat(seat, new);
            let mut reader = match self.reader.try_lock() {
                Ok(reader) => reader,
                Err(TryLockError::Poisoned(e)) => e.into_inner(),
                // Someone is reading: it arms the reactor, which wakes us.
                Err(TryLockError::WouldBlock) => return Poll::Pending,
            };
            let progressed = self.drive(&mut reader, seat.id);
            drop(reader);
            if progressed {
                continue;
            }
            // The reactor may have fired while we held the reader, waking
            // someone who found it taken: then read again, after yielding.
            // Not at once: a runtime that takes back a busy task's turn
            // (tokio's budget) answers "not ready" and wakes us instead,
            // and looping on that would spin until the deadline.
            if self.waiting.unread.load(SeqCst) {
                cx.waker().wake_by_ref();
            }
            return Poll::Pending;
        }
    }

    /// Writes, reads and keeps the timers until the reactor and the timers
    /// are armed (with the connection's wakers), making a new connection
    /// when one is lost and due, and expiring requests whose deadline
    /// passed. `me` is the driving participant's own waker, which is not
    /// woken. Returns whether anything happened that waiters must look at.
    fn drive(&self, reader: &mut Reader<R>, me: u64) -> bool {
        // What fired since the last turn must be polled again; what did
        // not is still armed.
        if self.waiting.unread.swap(false, SeqCst) {
            reader.read_armed = false;
        }
        if self.waiting.timer_fired.swap(false, SeqCst) {
            if let Some(t) = reader.timer.as_mut() {
                t.armed = false;
            }
        }
        let mut cx = Context::from_waker(&self.waker);
        let mut progressed = false;
        loop {
            if self.poll_reconnect(reader, &mut cx) {
                progressed = true;
                continue;
            }
            let Reader {
                link,
                read_armed,
                retry,
                woken,
                ..
            } = &mut *reader;
            let next = match link.as_mut() {
                Some(link) => match self.poll_io(link, read_armed, retry, woken, &mut cx, me) {
                    Step::Again => continue,
                    Step::Read => {
                        progressed = true;
                        continue;
                    }
                    Step::Dead => return true,
                    Step::Idle(next) => next,
                },
                None => lock(&self.state).core.poll_timeout(),
            };
            // Time.
            if let Some(at) = next {
                // The default timeout's deadline moves later with every
                // request (proto/requests.rs): firing early only costs a
                // look at the time, moving the timer costs one per request.
                let mut cx = Context::from_waker(&self.timer_waker);
                if poll_timer::<R>(&mut reader.timer, at, true, true, &mut cx) {
                    let mut st = lock(&self.state);
                    st.core.handle_timeout(Instant::now());
                    st.core.take_woken(&mut reader.woken);
                    drop(st);
                    wake_all(&mut reader.woken, me);
                    return true;
                }
            }
            return progressed;
        }
    }

    /// One turn of writing and reading the connection.
    fn poll_io(
        &self,
        link: &mut (FrameReceiver, R::Io),
        read_armed: &mut bool,
        retry: &mut Option<R::Timer>,
        woken: &mut Vec<Caller>,
        cx: &mut Context<'_>,
        me: u64,
    ) -> Step {
        let (rx, io) = link;
        // Output (and, under the same lock, the earliest deadline).
        let (blocked, next) = {
            let mut st = lock(&self.state);
            (self.flush_locked(&mut st), st.core.poll_timeout())
        };
        if blocked {
            if self.kind == TransportKind::Xenbus {
                let at = Instant::now() + DEVICE_RETRY;
                let timer = retry.get_or_insert_with(|| R::timer(at));
                if std::pin::Pin::new(&mut *timer).poll(cx).is_ready() {
                    *retry = None;
                    return Step::Again;
                }
            } else {
                let mut write = || self.flush_locked(&mut lock(&self.state));
                match R::poll_write(io, cx, &mut write) {
                    Poll::Ready(Ok(())) => return Step::Again,
                    Poll::Ready(Err(e)) => {
                        self.fail(Error::disconnected(format!("poll failed: {e}")));
                        return Step::Dead;
                    }
                    Poll::Pending => {}
                }
            }
        }
        // Made-up replies from the device arrive without readiness.
        if self.kind == TransportKind::Xenbus && rx.has_pending() {
            self.read_frames(rx, woken, me);
            return Step::Read;
        }
        // Input: armed already, until the reactor wakes the connection.
        if *read_armed {
            return Step::Idle(next);
        }
        let mut dead = false;
        let mut read = || {
            let (drained, now_dead) = self.read_frames(rx, woken, me);
            dead = now_dead;
            drained
        };
        match R::poll_read(io, cx, &mut read) {
            Poll::Ready(Ok(())) if dead => Step::Dead,
            Poll::Ready(Ok(())) => Step::Read,
            Poll::Ready(Err(e)) => {
                self.fail(Error::disconnected(format!("poll failed: {e}")));
                Step::Dead
            }
            Poll::Pending => {
                *read_armed = true;
                Step::Idle(next)
            }
        }
    }

    /// While there is no connection: drops the old one's halves, makes an
    /// attempt at a new one when due (connecting a Unix socket does not
    /// block), else arms the back-off timer. Returns whether anything
    /// changed that waiters must look at (a new connection, or giving up).
    fn poll_reconnect(&self, reader: &mut Reader<R>, cx: &mut Context<'_>) -> bool {
        let Some((endpoint, _)) = &self.reconnect else {
            return false;
        };
        loop {
            let Some(next) = lock(&self.state).attempts.as_ref().map(Attempts::next) else {
                return false;
            };
            // The old fd would report its end forever.
            reader.set_link(None);
            if next > Instant::now() {
                if !poll_timer::<R>(&mut reader.backoff, next, false, false, cx) {
                    return false;
                }
                reader.backoff = None;
            }
            let attempt = endpoint
                .connect()
                .map_err(|e| connect_error(endpoint, e))
                .and_then(open::<R>);
            let mut st = lock(&self.state);
            match attempt {
                Ok((rx, sender, io)) => {
                    reader.set_link(Some((rx, io)));
                    st.sender = Some(sender);
                    st.made_by = st.attempts.take();
                    st.connected = true;
                    // The watches again, then what waited.
                    st.core.reconnected();
                    self.flush_locked(&mut st);
                    let woken = named(&mut st.core);
                    drop(st);
                    wake_named(woken);
                    return true;
                }
                Err(e) => {
                    let connected = st.connected;
                    let Some(attempts) = st.attempts.as_mut() else {
                        return false;
                    };
                    if attempts.failed(Instant::now()) {
                        continue;
                    }
                    // Before any connection, giving up is failing to connect.
                    let err = match connected {
                        true => attempts.gave_up(&self.peer, &e.to_string()),
                        false => e,
                    };
                    self.fail_locked(&mut st, err);
                    return true;
                }
            }
        }
    }

    /// Reads until the fd would block (or, when nothing waits, until a
    /// short read: see [`quiet`]), handing every frame to the core and
    /// waking whom it names (but `me`) through `woken`. Returns whether
    /// the fd was drained, and whether the connection is dead.
    fn read_frames(
        &self,
        rx: &mut FrameReceiver,
        woken: &mut Vec<Caller>,
        me: u64,
    ) -> (bool, bool) {
        // One lock for the frames of one drain (bounded by the read
        // buffer), not one per frame: the other workers' tasks take it too.
        let st = RefCell::new(lock(&self.state));
        let outcome = rx.recv_until(
            |frame| {
                // A rejected frame kills the connection inside the core,
                // waking every waiter.
                let _ = st.borrow_mut().core.handle_frame(&frame);
            },
            // Once the socket is empty and nothing waits, not the read
            // that would find it so (a system call per request). Not when
            // reconnecting: an end of file that came with the reply must
            // be seen now, or the next request would be written into the
            // dead connection (and a write then fail as maybe applied).
            || self.reconnect.is_none() && quiet(&st.borrow().core),
        );
        let mut st = st.into_inner();
        st.core.take_woken(woken);
        if st.core.poll_transmit().is_some() {
            self.flush_locked(&mut st);
        }
        let dead = st.core.is_dead();
        drop(st);
        wake_all(woken, me);
        match outcome {
            Ok(()) => (true, dead),
            Err(e) => {
                match receive_error(e) {
                    Ok(lost) => self.lost(lost),
                    Err(fatal) => self.fail(fatal),
                }
                (false, lock(&self.state).core.is_dead())
            }
        }
    }

    /// Puts a participant among the waiting with its registered waker,
    /// unless it is there already with that one (`new`: it changed).
    fn seat(&self, seat: &mut Seat, new: bool) {
        if seat.seated && !new {
            return;
        }
        let Some(waker) = seat.waker.as_ref() else {
            return;
        };
        let mut list = lock(&self.waiting.list);
        match list.iter_mut().find(|(id, _, _)| *id == seat.id) {
            Some((_, w, _)) => w.clone_from(waker),
            None => list.push((seat.id, waker.clone(), seat.monitor)),
        }
        seat.seated = true;
    }

    /// Takes a participant off the waiting list. One that goes away may
    /// have been woken to read for everyone and never will: if nobody has
    /// read since the reactor fired (or with `hand_on`, for a participant
    /// dropped unanswered), the next waiting request is woken in its place.
    pub(crate) fn unseat(&self, seat: &mut Seat, hand_on: bool) {
        if !seat.seated {
            return;
        }
        let mut list = lock(&self.waiting.list);
        list.retain(|(id, _, _)| *id != seat.id);
        seat.seated = false;
        if hand_on || self.waiting.unread.load(SeqCst) {
            if let Some((_, w, _)) = list.iter().find(|(_, _, monitor)| !monitor) {
                w.wake_by_ref();
            }
        }
    }

    /// A participant goes away: `give_up` runs on the core first (e.g.
    /// abandoning its request), and what it queued is written.
    pub(crate) fn leave(&self, seat: &mut Seat, give_up: impl FnOnce(&mut Core<Caller>)) {
        self.unseat(seat, true);
        if self.forked() {
            return;
        }
        let mut st = lock(&self.state);
        give_up(&mut st.core);
        self.flush_locked(&mut st);
    }
}

/// A request's reply, awaited. Dropping it before it is ready gives the
/// request up: the connection stays usable.
pub(crate) struct Reply<'c, R: Runtime> {
    conn: &'c Conn<R>,
    req_id: u32,
    seat: Seat,
    done: bool,
    /// Dropped early, the request still goes out (a cleanup).
    detach: bool,
}

impl<'c, R: Runtime> Reply<'c, R> {
    fn new(conn: &'c Conn<R>, req_id: u32) -> Self {
        Reply {
            conn,
            req_id,
            seat: Seat::default(),
            done: false,
            detach: false,
        }
    }

    /// Dropping this future before the reply lets the request go out
    /// anyway (its reply is then dropped), rather than withdrawing it.
    pub(crate) fn detach_on_drop(mut self) -> Self {
        self.detach = true;
        self
    }
}

impl<R: Runtime> std::future::Future for Reply<'_, R> {
    type Output = Result<Response, Error>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(Err(Error::disconnected("the reply was already taken")));
        }
        let req_id = this.req_id;
        let register = |core: &mut Core<Caller>, c: Caller| core.set_waker(req_id, c);
        // `is_ready` first: a cheaper look than `poll_reply`'s.
        let mut take = |core: &mut Core<Caller>| match core.is_ready(req_id) {
            true => core.poll_reply(req_id),
            false => None,
        };
        let found = ready!(this
            .conn
            .poll_until(&mut this.seat, cx, &register, &mut take));
        this.done = true;
        if let Some(reply) = found {
            return Poll::Ready(reply);
        }
        if this.conn.forked() {
            return Poll::Ready(Err(Error::Forked));
        }
        let reply = this.conn.with_core(|core| core.poll_reply(req_id));
        Poll::Ready(reply.unwrap_or_else(|| Err(Error::disconnected("client closed"))))
    }
}

impl<R: Runtime> Drop for Reply<'_, R> {
    fn drop(&mut self) {
        if self.done {
            return; // answered: nothing to give up, and no longer seated
        }
        let req_id = self.req_id;
        let detach = self.detach;
        self.conn.leave(&mut self.seat, |core| match detach {
            true => core.detach(req_id),
            false => core.abandon(req_id),
        });
    }
}

impl<R: Runtime> Drop for Conn<R> {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        st.core.fail(Error::disconnected("client closed"));
        let woken = named(&mut st.core);
        drop(st);
        wake_named(woken);
    }
}

/// Splits a connection and registers a duplicate of its fd with the
/// runtime's reactor.
fn open<R: Runtime>(conn: Connection) -> Result<(FrameReceiver, FrameSender, R::Io), Error> {
    let kind = conn.kind();
    let peer = conn.peer().to_owned();
    let (rx, sender) = conn.split().map_err(transport_error)?;
    let io_err = |e: std::io::Error| Error::Connect {
        path: peer.clone().into(),
        source: std::sync::Arc::new(std::io::Error::new(
            e.kind(),
            format!("cannot register the connection with the runtime: {e}"),
        )),
    };
    let fd = std::os::fd::AsFd::as_fd(&rx)
        .try_clone_to_owned()
        .map_err(io_err)?;
    let io = R::register(fd, kind == TransportKind::Xenbus).map_err(io_err)?;
    Ok((rx, sender, io))
}

/// Polls the timer in `slot` set to `at` (made, or moved, as needed; with
/// `early_ok`, only moved earlier: the caller looks at the time when it
/// fires); whether it fired (it is then cleared). With `tracked`, the
/// waker in `cx` is one that clears [`Timed::armed`] when it fires (the
/// deadline timer's [`TimerFired`]), so an armed timer left where it was
/// is not polled again.
fn poll_timer<R: Runtime>(
    slot: &mut Option<Timed<R::Timer>>,
    at: Instant,
    early_ok: bool,
    tracked: bool,
    cx: &mut Context<'_>,
) -> bool {
    let t = match slot {
        Some(t) => {
            if at < t.at || (at > t.at && !early_ok) {
                R::reset(&mut t.timer, at);
                t.at = at;
                t.armed = false;
            }
            t
        }
        None => slot.insert(Timed {
            at,
            timer: R::timer(at),
            armed: false,
        }),
    };
    if tracked && t.armed {
        return false;
    }
    if std::pin::Pin::new(&mut t.timer).poll(cx).is_ready() {
        *slot = None;
        return true;
    }
    t.armed = tracked;
    false
}
