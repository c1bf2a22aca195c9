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
    pub fn complete(self) -> Option<T> {
        match self {
            Status::Complete(value) => Some(value),
            Status::Partial { .. } => None,
        }
    }

    /// Whether the value is complete.
    pub fn is_complete(&self) -> bool {
        matches!(self, Status::Complete(_))
    }
}
