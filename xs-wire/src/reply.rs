//! Typed replies. Which shape a successful reply has depends on the request
//! ([`crate::Request::reply_kind`]); `ERROR` and `WATCH_EVENT` frames can
//! arrive in place of any of them.
//!
//! | kind | payload |
//! |---|---|
//! | `Ack` | `OK\0` |
//! | `Value` | raw bytes, no trailing NUL (READ) |
//! | `Directory` | `<name>\0`* |
//! | `DirectoryPart` | `<gen>\0<name>\0`* plus `\0` on the last chunk |
//! | `Perms` | `<perm>\0`+ |
//! | `TransactionId` | `<decimal>\0` |
//! | `Bool` | `T\0` or `F\0` |
//! | `DomainPath` | `<path>\0` |
//! | `Number` | `<decimal>\0` (GET_FEATURE, GET_QUOTA) |
//! | `QuotaNames` | `<name> <name> ...\0` |
//! | `Text` | CONTROL output, raw |

use crate::decimal::{parse_u32, parse_u64, Decimal};
use crate::encode::{self, Ids, Payload};
use crate::header::PAYLOAD_MAX;
use crate::sink::Sink;
use crate::strings::{exactly, no_nul, utf8};
use crate::{
    DirectoryChunk, ErrorReply, Frame, Names, Op, PermList, QuotaNames, WatchEvent, WireError,
};

/// The shape of a successful reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyKind {
    /// `OK\0`.
    Ack,
    /// A READ value.
    Value,
    /// A DIRECTORY listing.
    Directory,
    /// A DIRECTORY_PART chunk.
    DirectoryPart,
    /// A GET_PERMS list.
    Perms,
    /// A TRANSACTION_START id.
    TransactionId,
    /// `T` or `F`.
    Bool,
    /// A GET_DOMAIN_PATH path.
    DomainPath,
    /// A decimal number.
    Number,
    /// GET_QUOTA's list of names.
    QuotaNames,
    /// CONTROL output.
    Text,
}

