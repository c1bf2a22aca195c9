//! The router's protocol state, with no I/O: a plain struct driven by
//! "request out" ([`Protocol::register`]) and "frame in"
//! ([`Protocol::handle_frame`]) calls, in the style of `quinn-proto`.
//!
//! It decides which caller a reply belongs to (by request id, checking the
//! type and transaction id echo), which monitors an event goes to (by token,
//! then by the monitors' current watches), when a WATCH or UNWATCH must
//! really be sent (several monitors may share one registration), and what
//! happens when the daemon misbehaves: the connection is declared dead and
//! every waiter is told. Threads, locks and sockets live in
//! the router (`router.rs`); this file is tested with scripted frames.
//!
//! `W` is whatever wakes a waiter (a condition variable in the router, a
//! counter in tests); [`Protocol::handle_frame`] calls back with each one
//! that has something new.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use xs_wire::{is_child, Frame, Header, Op, Reply, ReplyKind, WatchEvent};

use crate::{Error, Event};

/// A reply as received: the header and an owned copy of the payload. The
/// caller parses it with [`xs_wire::Reply::parse`] in its own thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The reply header (type `ERROR` for error replies).
    pub header: Header,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

/// Replies to requests that timed out are dropped when they arrive late;
/// past this many the daemon is considered unresponsive.
const ABANDONED_MAX: usize = 4096;

struct Pending<W> {
    op: Op,
    tx_id: u32,
    seq: u64,
    result: Option<Result<Response, Error>>,
    waker: W,
    /// A WATCH's (path, token), to undo it if its reply comes too late.
    watch: Option<(String, String)>,
}

/// A request whose caller gave up (timed out), kept until its reply comes
/// so that the reply is recognised and dropped, and whatever it created on
/// the daemon undone (see [`Cleanup`]).
struct Abandoned {
    op: Op,
    seq: u64,
    watch: Option<(String, String)>,
}

/// Something a late reply created on the daemon that nobody is left to
/// use: the caller sends the request that undoes it (see
/// [`Protocol::take_cleanups`]) and ignores the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// TRANSACTION_END `F` for a transaction opened by a TRANSACTION_START
    /// whose caller timed out; otherwise it would stay open on the daemon
    /// (against its transaction limit) until the connection closes.
    EndTransaction(u32),
    /// UNWATCH for a watch registered by a WATCH whose caller timed out;
    /// otherwise the daemon would keep it (and fire it) until the
    /// connection closes.
    Unwatch {
        /// The watched path.
        path: String,
        /// The watch's token.
        token: String,
    },
}

/// Hashes request ids with one multiplication. They are chosen by this
/// client (sequential, never by the peer), so a keyed hash buys nothing, and
/// SipHash cost more than the rest of matching a reply.
#[derive(Clone, Copy, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// A monitor's view: what it watches and what it has not consumed yet.
struct MonitorState<W> {
    watches: HashSet<(String, String)>,
    /// Tokens watched before, for monitors that keep unwatched events.
    past_tokens: HashSet<String>,
    queue: VecDeque<Event>,
    capacity: usize,
    dropped: u64,
    keep_unwatched: bool,
    waker: W,
}

impl<W> MonitorState<W> {
    fn covers(&self, path: &str, token: &str) -> bool {
        self.watches
            .iter()
            .any(|(wpath, wtoken)| wtoken == token && is_child(path, wpath))
    }
}

/// Identifies a monitor inside one [`Protocol`].
pub type MonitorId = u64;

/// What the caller must put on the wire after a watch change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireAction {
    /// Send the WATCH/UNWATCH: this is the first/last use of the pair.
    Send,
    /// Nothing to send: another monitor shares the registration.
    Nothing,
}

/// The protocol state of one connection.
pub struct Protocol<W> {
    next_req_id: u32,
    next_seq: u64,
    pending: IdMap<Pending<W>>,
    abandoned: IdMap<Abandoned>,
    cleanups: Vec<Cleanup>,
    monitors: HashMap<MonitorId, MonitorState<W>>,
    next_monitor: MonitorId,
    /// Registrations on the wire: (path, token) -> monitors using it.
    registrations: HashMap<(String, String), usize>,
    dead: Option<Error>,
}

impl<W: Clone> Default for Protocol<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<W: Clone> Protocol<W> {
    /// A fresh connection's state.
    pub fn new() -> Self {
        Protocol {
            next_req_id: 1,
            next_seq: 0,
            pending: IdMap::default(),
            abandoned: IdMap::default(),
            cleanups: Vec::new(),
            monitors: HashMap::new(),
            next_monitor: 1,
            registrations: HashMap::new(),
            dead: None,
        }
    }

