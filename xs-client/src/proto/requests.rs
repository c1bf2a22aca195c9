//! The table of requests sent and not yet collected: ids, deadlines, and
//! the requests whose callers gave up but whose replies will still come.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use xs_wire::Op;

use super::id_table::IdTable;
use super::watches::{MonitorId, Pair};
use super::Response;
use crate::Error;

/// When a request's caller stops waiting: the instant, and the limit to
/// report in [`Error::Timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    /// The instant the wait ends.
    pub at: Instant,
    /// The timeout that set it.
    pub limit: Duration,
}

impl Deadline {
    /// `limit` from `now` (`None` if that overflows the clock).
    pub fn after(now: Instant, limit: Duration) -> Option<Deadline> {
        now.checked_add(limit).map(|at| Deadline { at, limit })
    }
}

/// Hashes request ids with one multiplication. They are chosen by this
/// client (sequential, never by the peer), so a keyed hash buys nothing, and
/// SipHash cost more than the rest of matching a reply.
#[derive(Clone, Copy, Default)]
pub(crate) struct IdHasher(u64);

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

pub(crate) type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// (An explicit tag, not a niche in the answer: every look at a request
/// reads its state, and a tag is one compare.)
#[repr(u8)]
pub(crate) enum State {
    /// Sent (or queued); the caller waits.
    Waiting,
    /// The answer is in; the caller has not taken it (an error boxed:
    /// entries stay small).
    Answered(Result<Response, Box<Error>>),
    /// The caller is gone: a late reply is dropped and what it created on
    /// the daemon undone.
    Abandoned,
}

/// Who waits for a new request's reply.
pub(crate) enum Waiter<W> {
    /// A caller that sleeps until `W` wakes it.
    Woken(W),
    /// A caller that reads the reply itself; it gives a waker before it
    /// sleeps ([`super::Core::set_waker`]).
    Reading,
    /// Nobody: the reply is dropped when it comes.
    Nobody,
}

/// What happens to a request written on a connection that is lost before
/// its answer comes (reconnecting clients only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnLoss {
    /// Read-only (or harmless to repeat): sent again on the new connection.
    Resend,
    /// Changes the store: fails with [`Error::MaybeApplied`].
    MaybeApplied,
    /// Belongs to a transaction, which died with the connection.
    TransactionLost,
}

impl OnLoss {
    /// The rule for `op` in transaction `tx_id`; `commit` for
    /// TRANSACTION_END.
    pub(crate) fn of(op: Op, tx_id: u32, commit: bool) -> OnLoss {
        match op {
            Op::TransactionEnd if commit => OnLoss::MaybeApplied,
            _ if tx_id != 0 => OnLoss::TransactionLost,
            Op::Read
            | Op::Directory
            | Op::DirectoryPart
            | Op::GetPerms
            | Op::GetDomainPath
            | Op::IsDomainIntroduced
            | Op::GetFeature
            | Op::GetQuota
            | Op::TransactionStart
            | Op::Watch
            | Op::Unwatch => OnLoss::Resend,
            _ => OnLoss::MaybeApplied,
        }
    }
}

/// A WATCH made for a monitor: undone if it fails or its caller gives up.
#[derive(Clone, Debug)]
pub(crate) struct WatchOrigin {
    pub(crate) monitor: MonitorId,
    pub(crate) pair: Pair,
    /// The depth it asks for (Xen 4.22).
    pub(crate) depth: Option<u32>,
    /// The monitor unwatched the pair (or is gone) since: this WATCH no
    /// longer speaks for it (see [`Requests::forget_watch`]).
    pub(crate) stale: bool,
}

/// One request in the table.
pub(crate) struct Entry<W> {
    pub(crate) op: Op,
    pub(crate) tx_id: u32,
    /// Order of submission (the device's req_id-0 WATCH replies are
    /// matched to the oldest WATCH).
    pub(crate) seq: u64,
    pub(crate) state: State,
    pub(crate) waker: Option<W>,
    /// The core's own timeout, if it has one, applies (see
    /// [`Requests::arm`]): true for every new request (without a timeout
    /// no group is ever made, and this is never asked), false once
    /// readopted.
    pub(crate) default_timeout: bool,
    /// A TRANSACTION_END that commits (see [`Entry::on_loss`]); set by
    /// the encoding, with `op`.
    pub(crate) commit: bool,
    /// Rare fields, boxed: every request writes its entry, and a field
    /// that is there is a field to write.
    extra: Option<Box<Extra>>,
}

