//! Monitors, the watch registrations they share, and their event queues.
//!
//! Several monitors of one connection may watch the same (path, token): the
//! daemon holds one registration, counted here, so WATCH goes out for the
//! first user and UNWATCH after the last. A monitor joining a registration
//! that already exists gets the initial event the daemon would have fired,
//! made up here.
//!
//! Events are routed by token (never by request id: the xenbus device
//! leaves garbage there), and only to monitors one of whose *current*
//! watches covers the path, so leftovers after an unwatch do not leak
//! through. Each queue is bounded: past its capacity events are counted,
//! and the count is reported before the next event.

use std::collections::{HashMap, HashSet, VecDeque};

use xs_wire::{is_child, WatchEvent};

use crate::{Error, Event};

/// Identifies a monitor inside one core.
pub type MonitorId = u64;

/// A (path, token) pair as registered with the daemon.
pub(crate) type Pair = (String, String);

struct MonitorState<W> {
    watches: HashSet<Pair>,
    /// Depths enforced here, for watches registered without the depth the
    /// caller asked for (a daemon without WATCHDEPTH).
    filters: HashMap<Pair, u32>,
    /// Tokens watched before, for monitors that keep unwatched events.
    past_tokens: HashSet<String>,
    queue: VecDeque<Event>,
    capacity: usize,
    dropped: u64,
    /// The connection was replaced: say so before anything else.
    reconnected: bool,
    keep_unwatched: bool,
    waker: W,
}

impl<W> MonitorState<W> {
    fn covers(&self, path: &str, token: &str) -> bool {
        self.watches.iter().any(|pair| {
            pair.1 == token
                && is_child(path, &pair.0)
                && self
                    .filters
                    .get(pair)
                    .is_none_or(|&depth| levels_below(path, &pair.0) <= depth as usize)
        })
    }

    fn enqueue(&mut self, event: Event) {
        if self.queue.len() < self.capacity {
            self.queue.push_back(event);
        } else {
            self.dropped += 1;
        }
    }
}

/// How many levels `path` is below `top` (0: `top` itself).
fn levels_below(path: &str, top: &str) -> usize {
    let rest = path.get(top.len()..).unwrap_or("");
    rest.split('/').filter(|c| !c.is_empty()).count()
}

/// Every monitor of a connection and the registrations they hold.
pub(crate) struct Watches<W> {
    monitors: HashMap<MonitorId, MonitorState<W>>,
    next_monitor: MonitorId,
    /// Registrations on the wire: pair -> (monitors using it, the depth
    /// it was registered with).
    registrations: HashMap<Pair, (usize, Option<u32>)>,
}

/// Whether a change of a monitor's watches must go on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wire {
    /// First (WATCH) or last (UNWATCH) user of the pair: send it.
    Send,
    /// Another monitor shares the registration: nothing to send.
    Nothing,
}

impl<W: Clone> Watches<W> {
    pub(crate) fn new() -> Self {
        Watches {
            monitors: HashMap::new(),
            next_monitor: 1,
            registrations: HashMap::new(),
        }
    }

    pub(crate) fn add(&mut self, capacity: usize, keep_unwatched: bool, waker: W) -> MonitorId {
        let id = self.next_monitor;
        self.next_monitor += 1;
        self.monitors.insert(
            id,
            MonitorState {
                watches: HashSet::new(),
                filters: HashMap::new(),
                past_tokens: HashSet::new(),
                queue: VecDeque::new(),
                capacity: capacity.max(1),
                dropped: 0,
                reconnected: false,
                keep_unwatched,
                waker,
            },
        );
        id
    }

    pub(crate) fn set_waker(&mut self, id: MonitorId, waker: W) {
        if let Some(m) = self.monitors.get_mut(&id) {
            m.waker = waker;
        }
    }

    /// Removes a monitor; returns the pairs nobody uses any more.
    pub(crate) fn remove(&mut self, id: MonitorId) -> Vec<Pair> {
        let Some(m) = self.monitors.remove(&id) else {
            return Vec::new();
        };
        m.watches
            .into_iter()
            .filter(|pair| self.release(pair) == Wire::Send)
            .collect()
    }

    /// Records that monitor `id` watches `pair` (before any WATCH is sent,
    /// so the initial event cannot be missed). `None` if the monitor does
    /// not exist; `EEXIST` if it already watches the pair. A shared
    /// registration gets its made-up initial event (and a wake-up, pushed
    /// on `woken`).
    pub(crate) fn watch(
        &mut self,
        id: MonitorId,
        pair: Pair,
        depth: Option<u32>,
        woken: &mut Vec<W>,
    ) -> Option<Result<Wire, Error>> {
        let m = self.monitors.get_mut(&id)?;
        if m.keep_unwatched {
            m.past_tokens.insert(pair.1.clone());
        }
        if m.watches.contains(&pair) {
            return Some(Err(Error::daemon(
                xs_wire::Op::Watch,
                Some(&pair.0),
                "EEXIST",
            )));
        }
        m.watches.insert(pair.clone());
        let (users, _) = self.registrations.entry(pair.clone()).or_insert((0, depth));
        *users += 1;
        if *users == 1 {
            return Some(Ok(Wire::Send));
        }
        m.enqueue(Event::new(pair.0, pair.1));
        woken.push(m.waker.clone());
        Some(Ok(Wire::Nothing))
    }

