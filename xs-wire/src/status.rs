//! The result of parsing a buffer that may hold only part of a frame.

/// Either a complete value, or how many more bytes are needed before
/// parsing can succeed (at least; a header may reveal that more are needed).
///
/// Modelled on `httparse::Status`.
///
/// ```
/// use xs_wire::{decode, Status};
/// assert_eq!(decode(&[0u8; 4]).unwrap(), Status::Partial { needed: 12 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// The buffer held a whole value.
    Complete(T),
    /// The buffer is a valid prefix; read at least `needed` more bytes.
    Partial {
        /// The number of bytes still missing.
        needed: usize,
    },
}

impl<T> Status<T> {
    /// The complete value, or `None` if more bytes are needed.
    ///
    /// ```
    /// use xs_wire::{decode, Header, Op};
    /// let frame = Header { op: Op::Write, req_id: 1, tx_id: 0, len: 3 }.to_bytes();
    /// assert!(decode(&frame)?.complete().is_none()); // payload "OK\0" not read yet
    /// let mut full = frame.to_vec();
    /// full.extend_from_slice(b"OK\0");
    /// let (f, used) = decode(&full)?.complete().expect("whole frame");
    /// assert_eq!((f.payload, used), (&b"OK\0"[..], 19));
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Complete(value) => Some(value),
            Status::Partial { .. } => None,
        }
    }

    /// Whether the value is complete.
    ///
    /// ```
    /// use xs_wire::{decode, Header, Op};
    /// let frame = Header { op: Op::TransactionStart, req_id: 1, tx_id: 0, len: 0 }.to_bytes();
    /// assert!(decode(&frame)?.is_complete());
    /// assert!(!decode(&frame[..8])?.is_complete());
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn is_complete(&self) -> bool {
        matches!(self, Status::Complete(_))
    }
}