/// What few requests need.
#[derive(Default)]
pub(crate) struct Extra {
    /// A deadline of its own: cleanups, rollbacks, calls with a limit,
    /// which pay an allocation so that the usual request writes 24 bytes
    /// less (14 instructions per READ).
    deadline: Option<Deadline>,
    watch: Option<WatchOrigin>,
    /// The encoded frame, kept to send again after a reconnection.
    frame: Option<Box<[u8]>>,
}

impl Extra {
    /// A request's own deadline and a monitor's WATCH; `None` (nothing
    /// allocated) for neither.
    #[inline]
    fn of(deadline: Option<Deadline>, watch: Option<WatchOrigin>) -> Option<Box<Extra>> {
        if deadline.is_none() && watch.is_none() {
            return None;
        }
        Some(Box::new(Extra {
            deadline,
            watch,
            frame: None,
        }))
    }
}

/// A request about to be recorded: what [`Requests::insert_new`] needs
/// besides its waiter, watch and frame.
pub(crate) struct Submitted {
    pub(crate) tx_id: u32,
    pub(crate) deadline: Option<Deadline>,
}

pub(crate) struct Requests<W> {
    next_req_id: u32,
    next_seq: u64,
    pub(crate) entries: IdTable<Entry<W>>,
    /// Requests that timed out, with the limit, until their callers look.
    pub(crate) expired: IdMap<Duration>,
    /// Entries in state `Abandoned`.
    pub(crate) abandoned: usize,
    /// Entries in state `Answered` (see [`Requests::recount`]).
    pub(crate) answered: usize,
    /// The request answered last, until its answer is taken or its entry
    /// leaves that state (0: none): its readiness is then one compare.
    pub(crate) last_answered: u32,
    /// The default timeout's clock, coarsely: groups of requests whose
    /// clocks started within 1/64 of the timeout of each other (see
    /// [`Group`]), oldest first; later requests may join only `open`, the
    /// newest. A request's clock starts at the first look at the time
    /// after it was queued, and a group expires a timeout after its latest
    /// member's start (so a request times out at most 1/64 of the timeout
    /// late, never early): no clock read and one compare per request.
    closed: VecDeque<Group>,
    open: Option<Group>,
    /// Requests below this sequence number are covered by the groups.
    armed_below: u64,
    /// Entries whose default timeout's clock has started (below
    /// `armed_below`). While there are none and no explicit deadline is
    /// pending, no request needs the time yet (see
    /// [`Requests::may_wait_unclocked`]).
    armed: usize,
    /// `next_seq` when a wait without the time was last allowed.
    unclocked_at: u64,
    /// No waiting request's explicit deadline is earlier than this.
    next_explicit: Option<Instant>,
    /// No deadline at all (explicit or the default timeout's) is earlier
    /// than this: a timeout after the *first* start in the oldest group,
    /// and `next_explicit`. May be early, never late.
    soonest: Option<Instant>,
    /// Requests taken over by a new caller (see [`Requests::readopt`])
    /// whose default timeout starts at the next [`Requests::arm`].
    restart_clock: Vec<u32>,
}

/// Requests whose default timeout's clocks started close together.
#[derive(Clone, Copy)]
struct Group {
    /// The last sequence number in the group (it holds every earlier one
    /// not in an earlier group).
    upto: u64,
    /// When its latest member's clock started.
    latest: Instant,
    /// Until when later requests may join it.
    join_until: Instant,
}

/// What [`Requests::take_answer`] gives for a request with no answer to take.
#[cold]
fn not_ours() -> Error {
    Error::disconnected("the request was abandoned or its reply already taken")
}

