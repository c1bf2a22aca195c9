//! One client connection of the event loop: bytes in, frames to the engine,
//! frames out, with flow control and the I/O faults.
//!
//! Frames travel through three queues, each with a job:
//!
//! ```text
//! engine queue ──pump──▶ staging (due time) ──▶ transport queue ──▶ socket
//! ```
//!
//! * the engine queues replies and events as it produces them;
//! * staging holds each frame until it is due (the delay fault) and is
//!   where the reorder fault swaps replies; its length is the connection's
//!   backlog: at `max_outstanding` frames no further request of the
//!   connection is handled and the socket is no longer read (like
//!   oxenstored's `maxoutstanding`); requests already drained from the
//!   socket by that read wait, undecoded, in a hold queue (at most one
//!   socket buffer's worth). Past `max_outstanding + max_queued_events`
//!   (watch events piling up for a client that does not read) the
//!   connection is closed, so no client can make the server's memory grow
//!   without bound;
//! * the transport (xs-transport's [`Connection`]) holds at most
//!   [`TRANSPORT_HIGH`] bytes more than the socket took.
//!
//! Watch events for an unprivileged domain that are still in staging (not
//! handed to the transport) when their time is up
//! ([`Engine::event_timeout`]: 20 s when imitating C xenstored 4.22) are
//! dropped, as C xenstored drops events a domain has not taken from its
//! ring in time, so a guest that stops reading cannot pin the daemon's
//! memory with events.
//!
//! The input side is bounded by xs-transport's frame reader: one frame of
//! at most 4112 bytes; a header announcing more than 4096 makes `recv` fail
//! and the connection is closed without a reply, exactly like xenstored.

use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use mio::Interest;
use xs_transport::{Connection, TransportError};
use xs_wire::{Header, Op, HEADER_SIZE};

use crate::engine::{ConnId, Engine};
use crate::fault::{Faults, MALFORMED_LEN};

/// Bytes the transport may hold before staging stops feeding it.
pub(crate) const TRANSPORT_HIGH: usize = 64 * 1024;

#[derive(Debug)]
enum State {
    Open,
    /// Stop reading; close once everything queued has been written, after
    /// writing these bytes (the malformed-reply fault) if any.
    Closing(Option<Vec<u8>>),
}

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The peer closed, or the transport failed.
    Transport(TransportError),
    /// The client let too much output pile up.
    Backlog,
    /// A fault closed it.
    Fault,
}

/// A frame waiting in staging.
#[derive(Debug)]
struct Staged {
    /// When it may be sent (the delay fault).
    due: Instant,
    /// When it is dropped if still here (events to unprivileged domains).
    expires: Option<Instant>,
    frame: Vec<u8>,
}

/// Whether an encoded frame is a watch event.
fn is_event(frame: &[u8]) -> bool {
    frame
        .first_chunk::<HEADER_SIZE>()
        .is_some_and(|header| Header::from_bytes(header).op == Op::WatchEvent)
}

/// One accepted client.
#[derive(Debug)]
pub(crate) struct Client {
    conn: Connection,
    /// A second handle on the socket, used only to write the malformed
    /// frame the transport (rightly) refuses to send.
    raw: UnixStream,
    pub(crate) id: ConnId,
    requests: u64,
    staging: VecDeque<Staged>,
    /// Requests read but not handled yet (the backlog was full).
    held: VecDeque<(Header, Vec<u8>)>,
    /// Data may be waiting on the socket that was not read (paused).
    pub(crate) want_read: bool,
    state: State,
    /// The interest the socket is registered with.
    pub(crate) registered: Interest,
}

impl Client {
    /// Wraps an accepted stream for engine connection `id`.
    pub(crate) fn new(stream: UnixStream, id: ConnId) -> std::io::Result<Client> {
        let raw = stream.try_clone()?;
        let mut conn = Connection::from_unix_stream(stream).map_err(std::io::Error::other)?;
        // Requests are held to the protocol's 4096 bytes, as in xenstored.
        conn.set_recv_limit(xs_wire::PAYLOAD_MAX);
        Ok(Client {
            conn,
            raw,
            id,
            requests: 0,
            staging: VecDeque::new(),
            held: VecDeque::new(),
            want_read: true,
            state: State::Open,
            registered: Interest::READABLE,
        })
    }

