//! Framing: split a byte stream into whole messages.
//!
//! A frame is a [`Header`] plus exactly `len` payload bytes. [`decode`]
//! looks at the front of a buffer and says one of three things: here is a
//! frame and how many bytes it used, read `needed` more bytes, or the stream
//! is broken (a length over the limit, after which xenstored itself drops the
//! connection). It never copies: the frame borrows its payload.

use crate::header::{Header, HEADER_SIZE, PAYLOAD_MAX};
use crate::{Status, WireError};

/// One whole message, borrowing its payload from the input buffer.
///
/// ```
/// use xs_wire::{decode, Header, Op, Status};
/// let mut buf = Header { op: Op::Read, req_id: 4, tx_id: 0, len: 8 }.to_bytes().to_vec();
/// buf.extend_from_slice(b"Domain-0");
/// let Status::Complete((frame, _)) = decode(&buf)? else { unreachable!() };
/// assert_eq!(frame.header.req_id, 4);
/// assert_eq!(frame.payload, b"Domain-0");
/// # Ok::<(), xs_wire::WireError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The header.
    pub header: Header,
    /// Exactly `header.len` bytes.
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// Header plus payload size in bytes.
    ///
    /// ```
    /// use xs_wire::{decode, Header, Op};
    /// let mut buf = Header { op: Op::Read, req_id: 1, tx_id: 0, len: 5 }.to_bytes().to_vec();
    /// buf.extend_from_slice(b"hello");
    /// let (frame, used) = decode(&buf)?.complete().unwrap();
    /// assert_eq!(frame.wire_len(), used);
    /// assert_eq!(frame.wire_len(), 21);
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn wire_len(&self) -> usize {
        HEADER_SIZE + self.payload.len()
    }
}

/// Decodes one frame from the front of `buf` with the protocol's 4096-byte
/// payload limit.
///
/// ```
/// use xs_wire::{decode, Header, Op, Status};
/// let mut buf = Header { op: Op::Read, req_id: 1, tx_id: 0, len: 3 }.to_bytes().to_vec();
/// buf.extend_from_slice(b"/a\0");
/// buf.extend_from_slice(&[0xAA; 5]); // the start of the next frame
/// match decode(&buf).unwrap() {
///     Status::Complete((frame, used)) => {
///         assert_eq!(frame.payload, b"/a\0");
///         assert_eq!(used, 19);
///     }
///     Status::Partial { .. } => unreachable!(),
/// }
/// assert_eq!(decode(&buf[..10]).unwrap(), Status::Partial { needed: 6 });
/// ```
#[inline]
pub fn decode(buf: &[u8]) -> Result<Status<(Frame<'_>, usize)>, WireError> {
    decode_with_limit(buf, PAYLOAD_MAX)
}

/// Like [`decode`], with a caller-chosen payload limit (e.g.
/// [`crate::XENBUS_PAYLOAD_MAX`]).
///
/// ```
/// use xs_wire::{decode, decode_with_limit, Header, Op, XENBUS_PAYLOAD_MAX};
/// // The xenbus device never carries more than 4080 bytes of payload.
/// let header = Header { op: Op::Write, req_id: 1, tx_id: 0, len: 4090 }.to_bytes();
/// assert!(decode(&header).is_ok()); // fine on a socket: wait for the payload
/// assert!(decode_with_limit(&header, XENBUS_PAYLOAD_MAX).is_err());
/// ```
#[inline]
pub fn decode_with_limit(
    buf: &[u8],
    max_payload: usize,
) -> Result<Status<(Frame<'_>, usize)>, WireError> {
    split(buf, max_payload).map_err(|header| WireError::PayloadTooLarge {
        len: header.len as usize,
        max: max_payload,
    })
}

/// Like [`decode_with_limit`], but a frame over the limit is refused with
/// its whole header ([`WireError::FrameTooLarge`]), so that a reader can say
/// which request's reply overflowed. Any limit may be given: a client that
/// accepts oversized replies (oxenstored sends DIRECTORY listings over 4096
/// bytes on its socket) passes its own bound here.
///
/// ```
/// use xs_wire::{decode_bounded, Header, Op, WireError};
/// let header = Header { op: Op::Directory, req_id: 7, tx_id: 0, len: 4200 };
/// let mut buf = header.to_bytes().to_vec();
/// buf.extend_from_slice(&[b'a'; 4200]);
/// // Over the protocol's 4096, within a 64 KiB bound: a whole frame.
/// let (frame, used) = decode_bounded(&buf, 65536)?.complete().unwrap();
/// assert_eq!((frame.payload.len(), used), (4200, 4216));
/// // Over the bound: the header says whose reply it was.
/// assert_eq!(decode_bounded(&buf, 4096), Err(WireError::FrameTooLarge { header, max: 4096 }));
/// # Ok::<(), xs_wire::WireError>(())
/// ```
#[inline]
pub fn decode_bounded(
    buf: &[u8],
    max_payload: usize,
) -> Result<Status<(Frame<'_>, usize)>, WireError> {
    split(buf, max_payload).map_err(|header| WireError::FrameTooLarge {
        header,
        max: max_payload,
    })
}

/// Whether `bytes` hold exactly one frame, by its header's length (the
/// payload is not looked at, nor its length checked against a limit): a
/// writer holding encoded frames back to back tells a lone frame from a
/// batch this way.
///
/// ```
/// use xs_wire::{is_one_frame, Ids, Path, Request};
/// let mut buf = [0u8; 64];
/// let n = Request::Read { path: Path::new("/a")? }.encode(Ids::new(1), &mut buf)?;
/// let m = Request::Read { path: Path::new("/b")? }.encode(Ids::new(2), &mut buf[n..])?;
/// assert!(is_one_frame(&buf[..n]));
/// assert!(!is_one_frame(&buf[..n + m])); // two frames
/// assert!(!is_one_frame(&buf[..n - 1])); // a frame cut short
/// # Ok::<(), xs_wire::WireError>(())
/// ```
#[inline]
pub fn is_one_frame(bytes: &[u8]) -> bool {
    bytes
        .first_chunk::<HEADER_SIZE>()
        .is_some_and(|h| HEADER_SIZE + Header::from_bytes(h).len as usize == bytes.len())
}

/// The framing both decoders share; `Err` is the header of a frame whose
/// payload is over `max_payload`.
#[inline]
fn split(buf: &[u8], max_payload: usize) -> Result<Status<(Frame<'_>, usize)>, Header> {
    let Some((head, rest)) = buf.split_first_chunk::<HEADER_SIZE>() else {
        return Ok(Status::Partial {
            needed: HEADER_SIZE - buf.len(),
        });
    };
    let header = Header::from_bytes(head);
    let len = header.len as usize;
    if len > max_payload {
        return Err(header);
    }
    match rest.get(..len) {
        Some(payload) => Ok(Status::Complete((
            Frame { header, payload },
            HEADER_SIZE + len,
        ))),
        None => Ok(Status::Partial {
            needed: len - rest.len(),
        }),
    }
}
