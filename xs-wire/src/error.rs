//! The codec's error type: small, `Copy`, and specific.
//!
//! Every way a request can be refused before it is sent, and every way a
//! received frame can fail to parse, is its own variant, so a caller can turn
//! it into a precise message without string matching.

use core::fmt;

use crate::{Header, Op};

/// Why a path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PathError {
    /// The path is empty.
    Empty,
    /// A byte outside `A-Z a-z 0-9 - / _ @` at this offset.
    BadChar {
        /// Byte offset of the first bad byte.
        index: usize,
    },
    /// The path contains `//`.
    DoubleSlash,
    /// The path ends in `/` and is not the root.
    TrailingSlash,
    /// The path is longer than the protocol allows.
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit for its kind (3072 absolute, 2048 relative).
        max: usize,
    },
    /// An `@` path that is not `@introduceDomain` or `@releaseDomain`
    /// (optionally followed by `/<domid>`).
    UnknownSpecial,
    /// An `@` path given to an operation other than WATCH, UNWATCH,
    /// GET_PERMS and SET_PERMS.
    SpecialNotAllowed,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::Empty => f.write_str("path is empty"),
            PathError::BadChar { index } => {
                write!(f, "byte {index} is not one of A-Z a-z 0-9 - / _ @")
            }
            PathError::DoubleSlash => f.write_str("path contains `//`"),
            PathError::TrailingSlash => f.write_str("path ends in `/`"),
            PathError::TooLong { len, max } => {
                write!(f, "path is {len} bytes long, the limit is {max}")
            }
            PathError::UnknownSpecial => f.write_str(
                "special paths are @introduceDomain and @releaseDomain (optionally /<domid>)",
            ),
            PathError::SpecialNotAllowed => {
                f.write_str("@ paths are only valid for watches and permissions")
            }
        }
    }
}

/// Why a permission entry was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PermError {
    /// The entry is empty.
    Empty,
    /// The first byte is not one of `n`, `r`, `w`, `b`.
    BadAccess,
    /// The domain id is missing, not a number, or out of range.
    BadDomid,
    /// A permission list with no entries (SET_PERMS needs the owner).
    NoEntries,
}

impl fmt::Display for PermError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PermError::Empty => "permission entry is empty",
            PermError::BadAccess => "permission must start with one of n, r, w, b",
            PermError::BadDomid => "permission domain id is not a valid number",
            PermError::NoEntries => "a permission list needs at least the owner entry",
        })
    }
}

/// Everything the codec can refuse or fail to parse.
///
/// ```
/// use xs_wire::{Path, PathError, WireError};
/// let err = Path::new("/a//b").unwrap_err();
/// assert_eq!(err, WireError::InvalidPath(PathError::DoubleSlash));
/// assert_eq!(err.to_string(), "invalid path: path contains `//`");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireError {
    /// A payload longer than the limit in force (4096, or 4080 on the device).
    PayloadTooLarge {
        /// The payload length.
        len: usize,
        /// The limit that applied.
        max: usize,
    },
    /// A received frame whose header announces a payload over the limit the
    /// reader set ([`crate::decode_bounded`]); the header says which
    /// request it answers.
    FrameTooLarge {
        /// The frame's header, as received.
        header: Header,
        /// The limit that applied.
        max: usize,
    },
    /// The output buffer is too small; `needed` bytes are required in all.
    BufferTooSmall {
        /// Total bytes the encoding needs.
        needed: usize,
    },
    /// A path failed validation.
    InvalidPath(PathError),
    /// A permission entry failed validation.
    InvalidPerm(PermError),
    /// A string that must not contain NUL did (a token, a quota name, ...).
    EmbeddedNul,
    /// A request with a non-zero `tx_id` whose op cannot carry one.
    TransactionNotAllowed(Op),
    /// `TRANSACTION_END` with `tx_id` 0.
    TransactionRequired,
    /// A payload that does not have the shape its op requires.
    Malformed {
        /// The op of the frame.
        op: Op,
        /// What was wrong, in a few words.
        what: &'static str,
    },
    /// A reply whose type is neither the request's, `ERROR` nor `WATCH_EVENT`.
    UnexpectedType {
        /// The type the request calls for.
        expected: Op,
        /// The type that arrived.
        got: Op,
    },
    /// A message type this side cannot handle.
    UnsupportedOp(Op),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::PayloadTooLarge { len, max } => {
                write!(f, "payload of {len} bytes exceeds the limit of {max}")
            }
            WireError::FrameTooLarge { header, max } => write!(
                f,
                "{} frame (req_id {}, tx_id {}) announces {} payload bytes, over the limit of {max}",
                header.op, header.req_id, header.tx_id, header.len
            ),
            WireError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            WireError::InvalidPath(e) => write!(f, "invalid path: {e}"),
            WireError::InvalidPerm(e) => write!(f, "invalid permission: {e}"),
            WireError::EmbeddedNul => f.write_str("string contains a NUL byte"),
            WireError::TransactionNotAllowed(op) => {
                write!(f, "{op} cannot be sent inside a transaction")
            }
            WireError::TransactionRequired => f.write_str("TRANSACTION_END needs a transaction id"),
            WireError::Malformed { op, what } => write!(f, "malformed {op} payload: {what}"),
            WireError::UnexpectedType { expected, got } => {
                write!(f, "expected a {expected} reply, got {got}")
            }
            WireError::UnsupportedOp(op) => write!(f, "unsupported message type {op}"),
        }
    }
}

impl WireError {
    /// Attributes a `Malformed` error to `op`, the type of the frame being
    /// parsed (shared sub-parsers such as [`crate::Names::parse`] name
    /// their usual op).
    pub(crate) fn in_op(self, op: Op) -> WireError {
        match self {
            WireError::Malformed { what, .. } => WireError::Malformed { op, what },
            other => other,
        }
    }
}

impl From<PathError> for WireError {
    fn from(e: PathError) -> Self {
        WireError::InvalidPath(e)
    }
}

impl From<PermError> for WireError {
    fn from(e: PermError) -> Self {
        WireError::InvalidPerm(e)
    }
}

impl core::error::Error for WireError {}
impl core::error::Error for PathError {}
impl core::error::Error for PermError {}