/// The earlier of two instants, either of which may be missing.
fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl<W> Entry<W> {
    /// What happens to it if the connection is lost unanswered (the rule
    /// is applied then, not when every request is recorded).
    pub(crate) fn on_loss(&self) -> OnLoss {
        OnLoss::of(self.op, self.tx_id, self.commit)
    }

    /// The monitor this WATCH still speaks for, and its pair.
    pub(crate) fn watch(&self) -> Option<&WatchOrigin> {
        self.extra.as_ref()?.watch.as_ref().filter(|o| !o.stale)
    }

    pub(crate) fn take_watch(&mut self) -> Option<WatchOrigin> {
        let o = self.extra.as_mut()?.watch.take()?;
        (!o.stale).then_some(o)
    }

    /// The pair a monitor's WATCH registers, stale or not.
    pub(crate) fn watch_pair(&self) -> Option<&Pair> {
        Some(&self.extra.as_ref()?.watch.as_ref()?.pair)
    }

    /// Its own deadline.
    fn deadline(&self) -> Option<Deadline> {
        self.extra.as_ref()?.deadline
    }

    fn set_deadline(&mut self, deadline: Option<Deadline>) {
        if deadline.is_some() || self.extra.is_some() {
            self.extra.get_or_insert_with(Box::default).deadline = deadline;
        }
    }

    pub(crate) fn take_frame(&mut self) -> Option<Box<[u8]>> {
        self.extra.as_mut()?.frame.take()
    }

    pub(crate) fn set_frame(&mut self, frame: Option<Box<[u8]>>) {
        if frame.is_some() {
            self.extra.get_or_insert_with(Box::default).frame = frame;
        }
    }
}

impl<W> Requests<W> {
    pub(crate) fn new() -> Self {
        Requests {
            next_req_id: 1,
            next_seq: 0,
            entries: IdTable::new(),
            expired: IdMap::default(),
            abandoned: 0,
            answered: 0,
            last_answered: 0,
            closed: VecDeque::new(),
            open: None,
            armed_below: 0,
            armed: 0,
            unclocked_at: u64::MAX,
            next_explicit: None,
            soonest: None,
            restart_clock: Vec::new(),
        }
    }

    /// Where [`Requests::insert_new`] starts looking (tests of the wrap).
    #[cfg(test)]
    pub(crate) fn set_next_id(&mut self, id: u32) {
        self.next_req_id = id;
    }

    /// Records a new request under a fresh id and has `encode` queue its
    /// frame; returns the id. The id: wrapping, never 0 (the xenbus
    /// device's WATCH replies carry 0), never one still in the table or
    /// expired and not yet collected, never one whose table slot another
    /// id holds. The entry is built in that slot before `encode` runs (one
    /// lookup); `encode` gets the id and the entry, sets its op and
    /// `commit` (and a frame kept), and if it fails nothing is recorded.
    /// The request starts abandoned if nobody waits for it.
    #[inline(always)]
    pub(crate) fn insert_new<E>(
        &mut self,
        new: Submitted,
        waiter: Waiter<W>,
        watch: Option<WatchOrigin>,
        encode: impl FnOnce(u32, &mut Entry<W>) -> Result<(), E>,
    ) -> Result<u32, E> {
        let (waker, abandoned) = match waiter {
            Waiter::Woken(w) => (Some(w), false),
            Waiter::Reading => (None, false),
            Waiter::Nobody => (None, true),
        };
        let Submitted { tx_id, deadline } = new;
        // Read as the entry is built (kept across the id search, it went
        // through the stack).
        let seq = &self.next_seq;
        let extra = Extra::of(deadline, watch);
        let expired = &self.expired;
        // Plain values moved in, the entry built in its slot: a `State`
        // built outside was copied whole, through the stack, twice.
        let (req_id, e) = self.entries.insert_fresh(
            &mut self.next_req_id,
            |id| id != 0 && (expired.is_empty() || !expired.contains_key(&id)),
            move || Entry {
                op: Op::Invalid, // set by `encode`
                tx_id,
                seq: *seq,
                state: match abandoned {
                    true => State::Abandoned,
                    false => State::Waiting,
                },
                waker,
                default_timeout: true,
                commit: false, // set by `encode`
                extra,
            },
        );
        if let Err(error) = encode(req_id, e) {
            self.entries.remove(req_id);
            return Err(error);
        }
        // Read back from the entry, not kept across the encoding.
        let deadline = e.deadline();
        self.next_seq += 1;
        if abandoned {
            self.abandoned += 1;
        }
        if let Some(d) = deadline {
            self.add_deadline(d.at);
        }
        Ok(req_id)
    }

