//! The write side: a bounded queue of encoded frames drained across partial
//! writes.
//!
//! A non-blocking socket takes what fits in its buffer and says "would
//! block" for the rest, so frames are queued and written as the fd allows.
//! The queue keeps frame boundaries because the xenbus device needs them:
//! it handles **one message per `write()`** and silently drops whatever
//! else the same call carried, so in [`TransportKind::Xenbus`] mode every
//! `write()` carries bytes of one frame only. A socket gets as many queued
//! bytes per call as it will take.
//!
//! The device reports a rejected WATCH or UNWATCH (xenstored said `EACCES`,
//! `ENOSPC`, ...) as a failed `write()` instead of an `XS_ERROR` reply. The
//! writer hands such failures to a callback with the frame's header, so the
//! connection can turn them into the error reply a socket would have given
//! ([`error_reply`]).

use std::collections::VecDeque;
use std::io::{self, Write};

use xs_wire::{
    decode_with_limit, Errno, ErrorReply, Header, Ids, Op, Reply, Status, WireError, FRAME_MAX,
    HEADER_SIZE,
};

use crate::{TransportError, TransportKind};

/// The write queue's default limit in bytes (1 MiB, 255 largest frames).
pub const DEFAULT_QUEUE_LIMIT: usize = 1 << 20;

/// How much of the queue's allocation is kept once it has drained.
const KEEP_CAPACITY: usize = 4 * FRAME_MAX;

/// Checks that `frame` is exactly one encoded frame whose payload is within
/// `max_payload`, and returns its header.
///
/// ```
/// use xs_transport::{check_frame, TransportError};
/// use xs_wire::{Header, Op};
/// let mut frame = Header { op: Op::Read, req_id: 1, tx_id: 0, len: 3 }.to_bytes().to_vec();
/// frame.extend_from_slice(b"/a\0");
/// assert_eq!(check_frame(&frame, 4096).unwrap().req_id, 1);
/// assert!(matches!(
///     check_frame(&frame[..10], 4096),
///     Err(TransportError::MalformedFrame { len: 10, expected: 16 })
/// ));
/// ```
#[inline]
pub fn check_frame(frame: &[u8], max_payload: usize) -> Result<Header, TransportError> {
    let (header, used) = leading_frame(frame, max_payload)?;
    if used != frame.len() {
        return Err(TransportError::MalformedFrame {
            len: frame.len(),
            expected: used,
        });
    }
    Ok(header)
}

/// Whether `frame` is exactly one frame whose payload is shorter than
/// `below` (0: never): [`check_frame`]'s verdict with the limit
/// `below - 1`, from the length word alone, for the path every request
/// takes.
#[inline(always)]
pub(crate) fn is_whole_frame(frame: &[u8], below: usize) -> bool {
    let Some((head, payload)) = frame.split_first_chunk::<HEADER_SIZE>() else {
        return false;
    };
    let len = u32::from_ne_bytes([head[12], head[13], head[14], head[15]]) as usize;
    len == payload.len() && len < below
}

/// The header and length of the whole frame at the front of `bytes`, which
/// may go on with more frames; a frame cut short is
/// [`TransportError::MalformedFrame`], one over `max_payload`
/// [`TransportError::PayloadTooLarge`].
#[inline]
pub(crate) fn leading_frame(
    bytes: &[u8],
    max_payload: usize,
) -> Result<(Header, usize), TransportError> {
    match decode_with_limit(bytes, max_payload) {
        Ok(Status::Complete((frame, used))) => Ok((frame.header, used)),
        Ok(Status::Partial { needed }) => Err(TransportError::MalformedFrame {
            len: bytes.len(),
            expected: bytes.len() + needed,
        }),
        Err(WireError::PayloadTooLarge { len, max }) => {
            Err(TransportError::PayloadTooLarge { len, max })
        }
        Err(other) => Err(TransportError::Protocol(other)),
    }
}

/// A write that took no bytes of a non-empty buffer.
pub(crate) fn write_zero() -> TransportError {
    TransportError::Io(io::Error::new(
        io::ErrorKind::WriteZero,
        "xenstore connection accepted no bytes",
    ))
}

