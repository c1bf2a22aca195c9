//! The async driver: one connection shared by every task of a client, over
//! the protocol [`Core`], with no thread and no task of its own.
//!
//! # Who reads the socket
//!
//! The async counterpart of the threaded router's leader/follower scheme.
//! Every future waiting on the connection (a request, a monitor's stream)
//! is a *participant*. Whichever participant is polled while nobody holds
//! the *driver* role takes it: it writes what the core queued, reads and
//! dispatches every frame (waking the owners of the replies it finds),
//! and keeps the timer of the earliest deadline, until its own answer is
//! in. It then hands the role on by waking one waiting participant. A
//! lone task doing one request at a time therefore writes and reads
//! inline, like the sync client, and a reply is never handed from one
//! thread or task to another before its owner sees it.
//!
//! Only the driver polls the fd's readiness, so a reactor that keeps one
//! waker per direction (tokio's `AsyncFd`) is enough.
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

use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use xs_transport::{Connection, FrameReceiver, FrameSender, TransportError, TransportKind};
use xs_wire::{Op, Request};

use crate::aio::Runtime;
use crate::proto::{Core, Deadline, Response};
use crate::router::{earliest, receive_error, transport_error};
use crate::Error;

/// How long the driver waits before retrying a device write that would
/// block (the Linux driver never does; stand-ins might).
const DEVICE_RETRY: Duration = Duration::from_millis(5);

/// The shared state of one connection.
pub(crate) struct Conn<R: Runtime> {
    state: Mutex<State>,
    /// Only the driver reads. Lock order: `rx`, then `state`.
    rx: Mutex<FrameReceiver>,
    io: R::Io,
    kind: TransportKind,
    peer: String,
    timeout: Option<Duration>,
    fork_generation: u64,
}

struct State {
    core: Core<Waker>,
    sender: FrameSender,
    /// The participant holding the driver role, and its waker.
    driver: Option<(u64, Waker)>,
    /// Participants waiting while another drives.
    followers: Vec<(u64, Waker)>,
    next_participant: u64,
    woken: Vec<Waker>,
}

/// One participant's place: its id once it has waited, and the driver's
/// timers while it drives.
pub(crate) struct Seat<R: Runtime> {
    id: u64,
    timer: Option<(Instant, R::Timer)>,
    retry: Option<R::Timer>,
}

