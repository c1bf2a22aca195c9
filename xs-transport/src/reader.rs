//! The read side: a bounded buffer that turns a byte stream into frames.
//!
//! A `read()` on a socket or on the xenbus device returns whatever is there:
//! part of a frame, exactly one, or several and the start of the next. The
//! [`FrameReader`] keeps the bytes of an unfinished frame between calls and
//! hands out every complete one; framing itself is `xs_wire`'s
//! [`decode_bounded`](xs_wire::decode_bounded).
//!
//! The buffer holds one protocol-sized frame (4112 bytes) plus one read
//! chunk. A reader may accept larger payloads, up to its limit (oxenstored
//! sends listings over 4096 bytes on its socket): the buffer then grows to
//! hold that one frame and shrinks back once it has been handed out. A
//! header announcing more than the limit is a protocol error naming the
//! frame ([`xs_wire::WireError::FrameTooLarge`]), so a hostile peer cannot
//! make the buffer grow beyond the limit plus one chunk.

use std::io::{self, Read};

use xs_wire::{decode_bounded, Frame, Header, Status, WireError, HEADER_SIZE, PAYLOAD_MAX};

use crate::read_half::RECV_LIMIT_CEILING;

use crate::TransportError;

/// A read's error, boxed where a result travels through several layers
/// (see [`FrameReader::read_until`]): then it fits in a register, and the
/// usual `Ok` is no value the size of a [`TransportError`] stored, copied
/// and tested on its way out.
pub(crate) type ReadError = Box<TransportError>;

/// How many bytes one `read()` asks for at least.
pub const READ_CHUNK: usize = 4096;

/// Accumulates bytes from a reader into a fixed buffer and yields every
/// complete frame.
///
/// It is independent of any fd: anything implementing [`Read`] works, with
/// [`io::ErrorKind::WouldBlock`] meaning "no more for now".
///
/// # Example
///
/// ```
/// use xs_transport::FrameReader;
/// use xs_wire::{Header, Op};
///
/// // Two frames and the first byte of a third, as one read might return.
/// let mut bytes = Vec::new();
/// for (req_id, payload) in [(1, &b"OK\0"[..]), (2, b"value")] {
///     let header = Header { op: Op::Read, req_id, tx_id: 0, len: payload.len() as u32 };
///     bytes.extend_from_slice(&header.to_bytes());
///     bytes.extend_from_slice(payload);
/// }
/// bytes.push(0);
///
/// let mut reader = FrameReader::new();
/// let mut seen = Vec::new();
/// // A slice reader ends with EOF, which cuts the third frame short.
/// let err = reader
///     .read_from(&mut &bytes[..], |frame| seen.push((frame.header.req_id, frame.payload.to_vec())))
///     .unwrap_err();
/// assert_eq!(seen, [(1, b"OK\0".to_vec()), (2, b"value".to_vec())]);
/// assert!(matches!(err, xs_transport::TransportError::Truncated { have: 1, needed: 16 }));
/// ```
pub struct FrameReader {
    buf: Box<[u8]>,
    /// Start of the unconsumed bytes.
    start: usize,
    /// End of the bytes read so far.
    end: usize,
    max_payload: usize,
    /// The buffer's size when no frame over 4096 bytes is being read: one
    /// frame of at most 4096 payload bytes (or the limit, if lower) plus
    /// one read chunk.
    base: usize,
}

impl std::fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("capacity", &self.capacity())
            .field("buffered", &self.buffered())
            .field("max_payload", &self.max_payload)
            .finish()
    }
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader::new()
    }
}

impl FrameReader {
    /// A reader accepting payloads up to the protocol's 4096 bytes.
    ///
    /// This is the right limit for the xenbus device too: its 4080-byte
    /// limit applies to what is written to it, while replies coming out of
    /// it can be as large as xenstored sends.
    pub fn new() -> FrameReader {
        FrameReader::with_limit(PAYLOAD_MAX)
    }

    /// A reader accepting payloads up to `max_payload` bytes (at most
    /// [`RECV_LIMIT_CEILING`](crate::RECV_LIMIT_CEILING); larger values are
    /// lowered to it so the buffer stays bounded).
    ///
    /// ```
    /// use xs_transport::FrameReader;
    /// use xs_wire::{Header, Op};
    ///
    /// // oxenstored's answer to DIRECTORY of a node with 700 children.
    /// let mut reply = Header { op: Op::Directory, req_id: 3, tx_id: 0, len: 4200 }.to_bytes().to_vec();
    /// reply.resize(16 + 4200, b'x');
    /// let mut reader = FrameReader::with_limit(64 * 1024);
    /// let mut lens = Vec::new();
    /// reader.read_from(&mut &reply[..], |f| lens.push(f.payload.len())).unwrap_err(); // EOF after it
    /// assert_eq!(lens, [4200]);
    /// assert_eq!(reader.capacity(), 4112 + 4096); // shrunk back after the big frame
    /// ```
    pub fn with_limit(max_payload: usize) -> FrameReader {
        let mut reader = FrameReader {
            buf: Box::default(),
            start: 0,
            end: 0,
            max_payload: 0,
            base: 0,
        };
        reader.set_limit(max_payload);
        reader.buf = vec![0; reader.base].into_boxed_slice();
        reader
    }

