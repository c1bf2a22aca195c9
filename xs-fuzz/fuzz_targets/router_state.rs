//! The client router's sans-IO state machine,
//! `xs_client::protocol::Protocol<u32>`, driven by an arbitrary sequence of
//! actions and checked step by step against a small reference model written
//! from the module's documentation.
//!
//! Actions: register requests (various ops and transaction ids), feed
//! replies (to registered ids with the right or a wrong type/transaction
//! id, to unknown ids, the xenbus device's req_id-0 WATCH reply), feed
//! watch events (well-formed from small path/token tables, or raw bytes),
//! take/poll/abandon/unregister requests, note a WATCH's (path, token),
//! take the cleanups late replies owe, add and remove monitors,
//! watch/unwatch/watch_failed, next_event, drain, and fail.
//!
//! Asserted after every action:
//!
//! * no panic; every return value equals the model's (request ids are fresh:
//!   non-zero, not in flight, not abandoned; replies go to the request with
//!   that id when type and transaction id echo, to the oldest waiting WATCH
//!   for a req_id-0 WATCH reply (waiting or given up), late replies to
//!   abandoned ids are dropped and owe a TRANSACTION_END/UNWATCH cleanup for
//!   what they created (an UNWATCH held back while a monitor still holds the
//!   registration), anything else kills the connection; events go by token and watched
//!   path; a full queue counts drops and reports an overflow first);
//! * the set of wakers called equals the model's;
//! * memory is bounded: a monitor never holds more events than its
//!   capacity (a drain never yields more), `in_flight()` never exceeds the
//!   requests registered and not yet taken, abandoned ids are capped (more
//!   than 4096 kills the connection), `registration_count()` equals the
//!   (path, token) pairs some monitor holds;
//! * after a final `fail(...)`, `take()` of every request ever registered
//!   returns `Some` (its reply if one had arrived, else an error) and every
//!   live monitor drains to the connection's error within capacity + 2 calls.
#![no_main]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use xs_client::protocol::{Cleanup, MonitorId, Protocol, Response, WireAction};
use xs_client::{Errno, Error, Event};
use xs_wire::{Frame, Header, Op, Reply, ReplyKind, WatchEvent};

const ABANDONED_MAX: usize = 4096;

const REQUEST_OPS: [Op; 10] = [
    Op::Read,
    Op::Write,
    Op::Watch,
    Op::Watch,
    Op::Unwatch,
    Op::TransactionStart,
    Op::TransactionEnd,
    Op::Directory,
    Op::GetPerms,
    Op::Unknown(99),
];

const WATCH_PATHS: [&str; 7] = [
    "/",
    "/a",
    "/a/b",
    "/ab",
    "a",
    "@introduceDomain",
    "@releaseDomain",
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
    "/b",
];
const TOKENS: [&str; 4] = ["t0", "t1", "", "t0 "];