    /// The mio source to register.
    pub(crate) fn source(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The readiness to wait for now.
    pub(crate) fn interest(&self) -> Interest {
        self.conn.interest()
    }

    /// Whether requests could be handled now: there is input and the
    /// backlog is under the limit.
    pub(crate) fn can_read(&self, engine: &Engine) -> bool {
        self.has_input()
            && self.staging.len() + engine.queued(self.id) < engine.config().quota.max_outstanding
    }

    /// Frames waiting to be handed to the socket.
    pub(crate) fn staged(&self) -> usize {
        self.staging.len()
    }

    /// Handles requests: first those read earlier but held back, then
    /// whatever waits on the socket. Requests are handled only while the
    /// backlog is under `max_outstanding`; the rest of what one read drained
    /// from the socket is held (at most a socket buffer's worth) until the
    /// client has read some replies.
    pub(crate) fn read(
        &mut self,
        engine: &mut Engine,
        faults: &Faults,
        now: Instant,
    ) -> Result<(), End> {
        if !matches!(self.state, State::Open) {
            return Ok(());
        }
        let max = engine.config().quota.max_outstanding;
        if faults.reorder {
            self.stage(engine, faults, now);
        }
        let mut batch = Batch {
            id: self.id,
            requests: &mut self.requests,
            held: &mut self.held,
            staged: self.staging.len(),
            max,
            groups: Vec::new(),
            stop: None,
        };
        while batch.stop.is_none() && batch.room(engine) {
            let Some((header, payload)) = batch.held.pop_front() else {
                break;
            };
            batch.handle(engine, faults, &header, &payload);
        }
        let mut result = Ok(());
        if self.want_read && batch.held.is_empty() && batch.stop.is_none() && batch.room(engine) {
            self.want_read = false;
            result = self.conn.recv(|frame| {
                if batch.stop.is_some() {
                    return;
                }
                if !batch.held.is_empty() || !batch.room(engine) {
                    batch.held.push_back((frame.header, frame.payload.to_vec()));
                    return;
                }
                batch.handle(engine, faults, &frame.header, frame.payload);
            });
        }
        let Batch {
            mut groups, stop, ..
        } = batch;
        for pair in groups.chunks_mut(2) {
            pair.reverse();
        }
        let due = now + faults.delay.unwrap_or_default();
        let timeout = engine.event_timeout(self.id);
        self.staging.extend(
            groups
                .into_iter()
                .flatten()
                .map(|frame| staged(frame, due, now, timeout)),
        );
        if let Some(bytes) = stop {
            self.state = State::Closing(bytes);
            self.held.clear();
        }
        result.map_err(End::Transport)
    }

    /// Whether requests are waiting to be handled (held back, or maybe on
    /// the socket).
    pub(crate) fn has_input(&self) -> bool {
        matches!(self.state, State::Open) && (self.want_read || !self.held.is_empty())
    }

    /// Moves the engine's output to staging.
    fn stage(&mut self, engine: &mut Engine, faults: &Faults, now: Instant) {
        let due = now + faults.delay.unwrap_or_default();
        let timeout = engine.event_timeout(self.id);
        while let Some(frame) = engine.pop_output(self.id) {
            self.staging.push_back(staged(frame, due, now, timeout));
        }
    }

    /// Moves output along (engine → staging → transport → socket).
    /// `Ok(true)` while the connection lives on.
    pub(crate) fn pump(
        &mut self,
        engine: &mut Engine,
        faults: &Faults,
        now: Instant,
    ) -> Result<bool, End> {
        self.stage(engine, faults, now);
        self.staging
            .retain(|s| s.expires.is_none_or(|expires| expires > now));
        let quota = engine.config().quota;
        if engine.overflowed(self.id)
            || self.staging.len() > quota.max_outstanding + quota.max_queued_events
        {
            return Err(End::Backlog);
        }
        // Refill the transport after each flush: the socket may take more
        // than one refill, and with edge-triggered readiness no further
        // writable event comes while it still has room.
        loop {
            let mut moved = false;
            while let Some(front) = self.staging.front() {
                if front.due > now || self.transport_full() {
                    break;
                }
                let next = self.staging.pop_front().expect("front exists");
                match self.conn.send(&next.frame) {
                    Ok(()) => moved = true,
                    Err(TransportError::QueueFull { .. }) => {
                        self.staging.push_front(next);
                        break;
                    }
                    Err(e) => return Err(End::Transport(e)),
                }
            }
            let before = self.conn.queued_bytes();
            self.conn.flush().map_err(End::Transport)?;
            let progress = moved || self.conn.queued_bytes() < before;
            let more = self.staging.front().is_some_and(|s| s.due <= now);
            if !progress || !more || self.transport_full() {
                break;
            }
        }
        if let State::Closing(bad) = &mut self.state {
            if self.staging.is_empty() && self.conn.queued_bytes() == 0 {
                if let Some(bytes) = bad.take() {
                    // Best effort: the peer is about to lose the connection.
                    let _ = self.raw.write_all(&bytes);
                }
                return Err(End::Fault);
            }
        }
        Ok(true)
    }

    /// Whether the transport holds [`TRANSPORT_HIGH`] bytes or more: staging
    /// stops feeding it until the socket takes some.
    fn transport_full(&self) -> bool {
        self.conn.queued_bytes() >= TRANSPORT_HIGH
    }

    /// When this connection next needs the server's loop with nothing
    /// arriving: the staged frame in front falls due, or a staged event
    /// expires. A time already past counts (it came while the loop was
    /// busy: the frame is sent on the next turn, not whenever the next
    /// request comes). Not the front's time while the transport is full:
    /// writability wakes the loop then.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        let due = self
            .staging
            .front()
            .map(|s| s.due)
            .filter(|_| !self.transport_full());
        let expires = self.staging.iter().filter_map(|s| s.expires).min();
        due.into_iter().chain(expires).min()
    }
}