    /// A waiting request's explicit deadline `at`.
    fn add_deadline(&mut self, at: Instant) {
        self.next_explicit = earlier(self.next_explicit, Some(at));
        self.soonest = earlier(self.soonest, Some(at));
    }

    /// The entry of `req_id`.
    #[inline]
    pub(crate) fn get(&self, req_id: u32) -> Option<&Entry<W>> {
        self.entries.get(req_id)
    }

    /// The entry of `req_id`, to change (a change of its state is
    /// followed by [`Requests::recount`]).
    #[inline]
    pub(crate) fn get_mut(&mut self, req_id: u32) -> Option<&mut Entry<W>> {
        self.entries.get_mut(req_id)
    }

    /// Removes an entry, keeping the counts right.
    #[inline]
    pub(crate) fn remove(&mut self, req_id: u32) -> Option<Entry<W>> {
        let e = self.entries.remove(req_id)?;
        self.forget_answered(req_id);
        match e.state {
            State::Abandoned => self.abandoned -= 1,
            State::Answered(_) => self.answered -= 1,
            State::Waiting => {}
        }
        self.disarm(&e);
        Some(e)
    }

    /// Takes the answer of `req_id` out of the table, as
    /// [`super::Core::poll_reply`] gives it: `None` while the request is
    /// waiting; an error if there is no answer to take (no such request,
    /// or abandoned, or already taken: a caller bug, reported rather than
    /// waited on forever).
    ///
    /// The entry is taken out whole and the answer moved out of it straight
    /// into the result: what is left (no waker, no extra, for most) is
    /// dropped field by field, inline, rather than by the entry's drop glue.
    #[inline]
    pub(crate) fn take_answer(&mut self, req_id: u32) -> Option<Result<Response, Error>> {
        let Some(found) = self.entries.occupied(req_id) else {
            return Some(Err(not_ours()));
        };
        match found.get().map(|e| &e.state) {
            Some(State::Answered(_)) => {}
            Some(State::Waiting) => return None,
            Some(State::Abandoned) | None => return Some(Err(not_ours())),
        }
        let Some(e) = found.remove() else {
            return Some(Err(not_ours())); // not so: seen above
        };
        self.answered -= 1;
        self.last_answered = 0;
        self.disarm(&e);
        match e.state {
            State::Answered(Ok(resp)) => Some(Ok(resp)),
            State::Answered(Err(error)) => Some(Err(*error)),
            State::Waiting | State::Abandoned => Some(Err(not_ours())), // seen above
        }
    }

    /// `req_id`'s entry leaves the state `Answered`.
    #[inline]
    fn forget_answered(&mut self, req_id: u32) {
        if self.last_answered == req_id {
            self.last_answered = 0;
        }
    }

    /// Keeps `armed` right as entry `e` leaves the table.
    #[inline]
    fn disarm(&mut self, e: &Entry<W>) {
        if e.seq < self.armed_below {
            self.armed -= 1;
        }
    }

    /// Sets the counts of abandoned, answered and armed entries from the
    /// table, after states were changed through [`Requests::get_mut`] or
    /// `entries`.
    pub(crate) fn recount(&mut self) {
        let (mut abandoned, mut answered, mut armed) = (0, 0, 0);
        for (_, e) in self.entries.iter() {
            match e.state {
                State::Abandoned => abandoned += 1,
                State::Answered(_) => answered += 1,
                State::Waiting => {}
            }
            armed += usize::from(e.seq < self.armed_below);
        }
        (self.abandoned, self.answered, self.armed) = (abandoned, answered, armed);
    }

    /// Marks a waiting or answered entry abandoned; returns its previous
    /// state.
    pub(crate) fn abandon(&mut self, req_id: u32) -> Option<State> {
        let e = self.entries.get_mut(req_id)?;
        if matches!(e.state, State::Abandoned) {
            return None;
        }
        e.waker = None;
        let before = std::mem::replace(&mut e.state, State::Abandoned);
        self.forget_answered(req_id);
        self.abandoned += 1;
        if matches!(before, State::Answered(_)) {
            self.answered -= 1;
        }
        Some(before)
    }