    /// Allocates a request id for a request about to be sent: wrapping,
    /// never 0 (the xenbus device's WATCH replies carry 0), never one still
    /// in flight.
    pub fn register(&mut self, op: Op, tx_id: u32, waker: W) -> Result<u32, Error> {
        if let Some(e) = &self.dead {
            return Err(e.duplicate());
        }
        let req_id = loop {
            let id = self.next_req_id;
            self.next_req_id = id.wrapping_add(1);
            if id != 0 && !self.pending.contains_key(&id) && !self.abandoned.contains_key(&id) {
                break id;
            }
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.insert(
            req_id,
            Pending {
                op,
                tx_id,
                seq,
                result: None,
                waker,
                watch: None,
            },
        );
        Ok(req_id)
    }

    /// Records the (path, token) of the WATCH sent as `req_id`, so that it
    /// can be undone if its caller times out and the reply comes later.
    pub fn note_watch(&mut self, req_id: u32, path: &str, token: &str) {
        if let Some(p) = self.pending.get_mut(&req_id) {
            p.watch = Some((path.to_owned(), token.to_owned()));
        }
    }

    /// Forgets a request that was never sent (its write failed).
    pub fn unregister(&mut self, req_id: u32) {
        self.pending.remove(&req_id);
    }

    /// Whether the reply (or a failure) for `req_id` is waiting.
    pub fn is_ready(&self, req_id: u32) -> bool {
        self.pending.get(&req_id).is_none_or(|p| p.result.is_some())
    }

    /// Takes the reply for `req_id`, if it has arrived.
    pub fn take(&mut self, req_id: u32) -> Option<Result<Response, Error>> {
        match self.pending.get(&req_id) {
            None => Some(Err(self.dead_error())),
            Some(p) if p.result.is_some() => self.pending.remove(&req_id).and_then(|p| p.result),
            Some(_) => None,
        }
    }

    /// Gives up on `req_id` (timeout): a late reply will be dropped, and
    /// what it created undone (see [`Protocol::take_cleanups`]).
    pub fn abandon(&mut self, req_id: u32) {
        if let Some(p) = self.pending.remove(&req_id) {
            match p.result {
                None => {
                    let late = Abandoned {
                        op: p.op,
                        seq: p.seq,
                        watch: p.watch,
                    };
                    self.abandoned.insert(req_id, late);
                }
                // The reply came just as its caller gave up.
                Some(Ok(resp)) => self.undo_late(p.op, p.watch, &resp.header, &resp.payload),
                Some(Err(_)) => {}
            }
        }
        if self.abandoned.len() > ABANDONED_MAX {
            self.fail(Error::Disconnected {
                reason: "too many requests left unanswered".into(),
            });
        }
    }

    /// Number of requests sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.pending.values().filter(|p| p.result.is_none()).count()
    }

    /// Whether the connection has been declared dead.
    pub fn is_dead(&self) -> bool {
        self.dead.is_some()
    }

    /// The error every call gets once the connection is dead.
    pub fn dead_error(&self) -> Error {
        match &self.dead {
            Some(e) => e.duplicate(),
            None => Error::Disconnected {
                reason: "request was cancelled".into(),
            },
        }
    }

    /// Declares the connection dead: every pending request and every monitor
    /// gets `reason`, and later registrations fail at once.
    pub fn fail(&mut self, reason: Error) -> Vec<W> {
        let mut woken = Vec::new();
        if self.dead.is_some() {
            return woken;
        }
        for p in self.pending.values_mut() {
            if p.result.is_none() {
                p.result = Some(Err(reason.duplicate()));
                woken.push(p.waker.clone());
            }
        }
        woken.extend(self.monitors.values().map(|m| m.waker.clone()));
        self.dead = Some(reason);
        woken
    }

    /// Handles one frame from the daemon. On a frame the client cannot
    /// accept, the connection is declared dead (every waiter is woken with
    /// the error) and the error is returned.
    pub fn handle_frame(
        &mut self,
        frame: &Frame<'_>,
        wake: &mut impl FnMut(&W),
    ) -> Result<(), Error> {
        let result = if frame.header.op == Op::WatchEvent {
            self.handle_event(frame.payload, wake)
        } else {
            self.handle_reply(frame, wake)
        };
        if let Err(e) = &result {
            for w in self.fail(e.duplicate()) {
                wake(&w);
            }
        }
        result
    }