/// The requests of one `read`, and what they produced.
struct Batch<'a> {
    id: ConnId,
    requests: &'a mut u64,
    held: &'a mut VecDeque<(Header, Vec<u8>)>,
    staged: usize,
    max: usize,
    groups: Vec<Vec<Vec<u8>>>,
    stop: Option<Option<Vec<u8>>>,
}

impl Batch<'_> {
    fn room(&self, engine: &Engine) -> bool {
        let grouped: usize = self.groups.iter().map(Vec::len).sum();
        self.staged + grouped + engine.queued(self.id) < self.max
    }

    fn handle(&mut self, engine: &mut Engine, faults: &Faults, header: &Header, payload: &[u8]) {
        *self.requests += 1;
        if faults.close_after.is_some_and(|k| *self.requests > k) {
            self.stop = Some(None);
            return;
        }
        if faults.malformed_at == Some(*self.requests) {
            self.stop = Some(Some(malformed(header)));
            return;
        }
        engine.handle(self.id, header, payload);
        if faults.reorder {
            self.groups
                .push(std::iter::from_fn(|| engine.pop_output(self.id)).collect());
        }
    }
}

/// The malformed-reply fault's frame: the request's header with the length
/// set over the protocol's limit, followed by some filler.
fn malformed(request: &Header) -> Vec<u8> {
    let header = Header {
        len: MALFORMED_LEN,
        ..*request
    };
    let mut bytes = header.to_bytes().to_vec();
    bytes.extend_from_slice(&[b'X'; 64]);
    bytes
}

/// A frame for staging; events get their expiry time if `timeout` applies.
fn staged(frame: Vec<u8>, due: Instant, now: Instant, timeout: Option<Duration>) -> Staged {
    let expires = timeout.filter(|_| is_event(&frame)).map(|t| now + t);
    Staged {
        due,
        expires,
        frame,
    }
}