    /// Changes the payload limit (lowered to
    /// [`RECV_LIMIT_CEILING`](crate::RECV_LIMIT_CEILING) if larger). A frame
    /// being read is held to the new limit.
    pub fn set_limit(&mut self, max_payload: usize) {
        self.max_payload = max_payload.min(RECV_LIMIT_CEILING);
        self.base = HEADER_SIZE + self.max_payload.min(PAYLOAD_MAX) + READ_CHUNK;
    }

    /// The size of the buffer: one frame of at most 4096 payload bytes
    /// (or the limit, if lower) plus one read chunk, and, only while a
    /// frame over 4096 bytes is being read, that frame plus one read chunk.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The payload limit in force.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Bytes of an unfinished frame held in the buffer.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Reads until `source` reports [`io::ErrorKind::WouldBlock`], calling
    /// `on_frame` for each complete frame, in order.
    ///
    /// Returns `Ok(())` when the source would block (the connection is still
    /// open). End of file gives [`TransportError::Closed`] at a frame
    /// boundary and [`TransportError::Truncated`] inside a frame; a header
    /// announcing a payload over the limit gives [`TransportError::Protocol`]
    /// with [`xs_wire::WireError::FrameTooLarge`], naming the frame (frames
    /// before it have been delivered); other read errors give
    /// [`TransportError::Io`]. `EINTR` is retried.
    ///
    /// After an error the reader's contents are meaningless; the connection
    /// must be dropped.
    pub fn read_from<R: Read + ?Sized>(
        &mut self,
        source: &mut R,
        on_frame: impl FnMut(Frame<'_>),
    ) -> Result<(), TransportError> {
        self.read_with(
            |buf| loop {
                match source.read(buf) {
                    Ok(n) => return Ok(Some(n)),
                    Err(e) => match e.kind() {
                        io::ErrorKind::Interrupted => {}
                        io::ErrorKind::WouldBlock => return Ok(None),
                        _ => return Err(e),
                    },
                }
            },
            on_frame,
        )
    }

    /// [`read_from`](FrameReader::read_from) over a read function that
    /// retries `EINTR` itself and says "would block" with `Ok(None)`
    /// (the fd's own, which needs no [`io::Error`] for that).
    #[inline]
    pub(crate) fn read_with(
        &mut self,
        read: impl FnMut(&mut [u8]) -> io::Result<Option<usize>>,
        on_frame: impl FnMut(Frame<'_>),
    ) -> Result<(), TransportError> {
        self.read_until(read, on_frame, |_, _| false).map(drop)
    }

    /// Reads with `read` (which may wait) until at least one frame has
    /// been delivered, then stops without reading on to "would block":
    /// `Ok(true)`. `Ok(false)` if `read` gave up first (`Ok(None)`) with
    /// no frame delivered. Errors as [`read_from`](FrameReader::read_from).
    #[inline]
    pub(crate) fn read_some_with(
        &mut self,
        read: impl FnMut(&mut [u8]) -> io::Result<Option<usize>>,
        on_frame: impl FnMut(Frame<'_>),
    ) -> Result<bool, TransportError> {
        self.read_until(read, on_frame, |delivered, _| delivered)
    }

    /// Delivers what is buffered, then reads and delivers until `read`
    /// says "would block", or until `stop` says so: it is asked, with
    /// whether any frame came in this call and whether the read came back
    /// short (did not fill the room it was given: the fd held no more just
    /// then), after the frames of each read (and of the buffer, if it held
    /// any, as a read that is not short) have been delivered. Returns
    /// whether any frame came; errors as `E`: a [`TransportError`] or a
    /// [`ReadError`].
    ///
    /// The usual call, one whole frame from one read into an empty buffer,
    /// hands the frame out where it lies and leaves the buffer empty;
    /// everything else (more reads, ends of file, errors, big, split or
    /// several frames) is [`read_on`](Self::read_on)'s, out of line.
    #[inline(always)]
    pub(crate) fn read_until<E: From<TransportError>>(
        &mut self,
        mut read: impl FnMut(&mut [u8]) -> io::Result<Option<usize>>,
        mut on_frame: impl FnMut(Frame<'_>),
        mut stop: impl FnMut(bool, bool) -> bool,
    ) -> Result<bool, E> {
        if self.start != self.end || self.buf.len() != self.base {
            return Ok(self.read_on(read, on_frame, stop, false, None)?);
        }
        let n = match read(&mut self.buf) {
            Ok(Some(n)) => n,
            Ok(None) => return Ok(false),
            Err(e) => return Err(TransportError::Io(e).into()),
        };
        let Some(frame) = lone_frame(&self.buf, n, self.max_payload) else {
            return Ok(self.read_on(read, on_frame, stop, false, Some(n))?);
        };
        on_frame(frame);
        // A lone frame is a short read (`lone_frame`).
        if stop(true, true) {
            return Ok(true);
        }
        Ok(self.read_on(read, on_frame, stop, true, None)?)
    }

    /// [`read_until`](Self::read_until) the general way, `delivered`
    /// saying whether a frame came already; `got` is the length of a read
    /// into the empty buffer not yet looked at.
    #[cold]
    #[inline(never)]
    fn read_on(
        &mut self,
        mut read: impl FnMut(&mut [u8]) -> io::Result<Option<usize>>,
        mut on_frame: impl FnMut(Frame<'_>),
        mut stop: impl FnMut(bool, bool) -> bool,
        mut delivered: bool,
        mut got: Option<usize>,
    ) -> Result<bool, TransportError> {
        let mut missing = HEADER_SIZE;
        if got.is_some() {
            self.start = 0;
            self.end = 0;
        } else if self.start != self.end {
            missing = self.drain(&mut on_frame, &mut delivered)?;
            if stop(delivered, false) {
                return Ok(delivered);
            }
        }
        loop {
            let (result, room) = match got.take() {
                Some(n) => (Ok(Some(n)), self.buf.len()),
                None => {
                    let room = self.room(missing);
                    (read(&mut *room), room.len())
                }
            };
            let n = match result {
                Ok(Some(n)) if n > 0 => n,
                Ok(None) => return Ok(delivered),
                other => return Err(self.read_failed(other, missing)),
            };
            // A misbehaving Read impl could claim more than the slice held.
            self.end = (self.end + n).min(self.buf.len());
            missing = self.drain(&mut on_frame, &mut delivered)?;
            if stop(delivered, n < room) {
                return Ok(delivered);
            }
        }
    }

    /// What a read that ended the stream (`Ok(Some(0))`) or failed means,
    /// with `missing` bytes of a frame to come.
    #[cold]
    #[inline(never)]
    fn read_failed(&self, read: io::Result<Option<usize>>, missing: usize) -> TransportError {
        match read {
            Err(e) => TransportError::Io(e),
            _ => match self.buffered() {
                0 => TransportError::Closed,
                have => TransportError::Truncated {
                    have,
                    needed: have + missing,
                },
            },
        }
    }

    /// Delivers every complete frame in the buffer, setting `delivered`
    /// if there was one; returns how many bytes the unfinished one still
    /// needs (as far as known).
    #[inline(always)]
    fn drain(
        &mut self,
        on_frame: &mut impl FnMut(Frame<'_>),
        delivered: &mut bool,
    ) -> Result<usize, TransportError> {
        while self.start != self.end {
            match decode_bounded(&self.buf[self.start..self.end], self.max_payload) {
                Ok(Status::Complete((frame, used))) => {
                    on_frame(frame);
                    self.start += used;
                    *delivered = true;
                }
                Ok(Status::Partial { needed }) => return Ok(needed),
                Err(e) => return Err(too_large(e)),
            }
        }
        Ok(HEADER_SIZE)
    }

    /// The free end of a buffer that holds the unfinished frame whole
    /// (moved to the front) plus one read chunk: the base size, or more
    /// while a frame over 4096 bytes is being read (`missing` more bytes
    /// make it whole, and `drain` has checked its length against the limit).
    #[inline(always)]
    fn room(&mut self, missing: usize) -> &mut [u8] {
        if self.start == self.end && self.buf.len() == self.base {
            // Every frame handed out, no big one before: just rewind.
            self.start = 0;
            self.end = 0;
            return &mut self.buf;
        }
        self.move_pending(missing);
        &mut self.buf[self.end..]
    }

    /// [`room`](Self::room) with bytes to keep or a size to change.
    #[cold]
    fn move_pending(&mut self, missing: usize) {
        let pending = self.end - self.start;
        let base = self.base;
        let wanted = (pending + missing + READ_CHUNK).max(base);
        // Grow for a big frame; shrink once only protocol-sized ones remain.
        if wanted > self.buf.len() || (wanted == base && self.buf.len() > base) {
            let mut buf = vec![0; wanted].into_boxed_slice();
            buf[..pending].copy_from_slice(&self.buf[self.start..self.end]);
            self.buf = buf;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
        }
        self.start = 0;
        self.end = pending;
        debug_assert!(self.buf.len() - self.end >= READ_CHUNK);
    }
}

/// The frame that the first `n` bytes of `buf` are, if they are exactly
/// one within `max_payload` and fill less than `buf` (the usual read: one
/// reply, whole, and nothing more waiting).
#[inline(always)]
fn lone_frame(buf: &[u8], n: usize, max_payload: usize) -> Option<Frame<'_>> {
    if n >= buf.len() {
        return None;
    }
    let (head, payload) = buf[..n].split_first_chunk::<HEADER_SIZE>()?;
    let header = Header::from_bytes(head);
    let len = header.len as usize;
    (len == payload.len() && len <= max_payload).then_some(Frame { header, payload })
}

/// A header announcing more than the limit, as the error that closes the
/// connection.
#[cold]
#[inline(never)]
fn too_large(e: WireError) -> TransportError {
    TransportError::Protocol(e)
}
