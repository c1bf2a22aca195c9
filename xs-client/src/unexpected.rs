//! What was wrong with a frame the client could not accept, as data.
//!
//! A daemon that breaks the protocol kills the connection; the error every
//! caller then gets says which rule was broken ([`Problem`]) and carries the
//! offending frame's header, so a bug report can quote facts instead of a
//! sentence.

use std::fmt;

use xs_wire::{Header, Op, WireError};

/// The rule a frame from the daemon broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Problem {
    /// A reply to a request id this client never sent (or already has the
    /// answer for).
    UnknownRequestId,
    /// A reply whose type is neither the request's nor `ERROR`.
    WrongReplyType {
        /// The request's type.
        expected: Op,
    },
    /// A reply whose transaction id does not echo the request's.
    WrongTransactionId {
        /// The request's transaction id.
        expected: u32,
    },
    /// The xenbus device's req_id-0 WATCH reply with no WATCH waiting.
    WatchReplyWithoutWatch,
    /// A `WATCH_EVENT` payload that is not `path NUL token NUL`.
    MalformedEvent(WireError),
    /// A reply payload that does not parse as its request's answer.
    MalformedReply(WireError),
    /// A reply that parsed, but not to the shape the request expects.
    WrongShape {
        /// The request's type.
        request: Op,
    },
    /// A frame announcing a payload over the connection's limit (64 KiB
    /// on a socket by default: longer than any reply a daemon sends).
    TooLong {
        /// The limit in force.
        max: usize,
    },
    /// A header the transport could not accept.
    Undecodable(WireError),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::UnknownRequestId => f.write_str("reply to a request id never sent"),
            Problem::WrongReplyType { expected } => {
                write!(f, "reply type does not match the request ({expected})")
            }
            Problem::WrongTransactionId { expected } => {
                write!(
                    f,
                    "reply transaction id does not match the request's ({expected})"
                )
            }
            Problem::WatchReplyWithoutWatch => f.write_str("WATCH reply with no WATCH waiting"),
            Problem::MalformedEvent(e) => write!(f, "bad WATCH_EVENT: {e}"),
            Problem::MalformedReply(e) => write!(f, "bad reply: {e}"),
            Problem::WrongShape { request } => write!(f, "{request} reply of the wrong shape"),
            Problem::TooLong { max } => {
                write!(f, "frame longer than the connection's limit of {max} bytes")
            }
            Problem::Undecodable(e) => write!(f, "undecodable frame: {e}"),
        }
    }
}

/// A frame the client could not accept: the broken rule and, when the
/// frame got that far, its header.
///
/// ```
/// use xs_client::{Problem, Unexpected};
/// use xs_wire::{Header, Op};
/// let u = Unexpected {
///     problem: Problem::UnknownRequestId,
///     header: Some(Header { op: Op::Read, req_id: 9, tx_id: 0, len: 3 }),
/// };
/// assert_eq!(u.to_string(), "reply to a request id never sent (type READ, req_id 9, tx_id 0, len 3)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Unexpected {
    /// What was wrong.
    pub problem: Problem,
    /// The frame's header, if it was decoded.
    pub header: Option<Header>,
}

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.problem)?;
        if let Some(h) = &self.header {
            write!(
                f,
                " (type {}, req_id {}, tx_id {}, len {})",
                h.op, h.req_id, h.tx_id, h.len
            )?;
        }
        Ok(())
    }
}
