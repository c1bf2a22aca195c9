//! The client's protocol core, `xs_client::_unstable_core::Core<u32>`, on
//! a socket or the xenbus device, driven by an arbitrary list of actions
//! and checked after every one against a reference model.
//!
//! The model is written from the core's module docs and the protocol notes
//! (`/work/shared/reference/protocol.md` in the project's reference set), not
//! from `proto/*.rs`: it keeps what a caller can observe (requests in
//! flight and their outcomes, the frames a daemon would receive, monitors
//! with their watches and queues) in plain maps, and derives each answer
//! from the documented rules:
//!
//! * request ids: non-zero, never one still in use (waiting, answered and
//!   not collected, timed out and not collected, or on the wire with a late
//!   reply to come), increasing;
//! * bytes handed out: exactly the frames queued, in order, each encoded as
//!   the spec lays it out (the model builds the payloads itself); on a
//!   socket all that is queued, on the device one frame and the next only
//!   after a reply (an event does not count); nothing for a request that
//!   failed its checks, was withdrawn (abandoned or expired before any of it
//!   was handed out), or after the connection died;
//! * replies: to the request with that id when the type (or `ERROR`) and
//!   the transaction id echo it; the device's req_id-0 WATCH reply to the
//!   oldest unanswered WATCH, waiting or given up; anything else kills the
//!   connection with `UnexpectedPacket` naming the rule and the header; a
//!   late reply to a request given up is dropped, and what it created
//!   undone by a request nobody waits for (TRANSACTION_END F for a
//!   transaction, UNWATCH for a monitor's watch nobody holds);
//! * deadlines: `poll_timeout` is never later than the earliest waiting
//!   deadline; `handle_timeout` expires exactly the due requests with
//!   `Timeout(limit)`; past `ABANDONED_MAX` requests given up and unanswered,
//!   the connection is declared dead; a wait without the clock
//!   (`may_wait_unclocked`) is allowed only while no waiting request has a
//!   deadline, and not twice with no request queued between;
//! * monitors: one WATCH per shared (path, token), a made-up initial event
//!   for a later user, UNWATCH after the last; a WATCH error (or giving up on
//!   it) undoes the registration, as long as its monitor still watches the
//!   pair (after an unwatch, the UNWATCH queued behind it does); a new
//!   watch of a pair whose WATCH was given up on the wire takes that WATCH
//!   over (same depth) rather than sending a second; when a WATCH is
//!   refused (answered or given up), monitors that joined it get a WATCH
//!   nobody waits for unless another is unanswered; events routed by token and covered path
//!   (monitors keeping unwatched events: by any token they ever watched);
//!   bounded queues report `Overflow { dropped }` first; a watch depth is
//!   refused on the device (its driver would drop it);
//! * reconnection (when the input enables it): when the connection breaks,
//!   frames none of which was handed out wait for the new one; of those
//!   handed out and unanswered, read-only requests go again, changes fail
//!   with `MaybeApplied`, anything in a transaction with `TransactionLost`
//!   (queued or not); nothing goes out and frames are ignored until
//!   `reconnected`, which registers every watch again (except those whose
//!   WATCH is still waiting) before the rest, and makes every monitor
//!   report `Reconnected` first; replies carry the new epoch;
//! * wakers: the multiset woken by each action equals the model's;
//! * memory: queues within capacity, frames queued equal the model's,
//!   requests given up bounded; after a final `fail`, every request ever
//!   submitted is resolved and every live monitor drains to the error.
//!
//! Two things the model cannot know in advance are learned from the bytes
//! handed out, then checked: the request ids of the requests the core
//! queues itself (undo requests, watches registered again), and which of a
//! group queued in an order the core does not define (the UNWATCHes of a
//! removed monitor, the WATCHes after a reconnection) got which id. The
//! core's default timeout is not modelled (the unit tests cover it): every
//! deadline here is explicit.
#![no_main]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use xs_client::_unstable_core::{Core, Deadline, MonitorId, Response, ABANDONED_MAX};
use xs_client::{Errno, Error, Event, Problem, Refusal, Unexpected};
use xs_transport::TransportKind;
use xs_wire::{Frame, Header, Op, Path, Reply, ReplyKind, WatchEvent, WireError};

const PATHS: [&str; 8] = [
    "/",
    "/a",
    "/a/b",
    "/ab",
    "a",
    "@introduceDomain",
    "@releaseDomain",
    "/local/domain/1/device",
];
const EVENT_PATHS: [&str; 11] = [
    "/",
    "/a",
    "/a/b",
    "/ab",
    "a",
    "@introduceDomain",
    "@releaseDomain",
    "/a/b/c",
    "a/b",
    "@releaseDomain/3",
    "/local/domain/1/device/vif",
];
const TOKENS: [&str; 4] = ["t0", "t1", "", "t0 "];
const RAW_OPS: [Op; 9] = [
    Op::Read,
    Op::Write,
    Op::Watch,
    Op::TransactionStart,
    Op::Control,
    Op::Unknown(99),
    Op::WatchEvent,
    Op::Error,
    Op::ResetWatches,
];

/// Mostly no transaction; sometimes 1 to 3 (or 0 again).
fn tx_id(tx: u8) -> u32 {
    if tx < 160 {
        0
    } else {
        u32::from(tx % 4)
    }
}

fn pick<T: Copy>(table: &[T], i: u8) -> T {
    table[usize::from(i) % table.len()]
}

// ---------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------