impl<R: Runtime> Default for Seat<R> {
    fn default() -> Self {
        Seat {
            id: 0,
            timer: None,
            retry: None,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves consistent state here; go on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn wake_all(wakers: &mut Vec<Waker>, except: &Waker) {
    for w in wakers.drain(..) {
        if !w.will_wake(except) {
            w.wake();
        }
    }
}

impl<R: Runtime> Conn<R> {
    /// Takes a connection: registers a duplicate of its fd with the
    /// runtime's reactor.
    pub(crate) fn new(conn: Connection, timeout: Option<Duration>) -> Result<Conn<R>, Error> {
        let kind = conn.kind();
        let max_payload = conn.max_payload();
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
        Ok(Conn {
            state: Mutex::new(State {
                core: Core::new(kind, max_payload, timeout),
                sender,
                driver: None,
                followers: Vec::new(),
                next_participant: 1,
                woken: Vec::new(),
            }),
            rx: Mutex::new(rx),
            io,
            kind,
            peer,
            timeout,
            fork_generation: xs_transport::fork_generation(),
        })
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

    /// Runs `f` on the core (with the time), then writes what it queued.
    pub(crate) fn queue<T>(
        &self,
        f: impl FnOnce(&mut Core<Waker>, Instant) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.forked() {
            return Err(Error::Forked);
        }
        let mut st = lock(&self.state);
        let value = f(&mut st.core, Instant::now())?;
        self.flush_locked(&mut st);
        // E.g. the made-up initial event of a shared watch.
        let mut woken = Vec::new();
        st.core.take_woken(&mut woken);
        drop(st);
        woken.into_iter().for_each(Waker::wake);
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
        tx_id: u32,
        limit: Option<Deadline>,
    ) -> Result<Reply<'_, R>, Error> {
        let req_id = self.queue(|core, now| {
            let deadline = earliest(core.deadline(now), limit);
            core.submit(req, tx_id, deadline, Waker::noop().clone())
        })?;
        Ok(Reply::new(self, req_id))
    }

    /// Queues several requests and writes them together (one write on a
    /// socket); a request refused before sending gets its own error.
    pub(crate) fn submit_many(
        &self,
        reqs: &[Request<'_>],
        tx_id: u32,
    ) -> Vec<Result<Reply<'_, R>, Error>> {
        let queued = self.queue(|core, now| {
            let deadline = core.deadline(now);
            Ok(reqs
                .iter()
                .map(|req| core.submit(req, tx_id, deadline, Waker::noop().clone()))
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
    pub(crate) fn submit_raw(
        &self,
        op: Op,
        payload: &[u8],
        tx_id: u32,
    ) -> Result<Reply<'_, R>, Error> {
        let req_id = self.queue(|core, now| {
            let deadline = core.deadline(now);
            core.submit_raw(op, payload, tx_id, deadline, Waker::noop().clone())
        })?;
        Ok(Reply::new(self, req_id))
    }

    /// Sends `req` and forgets it: its reply is dropped when it comes. For
    /// destructors, which cannot wait.
    pub(crate) fn send_detached(&self, req: &Request<'_>, tx_id: u32) {
        let _ = self.queue(|core, _| {
            let req_id = core.submit(req, tx_id, None, Waker::noop().clone())?;
            core.detach(req_id);
            Ok(())
        });
    }

    /// Runs `f` on the core, under the lock.
    pub(crate) fn with_core<T>(&self, f: impl FnOnce(&mut Core<Waker>) -> T) -> T {
        f(&mut lock(&self.state).core)
    }

    /// Declares the connection dead and wakes everyone.
    pub(crate) fn fail(&self, err: Error) {
        let mut st = lock(&self.state);
        st.core.fail(err);
        let mut woken = std::mem::take(&mut st.woken);
        st.core.take_woken(&mut woken);
        woken.extend(st.followers.iter().map(|(_, w)| w.clone()));
        woken.extend(st.driver.as_ref().map(|(_, w)| w.clone()));
        drop(st);
        woken.into_iter().for_each(Waker::wake);
    }

    /// Writes what the core has queued, without waiting. Returns whether
    /// bytes are left for the driver to write when the fd is writable.
    fn flush_locked(&self, st: &mut State) -> bool {
        let blocked = loop {
            if st.sender.queued_bytes() > 0 {
                match st.sender.flush() {
                    Ok(true) => {}
                    Ok(false) => break true,
                    Err(e) => {
                        self.fail_locked(st, transport_error(e));
                        break false;
                    }
                }
            }
            let Some(out) = st.core.poll_transmit() else {
                break false;
            };
            let n = out.len();
            // A zero timeout: write what the fd takes now, queue the rest.
            let sent = st.sender.send_frames(out, Some(Duration::ZERO));
            st.core.advance_transmit(n);
            match sent {
                Ok(()) => {}
                Err(TransportError::TimedOut { .. }) => break true,
                Err(e) => {
                    self.fail_locked(st, transport_error(e));
                    break false;
                }
            }
        };
        if self.kind == TransportKind::Xenbus {
            // A rejected WATCH comes back through the receiver without
            // making the fd readable: the driver looks for it.
            if let Some((_, w)) = &st.driver {
                w.wake_by_ref();
            }
        }
        blocked
    }

    fn fail_locked(&self, st: &mut State, err: Error) {
        st.core.fail(err);
        let mut woken = Vec::new();
        st.core.take_woken(&mut woken);
        woken.extend(st.followers.iter().map(|(_, w)| w.clone()));
        woken.into_iter().for_each(Waker::wake);
    }

    /// Polls until `ready` holds for the core (or the connection is dead),
    /// driving the connection when nobody else does. `register` gives the
    /// core this participant's waker (for its reply or its events).
    pub(crate) fn poll_until(
        &self,
        seat: &mut Seat<R>,
        cx: &mut Context<'_>,
        register: &dyn Fn(&mut Core<Waker>, &Waker),
        ready: &dyn Fn(&Core<Waker>) -> bool,
    ) -> Poll<()> {
        loop {
            let mut st = lock(&self.state);
            if ready(&st.core) || st.core.is_dead() || self.forked() {
                self.leave_locked(&mut st, seat);
                return Poll::Ready(());
            }
            let now = Instant::now();
            if st.core.poll_timeout().is_some_and(|t| t <= now) {
                st.core.handle_timeout(now);
                self.wake_woken(&mut st, cx.waker());
                continue;
            }
            if seat.id == 0 {
                seat.id = st.next_participant;
                st.next_participant += 1;
            }
            register(&mut st.core, cx.waker());
            if matches!(&st.driver, Some((id, _)) if *id != seat.id) {
                match st.followers.iter_mut().find(|(id, _)| *id == seat.id) {
                    Some((_, w)) => w.clone_from(cx.waker()),
                    None => st.followers.push((seat.id, cx.waker().clone())),
                }
                return Poll::Pending;
            }
            st.driver = Some((seat.id, cx.waker().clone()));
            st.followers.retain(|(id, _)| *id != seat.id);
            drop(st);
            if self.drive(seat, cx, ready).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// One turn of the driver: write, read, keep the timer. `Ready` when
    /// something changed that the caller must look at.
    fn drive(
        &self,
        seat: &mut Seat<R>,
        cx: &mut Context<'_>,
        ready: &dyn Fn(&Core<Waker>) -> bool,
    ) -> Poll<()> {
        let me = cx.waker().clone();
        loop {
            // Output.
            let blocked = self.flush_locked(&mut lock(&self.state));
            if blocked {
                if self.kind == TransportKind::Xenbus {
                    let at = Instant::now() + DEVICE_RETRY;
                    let retry = seat.retry.get_or_insert_with(|| R::timer(at));
                    if std::pin::Pin::new(&mut *retry).poll(cx).is_ready() {
                        seat.retry = None;
                        continue;
                    }
                } else {
                    let mut write = || self.flush_locked(&mut lock(&self.state));
                    match R::poll_write(&self.io, cx, &mut write) {
                        Poll::Ready(Ok(())) => continue,
                        Poll::Ready(Err(e)) => {
                            self.fail(Error::disconnected(format!("poll failed: {e}")));
                            return Poll::Ready(());
                        }
                        Poll::Pending => {}
                    }
                }
            }
            // Made-up replies from the device arrive without readiness.
            if self.kind == TransportKind::Xenbus && lock(&self.rx).has_pending() {
                self.read_frames(&me);
                return Poll::Ready(());
            }
            // Input.
            let mut read = || self.read_frames(&me);
            match R::poll_read(&self.io, cx, &mut read) {
                Poll::Ready(Ok(())) => {
                    let st = lock(&self.state);
                    if ready(&st.core) || st.core.is_dead() {
                        return Poll::Ready(());
                    }
                    continue;
                }
                Poll::Ready(Err(e)) => {
                    self.fail(Error::disconnected(format!("poll failed: {e}")));
                    return Poll::Ready(());
                }
                Poll::Pending => {}
            }
            // Time.
            let next = lock(&self.state).core.poll_timeout();
            if let Some(at) = next {
                let timer = match &mut seat.timer {
                    Some((set, timer)) => {
                        if *set != at {
                            R::reset(timer, at);
                            *set = at;
                        }
                        timer
                    }
                    None => &mut seat.timer.insert((at, R::timer(at))).1,
                };
                if std::pin::Pin::new(timer).poll(cx).is_ready() {
                    seat.timer = None;
                    return Poll::Ready(());
                }
            }
            return Poll::Pending;
        }
    }

    /// Reads until the fd would block, handing every frame to the core
    /// and waking whom it names (but `me`). Returns whether the fd was
    /// drained.
    fn read_frames(&self, me: &Waker) -> bool {
        let mut rx = lock(&self.rx);
        let mut woken = Vec::new();
        let mut output = false;
        let outcome = rx.recv(|frame| {
            let mut st = lock(&self.state);
            // A rejected frame kills the connection inside the core,
            // waking every waiter.
            let _ = st.core.handle_frame(&frame);
            st.core.take_woken(&mut woken);
            output |= st.core.poll_transmit().is_some();
            if st.core.is_dead() {
                woken.extend(st.followers.iter().map(|(_, w)| w.clone()));
            }
            drop(st);
            wake_all(&mut woken, me);
        });
        drop(rx);
        if output {
            self.flush_locked(&mut lock(&self.state));
        }
        match outcome {
            Ok(()) => true,
            Err(e) => {
                self.fail(receive_error(e));
                false
            }
        }
    }

    fn wake_woken(&self, st: &mut State, me: &Waker) {
        let mut woken = std::mem::take(&mut st.woken);
        st.core.take_woken(&mut woken);
        wake_all(&mut woken, me);
        st.woken = woken;
    }

    /// A participant leaves: the driver role, if it held it, goes to a
    /// waiting participant.
    fn leave_locked(&self, st: &mut State, seat: &mut Seat<R>) {
        seat.timer = None;
        seat.retry = None;
        if seat.id == 0 {
            return;
        }
        st.followers.retain(|(id, _)| *id != seat.id);
        if matches!(&st.driver, Some((id, _)) if *id == seat.id) {
            st.driver = None;
        }
        if st.driver.is_none() {
            if let Some((_, w)) = st.followers.first() {
                w.wake_by_ref();
            }
        }
        seat.id = 0;
    }

    /// A participant goes away: `give_up` runs on the core first (e.g.
    /// abandoning its request), and what it queued is written.
    pub(crate) fn leave(&self, seat: &mut Seat<R>, give_up: impl FnOnce(&mut Core<Waker>)) {
        if self.forked() {
            return;
        }
        let mut st = lock(&self.state);
        give_up(&mut st.core);
        self.flush_locked(&mut st);
        self.leave_locked(&mut st, seat);
    }
}

/// A request's reply, awaited. Dropping it before it is ready gives the
/// request up: the connection stays usable.
pub(crate) struct Reply<'c, R: Runtime> {
    conn: &'c Conn<R>,
    req_id: u32,
    seat: Seat<R>,
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
        let register = |core: &mut Core<Waker>, w: &Waker| core.set_waker(req_id, w.clone());
        let ready = |core: &Core<Waker>| core.is_ready(req_id);
        if this
            .conn
            .poll_until(&mut this.seat, cx, &register, &ready)
            .is_pending()
        {
            return Poll::Pending;
        }
        this.done = true;
        if this.conn.forked() {
            return Poll::Ready(Err(Error::Forked));
        }
        let reply = this.conn.with_core(|core| core.poll_reply(req_id));
        Poll::Ready(reply.unwrap_or_else(|| Err(Error::disconnected("client closed"))))
    }
}

impl<R: Runtime> Drop for Reply<'_, R> {
    fn drop(&mut self) {
        let req_id = self.req_id;
        let (done, detach) = (self.done, self.detach);
        self.conn.leave(&mut self.seat, |core| match (done, detach) {
            (true, _) => {}
            (false, true) => core.detach(req_id),
            (false, false) => core.abandon(req_id),
        });
    }
}

impl<R: Runtime> Drop for Conn<R> {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        st.core.fail(Error::disconnected("client closed"));
        let mut woken = Vec::new();
        st.core.take_woken(&mut woken);
        drop(st);
        woken.into_iter().for_each(Waker::wake);
    }
}