    fn handle_reply(&mut self, frame: &Frame<'_>, wake: &mut impl FnMut(&W)) -> Result<(), Error> {
        let h = frame.header;
        let req_id = match self.pending.get(&h.req_id) {
            Some(p) if p.result.is_none() => h.req_id,
            _ if self.abandoned.contains_key(&h.req_id) => {
                self.late_reply(h.req_id, frame);
                return Ok(());
            }
            // The xenbus device answers WATCH with req_id 0 (a known kernel
            // bug): give it to the oldest WATCH still unanswered. That may
            // be one whose caller timed out (the daemon answers in order),
            // in which case the reply is a late one, not the next caller's.
            _ if h.req_id == 0 && h.op == Op::Watch => {
                let waiting = self
                    .pending
                    .iter()
                    .filter(|(_, p)| p.op == Op::Watch && p.result.is_none())
                    .map(|(&id, p)| (p.seq, id, false));
                let given_up = self
                    .abandoned
                    .iter()
                    .filter(|(_, a)| a.op == Op::Watch)
                    .map(|(&id, a)| (a.seq, id, true));
                match waiting.chain(given_up).min() {
                    Some((_, id, false)) => id,
                    Some((_, id, true)) => {
                        self.late_reply(id, frame);
                        return Ok(());
                    }
                    None => return Err(unexpected(&h, "WATCH reply with no WATCH waiting")),
                }
            }
            _ => return Err(unexpected(&h, "reply to a request id never sent")),
        };
        let Some(p) = self.pending.get_mut(&req_id) else {
            return Err(unexpected(&h, "reply to a request id never sent"));
        };
        if h.op != p.op && h.op != Op::Error {
            return Err(unexpected(
                &h,
                &format!("reply type does not match {}", p.op),
            ));
        }
        if h.tx_id != p.tx_id && !(h.op == Op::Watch && h.req_id == 0) {
            return Err(unexpected(
                &h,
                &format!("reply transaction id does not match {}", p.tx_id),
            ));
        }
        p.result = Some(Ok(Response {
            header: h,
            payload: frame.payload.to_vec(),
        }));
        wake(&p.waker);
        Ok(())
    }

    /// Drops the late reply to abandoned request `req_id`, noting what it
    /// created on the daemon for [`Protocol::take_cleanups`].
    fn late_reply(&mut self, req_id: u32, frame: &Frame<'_>) {
        if let Some(a) = self.abandoned.remove(&req_id) {
            self.undo_late(a.op, a.watch, &frame.header, frame.payload);
        }
    }

    fn undo_late(&mut self, op: Op, watch: Option<(String, String)>, h: &Header, payload: &[u8]) {
        if h.op != op {
            return; // an error reply: nothing was created
        }
        match op {
            Op::TransactionStart => {
                let kind = ReplyKind::TransactionId;
                if let Ok(Reply::TransactionId(id)) = Reply::parse_payload(op, kind, payload) {
                    self.cleanups.push(Cleanup::EndTransaction(id));
                }
            }
            Op::Watch => {
                if let Some((path, token)) = watch {
                    self.cleanups.push(Cleanup::Unwatch { path, token });
                }
            }
            _ => {}
        }
    }

    /// What late replies created on the daemon and nobody will use; the
    /// caller should send the undoing requests (and ignore their answers).
    ///
    /// An UNWATCH is held back while a monitor still holds the (path,
    /// token) registration: another monitor may have shared the timed-out
    /// WATCH and rely on it, or the timed-out monitor has not released it
    /// yet. It goes out once nobody does (a duplicate of a monitor's own
    /// UNWATCH just gets `ENOENT`, which is ignored).
    pub fn take_cleanups(&mut self) -> Vec<Cleanup> {
        let registrations = &self.registrations;
        let (ready, held) = std::mem::take(&mut self.cleanups)
            .into_iter()
            .partition(|c| match c {
                Cleanup::Unwatch { path, token } => {
                    !registrations.contains_key(&(path.clone(), token.clone()))
                }
                Cleanup::EndTransaction(_) => true,
            });
        self.cleanups = held;
        ready
    }

    fn handle_event(&mut self, payload: &[u8], wake: &mut impl FnMut(&W)) -> Result<(), Error> {
        let ev = WatchEvent::parse(payload)
            .map_err(|e| Error::UnexpectedPacket(format!("bad WATCH_EVENT: {e}").into()))?;
        for m in self.monitors.values_mut() {
            let subscribed = m.watches.iter().any(|(_, t)| t == ev.token)
                || (m.keep_unwatched && m.past_tokens.contains(ev.token));
            if !subscribed || !(m.keep_unwatched || m.covers(ev.path, ev.token)) {
                continue;
            }
            if m.queue.len() >= m.capacity {
                m.dropped += 1;
            } else {
                m.queue.push_back(Event::new(ev.path, ev.token));
            }
            wake(&m.waker);
        }
        Ok(())
    }