/// Encodes the `XS_ERROR` reply xenstored would send for `request`:
/// `<NAME>\0` with the request's `req_id` and `tx_id`.
///
/// ```
/// use xs_transport::error_reply;
/// use xs_wire::{Errno, Header, Op};
/// let request = Header { op: Op::Watch, req_id: 9, tx_id: 0, len: 6 };
/// let frame = error_reply(&request, Errno::EACCES);
/// let reply = Header::from_bytes(frame[..16].try_into().unwrap());
/// assert_eq!((reply.op, reply.req_id, reply.len), (Op::Error, 9, 7));
/// assert_eq!(&frame[16..], b"EACCES\0");
/// ```
pub fn error_reply(request: &Header, errno: Errno) -> Vec<u8> {
    let reply = Reply::Error(ErrorReply::Known(errno));
    let mut out = vec![0; HEADER_SIZE + reply.payload_len()];
    let ids = Ids::in_transaction(request.req_id, request.tx_id);
    // The buffer is sized from payload_len and an error name is far below
    // the payload limit, so encoding cannot fail; keep the length it reports.
    let n = reply.encode(request.op, ids, &mut out).unwrap_or(0);
    out.truncate(n);
    out
}

/// A queue of whole encoded frames, written out over any [`Write`].
///
/// Frames go in with [`push`](FrameWriter::push) (checked and refused whole
/// if they do not fit) and come out with
/// [`write_to`](FrameWriter::write_to), which writes until the sink would
/// block and picks up where it stopped next time, mid-frame if need be.
///
/// # Example
///
/// ```
/// use xs_transport::{FrameWriter, TransportKind};
/// use xs_wire::{Header, Op};
///
/// let mut frame = Header { op: Op::Read, req_id: 1, tx_id: 0, len: 3 }.to_bytes().to_vec();
/// frame.extend_from_slice(b"/a\0");
///
/// let mut writer = FrameWriter::new(TransportKind::Socket);
/// writer.push(&frame)?;
/// writer.push(&frame)?;
/// assert_eq!(writer.queued_bytes(), 38);
///
/// let mut out = Vec::new();
/// let empty = writer.write_to(&mut out, |_, _| unreachable!("sockets never refuse"))?;
/// assert!(empty);
/// assert_eq!(out.len(), 38);
/// # Ok::<(), xs_transport::TransportError>(())
/// ```
pub struct FrameWriter {
    kind: TransportKind,
    limit: usize,
    /// Queued bytes; `buf[head..]` is still to be written.
    buf: Vec<u8>,
    head: usize,
    /// `[start, end)` of every frame not yet completely written.
    frames: VecDeque<(usize, usize)>,
}

impl std::fmt::Debug for FrameWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameWriter")
            .field("kind", &self.kind)
            .field("limit", &self.limit)
            .field("queued_bytes", &self.queued_bytes())
            .field("queued_frames", &self.queued_frames())
            .finish()
    }
}

impl FrameWriter {
    /// An empty queue for `kind` with the default limit
    /// ([`DEFAULT_QUEUE_LIMIT`]).
    pub fn new(kind: TransportKind) -> FrameWriter {
        FrameWriter::with_queue_limit(kind, DEFAULT_QUEUE_LIMIT)
    }

    /// An empty queue for `kind` holding at most `limit` bytes (raised to
    /// one largest frame, 4112 bytes, if smaller, so any valid frame fits
    /// into an empty queue).
    pub fn with_queue_limit(kind: TransportKind, limit: usize) -> FrameWriter {
        FrameWriter {
            kind,
            limit: limit.max(FRAME_MAX),
            buf: Vec::new(),
            head: 0,
            frames: VecDeque::new(),
        }
    }

    /// The transport this queue writes for.
    pub fn kind(&self) -> TransportKind {
        self.kind
    }

    /// The largest payload [`push`](FrameWriter::push) accepts.
    pub fn max_payload(&self) -> usize {
        self.kind.max_payload()
    }

    /// The queue's limit in bytes.
    pub fn queue_limit(&self) -> usize {
        self.limit
    }

    /// Changes the limit (raised to 4112 bytes if smaller). Bytes already
    /// queued stay queued even if they exceed it.
    pub fn set_queue_limit(&mut self, limit: usize) {
        self.limit = limit.max(FRAME_MAX);
    }

    /// Bytes waiting to be written.
    pub fn queued_bytes(&self) -> usize {
        self.buf.len() - self.head
    }

    /// Frames not yet completely written.
    pub fn queued_frames(&self) -> usize {
        self.frames.len()
    }

