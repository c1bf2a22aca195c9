//! The read side: a bounded buffer that turns a byte stream into frames.
//!
//! A `read()` on a socket or on the xenbus device returns whatever is there:
//! part of a frame, exactly one, or several and the start of the next. The
//! [`FrameReader`] keeps the bytes of an unfinished frame between calls and
//! hands out every complete one; framing itself is `xs_wire`'s
//! [`decode_with_limit`](xs_wire::decode_with_limit).
//!
//! The buffer is allocated once and never grows: the largest frame the
//! protocol allows plus one read chunk. A header announcing a larger payload
//! is a protocol error (xenstored itself drops such a connection), so a
//! hostile peer cannot make it grow.

use std::io::{self, Read};

use xs_wire::{decode_with_limit, Frame, Status, HEADER_SIZE, PAYLOAD_MAX};

use crate::TransportError;

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
    /// 4096; larger values are clamped so the buffer stays bounded).
    pub fn with_limit(max_payload: usize) -> FrameReader {
        let max_payload = max_payload.min(PAYLOAD_MAX);
        FrameReader {
            buf: vec![0; HEADER_SIZE + max_payload + READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            max_payload,
        }
    }

    /// The size of the buffer: one largest frame plus one read chunk. It
    /// never changes.
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
    /// (frames before it have been delivered); other read errors give
    /// [`TransportError::Io`]. `EINTR` is retried.
    ///
    /// After an error the reader's contents are meaningless; the connection
    /// must be dropped.
    pub fn read_from<R: Read + ?Sized>(
        &mut self,
        source: &mut R,
        mut on_frame: impl FnMut(Frame<'_>),
    ) -> Result<(), TransportError> {
        loop {
            let missing = self.drain(&mut on_frame)?;
            self.compact();
            let n = match source.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    return Err(match self.buffered() {
                        0 => TransportError::Closed,
                        have => TransportError::Truncated {
                            have,
                            needed: have + missing,
                        },
                    })
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(TransportError::Io(e)),
            };
            // A misbehaving Read impl could claim more than the slice held.
            self.end = (self.end + n).min(self.buf.len());
        }
    }

    /// Delivers every complete frame in the buffer; returns how many bytes
    /// the unfinished one still needs (as far as known).
    fn drain(&mut self, on_frame: &mut impl FnMut(Frame<'_>)) -> Result<usize, TransportError> {
        loop {
            match decode_with_limit(&self.buf[self.start..self.end], self.max_payload)? {
                Status::Complete((frame, used)) => {
                    on_frame(frame);
                    self.start += used;
                }
                Status::Partial { needed } => return Ok(needed),
            }
        }
    }

    /// Moves the unfinished frame to the front. What is left is less than
    /// one frame (`drain` took every complete one), so at least
    /// `READ_CHUNK` bytes are free afterwards.
    fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        debug_assert!(self.buf.len() - self.end >= READ_CHUNK);
    }
}