#[derive(Arbitrary, Debug, Clone)]
enum Req {
    Read { path: u8 },
    Write { path: u8, value: Vec<u8>, big: bool },
    Directory { path: u8 },
    GetPerms { path: u8 },
    TransactionStart,
    TransactionEnd { commit: bool },
    Watch { path: u8, token: u8 },
    Unwatch { path: u8, token: u8 },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum FrameOp {
    /// The request's own type.
    Same,
    Error,
    Other(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum TxSel {
    Same,
    Other(u32),
}

#[derive(Arbitrary, Debug, Clone)]
enum ReplyBody {
    Ok,
    TxId(u32),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Action {
    Submit {
        req: Req,
        tx: u8,
        deadline: Option<u8>,
        /// `Core::submit_reading`: no waker until `SetWaker`.
        reading: bool,
    },
    SubmitRaw {
        op: u8,
        payload: Vec<u8>,
        tx: u8,
        oversize: bool,
        deadline: Option<u8>,
    },
    Transmit {
        all: bool,
        n: u16,
    },
    Reply {
        which: u8,
        op: FrameOp,
        tx: TxSel,
        body: ReplyBody,
    },
    RawFrame {
        req_id: u32,
        op: u8,
        tx_id: u32,
        payload: Vec<u8>,
    },
    WatchReplyZero {
        tx_id: u32,
    },
    Event {
        path: u8,
        token: u8,
        req_id: u32,
        tx_id: u32,
    },
    RawEvent {
        payload: Vec<u8>,
    },
    PollReply {
        which: u8,
    },
    IsReady {
        which: u8,
    },
    SetWaker {
        which: u8,
    },
    Abandon {
        which: u8,
    },
    AbandonMany {
        n: u8,
        magic: u16,
    },
    Tick {
        ms: u8,
    },
    /// A lone driver asks whether it may wait once without the time
    /// (`Core::may_wait_unclocked`).
    MayWaitUnclocked {
        slice_ms: u8,
    },
    AddMonitor {
        capacity: u8,
        keep_unwatched: bool,
    },
    RemoveMonitor {
        which: u8,
        deadline: Option<u8>,
    },
    SetMonitorWaker {
        which: u8,
    },
    Watch {
        mon: u8,
        path: u8,
        token: u8,
        depth: Option<u8>,
        bad_token: bool,
        deadline: Option<u8>,
    },
    Unwatch {
        mon: u8,
        path: u8,
        token: u8,
        deadline: Option<u8>,
    },
    PollEvent {
        mon: u8,
    },
    Drain {
        mon: u8,
    },
    Fail,
    /// The connection breaks (`connection_lost`).
    Lost,
    /// A new connection is up (`reconnected`).
    Reconnected,
}

// ---------------------------------------------------------------------------
// Reference model
// ---------------------------------------------------------------------------

type Pair = (String, String);

/// Protocol notes, section 4: an event on C fires a watch on P when C
/// equals P, or P is `/`, or P + `/` is a prefix of C.
fn child_of(child: &str, parent: &str) -> bool {
    child == parent || parent == "/" || child.starts_with(&format!("{parent}/"))
}

/// The ops that may carry a transaction id (protocol notes, section 5:
/// WATCH, UNWATCH and TRANSACTION_START do not).
fn takes_transaction(op: Op) -> bool {
    matches!(
        op,
        Op::Read | Op::Write | Op::Directory | Op::GetPerms | Op::TransactionEnd
    )
}

/// `@` paths are valid only for WATCH, UNWATCH, GET_PERMS and SET_PERMS.
fn special_allowed(op: Op) -> bool {
    matches!(op, Op::Watch | Op::Unwatch | Op::GetPerms | Op::SetPerms)
}

/// A frame as the spec lays it out: type, req_id, tx_id, len (host order),
/// then the payload.
fn wire(op: Op, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + payload.len());
    for field in [op.to_u32(), req_id, tx_id, payload.len() as u32] {
        out.extend_from_slice(&field.to_ne_bytes());
    }
    out.extend_from_slice(payload);
    out
}

fn strings(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(p);
        out.push(0);
    }
    out
}

fn dbg(e: &Error) -> String {
    format!("{e:?}")
}

#[derive(Clone, Debug)]
enum St {
    /// The caller waits; `waker` is woken with the outcome (`None`: a
    /// caller reading for itself, `Core::submit_reading`, until it gives
    /// one with `set_waker`).
    Waiting { waker: Option<u32> },
    /// The outcome is in; the caller has not collected it.
    Answered(Result<Response, String>),
    /// Nobody waits (given up, timed out, or an undo request): the reply
    /// is still expected, and dropped when it comes.
    Gone,
}

#[derive(Clone, Debug)]
struct MReq {
    op: Op,
    tx: u32,
    seq: u64,
    /// The monitor WATCH this is, and its pair (cleared once undone, or
    /// once the monitor no longer watches the pair).
    origin: Option<(MonitorId, Pair)>,
    /// The pair a monitor's WATCH registers, kept when `origin` goes stale.
    pair: Option<Pair>,
    /// The depth a monitor's WATCH asks for.
    depth: Option<u32>,
    deadline: Option<Deadline>,
    st: St,
    /// The whole frame, once seen (sent again after a reconnection).
    bytes: Option<Vec<u8>>,
    /// TRANSACTION_END with `T`.
    commit: bool,
}

/// A key for a request: its id, or (for an undo request whose id the core
/// chose and the model has not seen yet) a placeholder above `u32::MAX`.
type Key = u64;

#[derive(Clone, Debug)]
enum Body {
    Known(Vec<u8>),
    /// One of a group queued together in an order the model does not know
    /// (the UNWATCHes of a removed monitor, the WATCHes registered again
    /// on a new connection): which payload is learned on sight.
    OneOf(Rc<RefCell<BTreeSet<Vec<u8>>>>),
}

#[derive(Clone, Debug)]
struct MFrame {
    key: Key,
    /// For an undo request: the highest id seen when it was queued (its id
    /// is above that).
    floor: u32,
    op: Op,
    tx: u32,
    body: Body,
    /// The whole frame once known.
    bytes: Option<Vec<u8>>,
    /// Bytes of it handed out.
    handed: usize,
}

#[derive(Debug)]
struct MMon {
    watches: BTreeSet<Pair>,
    past_tokens: BTreeSet<String>,
    queue: VecDeque<Event>,
    cap: usize,
    dropped: u64,
    keep: bool,
    waker: u32,
    /// The connection was replaced: reported before anything else.
    reconnected: bool,
}

impl MMon {
    fn covers(&self, path: &str, token: &str) -> bool {
        self.watches
            .iter()
            .any(|(wp, wt)| wt == token && child_of(path, wp))
    }

    fn push(&mut self, ev: Event) {
        if self.queue.len() < self.cap {
            self.queue.push_back(ev);
        } else {
            self.dropped += 1;
        }
    }
}

/// What the model expects `poll_event` to give.
#[derive(Debug)]
enum Next {
    Event(Event),
    Overflow(u64),
    Reconnected,
    /// The connection's error.
    Dead,
}

/// How the model expects the connection's death to read.
#[derive(Clone, Debug)]
enum Death {
    Exact(String),
    /// `Disconnected`, reason not modelled (learned from the core).
    AnyDisconnected,
}

struct Model {
    device: bool,
    max_payload: usize,
    reqs: BTreeMap<Key, MReq>,
    /// Requests that timed out, with the limit, until collected.
    expired: BTreeMap<u32, Duration>,
    outbox: VecDeque<MFrame>,
    /// Device only: a whole frame was handed out and no reply came since.
    wire_busy: bool,
    monitors: BTreeMap<MonitorId, MMon>,
    dead: Option<Death>,
    woken: Vec<u32>,
    next_seq: u64,
    next_placeholder: Key,
    /// Highest request id seen.
    last_id: u32,
    /// Every id ever returned by a submit (for picking targets).
    ids: Vec<u32>,
    mon_ids: Vec<MonitorId>,
    /// `enable_reconnection` was called (at the start).
    reconnect: bool,
    /// The connection is lost and a new one awaited.
    lost: bool,
    epoch: u64,
    /// The depth each registration was made with (by its first user).
    reg_depth: BTreeMap<Pair, Option<u32>>,
}

/// What happens to a request sent and unanswered when the connection is
/// lost (reconnection docs of `Core::connection_lost`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum OnLoss {
    Resend,
    MaybeApplied,
    TransactionLost,
}

/// Read-only requests (and WATCH, UNWATCH, TRANSACTION_START, harmless to
/// repeat) go again; anything in a transaction is lost with it; a commit or
/// any other change may have happened.
fn on_loss(op: Op, tx: u32, commit: bool) -> OnLoss {
    if op == Op::TransactionEnd && commit {
        return OnLoss::MaybeApplied;
    }
    if tx != 0 {
        return OnLoss::TransactionLost;
    }
    match op {
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

impl Model {
    fn new(device: bool, reconnect: bool) -> Model {
        Model {
            reconnect,
            lost: false,
            epoch: 0,
            reg_depth: BTreeMap::new(),
            device,
            max_payload: if device { 4080 } else { 4096 },
            reqs: BTreeMap::new(),
            expired: BTreeMap::new(),
            outbox: VecDeque::new(),
            wire_busy: false,
            monitors: BTreeMap::new(),
            dead: None,
            woken: Vec::new(),
            next_seq: 0,
            next_placeholder: 1 << 32,
            last_id: 0,
            ids: Vec::new(),
            mon_ids: Vec::new(),
        }
    }

    fn in_use(&self, id: u32) -> bool {
        self.reqs.contains_key(&Key::from(id)) || self.expired.contains_key(&id)
    }

    fn has_unresolved(&self) -> bool {
        self.reqs.range(Key::from(u32::MAX) + 1..).next().is_some()
    }

    /// A request id the core just chose: fresh, and above `floor` (the
    /// highest id seen when the request was queued).
    fn check_fresh(&self, id: u32, floor: u32) {
        assert_ne!(id, 0, "request id 0");
        assert!(!self.in_use(id), "request id {id} is still in use");
        assert!(id > floor, "request id {id} after {floor}");
    }

    /// The id a submit returned: fresh and increasing.
    fn accept_id(&mut self, id: u32) {
        self.check_fresh(id, self.last_id);
        self.last_id = id;
        self.ids.push(id);
    }

    /// Whether a reply to `id` could be meant for an undo request whose id
    /// the model has not learned yet (then the model cannot say).
    fn may_be_unlearned(&self, id: u32) -> bool {
        self.has_unresolved() && id != 0 && !self.in_use(id)
    }

    /// The payload limit: 4096, 4080 through the device.
    fn size_check(&self, len: usize) -> Result<(), WantRefusal> {
        match len > self.max_payload {
            true => Err(WantRefusal::TooLarge {
                len,
                max: self.max_payload,
            }),
            false => Ok(()),
        }
    }

    fn gone_count(&self) -> usize {
        self.reqs
            .values()
            .filter(|r| matches!(r.st, St::Gone))
            .count()
    }

    fn waiting(&self) -> usize {
        self.reqs
            .values()
            .filter(|r| matches!(r.st, St::Waiting { .. }))
            .count()
    }

    fn death_error(&self) -> Option<&Death> {
        self.dead.as_ref()
    }

    /// Records a request the core accepted, and its frame.
    fn queue(&mut self, key: Key, req: MReq, body: Body) {
        let floor = self.last_id;
        self.outbox.push_back(MFrame {
            key,
            floor,
            op: req.op,
            tx: req.tx,
            body,
            bytes: None,
            handed: 0,
        });
        self.reqs.insert(key, req);
    }

    fn new_req(&mut self, op: Op, tx: u32, deadline: Option<Deadline>, st: St) -> MReq {
        let seq = self.next_seq;
        self.next_seq += 1;
        MReq {
            op,
            tx,
            seq,
            origin: None,
            pair: None,
            depth: None,
            deadline,
            st,
            bytes: None,
            commit: false,
        }
    }

    /// A request nobody waits for, undoing something; the core picks its id.
    fn queue_undo(&mut self, op: Op, tx: u32, payload: Vec<u8>) {
        if self.dead.is_some() {
            return;
        }
        let key = self.next_placeholder;
        self.next_placeholder += 1;
        let req = self.new_req(op, tx, None, St::Gone);
        self.queue(key, req, Body::Known(payload));
    }

    /// Monitor `m`'s watch of `pair` is undone (its WATCH failed or was
    /// given up): nothing goes on the wire.
    fn watch_undone(&mut self, m: MonitorId, pair: &Pair) {
        if let Some(mon) = self.monitors.get_mut(&m) {
            mon.watches.remove(pair);
        }
    }

    /// A monitor's WATCH of `pair` was refused: monitors that joined it
    /// get a WATCH of their own (nobody waits for it), unless another
    /// monitor's WATCH of the pair is still unanswered.
    fn watch_refused(&mut self, pair: &Pair) {
        let pending = self.reqs.values().any(|r| {
            r.op == Op::Watch
                && matches!(r.st, St::Waiting { .. } | St::Gone)
                && r.origin.as_ref().is_some_and(|(_, p)| p == pair)
        });
        if self.holders(pair) == 0 || pending {
            return;
        }
        let mut payload = strings(&[pair.0.as_bytes(), pair.1.as_bytes()]);
        if let Some(Some(depth)) = self.reg_depth.get(pair) {
            payload.extend_from_slice(&strings(&[depth.to_string().as_bytes()]));
        }
        self.queue_undo(Op::Watch, 0, payload);
    }

    /// Monitor `m` stopped watching `pair` (all its pairs for `None`): a
    /// WATCH it has in flight no longer speaks for it (the UNWATCH queued
    /// after it undoes it on the daemon, in order).
    fn forget_origin(&mut self, m: MonitorId, pair: Option<&Pair>) {
        for r in self.reqs.values_mut() {
            if r.origin
                .as_ref()
                .is_some_and(|(om, op)| *om == m && pair.is_none_or(|p| p == op))
            {
                r.origin = None;
            }
        }
    }

    fn holders(&self, pair: &Pair) -> usize {
        self.monitors
            .values()
            .filter(|m| m.watches.contains(pair))
            .count()
    }

    fn registrations(&self) -> BTreeSet<&Pair> {
        self.monitors.values().flat_map(|m| &m.watches).collect()
    }

    fn fail(&mut self, death: Death, err: Option<&Error>) {
        if self.dead.is_some() {
            return;
        }
        let text = match (&death, err) {
            (Death::Exact(t), _) => t.clone(),
            (Death::AnyDisconnected, Some(e)) => dbg(e),
            (Death::AnyDisconnected, None) => String::new(),
        };
        self.reqs.retain(|_, r| !matches!(r.st, St::Gone));
        for r in self.reqs.values_mut() {
            if let St::Waiting { waker } = r.st {
                self.woken.extend(waker);
                r.st = St::Answered(Err(text.clone()));
            }
        }
        self.woken.extend(self.monitors.values().map(|m| m.waker));
        self.outbox.clear();
        self.wire_busy = false;
        self.dead = Some(death);
    }

    /// The late (or just-answered) reply to a request nobody waits for any
    /// more: undo what it created on the daemon.
    fn undo_late(&mut self, r: &MReq, h: &Header, payload: &[u8]) {
        if h.op != r.op {
            // An error: nothing was created; those who joined the WATCH
            // still need one.
            if let Some((_, pair)) = &r.origin {
                self.watch_refused(pair);
            }
            return;
        }
        match r.op {
            Op::TransactionStart => {
                let kind = ReplyKind::TransactionId;
                if let Ok(Reply::TransactionId(tx)) = Reply::parse_payload(r.op, kind, payload) {
                    // TRANSACTION_END needs a transaction: 0 cannot be ended.
                    if tx != 0 {
                        self.queue_undo(Op::TransactionEnd, tx, b"F\0".to_vec());
                    }
                }
            }
            Op::Watch => {
                if let Some((_, pair)) = &r.origin {
                    if self.holders(pair) == 0 {
                        let payload = strings(&[pair.0.as_bytes(), pair.1.as_bytes()]);
                        self.queue_undo(Op::Unwatch, 0, payload);
                    }
                }
            }
            _ => {}
        }
    }

    /// The caller of `key` stops waiting (abandon, or its deadline).
    fn give_up(&mut self, key: Key) {
        if let Some(i) = self
            .outbox
            .iter()
            .position(|f| f.key == key && f.handed == 0)
        {
            self.outbox.remove(i);
            if let Some(r) = self.reqs.remove(&key) {
                if let Some((m, pair)) = &r.origin {
                    self.watch_undone(*m, pair);
                }
            }
            return;
        }
        let Some(r) = self.reqs.get_mut(&key) else {
            return;
        };
        match std::mem::replace(&mut r.st, St::Gone) {
            St::Waiting { .. } => {
                if let Some((m, pair)) = r.origin.clone() {
                    self.watch_undone(m, &pair);
                }
            }
            St::Answered(Ok(resp)) => {
                let r = self.reqs.remove(&key).unwrap();
                if let Some((m, pair)) = &r.origin {
                    self.watch_undone(*m, pair);
                }
                self.undo_late(&r, &resp.header, &resp.payload);
            }
            St::Answered(Err(_)) => {
                self.reqs.remove(&key);
            }
            St::Gone => {}
        }
        if self.gone_count() > ABANDONED_MAX {
            self.fail(Death::AnyDisconnected, None);
        }
    }

    /// A frame from the daemon; `Err` with the problem when it kills the
    /// connection.
    fn frame(&mut self, h: Header, payload: &[u8]) -> Result<(), Unexpected> {
        if self.dead.is_some() || self.lost {
            return Ok(()); // from a connection that is gone
        }
        let bad = |problem| Unexpected {
            problem,
            header: Some(h),
        };
        if h.op == Op::WatchEvent {
            let ev = WatchEvent::parse(payload).map_err(|e| bad(Problem::MalformedEvent(e)))?;
            for m in self.monitors.values_mut() {
                let wanted = if m.keep {
                    m.past_tokens.contains(ev.token)
                } else {
                    m.covers(ev.path, ev.token)
                };
                if wanted {
                    m.push(Event::new(ev.path, ev.token));
                    self.woken.push(m.waker);
                }
            }
            return Ok(());
        }
        // Any reply frees the device's wire.
        self.wire_busy = false;
        let unanswered = |r: &MReq| matches!(r.st, St::Waiting { .. } | St::Gone);
        let key = match self.reqs.get(&Key::from(h.req_id)) {
            Some(r) if unanswered(r) => Key::from(h.req_id),
            _ if h.req_id == 0 && h.op == Op::Watch => self
                .reqs
                .iter()
                .filter(|(_, r)| r.op == Op::Watch && unanswered(r))
                .min_by_key(|(_, r)| r.seq)
                .map(|(&k, _)| k)
                .ok_or(bad(Problem::WatchReplyWithoutWatch))?,
            _ => return Err(bad(Problem::UnknownRequestId)),
        };
        let r = &self.reqs[&key];
        if h.op != r.op && h.op != Op::Error {
            return Err(bad(Problem::WrongReplyType { expected: r.op }));
        }
        if h.tx_id != r.tx && !(h.op == Op::Watch && h.req_id == 0) {
            return Err(bad(Problem::WrongTransactionId { expected: r.tx }));
        }
        let r = self.reqs.get_mut(&key).unwrap();
        match r.st {
            St::Gone => {
                let r = self.reqs.remove(&key).unwrap();
                self.undo_late(&r, &h, payload);
            }
            St::Waiting { waker } => {
                r.st = St::Answered(Ok(Response {
                    header: h,
                    payload: payload.to_vec(),
                    epoch: self.epoch,
                }));
                self.woken.extend(waker);
                if h.op == Op::Error {
                    if let Some((m, pair)) = r.origin.take() {
                        self.watch_undone(m, &pair);
                        self.watch_refused(&pair);
                    }
                }
            }
            St::Answered(_) => unreachable!(),
        }
        Ok(())
    }

    /// Expires every waiting request due at `now`.
    fn timeout(&mut self, now: Instant) {
        let due: Vec<(Key, Duration, Option<u32>)> = self
            .reqs
            .iter()
            .filter_map(|(&k, r)| match (r.st.clone(), r.deadline) {
                (St::Waiting { waker }, Some(d)) if d.at <= now => Some((k, d.limit, waker)),
                _ => None,
            })
            .collect();
        for (key, limit, waker) in due {
            self.woken.extend(waker);
            self.give_up(key);
            self.expired.insert(key as u32, limit);
        }
    }

    /// What `poll_reply(id)` gives, as the model sees it (`Some(Err(None))`:
    /// an error whose text is not modelled).
    fn poll_reply(&mut self, id: u32) -> Option<Result<Response, Option<String>>> {
        if let Some(limit) = self.expired.remove(&id) {
            return Some(Err(Some(dbg(&Error::Timeout(limit)))));
        }
        let key = Key::from(id);
        match self.reqs.get(&key).map(|r| &r.st) {
            Some(St::Waiting { .. }) => None,
            Some(St::Answered(_)) => match self.reqs.remove(&key).map(|r| r.st) {
                Some(St::Answered(Ok(resp))) => Some(Ok(resp)),
                Some(St::Answered(Err(text))) => Some(Err(Some(text))),
                _ => unreachable!(),
            },
            // Given up or already collected: an error, never a wait.
            Some(St::Gone) | None => Some(Err(None)),
        }
    }

    /// The next thing monitor `m` sees (`Err(None)`: the connection's error).
    fn poll_event(&mut self, m: MonitorId) -> Option<Next> {
        let dead = self.dead.is_some();
        let mon = self.monitors.get_mut(&m)?;
        if std::mem::take(&mut mon.reconnected) {
            return Some(Next::Reconnected);
        }
        if mon.dropped > 0 {
            return Some(Next::Overflow(std::mem::take(&mut mon.dropped)));
        }
        while let Some(ev) = mon.queue.pop_front() {
            if mon.keep || mon.covers(&ev.path, &ev.token) {
                return Some(Next::Event(ev));
            }
        }
        dead.then_some(Next::Dead)
    }

    /// The expected bytes handed out: checks `got` and learns what was
    /// unknown (undo request ids, which pair each removed monitor's UNWATCH
    /// carries).
    fn check_transmit(&mut self, got: Option<&[u8]>) {
        let visible = if self.outbox.is_empty() || self.lost || (self.device && self.wire_busy) {
            0
        } else if self.device {
            1
        } else {
            self.outbox.len()
        };
        let Some(got) = got else {
            assert_eq!(
                visible, 0,
                "poll_transmit gave nothing; {visible} frames due"
            );
            return;
        };
        assert!(
            visible > 0,
            "poll_transmit gave {} bytes; nothing is due",
            got.len()
        );
        let mut pos = 0;
        for i in 0..visible {
            if self.outbox[i].bytes.is_none() {
                self.learn_frame(i, &got[pos..]);
            }
            let f = &self.outbox[i];
            let rest = &f.bytes.as_ref().unwrap()[f.handed..];
            assert!(
                got.len() >= pos + rest.len() && &got[pos..pos + rest.len()] == rest,
                "frame {i} of poll_transmit differs: want {rest:?}, got {:?}",
                &got[pos..]
            );
            pos += rest.len();
        }
        assert_eq!(
            pos,
            got.len(),
            "poll_transmit gave more than the frames due"
        );
    }

    /// Outbox frame `i` first seen whole at the start of `got`.
    fn learn_frame(&mut self, i: usize, got: &[u8]) {
        assert!(got.len() >= 16, "a frame shorter than its header");
        let h = Header::from_bytes(got[..16].try_into().unwrap());
        let len = 16 + h.len as usize;
        assert!(got.len() >= len, "a frame cut short: {h:?}");
        let f = &self.outbox[i];
        let payload = match &f.body {
            Body::Known(p) => p.clone(),
            Body::OneOf(set) => {
                let sent = got[16..len].to_vec();
                let known = set.borrow_mut().remove(&sent);
                assert!(known, "{} {sent:?} is none of {:?}", f.op, set.borrow());
                sent
            }
        };
        let key = f.key;
        let id = if key > Key::from(u32::MAX) {
            // An undo request: the core chose its id.
            self.check_fresh(h.req_id, f.floor);
            h.req_id
        } else {
            key as u32
        };
        let want = wire(f.op, id, f.tx, &payload);
        assert_eq!(&got[..len], &want[..], "frame {i} handed out");
        if key != Key::from(id) {
            self.ids.push(id);
            if let Some(r) = self.reqs.remove(&key) {
                self.reqs.insert(Key::from(id), r);
            }
            self.outbox[i].key = Key::from(id);
        }
        if let Some(r) = self.reqs.get_mut(&Key::from(id)) {
            r.bytes = Some(want.clone());
        }
        self.outbox[i].bytes = Some(want);
    }

    /// The connection broke and a new one will be made.
    fn connection_lost(&mut self, text: String) {
        if self.dead.is_some() || self.lost {
            return;
        }
        if !self.reconnect {
            return self.fail(Death::Exact(text), None);
        }
        // Frames none of which was handed out wait for the new connection;
        // the rest are gone with the old one.
        let unsent: Vec<MFrame> = self.outbox.drain(..).filter(|f| f.handed == 0).collect();
        self.reqs.retain(|_, r| !matches!(r.st, St::Gone));
        let mut again: Vec<(u64, Key)> = Vec::new();
        for (&key, r) in self.reqs.iter_mut() {
            let St::Waiting { waker } = r.st else {
                continue;
            };
            let queued = unsent.iter().any(|f| f.key == key);
            let rule = on_loss(r.op, r.tx, r.commit);
            let err = match (queued, rule) {
                (_, OnLoss::TransactionLost) => Error::TransactionLost { tx_id: r.tx },
                (true, _) => continue,
                (false, OnLoss::Resend) => {
                    again.push((r.seq, key));
                    continue;
                }
                (false, OnLoss::MaybeApplied) => Error::MaybeApplied { op: r.op },
            };
            r.st = St::Answered(Err(dbg(&err)));
            self.woken.extend(waker);
        }
        again.sort_unstable();
        for (_, key) in again {
            let r = &self.reqs[&key];
            let bytes = r.bytes.clone().expect("handed out, so seen");
            self.outbox.push_back(MFrame {
                key,
                floor: 0,
                op: r.op,
                tx: r.tx,
                body: Body::Known(bytes[16..].to_vec()),
                bytes: Some(bytes),
                handed: 0,
            });
        }
        for f in unsent {
            if matches!(
                self.reqs.get(&f.key).map(|r| &r.st),
                Some(St::Waiting { .. })
            ) {
                self.outbox.push_back(f);
            }
        }
        self.wire_busy = false;
        self.lost = true;
        self.epoch += 1;
    }

    /// The new connection is up.
    fn reconnected(&mut self) {
        if !std::mem::take(&mut self.lost) || self.dead.is_some() {
            return;
        }
        // A monitor's WATCH still waiting goes again with the rest; every
        // other registration is made again first, by the core itself.
        let in_flight: BTreeSet<Pair> = self
            .reqs
            .values()
            .filter(|r| matches!(r.st, St::Waiting { .. }))
            .filter_map(|r| r.pair.clone())
            .collect();
        let again: Vec<Vec<u8>> = self
            .registrations()
            .into_iter()
            .filter(|pair| !in_flight.contains(*pair))
            .map(|pair| {
                let mut payload = strings(&[pair.0.as_bytes(), pair.1.as_bytes()]);
                if let Some(Some(depth)) = self.reg_depth.get(pair) {
                    payload.extend_from_slice(&strings(&[depth.to_string().as_bytes()]));
                }
                payload
            })
            .collect();
        let waiting: Vec<MFrame> = self.outbox.drain(..).collect();
        let set = Rc::new(RefCell::new(again.iter().cloned().collect::<BTreeSet<_>>()));
        for _ in &again {
            let key = self.next_placeholder;
            self.next_placeholder += 1;
            let req = self.new_req(Op::Watch, 0, None, St::Gone);
            self.queue(key, req, Body::OneOf(set.clone()));
        }
        self.outbox.extend(waiting);
        for m in self.monitors.values_mut() {
            m.reconnected = true;
            self.woken.push(m.waker);
        }
        self.wire_busy = false;
    }

    /// The driver took `n` bytes.
    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(f) = self.outbox.front_mut() else {
                return;
            };
            let len = f.bytes.as_ref().expect("handed out, so seen").len();
            let rest = len - f.handed;
            if n < rest {
                f.handed += n;
                return;
            }
            n -= rest;
            self.outbox.pop_front();
            if self.device {
                self.wire_busy = true;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

struct Harness {
    core: Core<u32>,
    model: Model,
    t0: Instant,
    now: Instant,
    next_waker: u32,
    abandon_many_used: bool,
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

impl Harness {
    fn new(device: bool, reconnect: bool) -> Harness {
        let kind = if device {
            TransportKind::Xenbus
        } else {
            TransportKind::Socket
        };
        let t0 = Instant::now();
        let mut core = Core::new(kind, kind.max_payload(), None);
        if reconnect {
            core.enable_reconnection();
        }
        Harness {
            core,
            model: Model::new(device, reconnect),
            t0,
            now: t0,
            next_waker: 1,
            abandon_many_used: false,
        }
    }

    fn waker(&mut self) -> u32 {
        self.next_waker += 1;
        self.next_waker
    }

    fn deadline(&self, ms: Option<u8>) -> Option<Deadline> {
        ms.and_then(|ms| Deadline::after(self.now, Duration::from_millis(u64::from(ms))))
    }

    fn pick_id(&self, which: u8) -> u32 {
        let ids = &self.model.ids;
        match ids.len() {
            0 => u32::from(which),
            n if usize::from(which) < 2 * n => ids[n - 1 - usize::from(which) % n],
            _ => u32::from(which),
        }
    }

    fn pick_mon(&self, which: u8) -> MonitorId {
        let ids = &self.model.mon_ids;
        if ids.is_empty() || which == u8::MAX {
            return 1000 + MonitorId::from(which);
        }
        ids[usize::from(which) % ids.len()]
    }

    /// The connection's error as the model expects callers to see it.
    fn death_text(&self) -> String {
        match self.model.death_error() {
            Some(Death::Exact(t)) => t.clone(),
            Some(Death::AnyDisconnected) | None => panic!("no exact death"),
        }
    }

    /// A submit the model expects to succeed (`Ok(())`) or fail with an
    /// error the check accepts.
    fn check_refused(&self, got: &Result<u32, Error>, want: &Result<(), WantRefusal>, what: &str) {
        match (got, want) {
            (Ok(_), Ok(())) => {}
            (Err(e), Err(WantRefusal::Dead)) => assert_eq!(dbg(e), self.death_text(), "{what}"),
            (Err(e), Err(WantRefusal::TooLarge { len, max })) => assert!(
                matches!(e, Error::Invalid(WireError::PayloadTooLarge { len: l, max: m }) if l == len && m == max),
                "{what}: {e:?}, want PayloadTooLarge {len} > {max}"
            ),
            (Err(e), Err(WantRefusal::Invalid)) => assert!(
                matches!(e, Error::Invalid(w) if !matches!(w, WireError::PayloadTooLarge { .. })),
                "{what}: {e:?}, want a validation error"
            ),
            (Err(e), Err(WantRefusal::NotARequest(op))) => assert!(
                matches!(e, Error::Refused(Refusal::NotARequest(o)) if o == op),
                "{what}: {e:?}"
            ),
            (got, want) => panic!("{what}: got {got:?}, model wants {want:?}"),
        }
    }

    fn submit(&mut self, req: Req, tx: u8, deadline: Option<u8>, reading: bool) {
        let tx = tx_id(tx);
        let big = vec![b'v'; 4100];
        let max = self.model.max_payload;
        let (request, op, path, payload): (xs_wire::Request<'_>, Op, Option<&str>, Vec<u8>) =
            match &req {
                Req::Read { path } => {
                    let p = pick(&PATHS, *path);
                    let r = xs_wire::Request::Read {
                        path: Path::new(p).unwrap(),
                    };
                    (r, Op::Read, Some(p), strings(&[p.as_bytes()]))
                }
                Req::Write {
                    path,
                    value,
                    big: b,
                } => {
                    let p = pick(&PATHS, *path);
                    // A payload of max - 1, max or max + 1 bytes.
                    let near_limit = max - 1 + value.len() % 3 - (p.len() + 1);
                    let value: &[u8] = if *b { &big[..near_limit] } else { value };
                    let r = xs_wire::Request::Write {
                        path: Path::new(p).unwrap(),
                        value,
                    };
                    let mut payload = strings(&[p.as_bytes()]);
                    payload.extend_from_slice(value);
                    (r, Op::Write, Some(p), payload)
                }
                Req::Directory { path } => {
                    let p = pick(&PATHS, *path);
                    let r = xs_wire::Request::Directory {
                        path: Path::new(p).unwrap(),
                    };
                    (r, Op::Directory, Some(p), strings(&[p.as_bytes()]))
                }
                Req::GetPerms { path } => {
                    let p = pick(&PATHS, *path);
                    let r = xs_wire::Request::GetPerms {
                        path: Path::new(p).unwrap(),
                    };
                    (r, Op::GetPerms, Some(p), strings(&[p.as_bytes()]))
                }
                Req::TransactionStart => (
                    xs_wire::Request::TransactionStart,
                    Op::TransactionStart,
                    None,
                    b"\0".to_vec(),
                ),
                Req::TransactionEnd { commit } => (
                    xs_wire::Request::TransactionEnd { commit: *commit },
                    Op::TransactionEnd,
                    None,
                    if *commit {
                        b"T\0".to_vec()
                    } else {
                        b"F\0".to_vec()
                    },
                ),
                Req::Watch { path, token } => {
                    let (p, t) = (pick(&PATHS, *path), pick(&TOKENS, *token));
                    let r = xs_wire::Request::Watch {
                        path: Path::new(p).unwrap(),
                        token: t,
                        depth: None,
                    };
                    (
                        r,
                        Op::Watch,
                        Some(p),
                        strings(&[p.as_bytes(), t.as_bytes()]),
                    )
                }
                Req::Unwatch { path, token } => {
                    let (p, t) = (pick(&PATHS, *path), pick(&TOKENS, *token));
                    let r = xs_wire::Request::Unwatch {
                        path: Path::new(p).unwrap(),
                        token: t,
                    };
                    (
                        r,
                        Op::Unwatch,
                        Some(p),
                        strings(&[p.as_bytes(), t.as_bytes()]),
                    )
                }
            };
        let d = self.deadline(deadline);
        let waker = (!reading).then(|| self.waker());
        let got = match waker {
            Some(waker) => self.core.submit(&request, tx, d, waker),
            None => self.core.submit_reading(&request, tx, d),
        };
        // The model's checks, from the spec.
        let want = if self.model.dead.is_some() {
            Err(WantRefusal::Dead)
        } else if path.is_some_and(|p| p.starts_with('@')) && !special_allowed(op) {
            Err(WantRefusal::Invalid)
        } else if op == Op::TransactionEnd && tx == 0 {
            Err(WantRefusal::Invalid)
        } else if tx != 0 && !takes_transaction(op) {
            Err(WantRefusal::Invalid)
        } else {
            self.model.size_check(payload.len())
        };
        self.check_refused(&got, &want, &format!("submit {req:?} tx {tx}"));
        if let Ok(id) = got {
            self.accepted(id, op, tx, d, waker, payload, None);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn accepted(
        &mut self,
        id: u32,
        op: Op,
        tx: u32,
        d: Option<Deadline>,
        waker: Option<u32>,
        payload: Vec<u8>,
        origin: Option<(MonitorId, Pair)>,
    ) {
        self.model.accept_id(id);
        let mut r = self.model.new_req(op, tx, d, St::Waiting { waker });
        r.pair = origin.as_ref().map(|(_, pair)| pair.clone());
        r.origin = origin;
        r.commit = op == Op::TransactionEnd && payload.first() == Some(&b'T');
        self.model.queue(Key::from(id), r, Body::Known(payload));
    }

    fn submit_raw(
        &mut self,
        op: u8,
        payload: Vec<u8>,
        tx: u8,
        oversize: bool,
        deadline: Option<u8>,
    ) {
        let op = pick(&RAW_OPS, op);
        let tx = tx_id(tx);
        let payload = if oversize {
            vec![b'x'; self.model.max_payload + 1 - usize::from(payload.len() % 2)]
        } else {
            payload
        };
        let d = self.deadline(deadline);
        let waker = self.waker();
        let got = self.core.submit_raw(op, &payload, tx, d, waker);
        let want = if self.model.dead.is_some() {
            Err(WantRefusal::Dead)
        } else if matches!(op, Op::WatchEvent | Op::Error) {
            Err(WantRefusal::NotARequest(op))
        } else {
            self.model.size_check(payload.len())
        };
        self.check_refused(&got, &want, &format!("submit_raw {op}"));
        if let Ok(id) = got {
            self.accepted(id, op, tx, d, Some(waker), payload, None);
        }
    }

    fn feed(&mut self, h: Header, payload: &[u8]) {
        let got = self.core.handle_frame(&Frame { header: h, payload });
        let want = self.model.frame(h, payload);
        match (&got, want) {
            (Ok(()), Ok(())) => {}
            (Err(e), Err(u)) => {
                let want = Error::UnexpectedPacket(u);
                assert_eq!(dbg(e), dbg(&want), "frame {h:?}");
                self.model.fail(Death::Exact(dbg(&want)), None);
            }
            (got, want) => panic!("frame {h:?} {payload:?}: got {got:?}, model wants {want:?}"),
        }
    }

    fn poll_reply(&mut self, id: u32) {
        let got = self.core.poll_reply(id);
        let want = self.model.poll_reply(id);
        match (&got, &want) {
            (None, None) => {}
            (Some(Ok(r)), Some(Ok(w))) => assert!(r == w, "poll_reply({id}): {r:?}, want {w:?}"),
            (Some(Err(e)), Some(Err(Some(text)))) => assert_eq!(&dbg(e), text, "poll_reply({id})"),
            (Some(Err(_)), Some(Err(None))) => {}
            _ => panic!("poll_reply({id}): got {got:?}, model wants {want:?}"),
        }
    }

    fn abandon(&mut self, id: u32) {
        self.core.abandon(id);
        self.model.expired.remove(&id);
        self.model.give_up(Key::from(id));
        self.learn_death();
    }

    /// After a death whose reason the model does not spell out, learn it.
    fn learn_death(&mut self) {
        if let Some(Death::AnyDisconnected) = self.model.dead {
            let e = self.core.error().expect("the core is dead too");
            assert!(matches!(e, Error::Disconnected { .. }), "{e:?}");
            let text = dbg(e);
            for r in self.model.reqs.values_mut() {
                if let St::Answered(Err(t)) = &mut r.st {
                    if t.is_empty() {
                        *t = text.clone();
                    }
                }
            }
            self.model.dead = Some(Death::Exact(text));
        }
    }

    /// `poll_event` on both; what it gave.
    fn poll_event(&mut self, m: MonitorId) -> Option<Next> {
        let got = self.core.poll_event(m);
        let want = self.model.poll_event(m);
        match (&got, &want) {
            (None, None) => {}
            (Some(Ok(e)), Some(Next::Event(w))) => assert_eq!(e, w, "poll_event({m})"),
            (Some(Err(Error::Overflow { dropped })), Some(Next::Overflow(n))) => {
                assert_eq!(dropped, n, "poll_event({m}) overflow")
            }
            (Some(Err(Error::Reconnected)), Some(Next::Reconnected)) => {}
            (Some(Err(e)), Some(Next::Dead)) => {
                assert_eq!(dbg(e), self.death_text(), "poll_event({m}) after death")
            }
            _ => panic!("poll_event({m}): got {got:?}, model wants {want:?}"),
        }
        want
    }

    /// Takes everything a monitor has: a reconnection report, an overflow
    /// report, at most `capacity` events, in that order; then nothing
    /// (`false`), or the error once dead (`true`).
    fn drain(&mut self, m: MonitorId) -> bool {
        let cap = self.model.monitors.get(&m).map_or(0, |mon| mon.cap);
        let mut stage = 0; // 1: reconnected told, 2: overflow told, 3: events
        let mut events = 0;
        for _ in 0..cap + 4 {
            let next_stage = match self.poll_event(m) {
                None => return false,
                Some(Next::Dead) => return true,
                Some(Next::Reconnected) => 1,
                Some(Next::Overflow(_)) => 2,
                Some(Next::Event(_)) => {
                    events += 1;
                    assert!(events <= cap, "monitor {m} held more than {cap} events");
                    3
                }
            };
            assert!(
                next_stage > stage || next_stage == 3,
                "monitor {m}: reports out of order"
            );
            stage = next_stage;
        }
        panic!(
            "monitor {m} (capacity {cap}) did not drain in {} calls",
            cap + 4
        );
    }

    fn step(&mut self, action: Action) {
        match action {
            Action::Submit {
                req,
                tx,
                deadline,
                reading,
            } => self.submit(req, tx, deadline, reading),
            Action::SubmitRaw {
                op,
                payload,
                tx,
                oversize,
                deadline,
            } => self.submit_raw(op, payload, tx, oversize, deadline),
            Action::Transmit { all, n } => {
                let len = self.core.poll_transmit().map_or(0, <[u8]>::len);
                let n = if all { len } else { usize::from(n) % (len + 1) };
                self.core.advance_transmit(n);
                self.model.advance(n);
            }
            Action::Reply {
                which,
                op,
                tx,
                body,
            } => {
                let id = self.pick_id(which);
                if self.model.may_be_unlearned(id) {
                    return;
                }
                let (req_op, req_tx) = self
                    .model
                    .reqs
                    .get(&Key::from(id))
                    .map_or((Op::Read, 0), |r| (r.op, r.tx));
                let op = match op {
                    FrameOp::Same => req_op,
                    FrameOp::Error => Op::Error,
                    FrameOp::Other(o) => Op::from_u32(u32::from(o % 28)),
                };
                let tx_id = match tx {
                    TxSel::Same => req_tx,
                    TxSel::Other(t) => t,
                };
                let payload = match body {
                    ReplyBody::Ok => b"OK\0".to_vec(),
                    ReplyBody::TxId(n) => format!("{n}\0").into_bytes(),
                    ReplyBody::Raw(p) => p,
                };
                let h = Header {
                    op,
                    req_id: id,
                    tx_id,
                    len: payload.len() as u32,
                };
                self.feed(h, &payload);
            }
            Action::RawFrame {
                req_id,
                op,
                tx_id,
                payload,
            } => {
                // An id the model has not learned yet could be an undo
                // request's: only ids it knows about are fair game then.
                if self.model.may_be_unlearned(req_id) {
                    return;
                }
                let h = Header {
                    op: Op::from_u32(u32::from(op % 28)),
                    req_id,
                    tx_id,
                    len: payload.len() as u32,
                };
                self.feed(h, &payload);
            }
            Action::WatchReplyZero { tx_id } => {
                let h = Header {
                    op: Op::Watch,
                    req_id: 0,
                    tx_id,
                    len: 3,
                };
                self.feed(h, b"OK\0");
            }
            Action::Event {
                path,
                token,
                req_id,
                tx_id,
            } => {
                let payload = strings(&[
                    pick(&EVENT_PATHS, path).as_bytes(),
                    pick(&TOKENS, token).as_bytes(),
                ]);
                let h = Header {
                    op: Op::WatchEvent,
                    req_id,
                    tx_id,
                    len: payload.len() as u32,
                };
                self.feed(h, &payload);
            }
            Action::RawEvent { payload } => {
                let h = Header {
                    op: Op::WatchEvent,
                    req_id: 0,
                    tx_id: 0,
                    len: payload.len() as u32,
                };
                self.feed(h, &payload);
            }
            Action::PollReply { which } => {
                let id = self.pick_id(which);
                self.poll_reply(id);
            }
            Action::IsReady { which } => {
                let id = self.pick_id(which);
                let waiting = !self.model.expired.contains_key(&id)
                    && matches!(
                        self.model.reqs.get(&Key::from(id)).map(|r| &r.st),
                        Some(St::Waiting { .. })
                    );
                assert_eq!(self.core.is_ready(id), !waiting, "is_ready({id})");
            }
            Action::SetWaker { which } => {
                let id = self.pick_id(which);
                let waker = self.waker();
                self.core.set_waker(id, waker);
                if let Some(r) = self.model.reqs.get_mut(&Key::from(id)) {
                    if let St::Waiting { waker: w } = &mut r.st {
                        *w = Some(waker);
                    }
                }
            }
            Action::Abandon { which } => {
                let id = self.pick_id(which);
                self.abandon(id);
            }
            Action::AbandonMany { n, magic } => {
                // Submit, hand out and give up a few READs; `magic == 0x4096`
                // (once per input, as it costs thousands of steps) goes just
                // past the cap on requests given up.
                let count = if magic == 0x4096 && !self.abandon_many_used {
                    self.abandon_many_used = true;
                    ABANDONED_MAX + 1
                } else {
                    usize::from(n % 8)
                };
                for _ in 0..count {
                    if self.model.dead.is_some() {
                        break;
                    }
                    let before = self.model.last_id;
                    self.submit(Req::Read { path: 1 }, 0, None, false);
                    let id = self.model.last_id;
                    assert!(id != before);
                    self.check_transmit();
                    let len = self.core.poll_transmit().map_or(0, <[u8]>::len);
                    self.core.advance_transmit(len);
                    self.model.advance(len);
                    self.abandon(id);
                    self.check_woken("abandon burst");
                }
            }
            Action::Tick { ms } => {
                self.now += Duration::from_millis(u64::from(ms));
                self.core.handle_timeout(self.now);
                self.model.timeout(self.now);
                self.learn_death();
            }
            Action::MayWaitUnclocked { slice_ms } => {
                let slice = Duration::from_millis(u64::from(slice_ms));
                if self.core.may_wait_unclocked(slice) {
                    // Only while no waiting request's deadline could pass
                    // unseen (no default timeout here: explicit ones).
                    let needs_time = self
                        .model
                        .reqs
                        .values()
                        .any(|r| matches!(r.st, St::Waiting { .. }) && r.deadline.is_some());
                    assert!(
                        !needs_time,
                        "a wait without the clock while a deadline runs"
                    );
                    assert!(
                        !self.core.may_wait_unclocked(slice),
                        "two waits without the clock and no request queued between"
                    );
                }
            }
            Action::AddMonitor {
                capacity,
                keep_unwatched,
            } => {
                let cap = usize::from(capacity % 5);
                let waker = self.waker();
                let id = self.core.add_monitor(cap, keep_unwatched, waker);
                assert!(!self.model.mon_ids.contains(&id), "monitor id {id} reused");
                self.model.mon_ids.push(id);
                self.model.monitors.insert(
                    id,
                    MMon {
                        watches: BTreeSet::new(),
                        past_tokens: BTreeSet::new(),
                        queue: VecDeque::new(),
                        cap: cap.max(1),
                        dropped: 0,
                        keep: keep_unwatched,
                        waker,
                        reconnected: false,
                    },
                );
            }
            Action::RemoveMonitor { which, deadline } => {
                let m = self.pick_mon(which);
                let d = self.deadline(deadline);
                let waker = self.waker();
                let ids = self.core.remove_monitor(m, d, waker);
                // WATCHes in flight for pairs the monitor still holds stop
                // speaking for it; one for a pair it let go of (its caller
                // gave up) is still undone when it lands.
                let held: Vec<Pair> = self
                    .model
                    .monitors
                    .get(&m)
                    .map(|mon| mon.watches.iter().cloned().collect())
                    .unwrap_or_default();
                for pair in &held {
                    self.model.forget_origin(m, Some(pair));
                }
                let released: BTreeSet<Pair> = match self.model.monitors.remove(&m) {
                    Some(mon) => mon
                        .watches
                        .into_iter()
                        .filter(|pair| self.model.holders(pair) == 0)
                        .collect(),
                    None => BTreeSet::new(),
                };
                if self.model.dead.is_some() {
                    assert!(
                        ids.is_empty(),
                        "remove_monitor({m}) after death sent {ids:?}"
                    );
                    return;
                }
                assert_eq!(
                    ids.len(),
                    released.len(),
                    "remove_monitor({m}): {ids:?} for {released:?}"
                );
                let payloads = released
                    .iter()
                    .map(|(p, t)| strings(&[p.as_bytes(), t.as_bytes()]));
                let set = Rc::new(RefCell::new(payloads.collect::<BTreeSet<_>>()));
                for id in ids {
                    self.model.accept_id(id);
                    let r =
                        self.model
                            .new_req(Op::Unwatch, 0, d, St::Waiting { waker: Some(waker) });
                    self.model.queue(Key::from(id), r, Body::OneOf(set.clone()));
                }
            }
            Action::SetMonitorWaker { which } => {
                let m = self.pick_mon(which);
                let waker = self.waker();
                self.core.set_monitor_waker(m, waker);
                if let Some(mon) = self.model.monitors.get_mut(&m) {
                    mon.waker = waker;
                }
            }
            Action::Watch {
                mon,
                path,
                token,
                depth,
                bad_token,
                deadline,
            } => {
                let m = self.pick_mon(mon);
                let p = pick(&PATHS, path);
                let t = if bad_token {
                    "t\0"
                } else {
                    pick(&TOKENS, token)
                };
                let depth = depth.map(|d| u32::from(d % 4));
                let d = self.deadline(deadline);
                let waker = self.waker();
                let got = self
                    .core
                    .watch(m, Path::new(p).unwrap(), t, depth, d, waker);
                let pair = (p.to_owned(), t.to_owned());
                let what = format!("watch({m}, {p:?}, {t:?})");
                if self.failed_with_death(&got, &what) {
                    return;
                }
                if depth.is_some() && self.model.device {
                    // The driver would drop the depth: refused before anything.
                    assert!(
                        matches!(got, Err(Error::Refused(Refusal::DepthOnDevice))),
                        "{what}: {got:?}"
                    );
                    return;
                }
                if bad_token {
                    assert!(
                        matches!(got, Err(Error::Invalid(WireError::EmbeddedNul))),
                        "{what}: {got:?}"
                    );
                    return;
                }
                let Some(mm) = self.model.monitors.get_mut(&m) else {
                    assert!(
                        matches!(got, Err(Error::Disconnected { .. })),
                        "{what}: {got:?}"
                    );
                    return;
                };
                if mm.keep {
                    mm.past_tokens.insert(t.to_owned());
                }
                if mm.watches.contains(&pair) {
                    assert!(
                        matches!(&got, Err(e) if e.errno() == Some(Errno::EEXIST)),
                        "{what}: {got:?}"
                    );
                    return;
                }
                mm.watches.insert(pair.clone());
                if self.model.holders(&pair) == 1 {
                    self.model.reg_depth.insert(pair.clone(), depth);
                }
                if self.model.holders(&pair) > 1 {
                    let mm = self.model.monitors.get_mut(&m).unwrap();
                    mm.push(Event::new(p, t));
                    self.model.woken.push(mm.waker);
                    assert!(matches!(got, Ok(None)), "{what}: shared, got {got:?}");
                    return;
                }
                // A WATCH of the same pair and depth given up on the wire
                // (still speaking for the pair) is taken over, not sent twice.
                let given_up = self
                    .model
                    .reqs
                    .iter()
                    .filter(|(_, r)| r.op == Op::Watch && matches!(r.st, St::Gone))
                    .filter(|(_, r)| {
                        r.depth == depth && r.origin.as_ref().is_some_and(|(_, op)| *op == pair)
                    })
                    .min_by_key(|(_, r)| r.seq)
                    .map(|(&key, _)| key);
                if let Some(key) = given_up {
                    assert!(
                        matches!(got, Ok(Some(id)) if Key::from(id) == key),
                        "{what}: want WATCH {key} taken over, got {got:?}"
                    );
                    let r = self.model.reqs.get_mut(&key).unwrap();
                    r.st = St::Waiting { waker: Some(waker) };
                    r.origin = Some((m, pair));
                    r.deadline = d;
                    return;
                }
                let Ok(Some(id)) = got else {
                    panic!("{what}: want a WATCH, got {got:?}");
                };
                let mut payload = strings(&[p.as_bytes(), t.as_bytes()]);
                if let Some(depth) = depth {
                    payload.extend_from_slice(&strings(&[depth.to_string().as_bytes()]));
                }
                self.accepted(id, Op::Watch, 0, d, Some(waker), payload, Some((m, pair)));
                if let Some(r) = self.model.reqs.get_mut(&Key::from(id)) {
                    r.depth = depth;
                }
            }
            Action::Unwatch {
                mon,
                path,
                token,
                deadline,
            } => {
                let m = self.pick_mon(mon);
                let (p, t) = (pick(&PATHS, path), pick(&TOKENS, token));
                let d = self.deadline(deadline);
                let waker = self.waker();
                let got = self.core.unwatch(m, Path::new(p).unwrap(), t, d, waker);
                let pair = (p.to_owned(), t.to_owned());
                let what = format!("unwatch({m}, {p:?}, {t:?})");
                let held = self
                    .model
                    .monitors
                    .get_mut(&m)
                    .is_some_and(|mm| mm.watches.remove(&pair));
                if !held {
                    assert!(
                        matches!(&got, Err(e) if e.is_not_found()),
                        "{what}: {got:?}"
                    );
                    return;
                }
                self.model.forget_origin(m, Some(&pair));
                if self.model.holders(&pair) > 0 {
                    assert!(matches!(got, Ok(None)), "{what}: still shared, got {got:?}");
                    return;
                }
                if self.failed_with_death(&got, &what) {
                    return;
                }
                let Ok(Some(id)) = got else {
                    panic!("{what}: want an UNWATCH, got {got:?}");
                };
                let payload = strings(&[p.as_bytes(), t.as_bytes()]);
                self.accepted(id, Op::Unwatch, 0, d, Some(waker), payload, None);
            }
            Action::PollEvent { mon } => {
                let m = self.pick_mon(mon);
                self.poll_event(m);
            }
            Action::Drain { mon } => {
                let m = self.pick_mon(mon);
                self.drain(m);
            }
            Action::Lost => {
                let e = Error::Disconnected {
                    reason: "lost".into(),
                };
                self.core.connection_lost(e.clone());
                self.model.connection_lost(dbg(&e));
            }
            Action::Reconnected => {
                self.core.reconnected();
                self.model.reconnected();
            }
            Action::Fail => {
                let e = Error::Disconnected {
                    reason: "fuzz".into(),
                };
                self.core.fail(e.clone());
                self.model.fail(Death::Exact(dbg(&e)), None);
            }
        }
    }

    /// Once dead, a call fails with the connection's error: `true` then.
    fn failed_with_death<T: std::fmt::Debug>(&self, got: &Result<T, Error>, what: &str) -> bool {
        let Some(Death::Exact(text)) = &self.model.dead else {
            return false;
        };
        let got = got.as_ref().map_err(dbg);
        assert_eq!(got.as_ref().err(), Some(text), "{what}: {got:?}");
        true
    }

    fn check_transmit(&mut self) {
        let got = self.core.poll_transmit().map(<[u8]>::to_vec);
        self.model.check_transmit(got.as_deref());
    }

    fn check_woken(&mut self, what: &str) {
        let mut got = Vec::new();
        self.core.take_woken(&mut got);
        let want = std::mem::take(&mut self.model.woken);
        assert_eq!(sorted(got), sorted(want), "woken by {what}");
    }

    fn invariants(&mut self, what: &str) {
        self.check_woken(what);
        self.check_transmit();
        let m = &self.model;
        assert_eq!(self.core.is_dead(), m.dead.is_some(), "is_dead");
        assert_eq!(self.core.is_reconnecting(), m.lost, "is_reconnecting");
        assert_eq!(self.core.epoch(), m.epoch, "epoch");
        assert_eq!(self.core.in_flight(), m.waiting(), "in_flight");
        assert_eq!(self.core.queued_frames(), m.outbox.len(), "queued_frames");
        assert!(
            m.gone_count() <= ABANDONED_MAX,
            "more than ABANDONED_MAX given up"
        );
        assert_eq!(
            self.core.registration_count(),
            m.registrations().len(),
            "registration_count"
        );
        // Never late: no waiting deadline before poll_timeout.
        let earliest = m
            .reqs
            .values()
            .filter(|r| matches!(r.st, St::Waiting { .. }))
            .filter_map(|r| r.deadline.map(|d| d.at))
            .min();
        if let Some(at) = earliest {
            let got = self.core.poll_timeout();
            assert!(
                got.is_some_and(|t| t <= at),
                "poll_timeout {got:?} later than {at:?}"
            );
        }
        for (&id, mon) in &m.monitors {
            assert!(mon.queue.len() <= mon.cap);
            let want: Vec<Pair> = mon.watches.iter().cloned().collect();
            assert_eq!(self.core.watched(id), want, "watched({id})");
            // No lost wake-up: whatever poll_event would give is announced.
            let pending = mon.reconnected
                || mon.dropped > 0
                || m.dead.is_some()
                || mon
                    .queue
                    .iter()
                    .any(|e| mon.keep || mon.covers(&e.path, &e.token));
            if pending {
                assert!(
                    self.core.has_event(id),
                    "has_event({id}) false with something queued"
                );
            } else if mon.queue.is_empty() {
                assert!(
                    !self.core.has_event(id),
                    "has_event({id}) true with nothing queued"
                );
            }
        }
        let _ = self.t0;
    }

    fn finish(&mut self) {
        let e = Error::Disconnected {
            reason: "end of input".into(),
        };
        self.core.fail(e.clone());
        self.model.fail(Death::Exact(dbg(&e)), None);
        self.invariants("the final fail");
        assert_eq!(self.core.in_flight(), 0);
        assert_eq!(self.core.poll_transmit(), None);
        for id in self.model.ids.clone() {
            let got = self.core.poll_reply(id);
            assert!(got.is_some(), "poll_reply({id}) after fail: still waiting");
            let want = self.model.poll_reply(id);
            if let (Some(Ok(r)), Some(Ok(w))) = (&got, &want) {
                assert!(r == w, "poll_reply({id}) after fail: another reply");
            } else if let (Some(Err(e)), Some(Err(Some(t)))) = (&got, &want) {
                assert_eq!(&dbg(e), t, "poll_reply({id}) after fail");
            } else if !matches!((&got, &want), (Some(Err(_)), Some(Err(None)))) {
                panic!("poll_reply({id}) after fail: got {got:?}, model wants {want:?}");
            }
        }
        assert!(self.core.submit_raw(Op::Read, b"/a\0", 0, None, 0).is_err());
        for m in self.model.mon_ids.clone() {
            if self.model.monitors.contains_key(&m) {
                assert!(self.drain(m), "monitor {m} did not end with the error");
            } else {
                assert!(self.core.poll_event(m).is_none());
            }
        }
    }
}

/// What the model expects a submit to be refused with.
#[derive(Debug)]
enum WantRefusal {
    Dead,
    Invalid,
    TooLarge { len: usize, max: usize },
    NotARequest(Op),
}

/// `XS_FUZZ_TRACE=1` prints each action (to read a crash input).
static TRACE: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("XS_FUZZ_TRACE").is_some());

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mode = u.arbitrary::<u8>().unwrap_or(0);
    let (device, reconnect) = (mode & 1 != 0, mode & 2 != 0);
    let mut h = Harness::new(device, reconnect);
    if *TRACE {
        eprintln!("device: {device}, reconnection: {reconnect}");
    }
    for _ in 0..256 {
        if u.is_empty() {
            break;
        }
        let Ok(action) = Action::arbitrary(&mut u) else {
            break;
        };
        if *TRACE {
            eprintln!("{action:?}");
        }
        // Naming the action in failure messages costs a formatting per
        // step: only when tracing (the trace shows it anyway otherwise).
        let what = if *TRACE {
            format!("{action:?}")
        } else {
            String::from("the last action")
        };
        h.step(action);
        h.invariants(&what);
    }
    h.finish();
});