fn pick<T: Copy>(table: &[T], i: u8) -> T {
    table[usize::from(i) % table.len()]
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

#[derive(Arbitrary, Debug)]
enum Action {
    Register { op: u8, tx: u8 },
    Unregister { which: u8 },
    Reply { which: u8, op: FrameOp, tx: TxSel, payload: Vec<u8> },
    RawReply { req_id: u32, op: u8, tx_id: u32, payload: Vec<u8> },
    WatchReplyZero { tx_id: u32 },
    Event { path: u8, token: u8, req_id: u32, tx_id: u32 },
    RawEvent { payload: Vec<u8> },
    Take { which: u8 },
    IsReady { which: u8 },
    Abandon { which: u8 },
    AbandonMany { n: u8, magic: u16 },
    NoteWatch { which: u8, path: u8, token: u8 },
    TakeCleanups,
    AddMonitor { capacity: u8, keep_unwatched: bool },
    RemoveMonitor { which: u8 },
    Watch { mon: u8, path: u8, token: u8 },
    WatchFailed { mon: u8, path: u8, token: u8 },
    Unwatch { mon: u8, path: u8, token: u8 },
    NextEvent { mon: u8 },
    HasEvent { mon: u8 },
    Drain { mon: u8 },
    Fail,
}

// ---------------------------------------------------------------------------
// Reference model
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum St {
    Waiting,
    Done(Response),
    Failed,
}

#[derive(Debug)]
struct MReq {
    op: Op,
    tx: u32,
    seq: u64,
    waker: u32,
    st: St,
    watch: Option<Pair>,
}

/// A request whose caller gave up, kept until its late reply.
#[derive(Debug)]
struct MAbandoned {
    op: Op,
    seq: u64,
    watch: Option<Pair>,
}

type Pair = (String, String);

#[derive(Debug)]
struct MMon {
    watches: BTreeSet<Pair>,
    past: BTreeSet<String>,
    queue: VecDeque<(String, String)>,
    cap: usize,
    dropped: u64,
    keep: bool,
    waker: u32,
}

impl MMon {
    fn covers(&self, path: &str, token: &str) -> bool {
        self.watches
            .iter()
            .any(|(wp, wt)| wt == token && child_of(path, wp))
    }

    fn push(&mut self, path: &str, token: &str) {
        if self.queue.len() < self.cap {
            self.queue.push_back((path.to_owned(), token.to_owned()));
        } else {
            self.dropped += 1;
        }
    }
}

/// Protocol notes, section 1: C is a child of P when C equals P, or P is
/// `/`, or P + `/` is a prefix of C.
fn child_of(child: &str, parent: &str) -> bool {
    child == parent || parent == "/" || child.starts_with(&format!("{parent}/"))
}

#[derive(Default)]
struct Model {
    pending: BTreeMap<u32, MReq>,
    abandoned: BTreeMap<u32, MAbandoned>,
    /// Undo requests owed for late replies, in order.
    cleanups: Vec<Cleanup>,
    /// Late replies seen (bounds `cleanups`).
    late: usize,
    dead: bool,
    monitors: BTreeMap<MonitorId, MMon>,
    registrations: BTreeMap<Pair, usize>,
    /// Every id ever registered, for picking targets.
    ids: Vec<u32>,
    /// Every monitor id ever created.
    mon_ids: Vec<MonitorId>,
    next_seq: u64,
    next_waker: u32,
}

impl Model {
    fn waiting(&self) -> usize {
        self.pending
            .values()
            .filter(|p| matches!(p.st, St::Waiting))
            .count()
    }

    fn fail(&mut self) -> Vec<u32> {
        let mut woken = Vec::new();
        if self.dead {
            return woken;
        }
        for p in self.pending.values_mut() {
            if matches!(p.st, St::Waiting) {
                p.st = St::Failed;
                woken.push(p.waker);
            }
        }
        woken.extend(self.monitors.values().map(|m| m.waker));
        self.dead = true;
        woken
    }

    /// A frame from the daemon: `Ok` with the wakers called, or `Err` with
    /// the wakers the failure called.
    fn frame(&mut self, h: Header, payload: &[u8]) -> Result<Vec<u32>, Vec<u32>> {
        if h.op == Op::WatchEvent {
            let Ok(ev) = WatchEvent::parse(payload) else {
                return Err(self.fail());
            };
            let mut woken = Vec::new();
            for m in self.monitors.values_mut() {
                let subscribed = m.watches.iter().any(|(_, t)| t == ev.token)
                    || (m.keep && m.past.contains(ev.token));
                if !subscribed || !(m.keep || m.covers(ev.path, ev.token)) {
                    continue;
                }
                m.push(ev.path, ev.token);
                woken.push(m.waker);
            }
            return Ok(woken);
        }
        let target = match self.pending.get(&h.req_id) {
            Some(p) if matches!(p.st, St::Waiting) => h.req_id,
            _ if self.abandoned.contains_key(&h.req_id) => {
                self.late_reply(h.req_id, h, payload);
                return Ok(Vec::new());
            }
            // The device's req_id-0 WATCH reply answers the oldest WATCH
            // not yet answered, waiting or given up.
            _ if h.req_id == 0 && h.op == Op::Watch => {
                let waiting = self
                    .pending
                    .iter()
                    .filter(|(_, p)| p.op == Op::Watch && matches!(p.st, St::Waiting))
                    .map(|(&id, p)| (p.seq, id, false));
                let given_up = self
                    .abandoned
                    .iter()
                    .filter(|(_, a)| a.op == Op::Watch)
                    .map(|(&id, a)| (a.seq, id, true));
                match waiting.chain(given_up).min_by_key(|&(seq, _, _)| seq) {
                    Some((_, id, false)) => id,
                    Some((_, id, true)) => {
                        self.late_reply(id, h, payload);
                        return Ok(Vec::new());
                    }
                    None => return Err(self.fail()),
                }
            }
            _ => return Err(self.fail()),
        };
        let p = &self.pending[&target];
        if h.op != p.op && h.op != Op::Error {
            return Err(self.fail());
        }
        if h.tx_id != p.tx && !(h.op == Op::Watch && h.req_id == 0) {
            return Err(self.fail());
        }
        let p = self.pending.get_mut(&target).unwrap();
        p.st = St::Done(Response {
            header: h,
            payload: payload.to_vec(),
        });
        Ok(vec![p.waker])
    }

    fn late_reply(&mut self, id: u32, h: Header, payload: &[u8]) {
        if let Some(a) = self.abandoned.remove(&id) {
            self.undo_late(a.op, a.watch, h, payload);
        }
    }

    /// A late success reply created something nobody will use: a
    /// transaction (to end) or a watch (to unwatch).
    fn undo_late(&mut self, op: Op, watch: Option<Pair>, h: Header, payload: &[u8]) {
        self.late += 1;
        if h.op != op {
            return;
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

    /// Cleanups that can go out: every END, and an UNWATCH once no
    /// monitor holds its registration.
    fn take_cleanups(&mut self) -> Vec<Cleanup> {
        let registrations = &self.registrations;
        let (ready, held): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.cleanups)
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

    fn release(&mut self, pair: &Pair) -> WireAction {
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

    fn next_event(&mut self, id: MonitorId) -> Option<Result<(String, String), Option<u64>>> {
        let dead = self.dead;
        let m = self.monitors.get_mut(&id)?;
        if m.dropped > 0 {
            return Some(Err(Some(std::mem::take(&mut m.dropped))));
        }
        while let Some((path, token)) = m.queue.pop_front() {
            if m.keep || m.covers(&path, &token) {
                return Some(Ok((path, token)));
            }
        }
        dead.then_some(Err(None))
    }
}

// ---------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------

/// What `next_event` gave.
enum Next {
    Event,
    Overflow,
    Dead,
}

struct Harness {
    proto: Protocol<u32>,
    model: Model,
    abandon_many_used: bool,
}

fn sorted(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v
}

fn frame_of(h: Header, payload: &[u8]) -> Frame<'_> {
    Frame { header: h, payload }
}

impl Harness {
    fn pick_id(&self, which: u8) -> u32 {
        if self.model.ids.is_empty() || which == 255 {
            u32::from(which)
        } else {
            self.model.ids[usize::from(which) % self.model.ids.len()]
        }
    }

    fn pick_mon(&self, which: u8) -> MonitorId {
        if self.model.mon_ids.is_empty() || which == 255 {
            1000 + MonitorId::from(which)
        } else {
            self.model.mon_ids[usize::from(which) % self.model.mon_ids.len()]
        }
    }

    fn register(&mut self, op: Op, tx: u32) -> Option<u32> {
        let waker = 1_000_000 + self.model.next_waker;
        self.model.next_waker += 1;
        let got = self.proto.register(op, tx, waker);
        if self.model.dead {
            assert!(got.is_err(), "register succeeded on a dead connection");
            return None;
        }
        let id = got.expect("register failed on a live connection");
        assert_ne!(id, 0, "request id 0");
        assert!(!self.model.pending.contains_key(&id), "id {id} still in flight");
        assert!(!self.model.abandoned.contains_key(&id), "id {id} abandoned");
        let seq = self.model.next_seq;
        self.model.next_seq += 1;
        self.model.pending.insert(
            id,
            MReq {
                op,
                tx,
                seq,
                waker,
                st: St::Waiting,
                watch: None,
            },
        );
        self.model.ids.push(id);
        Some(id)
    }

    fn feed(&mut self, h: Header, payload: &[u8]) {
        let mut woken = Vec::new();
        let got = self
            .proto
            .handle_frame(&frame_of(h, payload), &mut |w: &u32| woken.push(*w));
        let want = self.model.frame(h, payload);
        match (&got, &want) {
            (Ok(()), Ok(w)) | (Err(_), Err(w)) => {
                assert_eq!(sorted(woken), sorted(w.clone()), "wrong wakers for {h:?}");
            }
            _ => panic!("handle_frame({h:?}) gave {got:?}, model {want:?}"),
        }
        if let Err(e) = got {
            assert!(e.is_disconnected(), "frame error {e:?} is not a disconnect");
        }
    }

    fn abandon(&mut self, id: u32) {
        self.proto.abandon(id);
        if let Some(p) = self.model.pending.remove(&id) {
            match p.st {
                St::Waiting => {
                    let a = MAbandoned {
                        op: p.op,
                        seq: p.seq,
                        watch: p.watch,
                    };
                    self.model.abandoned.insert(id, a);
                }
                // The reply came just as its caller gave up.
                St::Done(resp) => {
                    self.model
                        .undo_late(p.op, p.watch, resp.header, &resp.payload)
                }
                St::Failed => {}
            }
        }
        if self.model.abandoned.len() > ABANDONED_MAX {
            self.model.fail();
        }
    }

    fn take(&mut self, id: u32) {
        let got = self.proto.take(id);
        match self.model.pending.get(&id).map(|p| p.st.clone()) {
            None => assert!(matches!(got, Some(Err(_))), "take of unknown id {id}: {got:?}"),
            Some(St::Waiting) => assert!(got.is_none(), "take of waiting id {id}: {got:?}"),
            Some(St::Done(resp)) => {
                self.model.pending.remove(&id);
                match got {
                    Some(Ok(r)) => assert!(r == resp, "take({id}) gave another reply"),
                    other => panic!("take({id}) gave {other:?}, want the reply"),
                }
            }
            Some(St::Failed) => {
                self.model.pending.remove(&id);
                assert!(matches!(got, Some(Err(_))), "take of failed id {id}: {got:?}");
            }
        }
    }

    fn next_event(&mut self, id: MonitorId) -> Option<Next> {
        let got = self.proto.next_event(id);
        let want = self.model.next_event(id);
        match (&got, &want) {
            (None, None) => None,
            (Some(Ok(ev)), Some(Ok((p, t)))) => {
                assert_eq!(*ev, Event::new(p.as_str(), t.as_str()));
                Some(Next::Event)
            }
            (Some(Err(Error::Overflow { dropped })), Some(Err(Some(want)))) => {
                assert_eq!(dropped, want);
                Some(Next::Overflow)
            }
            (Some(Err(e)), Some(Err(None))) => {
                assert!(e.is_disconnected(), "dead monitor gave {e:?}");
                Some(Next::Dead)
            }
            _ => panic!("next_event({id}) gave {got:?}, model {want:?}"),
        }
    }

    fn step(&mut self, action: Action) {
        match action {
            Action::Register { op, tx } => {
                let op = pick(&REQUEST_OPS, op);
                let tx = match tx {
                    0..=127 => 0,
                    t => u32::from(t % 4),
                };
                self.register(op, tx);
            }
            Action::Unregister { which } => {
                let id = self.pick_id(which);
                self.proto.unregister(id);
                self.model.pending.remove(&id);
            }
            Action::Reply {
                which,
                op,
                tx,
                payload,
            } => {
                let id = self.pick_id(which);
                let (req_op, req_tx) = self
                    .model
                    .pending
                    .get(&id)
                    .map_or((Op::Read, 0), |p| (p.op, p.tx));
                let op = match op {
                    FrameOp::Same => req_op,
                    FrameOp::Error => Op::Error,
                    FrameOp::Other(o) => Op::from_u32(u32::from(o % 28)),
                };
                let tx_id = match tx {
                    TxSel::Same => req_tx,
                    TxSel::Other(t) => t,
                };
                let h = Header {
                    op,
                    req_id: id,
                    tx_id,
                    len: payload.len() as u32,
                };
                self.feed(h, &payload);
            }
            Action::RawReply {
                req_id,
                op,
                tx_id,
                payload,
            } => {
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
                let payload = [
                    pick(&EVENT_PATHS, path).as_bytes(),
                    b"\0",
                    pick(&TOKENS, token).as_bytes(),
                    b"\0",
                ]
                .concat();
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
            Action::Take { which } => {
                let id = self.pick_id(which);
                self.take(id);
            }
            Action::IsReady { which } => {
                let id = self.pick_id(which);
                let want = self
                    .model
                    .pending
                    .get(&id)
                    .is_none_or(|p| !matches!(p.st, St::Waiting));
                assert_eq!(self.proto.is_ready(id), want, "is_ready({id})");
            }
            Action::Abandon { which } => {
                let id = self.pick_id(which);
                self.abandon(id);
            }
            Action::AbandonMany { n, magic } => {
                // Register and abandon a few requests; `magic == 0x4096`
                // (at most once per input, and rare, as it costs thousands
                // of steps) goes just past the abandoned-request cap.
                let count = if magic == 0x4096 && !self.abandon_many_used {
                    self.abandon_many_used = true;
                    ABANDONED_MAX + 1 - self.model.abandoned.len().min(ABANDONED_MAX)
                } else {
                    usize::from(n % 8)
                };
                for _ in 0..count {
                    let Some(id) = self.register(Op::Read, 0) else {
                        break;
                    };
                    self.abandon(id);
                }
            }
            Action::NoteWatch { which, path, token } => {
                let id = self.pick_id(which);
                let pair = (pick(&WATCH_PATHS, path).to_owned(), pick(&TOKENS, token).to_owned());
                self.proto.note_watch(id, &pair.0, &pair.1);
                if let Some(p) = self.model.pending.get_mut(&id) {
                    p.watch = Some(pair);
                }
            }
            Action::TakeCleanups => {
                let got = self.proto.take_cleanups();
                assert_eq!(got, self.model.take_cleanups(), "take_cleanups");
            }
            Action::AddMonitor {
                capacity,
                keep_unwatched,
            } => {
                let cap = usize::from(capacity % 5);
                let waker = 2_000_000 + self.model.next_waker;
                self.model.next_waker += 1;
                let id = self.proto.add_monitor(cap, keep_unwatched, waker);
                assert!(!self.model.mon_ids.contains(&id), "monitor id {id} reused");
                self.model.mon_ids.push(id);
                self.model.monitors.insert(
                    id,
                    MMon {
                        watches: BTreeSet::new(),
                        past: BTreeSet::new(),
                        queue: VecDeque::new(),
                        cap: cap.max(1),
                        dropped: 0,
                        keep: keep_unwatched,
                        waker,
                    },
                );
            }
            Action::RemoveMonitor { which } => {
                let id = self.pick_mon(which);
                let mut got = self.proto.remove_monitor(id);
                got.sort();
                let mut want = Vec::new();
                if let Some(m) = self.model.monitors.remove(&id) {
                    for pair in m.watches {
                        if self.model.release(&pair) == WireAction::Send {
                            want.push(pair);
                        }
                    }
                }
                want.sort();
                assert_eq!(got, want, "remove_monitor({id})");
            }
            Action::Watch { mon, path, token } => {
                let id = self.pick_mon(mon);
                let (path, token) = (pick(&WATCH_PATHS, path), pick(&TOKENS, token));
                let got = self.proto.watch(id, path, token);
                let pair = (path.to_owned(), token.to_owned());
                let Some(m) = self.model.monitors.get_mut(&id) else {
                    assert!(got.is_err(), "watch on a missing monitor: {got:?}");
                    return;
                };
                if m.keep {
                    m.past.insert(token.to_owned());
                }
                if !m.watches.insert(pair.clone()) {
                    match got {
                        Err(e) => assert_eq!(e.errno(), Some(Errno::EEXIST)),
                        Ok(a) => panic!("duplicate watch gave {a:?}"),
                    }
                    return;
                }
                let users = self.model.registrations.entry(pair).or_insert(0);
                *users += 1;
                let want = if *users == 1 {
                    WireAction::Send
                } else {
                    m.push(path, token);
                    WireAction::Nothing
                };
                assert_eq!(got.ok(), Some(want), "watch({id}, {path}, {token})");
            }
            Action::WatchFailed { mon, path, token } => {
                // Only as the router uses it: after a watch this monitor holds.
                let id = self.pick_mon(mon);
                let pair = (pick(&WATCH_PATHS, path).to_owned(), pick(&TOKENS, token).to_owned());
                let holds = self
                    .model
                    .monitors
                    .get(&id)
                    .is_some_and(|m| m.watches.contains(&pair));
                if !holds {
                    return;
                }
                self.proto.watch_failed(id, &pair.0, &pair.1);
                self.model.monitors.get_mut(&id).unwrap().watches.remove(&pair);
                self.model.release(&pair);
            }
            Action::Unwatch { mon, path, token } => {
                let id = self.pick_mon(mon);
                let pair = (pick(&WATCH_PATHS, path).to_owned(), pick(&TOKENS, token).to_owned());
                let got = self.proto.unwatch(id, &pair.0, &pair.1);
                let removed = self
                    .model
                    .monitors
                    .get_mut(&id)
                    .is_some_and(|m| m.watches.remove(&pair));
                if removed {
                    let want = self.model.release(&pair);
                    assert_eq!(got.ok(), Some(want), "unwatch({id}, {pair:?})");
                } else {
                    match got {
                        Err(e) => assert_eq!(e.errno(), Some(Errno::ENOENT)),
                        Ok(a) => panic!("unwatch of an unknown watch gave {a:?}"),
                    }
                }
            }
            Action::NextEvent { mon } => {
                let id = self.pick_mon(mon);
                self.next_event(id);
            }
            Action::HasEvent { mon } => {
                let id = self.pick_mon(mon);
                self.check_has_event(id);
            }
            Action::Drain { mon } => {
                let id = self.pick_mon(mon);
                self.drain(id);
            }
            Action::Fail => {
                let woken = self.proto.fail(Error::Disconnected {
                    reason: "fuzz".into(),
                });
                assert_eq!(sorted(woken), sorted(self.model.fail()), "fail() wakers");
            }
        }
    }

    fn check_has_event(&self, id: MonitorId) {
        let want = self.model.dead
            || self
                .model
                .monitors
                .get(&id)
                .is_some_and(|m| m.dropped > 0 || !m.queue.is_empty());
        assert_eq!(self.proto.has_event(id), want, "has_event({id})");
    }

    /// Takes everything a monitor has: an overflow report first if events
    /// were dropped, then at most `capacity` events, then nothing (`false`)
    /// or, on a dead connection, its error (`true`).
    fn drain(&mut self, id: MonitorId) -> bool {
        let cap = self.model.monitors.get(&id).map_or(0, |m| m.cap);
        let mut events = 0;
        for call in 0..cap + 2 {
            match self.next_event(id) {
                None => return false,
                Some(Next::Event) => {
                    events += 1;
                    assert!(events <= cap, "monitor {id} held more than {cap} events");
                }
                Some(Next::Overflow) => assert_eq!(call, 0, "overflow reported late"),
                Some(Next::Dead) => return true,
            }
        }
        panic!("monitor {id} (capacity {cap}) did not drain in {} calls", cap + 2);
    }

    fn invariants(&self) {
        let waiting = self.model.waiting();
        assert_eq!(self.proto.in_flight(), waiting, "in_flight");
        assert!(waiting <= self.model.pending.len());
        assert!(self.model.abandoned.len() <= ABANDONED_MAX || self.model.dead);
        assert!(self.model.cleanups.len() <= self.model.late, "more cleanups than late replies");
        assert_eq!(self.proto.is_dead(), self.model.dead, "is_dead");
        // Registrations: one per (path, token) pair some monitor holds,
        // counting its holders.
        let mut holders: BTreeMap<&Pair, usize> = BTreeMap::new();
        for m in self.model.monitors.values() {
            assert!(m.queue.len() <= m.cap);
            for pair in &m.watches {
                *holders.entry(pair).or_default() += 1;
            }
        }
        assert_eq!(holders.len(), self.model.registrations.len());
        for (pair, n) in &holders {
            assert_eq!(self.model.registrations.get(*pair), Some(n));
        }
        assert_eq!(self.proto.registration_count(), self.model.registrations.len());
        for (&id, m) in &self.model.monitors {
            let want: Vec<Pair> = m.watches.iter().cloned().collect();
            assert_eq!(self.proto.watched(id), want, "watched({id})");
            self.check_has_event(id);
        }
    }

    fn finish(&mut self) {
        let woken = self.proto.fail(Error::Disconnected {
            reason: "end of input".into(),
        });
        assert_eq!(sorted(woken), sorted(self.model.fail()), "final fail() wakers");
        assert!(self.proto.is_dead());
        assert_eq!(self.proto.in_flight(), 0);
        for id in self.model.ids.clone() {
            let before = self.model.pending.get(&id).map(|p| p.st.clone());
            let got = self.proto.take(id);
            match before {
                Some(St::Done(resp)) => match got {
                    Some(Ok(r)) => assert!(r == resp, "take({id}) after fail: another reply"),
                    other => panic!("take({id}) after fail gave {other:?}, want the reply"),
                },
                Some(St::Waiting) => unreachable!("fail() left a request waiting"),
                _ => assert!(matches!(got, Some(Err(_))), "take({id}) after fail: {got:?}"),
            }
            self.model.pending.remove(&id);
        }
        assert!(self.proto.register(Op::Read, 0, 0).is_err());
        assert_eq!(self.proto.take_cleanups(), self.model.take_cleanups(), "final cleanups");
        for id in self.model.mon_ids.clone() {
            if self.model.monitors.contains_key(&id) {
                assert!(self.drain(id), "monitor {id} did not end with the error");
            } else {
                assert!(self.proto.next_event(id).is_none());
            }
        }
    }
}

/// `XS_FUZZ_TRACE=1` prints each action (to read a crash input).
static TRACE: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("XS_FUZZ_TRACE").is_some());

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut h = Harness {
        proto: Protocol::new(),
        model: Model::default(),
        abandon_many_used: false,
    };
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
        h.step(action);
        h.invariants();
    }
    h.finish();
});