/// A parsed message from the daemon.
///
/// ```
/// use xs_wire::{decode, Header, Op, Reply, ReplyKind, Status};
/// let mut buf = Header { op: Op::Read, req_id: 3, tx_id: 0, len: 5 }.to_bytes().to_vec();
/// buf.extend_from_slice(b"hello");
/// let Status::Complete((frame, _)) = decode(&buf).unwrap() else { unreachable!() };
/// let reply = Reply::parse(Op::Read, ReplyKind::Value, &frame).unwrap();
/// assert_eq!(reply, Reply::Value(b"hello"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// `OK`.
    Ack,
    /// A value.
    Value(&'a [u8]),
    /// Child names.
    Directory(Names<'a>),
    /// A listing chunk.
    DirectoryPart(DirectoryChunk<'a>),
    /// A permission list.
    Perms(PermList<'a>),
    /// A new transaction's id (never 0).
    TransactionId(u32),
    /// `T`/`F`.
    Bool(bool),
    /// A domain's home path.
    DomainPath(&'a str),
    /// A feature bitmap or quota value.
    Number(u64),
    /// Quota names.
    QuotaNames(QuotaNames<'a>),
    /// CONTROL output, as sent.
    Text(&'a [u8]),
    /// An error name.
    Error(ErrorReply<'a>),
    /// A fired watch.
    WatchEvent(WatchEvent<'a>),
}

fn single(payload: &[u8], op: Op) -> Result<&[u8], WireError> {
    exactly::<1>(payload, op).map(|[s]| s)
}

impl<'a> Reply<'a> {
    /// Parses `frame` as the reply to a request of type `op` whose success
    /// shape is `kind`. `ERROR` and `WATCH_EVENT` frames parse as such
    /// whatever was expected; any other type mismatch is
    /// [`WireError::UnexpectedType`].
    pub fn parse(op: Op, kind: ReplyKind, frame: &Frame<'a>) -> Result<Reply<'a>, WireError> {
        let got = frame.header.op;
        match got {
            Op::Error => return ErrorReply::parse(frame.payload).map(Reply::Error),
            Op::WatchEvent => return WatchEvent::parse(frame.payload).map(Reply::WatchEvent),
            _ if got != op => return Err(WireError::UnexpectedType { expected: op, got }),
            _ => {}
        }
        Self::parse_payload(op, kind, frame.payload)
    }

    /// Parses a successful reply's payload of the given shape.
    pub fn parse_payload(
        op: Op,
        kind: ReplyKind,
        payload: &'a [u8],
    ) -> Result<Reply<'a>, WireError> {
        let malformed = |what| WireError::Malformed { op, what };
        Ok(match kind {
            ReplyKind::Ack => {
                if payload != b"OK\0" {
                    return Err(malformed("expected `OK\\0`"));
                }
                Reply::Ack
            }
            ReplyKind::Value => Reply::Value(payload),
            ReplyKind::Directory => Reply::Directory(Names::parse(payload)?),
            ReplyKind::DirectoryPart => Reply::DirectoryPart(DirectoryChunk::parse(payload)?),
            ReplyKind::Perms => Reply::Perms(PermList::parse(payload)?),
            ReplyKind::TransactionId => {
                let id = parse_u32(single(payload, op)?)
                    .filter(|&id| id != 0)
                    .ok_or(malformed("transaction id is not a non-zero u32"))?;
                Reply::TransactionId(id)
            }
            ReplyKind::Bool => match payload {
                b"T\0" => Reply::Bool(true),
                b"F\0" => Reply::Bool(false),
                _ => return Err(malformed("expected `T\\0` or `F\\0`")),
            },
            ReplyKind::DomainPath => Reply::DomainPath(utf8(single(payload, op)?, op)?),
            ReplyKind::Number => Reply::Number(
                parse_u64(single(payload, op)?).ok_or(malformed("not a decimal number"))?,
            ),
            ReplyKind::QuotaNames => Reply::QuotaNames(QuotaNames::parse(payload)?),
            ReplyKind::Text => Reply::Text(payload),
        })
    }

    /// The header type this reply travels with, given the request's type.
    pub fn wire_op(&self, request_op: Op) -> Op {
        match self {
            Reply::Error(_) => Op::Error,
            Reply::WatchEvent(_) => Op::WatchEvent,
            _ => request_op,
        }
    }

    /// Payload length in bytes.
    pub fn payload_len(&self) -> usize {
        Payload::payload_len(self)
    }

    /// Encodes the whole frame into `out` (the server side). `request_op`
    /// is the type of the request being answered; errors and events use
    /// their own types. A payload over 4096 bytes is refused: xenstored
    /// answers `E2BIG` instead. So is a reply that would not parse back as
    /// itself (a NUL inside a string, transaction id 0, an empty event path
    /// or error name); nothing is written then.
    pub fn encode(&self, request_op: Op, ids: Ids, out: &mut [u8]) -> Result<usize, WireError> {
        let op = self.wire_op(request_op);
        self.check(op)?;
        encode::to_slice(op, ids, self, PAYLOAD_MAX, out)
    }

    /// Appends the whole frame to a `bytes::BufMut`.
    #[cfg(feature = "bytes")]
    pub fn encode_buf<B: bytes::BufMut>(
        &self,
        request_op: Op,
        ids: Ids,
        out: &mut B,
    ) -> Result<usize, WireError> {
        let op = self.wire_op(request_op);
        self.check(op)?;
        encode::to_buf(op, ids, self, PAYLOAD_MAX, out)
    }

    /// Refuses a reply the parser would not give back as itself: a NUL
    /// inside a NUL-terminated string ([`WireError::EmbeddedNul`]), and the
    /// shapes [`Reply::parse_payload`], [`ErrorReply::parse`] and
    /// [`WatchEvent::parse`] reject ([`WireError::Malformed`]).
    fn check(&self, op: Op) -> Result<(), WireError> {
        let malformed = |what| Err(WireError::Malformed { op, what });
        match *self {
            Reply::TransactionId(0) => malformed("transaction id 0"),
            Reply::DomainPath(path) => no_nul(path).map(drop),
            Reply::Error(error) => match no_nul(error.name())? {
                "" => malformed("empty error name"),
                _ => Ok(()),
            },
            Reply::WatchEvent(event) => {
                no_nul(event.token)?;
                match no_nul(event.path)? {
                    "" => malformed("empty event path"),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

impl Payload for Reply<'_> {
    fn visit<S: Sink>(&self, sink: &mut S) {
        match *self {
            Reply::Ack => sink.put(b"OK\0"),
            Reply::Value(value) | Reply::Text(value) => sink.put(value),
            Reply::Directory(names) => sink.put(names.as_bytes()),
            Reply::DirectoryPart(chunk) => {
                sink.put_cstr(Decimal::new(chunk.generation).as_bytes());
                sink.put(chunk.names.as_bytes());
                if chunk.complete {
                    sink.put(b"\0");
                }
            }
            Reply::Perms(perms) => perms.visit(sink),
            Reply::TransactionId(id) => sink.put_cstr(Decimal::new(id.into()).as_bytes()),
            Reply::Bool(b) => sink.put(if b { b"T\0" } else { b"F\0" }),
            Reply::DomainPath(path) => sink.put_cstr(path.as_bytes()),
            Reply::Number(n) => sink.put_cstr(Decimal::new(n).as_bytes()),
            Reply::QuotaNames(names) => sink.put_cstr(names.as_str().as_bytes()),
            Reply::Error(e) => sink.put_cstr(e.name().as_bytes()),
            Reply::WatchEvent(ev) => {
                sink.put_cstr(ev.path.as_bytes());
                sink.put_cstr(ev.token.as_bytes());
            }
        }
    }
}