    /// A new monitor with a queue of at most `capacity` events.
    pub fn add_monitor(&mut self, capacity: usize, keep_unwatched: bool, waker: W) -> MonitorId {
        let id = self.next_monitor;
        self.next_monitor += 1;
        self.monitors.insert(
            id,
            MonitorState {
                watches: HashSet::new(),
                past_tokens: HashSet::new(),
                queue: VecDeque::new(),
                capacity: capacity.max(1),
                dropped: 0,
                keep_unwatched,
                waker,
            },
        );
        id
    }

    /// Removes a monitor; returns the registrations nobody uses any more,
    /// which the caller should UNWATCH.
    pub fn remove_monitor(&mut self, id: MonitorId) -> Vec<(String, String)> {
        let Some(m) = self.monitors.remove(&id) else {
            return Vec::new();
        };
        m.watches
            .into_iter()
            .filter(|pair| self.release(pair) == WireAction::Send)
            .collect()
    }

    /// Records that monitor `id` watches (`path`, `token`), *before* the
    /// WATCH is sent so the initial event cannot be missed. When another
    /// monitor already holds the registration, nothing is sent and the
    /// initial event the daemon would fire is queued here instead.
    pub fn watch(&mut self, id: MonitorId, path: &str, token: &str) -> Result<WireAction, Error> {
        let pair = (path.to_owned(), token.to_owned());
        let dead = self.dead_error();
        let m = self.monitors.get_mut(&id).ok_or(dead)?;
        if m.keep_unwatched {
            m.past_tokens.insert(token.to_owned());
        }
        if !m.watches.insert(pair.clone()) {
            return Err(Error::daemon(Op::Watch, Some(path), "EEXIST"));
        }
        let users = self.registrations.entry(pair).or_insert(0);
        *users += 1;
        if *users == 1 {
            return Ok(WireAction::Send);
        }
        if m.queue.len() < m.capacity {
            m.queue.push_back(Event::new(path, token));
        } else {
            m.dropped += 1;
        }
        Ok(WireAction::Nothing)
    }

    /// Undoes [`Protocol::watch`] after the WATCH failed.
    pub fn watch_failed(&mut self, id: MonitorId, path: &str, token: &str) {
        let pair = (path.to_owned(), token.to_owned());
        if let Some(m) = self.monitors.get_mut(&id) {
            m.watches.remove(&pair);
        }
        self.release(&pair);
    }

    /// Removes monitor `id`'s watch; `ENOENT` if it has none such.
    pub fn unwatch(&mut self, id: MonitorId, path: &str, token: &str) -> Result<WireAction, Error> {
        let pair = (path.to_owned(), token.to_owned());
        let removed = self
            .monitors
            .get_mut(&id)
            .is_some_and(|m| m.watches.remove(&pair));
        if !removed {
            return Err(Error::daemon(Op::Unwatch, Some(path), "ENOENT"));
        }
        Ok(self.release(&pair))
    }

    fn release(&mut self, pair: &(String, String)) -> WireAction {
        match self.registrations.get_mut(pair) {
            Some(users) if *users > 1 => {
                *users -= 1;
                WireAction::Nothing
            }
            Some(_) => {
                self.registrations.remove(pair);
                WireAction::Send
            }
            None => WireAction::Nothing,
        }
    }

    /// Watches registered on the wire.
    pub fn registration_count(&self) -> usize {
        self.registrations.len()
    }

    /// Monitor `id`'s watches, as (path, token) pairs.
    pub fn watched(&self, id: MonitorId) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .monitors
            .get(&id)
            .map(|m| m.watches.iter().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The next thing monitor `id` should see: an overflow report first if
    /// events were dropped, then queued events still covered by its watches
    /// (all of them if it keeps unwatched events); `None` if nothing is
    /// queued; the connection's error once it is dead and drained.
    pub fn next_event(&mut self, id: MonitorId) -> Option<Result<Event, Error>> {
        let dead = self.dead.as_ref().map(Error::duplicate);
        let m = self.monitors.get_mut(&id)?;
        if m.dropped > 0 {
            let dropped = std::mem::take(&mut m.dropped);
            return Some(Err(Error::Overflow { dropped }));
        }
        while let Some(ev) = m.queue.pop_front() {
            if m.keep_unwatched || m.covers(&ev.path, &ev.token) {
                return Some(Ok(ev));
            }
        }
        dead.map(Err)
    }

    /// Whether monitor `id` has something for [`Protocol::next_event`].
    pub fn has_event(&self, id: MonitorId) -> bool {
        self.dead.is_some()
            || self
                .monitors
                .get(&id)
                .is_some_and(|m| m.dropped > 0 || !m.queue.is_empty())
    }
}

fn unexpected(h: &Header, what: &str) -> Error {
    Error::UnexpectedPacket(Arc::from(format!(
        "{what} (type {}, req_id {}, tx_id {}, len {})",
        h.op, h.req_id, h.tx_id, h.len
    )))
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