    /// Whether nothing is waiting to be written.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Drops everything queued.
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.head = 0;
        self.frames.clear();
    }

    /// Queues one complete encoded frame (header and payload).
    ///
    /// Refused, with nothing queued: bytes that are not exactly one frame
    /// ([`TransportError::MalformedFrame`]), a payload over
    /// [`max_payload`](FrameWriter::max_payload)
    /// ([`TransportError::PayloadTooLarge`]), or a frame that would take the
    /// queue over its limit ([`TransportError::QueueFull`]).
    pub fn push(&mut self, frame: &[u8]) -> Result<(), TransportError> {
        check_frame(frame, self.max_payload())?;
        let queued = self.queued_bytes();
        if queued + frame.len() > self.limit {
            return Err(TransportError::QueueFull {
                queued,
                limit: self.limit,
            });
        }
        self.compact();
        let start = self.buf.len();
        self.buf.extend_from_slice(frame);
        self.frames.push_back((start, self.buf.len()));
        Ok(())
    }

    /// Sends `frame` (already checked) straight from the caller's slice
    /// with `write`, to be used only when nothing is queued on a socket,
    /// queueing what the socket did not take. Saves a copy through the
    /// queue on the common path. `write` retries `EINTR` itself and says
    /// "would block" with `Ok(None)`. Returns whether the queue is empty
    /// afterwards.
    pub(crate) fn send_direct(
        &mut self,
        frame: &[u8],
        mut write: impl FnMut(&[u8]) -> io::Result<Option<usize>>,
    ) -> Result<bool, TransportError> {
        let mut written = 0;
        while let Some(rest) = frame.get(written..).filter(|rest| !rest.is_empty()) {
            match write(rest) {
                Ok(Some(0)) => return Err(write_zero()),
                // A misbehaving writer could claim more than it was given.
                Ok(Some(n)) => written += n.min(rest.len()),
                Ok(None) => break,
                Err(e) => return Err(TransportError::Io(e)),
            }
        }
        if written == frame.len() {
            return Ok(true);
        }
        // The rest waits for writability, as one queued piece.
        self.compact();
        let start = self.buf.len();
        self.buf.extend_from_slice(&frame[written..]);
        self.frames.push_back((start, self.buf.len()));
        Ok(false)
    }

    /// Writes queued bytes to `sink` until it would block or the queue is
    /// empty; returns `Ok(true)` when the queue is empty. `EINTR` is
    /// retried.
    ///
    /// On a [`TransportKind::Xenbus`] queue every `write()` call carries
    /// bytes of a single frame, and a failed write of a WATCH or UNWATCH
    /// frame is not an I/O error: the device consumed and rejected that
    /// message, so the frame is dropped, `on_refused` gets its header and
    /// the error, and writing goes on with the next frame. Any other write
    /// error is returned as [`TransportError::Io`]; a write of 0 bytes as
    /// [`io::ErrorKind::WriteZero`].
    pub fn write_to<W: Write + ?Sized>(
        &mut self,
        sink: &mut W,
        mut on_refused: impl FnMut(Header, io::Error),
    ) -> Result<bool, TransportError> {
        loop {
            let Some(&(start, end)) = self.frames.front() else {
                self.clear_keep_capacity();
                return Ok(true);
            };
            let chunk = match self.kind {
                TransportKind::Socket => &self.buf[self.head..],
                TransportKind::Xenbus => &self.buf[self.head..end],
            };
            match sink.write(chunk) {
                Ok(0) => return Err(write_zero()),
                Ok(n) => {
                    self.head += n.min(chunk.len());
                    while self.frames.front().is_some_and(|&(_, e)| e <= self.head) {
                        self.frames.pop_front();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if self.kind == TransportKind::Xenbus && self.is_watch(start) => {
                    let header = self.header_at(start);
                    self.head = end;
                    self.frames.pop_front();
                    on_refused(header, e);
                }
                Err(e) => return Err(TransportError::Io(e)),
            }
        }
    }

    fn header_at(&self, start: usize) -> Header {
        let mut bytes = [0u8; HEADER_SIZE];
        bytes.copy_from_slice(&self.buf[start..start + HEADER_SIZE]);
        Header::from_bytes(&bytes)
    }

    fn is_watch(&self, start: usize) -> bool {
        matches!(self.header_at(start).op, Op::Watch | Op::Unwatch)
    }

    /// Empties the queue, keeping a modest allocation for the next burst.
    fn clear_keep_capacity(&mut self) {
        self.buf.clear();
        self.buf.shrink_to(KEEP_CAPACITY);
        self.head = 0;
        self.frames.clear();
    }

    /// Forgets bytes before the first unfinished frame once they make up at
    /// least half the buffer (the frame's header must stay: a device
    /// refusal needs it), so the buffer stays within twice the queue.
    fn compact(&mut self) {
        let keep_from = self.frames.front().map_or(self.buf.len(), |&(s, _)| s);
        if keep_from > 0 && keep_from * 2 >= self.buf.len() {
            self.buf.drain(..keep_from);
            self.head -= keep_from;
            for frame in &mut self.frames {
                frame.0 -= keep_from;
                frame.1 -= keep_from;
            }
        }
    }
}
