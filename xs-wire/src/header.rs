//! The 16-byte message header (`struct xsd_sockmsg`).
//!
//! ```text
//!  0        4        8        12       16
//!  +--------+--------+--------+--------+----------------------+
//!  |  type  | req_id | tx_id  |  len   |  payload (len bytes) |
//!  +--------+--------+--------+--------+----------------------+
//!    u32 each, in the host's native byte order
//! ```
//!
//! The byte order is native because every implementation copies the C struct
//! as is; a guest and its xenstored always share an architecture.

use crate::Op;

/// Size of the header in bytes.
///
/// ```
/// use xs_wire::{Header, Op, HEADER_SIZE};
/// let h = Header { op: Op::Read, req_id: 1, tx_id: 0, len: 0 };
/// assert_eq!(h.to_bytes().len(), HEADER_SIZE);
/// ```
pub const HEADER_SIZE: usize = 16;

/// `XENSTORE_PAYLOAD_MAX`: the largest payload xenstored accepts or sends.
/// A header announcing more makes xenstored drop the connection.
///
/// ```
/// use xs_wire::{Ids, Path, Request, WireError, PAYLOAD_MAX};
/// let value = [b'x'; PAYLOAD_MAX];
/// let req = Request::Write { path: Path::new("/local/domain/0/data/big")?, value: &value };
/// let mut out = [0u8; 2 * PAYLOAD_MAX];
/// let err = req.encode(Ids::new(1), &mut out).unwrap_err(); // path + value > 4096
/// assert!(matches!(err, WireError::PayloadTooLarge { .. }));
/// # Ok::<(), xs_wire::WireError>(())
/// ```
pub const PAYLOAD_MAX: usize = 4096;

/// The largest payload the Linux `/dev/xen/xenbus` device accepts: its
/// buffer holds header and payload in 4096 bytes.
///
/// ```
/// use xs_wire::{Ids, Path, Request, XENBUS_PAYLOAD_MAX};
/// assert_eq!(XENBUS_PAYLOAD_MAX, 4080);
/// let value = [b'x'; 4070];
/// let req = Request::Write { path: Path::new("/local/domain/0/d")?, value: &value };
/// let mut out = [0u8; 4200];
/// assert!(req.encode(Ids::new(1), &mut out).is_ok()); // fine on the socket
/// assert!(req.encode_with_limit(Ids::new(1), XENBUS_PAYLOAD_MAX, &mut out).is_err());
/// # Ok::<(), xs_wire::WireError>(())
/// ```
pub const XENBUS_PAYLOAD_MAX: usize = PAYLOAD_MAX - HEADER_SIZE;

/// A decoded message header.
///
/// ```
/// use xs_wire::{Header, Op};
/// let h = Header { op: Op::Read, req_id: 7, tx_id: 0, len: 3 };
/// let bytes = h.to_bytes();
/// assert_eq!(Header::from_bytes(&bytes), h);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The message type.
    pub op: Op,
    /// Chosen by the client, echoed in the reply.
    pub req_id: u32,
    /// Transaction id, 0 outside a transaction.
    pub tx_id: u32,
    /// Payload length in bytes.
    pub len: u32,
}

impl Header {
    /// Decodes a header from exactly 16 bytes. Every bit pattern is a header;
    /// checking `len` against a limit is [`crate::decode`]'s job.
    ///
    /// ```
    /// use xs_wire::{Header, Op};
    /// let bytes = Header { op: Op::WatchEvent, req_id: 0, tx_id: 0, len: 20 }.to_bytes();
    /// let h = Header::from_bytes(&bytes);
    /// assert_eq!((h.op, h.len), (Op::WatchEvent, 20));
    /// ```
    #[inline]
    pub fn from_bytes(bytes: &[u8; HEADER_SIZE]) -> Header {
        // Four fixed words need no parser: this runs for every frame, and
        // plain loads cost a few instructions where a combinator chain costs
        // a couple of hundred. Payloads are parsed with `nom`.
        let word =
            |i: usize| u32::from_ne_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        Header {
            op: Op::from_u32(word(0)),
            req_id: word(4),
            tx_id: word(8),
            len: word(12),
        }
    }

    /// Encodes the header.
    ///
    /// ```
    /// use xs_wire::{Header, Op};
    /// let bytes = Header { op: Op::Read, req_id: 7, tx_id: 0, len: 3 }.to_bytes();
    /// assert_eq!(bytes[..4], 2u32.to_ne_bytes()); // READ is type 2, host byte order
    /// ```
    #[inline]
    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut out = [0u8; HEADER_SIZE];
        let words = [self.op.to_u32(), self.req_id, self.tx_id, self.len];
        for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        out
    }
}