    /// An abandoned WATCH of `pair` with `depth` still on the wire and
    /// still speaking for its pair: a new watch of the pair takes it over
    /// rather than sending a second WATCH (which the daemon would answer
    /// with EEXIST once the first lands).
    pub(crate) fn abandoned_watch(&self, pair: &Pair, depth: Option<u32>) -> Option<u32> {
        if self.abandoned == 0 {
            return None;
        }
        self.entries
            .iter()
            .filter(|(_, e)| e.op == Op::Watch && matches!(e.state, State::Abandoned))
            .filter(|(_, e)| {
                e.watch()
                    .is_some_and(|o| o.pair == *pair && o.depth == depth)
            })
            .min_by_key(|(_, e)| e.seq)
            .map(|(id, _)| id)
    }

    /// Whether a monitor's WATCH of `pair` is unanswered (waiting or
    /// abandoned, and still speaking for the pair).
    pub(crate) fn watch_pending(&self, pair: &Pair) -> bool {
        self.entries.iter().any(|(_, e)| {
            e.op == Op::Watch
                && !matches!(e.state, State::Answered(_))
                && e.watch().is_some_and(|o| o.pair == *pair)
        })
    }

    /// A new caller waits for the abandoned WATCH `req_id`, for monitor
    /// `monitor`, with its own deadline (the default timeout, if that
    /// applies, starts again at the next [`Requests::arm`]).
    pub(crate) fn readopt(
        &mut self,
        req_id: u32,
        monitor: MonitorId,
        waker: W,
        deadline: Option<Deadline>,
        default_timeout: bool,
    ) {
        let Some(e) = self.entries.get_mut(req_id) else {
            return;
        };
        if !matches!(e.state, State::Abandoned) {
            return;
        }
        e.state = State::Waiting;
        e.waker = Some(waker);
        e.set_deadline(deadline);
        // Its old clock may have run out already: the new one starts later.
        e.default_timeout = false;
        if let Some(o) = e.extra.as_mut().and_then(|x| x.watch.as_mut()) {
            o.monitor = monitor;
        }
        self.abandoned -= 1;
        if let Some(d) = deadline {
            self.add_deadline(d.at);
        }
        if default_timeout {
            self.restart_clock.push(req_id);
        }
    }

    /// Monitor `monitor` stopped watching `pair` (or everything, for
    /// `None`): its WATCHes still in flight no longer speak for it, so their
    /// failure or late reply undoes nothing (the UNWATCH already queued
    /// does).
    pub(crate) fn forget_watch(&mut self, monitor: MonitorId, pair: Option<&Pair>) {
        for (_, e) in self.entries.iter_mut() {
            let Some(o) = e.extra.as_mut().and_then(|x| x.watch.as_mut()) else {
                continue;
            };
            if o.monitor == monitor && pair.is_none_or(|p| *p == o.pair) {
                o.stale = true;
            }
        }
    }

    /// The oldest WATCH still unanswered (waiting or abandoned), for the
    /// xenbus device's req_id-0 WATCH reply.
    pub(crate) fn oldest_watch(&self) -> Option<u32> {
        self.entries
            .iter()
            .filter(|(_, e)| e.op == Op::Watch && !matches!(e.state, State::Answered(_)))
            .min_by_key(|(_, e)| e.seq)
            .map(|(id, _)| id)
    }

    /// Starts the default `timeout`'s clock, at `now`, for the requests
    /// queued since the last call.
    #[inline]
    pub(crate) fn arm(&mut self, now: Instant, timeout: Duration) {
        if !self.restart_clock.is_empty() {
            self.restart_clocks(now, timeout);
        }
        if self.armed_below == self.next_seq {
            return;
        }
        let upto = self.next_seq - 1;
        self.armed_below = self.next_seq;
        self.armed = self.entries.len();
        match &mut self.open {
            // Never early: the group's deadline moves to its latest member's.
            Some(group) if now < group.join_until => {
                group.upto = upto;
                group.latest = now;
            }
            _ => self.open_group(upto, now, timeout),
        }
    }

    /// Opens a new group of the default timeout's clock (see `closed`).
    #[cold]
    fn open_group(&mut self, upto: u64, now: Instant, timeout: Duration) {
        let Some(at) = now.checked_add(timeout) else {
            return; // beyond the clock's range: never
        };
        let join_until = now.checked_add(timeout / 64).unwrap_or(now);
        let group = Group {
            upto,
            latest: now,
            join_until,
        };
        match self.open.replace(group) {
            Some(before) => self.closed.push_back(before),
            None if self.closed.is_empty() => self.soonest = earlier(self.soonest, Some(at)),
            None => {}
        }
    }

