//! Turning a payload description into a whole frame.

use crate::header::{Header, HEADER_SIZE};
use crate::sink::{Counter, Sink, SliceSink};
use crate::{Op, WireError};

/// The ids a frame's header carries besides its type and length.
///
/// ```
/// use xs_wire::{Header, Ids, Path, Request};
/// let ids = Ids::in_transaction(5, 12);
/// let mut out = [0u8; 64];
/// let n = Request::Write { path: Path::new("/vm/1/state")?, value: b"running" }.encode(ids, &mut out)?;
/// let h = Header::from_bytes(out[..16].try_into().unwrap());
/// assert_eq!((h.req_id, h.tx_id, h.len as usize), (5, 12, n - 16));
/// # Ok::<(), xs_wire::WireError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ids {
    /// Request id, echoed by the reply.
    pub req_id: u32,
    /// Transaction id, 0 outside a transaction.
    pub tx_id: u32,
}

impl Ids {
    /// Ids for a request outside any transaction.
    ///
    /// ```
    /// use xs_wire::Ids;
    /// assert_eq!(Ids::new(9), Ids { req_id: 9, tx_id: 0 });
    /// ```
    pub const fn new(req_id: u32) -> Ids {
        Ids { req_id, tx_id: 0 }
    }

    /// Ids for a request inside transaction `tx_id`.
    ///
    /// ```
    /// use xs_wire::{Ids, Request};
    /// let end = Request::TransactionEnd { commit: true };
    /// let mut out = [0u8; 32];
    /// assert!(end.encode(Ids::in_transaction(3, 17), &mut out).is_ok());
    /// assert!(end.encode(Ids::new(3), &mut out).is_err()); // needs a transaction
    /// ```
    pub const fn in_transaction(req_id: u32, tx_id: u32) -> Ids {
        Ids { req_id, tx_id }
    }
}

/// Something that can describe its payload as a sequence of byte pieces.
pub(crate) trait Payload {
    fn visit<S: Sink>(&self, sink: &mut S);

    fn payload_len(&self) -> usize {
        counted_len(self)
    }
}

/// The payload length as the sum of the pieces [`Payload::visit`] gives.
pub(crate) fn counted_len<P: Payload + ?Sized>(body: &P) -> usize {
    let mut counter = Counter(0);
    body.visit(&mut counter);
    counter.0
}

/// The payload of the usual requests: a path, a NUL, and (WRITE) a value.
pub(crate) struct PathValue<'a> {
    pub(crate) path: &'a [u8],
    pub(crate) value: &'a [u8],
}

impl Payload for PathValue<'_> {
    #[inline]
    fn payload_len(&self) -> usize {
        self.path.len() + 1 + self.value.len()
    }

    #[inline]
    fn visit<S: Sink>(&self, sink: &mut S) {
        sink.put_cstr(self.path);
        if !self.value.is_empty() {
            sink.put(self.value); // no copy at all for a READ's none
        }
    }
}

/// Checks the limit and the room, then writes header and payload to `out`.
pub(crate) fn to_slice<P: Payload>(
    op: Op,
    ids: Ids,
    body: &P,
    limit: usize,
    out: &mut [u8],
) -> Result<usize, WireError> {
    let header = checked_header(op, ids, body, limit)?;
    let needed = HEADER_SIZE + header.len as usize;
    if out.len() < needed {
        return Err(WireError::BufferTooSmall { needed });
    }
    let mut sink = SliceSink { buf: out, pos: 0 };
    sink.put(&header.to_bytes());
    body.visit(&mut sink);
    Ok(needed)
}

/// Builds the header after checking the payload against `limit`.
pub(crate) fn checked_header<P: Payload>(
    op: Op,
    ids: Ids,
    body: &P,
    limit: usize,
) -> Result<Header, WireError> {
    let len = body.payload_len();
    if len > limit {
        return Err(WireError::PayloadTooLarge { len, max: limit });
    }
    Ok(Header {
        op,
        req_id: ids.req_id,
        tx_id: ids.tx_id,
        // len <= limit, and every limit fits u32.
        len: len as u32,
    })
}

#[cfg(feature = "bytes")]
pub(crate) fn to_buf<P: Payload, B: bytes::BufMut>(
    op: Op,
    ids: Ids,
    body: &P,
    limit: usize,
    out: &mut B,
) -> Result<usize, WireError> {
    let header = checked_header(op, ids, body, limit)?;
    let needed = HEADER_SIZE + header.len as usize;
    if out.remaining_mut() < needed {
        return Err(WireError::BufferTooSmall { needed });
    }
    let mut sink = crate::sink::BufSink(out);
    sink.put(&header.to_bytes());
    body.visit(&mut sink);
    Ok(needed)
}
