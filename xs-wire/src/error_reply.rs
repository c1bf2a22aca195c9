//! `ERROR` replies: an error name and a NUL.

use core::fmt;

use crate::strings::{exactly, utf8};
use crate::{Errno, Op, WireError};

/// The error a daemon answered with.
///
/// ```
/// use xs_wire::{Errno, ErrorReply};
/// assert_eq!(ErrorReply::parse(b"ENOENT\0").unwrap(), ErrorReply::Known(Errno::ENOENT));
/// assert_eq!(ErrorReply::parse(b"EQUOTA\0").unwrap(), ErrorReply::Other("EQUOTA"));
/// assert_eq!(ErrorReply::Other("EQUOTA").errno(), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorReply<'a> {
    /// A name from Xen's table.
    Known(Errno),
    /// A name outside it (oxenstored's `EQUOTA`), kept as sent.
    Other(&'a str),
}

impl<'a> ErrorReply<'a> {
    /// Parses `<NAME>\0`.
    ///
    /// ```
    /// use xs_wire::{Errno, ErrorReply};
    /// assert_eq!(ErrorReply::parse(b"EACCES\0")?, ErrorReply::Known(Errno::EACCES));
    /// assert!(ErrorReply::parse(b"\0").is_err()); // no name
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn parse(payload: &'a [u8]) -> Result<ErrorReply<'a>, WireError> {
        let [name] = exactly::<1>(payload, Op::Error)?;
        if name.is_empty() {
            return Err(WireError::Malformed {
                op: Op::Error,
                what: "empty error name",
            });
        }
        Ok(match Errno::from_name(name) {
            Some(errno) => ErrorReply::Known(errno),
            None => ErrorReply::Other(utf8(name, Op::Error)?),
        })
    }

    /// The name as sent.
    ///
    /// ```
    /// use xs_wire::{Errno, ErrorReply};
    /// assert_eq!(ErrorReply::parse(b"EQUOTA\0")?.name(), "EQUOTA");
    /// assert_eq!(ErrorReply::Known(Errno::E2BIG).name(), "E2BIG");
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn name(&self) -> &'a str {
        match self {
            ErrorReply::Known(errno) => errno.name(),
            ErrorReply::Other(name) => name,
        }
    }

    /// The table entry, if the name is in Xen's table.
    ///
    /// ```
    /// use xs_wire::{Errno, ErrorReply};
    /// assert_eq!(ErrorReply::parse(b"EAGAIN\0")?.errno(), Some(Errno::EAGAIN));
    /// assert_eq!(ErrorReply::parse(b"EQUOTA\0")?.errno(), None);
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn errno(&self) -> Option<Errno> {
        match self {
            ErrorReply::Known(errno) => Some(*errno),
            ErrorReply::Other(_) => None,
        }
    }
}

impl fmt::Display for ErrorReply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