    /// The oldest group of the default timeout's clock.
    fn oldest_group(&self) -> Option<Group> {
        self.closed.front().or(self.open.as_ref()).copied()
    }

    /// Gives each readopted request the default timeout from `now`, as an
    /// explicit deadline (unless its own is earlier).
    #[cold]
    fn restart_clocks(&mut self, now: Instant, timeout: Duration) {
        for req_id in std::mem::take(&mut self.restart_clock) {
            let Some(e) = self.entries.get_mut(req_id) else {
                continue;
            };
            if !matches!(e.state, State::Waiting) {
                continue;
            }
            // As for a new request, the earlier of its own deadline and
            // the default timeout's.
            let Some(d) = Deadline::after(now, timeout) else {
                continue;
            };
            if e.deadline().is_none_or(|own| d.at < own.at) {
                e.set_deadline(Some(d));
                self.add_deadline(d.at);
            }
        }
    }

    /// Whether a waiting request's time may go unlooked-at for one wait:
    /// no request's clock has started, no explicit deadline is pending,
    /// and no such wait was allowed since the last request was queued (so
    /// the next look at the time comes after at most one, and a stalled
    /// request's clock starts at most one wait late).
    #[inline]
    pub(crate) fn may_wait_unclocked(&mut self) -> bool {
        if self.armed != 0 || !self.restart_clock.is_empty() || self.unclocked_at == self.next_seq {
            return false;
        }
        if self.next_explicit.is_some() && !self.forget_stale_deadlines() {
            return false;
        }
        self.unclocked_at = self.next_seq;
        true
    }

    /// Drops the explicit deadline kept for requests no longer waiting
    /// (it is otherwise forgotten only when it passes); `true` if none is
    /// left.
    #[cold]
    fn forget_stale_deadlines(&mut self) -> bool {
        let pending = self
            .entries
            .iter()
            .any(|(_, e)| matches!(e.state, State::Waiting) && e.deadline().is_some());
        if !pending {
            self.next_explicit = None;
        }
        !pending
    }

    /// The earliest deadline (explicit, or the default timeout's); may be
    /// early (requests answered since, or a group joined since), never
    /// late.
    #[inline]
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.soonest
    }

    /// Whether [`Requests::due`] may find something at `now`.
    #[inline]
    pub(crate) fn may_be_due(&self, now: Instant) -> bool {
        self.soonest.is_some_and(|d| d <= now)
    }

    /// Requests still waiting whose deadline is at or before `now`, with
    /// the limit that expired (`timeout` for the default).
    pub(crate) fn due(&mut self, now: Instant, timeout: Duration) -> Vec<(u32, Duration)> {
        let mut due = Vec::new();
        while let Some(group) = self.oldest_group() {
            if group.latest.checked_add(timeout).is_none_or(|at| at > now) {
                break;
            }
            if self.closed.pop_front().is_none() {
                self.open = None;
            }
            for (id, e) in self.entries.iter() {
                if matches!(e.state, State::Waiting) && e.default_timeout && e.seq <= group.upto {
                    due.push((id, timeout));
                }
            }
        }
        if self.next_explicit.is_some_and(|d| d <= now) {
            let mut next = None::<Instant>;
            for (id, e) in self.entries.iter() {
                if !matches!(e.state, State::Waiting) {
                    continue;
                }
                if let Some(d) = e.deadline() {
                    if d.at <= now {
                        if !due.iter().any(|&(d, _)| d == id) {
                            due.push((id, d.limit));
                        }
                    } else {
                        next = earlier(next, Some(d.at));
                    }
                }
            }
            self.next_explicit = next;
        }
        // The oldest group left: its first member's deadline, or later.
        let group = self.oldest_group();
        let group = group.and_then(|g| g.latest.checked_add(timeout));
        self.soonest = earlier(self.next_explicit, group);
        due
    }

    /// Requests sent and not yet answered, whose callers still wait.
    pub(crate) fn waiting(&self) -> usize {
        self.entries.len() - self.abandoned - self.answered
    }
}