    /// Undoes [`Watches::watch`] (its WATCH failed or timed out).
    pub(crate) fn watch_failed(&mut self, id: MonitorId, pair: &Pair) {
        if let Some(m) = self.monitors.get_mut(&id) {
            if m.watches.remove(pair) {
                self.release(pair);
            }
        }
    }

    /// Makes monitor `id` drop events of `pair` more than `depth` levels
    /// below its path (or stop doing so, with `None`).
    pub(crate) fn set_filter(&mut self, id: MonitorId, pair: Pair, depth: Option<u32>) {
        if let Some(m) = self.monitors.get_mut(&id) {
            match depth {
                Some(depth) => m.filters.insert(pair, depth),
                None => m.filters.remove(&pair),
            };
        }
    }

    /// Removes monitor `id`'s watch; `None` if it has none such.
    pub(crate) fn unwatch(&mut self, id: MonitorId, pair: &Pair) -> Option<Wire> {
        let removed = self.monitors.get_mut(&id).is_some_and(|m| {
            m.filters.remove(pair);
            m.watches.remove(pair)
        });
        removed.then(|| self.release(pair))
    }

    fn release(&mut self, pair: &Pair) -> Wire {
        match self.registrations.get_mut(pair) {
            Some((users, _)) if *users > 1 => {
                *users -= 1;
                Wire::Nothing
            }
            Some(_) => {
                self.registrations.remove(pair);
                Wire::Send
            }
            None => Wire::Nothing,
        }
    }

    /// The depth `pair` was registered with.
    pub(crate) fn depth_of(&self, pair: &Pair) -> Option<u32> {
        self.registrations.get(pair).and_then(|&(_, depth)| depth)
    }

    /// Whether some monitor holds `pair`.
    pub(crate) fn is_registered(&self, pair: &Pair) -> bool {
        self.registrations.contains_key(pair)
    }

    /// Every registration with its depth, to register again on a new
    /// connection.
    pub(crate) fn registrations(&self) -> impl Iterator<Item = (&Pair, Option<u32>)> {
        self.registrations
            .iter()
            .map(|(pair, &(_, depth))| (pair, depth))
    }

    /// The connection was replaced: every monitor first reports
    /// [`Error::Reconnected`].
    pub(crate) fn mark_reconnected(&mut self, woken: &mut Vec<W>) {
        for m in self.monitors.values_mut() {
            m.reconnected = true;
            woken.push(m.waker.clone());
        }
    }

    pub(crate) fn registration_count(&self) -> usize {
        self.registrations.len()
    }

    pub(crate) fn watched(&self, id: MonitorId) -> Vec<Pair> {
        let mut v: Vec<_> = self
            .monitors
            .get(&id)
            .map(|m| m.watches.iter().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Queues an event for every monitor it belongs to.
    pub(crate) fn deliver(&mut self, ev: &WatchEvent<'_>, woken: &mut Vec<W>) {
        for m in self.monitors.values_mut() {
            let subscribed = m.watches.iter().any(|(_, t)| t == ev.token)
                || (m.keep_unwatched && m.past_tokens.contains(ev.token));
            if !subscribed || !(m.keep_unwatched || m.covers(ev.path, ev.token)) {
                continue;
            }
            m.enqueue(Event::new(ev.path, ev.token));
            woken.push(m.waker.clone());
        }
    }

    /// Wakes every monitor (the connection died).
    pub(crate) fn wake_all(&self, woken: &mut Vec<W>) {
        woken.extend(self.monitors.values().map(|m| m.waker.clone()));
    }

    /// The next item for monitor `id`: a reconnection report, then an
    /// overflow report, then a
    /// queued event still covered by its watches; `None` if nothing is
    /// queued or the monitor does not exist.
    pub(crate) fn next_event(&mut self, id: MonitorId) -> Option<Result<Event, Error>> {
        let m = self.monitors.get_mut(&id)?;
        if std::mem::take(&mut m.reconnected) {
            return Some(Err(Error::Reconnected));
        }
        if m.dropped > 0 {
            let dropped = std::mem::take(&mut m.dropped);
            return Some(Err(Error::Overflow { dropped }));
        }
        while let Some(ev) = m.queue.pop_front() {
            if m.keep_unwatched || m.covers(&ev.path, &ev.token) {
                return Some(Ok(ev));
            }
        }
        None
    }

    pub(crate) fn has_event(&self, id: MonitorId) -> bool {
        self.monitors
            .get(&id)
            .is_some_and(|m| m.reconnected || m.dropped > 0 || !m.queue.is_empty())
    }

    pub(crate) fn exists(&self, id: MonitorId) -> bool {
        self.monitors.contains_key(&id)
    }
}
