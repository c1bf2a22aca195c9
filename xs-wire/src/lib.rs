//! The XenStore wire protocol as data: a `no_std`, allocation-free codec.
//!
//! `xs-wire` knows every message of the protocol xenstored speaks on its Unix
//! socket and on the xenbus device, and nothing about I/O. It is layered like
//! `httparse`: parsers borrow from the caller's buffer and report
//! [`Status::Partial`] when more bytes are needed; encoders write into a
//! caller-provided buffer and say how much room they need; errors are a small
//! `Copy` enum ([`WireError`]).
//!
//! ```text
//!  bytes ──decode──▶ Frame { Header, &payload } ──Reply::parse──▶ Reply<'_>
//!  Request<'_> ──encode──▶ bytes          (Request::parse on the server side)
//! ```
//!
//! # Example
//!
//! ```
//! use xs_wire::{decode, Ids, Op, Path, Reply, Request, Status};
//!
//! // Encode a READ.
//! let req = Request::Read { path: Path::new("/local/domain/0/name")? };
//! let mut out = [0u8; 64];
//! let n = req.encode(Ids::new(42), &mut out)?;
//! assert_eq!(&out[16..n], b"/local/domain/0/name\0");
//!
//! // Decode what a daemon answered (here: the value "Domain-0").
//! let mut answer = xs_wire::Header { op: Op::Read, req_id: 42, tx_id: 0, len: 8 }
//!     .to_bytes()
//!     .to_vec();
//! answer.extend_from_slice(b"Domain-0");
//! let Status::Complete((frame, used)) = decode(&answer)? else { panic!("short") };
//! assert_eq!(used, answer.len());
//! assert_eq!(Reply::parse(req.op(), req.reply_kind(), &frame)?, Reply::Value(b"Domain-0"));
//! # Ok::<(), xs_wire::WireError>(())
//! ```
//!
//! # Features
//!
//! * `bytes`: `encode_buf` methods writing into a `bytes::BufMut`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod decimal;
mod directory_part;
mod encode;
mod errno;
mod error;
mod error_reply;
mod frame;
mod header;
mod names;
mod op;
mod path;
mod path_scan;
mod perm;
mod perm_list;
mod quota_names;
mod reply;
mod request;
mod sink;
mod status;
mod strings;
mod watch_event;

pub use directory_part::DirectoryChunk;
pub use encode::Ids;
pub use errno::Errno;
pub use error::{PathError, PermError, WireError};
pub use error_reply::ErrorReply;
pub use frame::{decode, decode_bounded, decode_with_limit, is_one_frame, Frame};
pub use header::{Header, HEADER_SIZE, PAYLOAD_MAX, XENBUS_PAYLOAD_MAX};
pub use names::{Names, NamesIter};
pub use op::Op;
pub use path::{
    is_child, Path, PathKind, ABS_PATH_MAX, INTRODUCE_DOMAIN, RELEASE_DOMAIN, REL_PATH_MAX,
};
pub use perm::{Access, Perm, DOMID_ANY, PERM_TEXT_MAX};
pub use perm_list::{PermIter, PermList};
pub use quota_names::QuotaNames;
pub use reply::{Reply, ReplyKind};
pub use request::{QuotaQuery, Request};
pub use status::Status;
pub use watch_event::WatchEvent;

/// The largest frame, header included, the protocol allows.
///
/// ```
/// use xs_wire::{Ids, Path, Request, FRAME_MAX};
/// // A buffer that holds any frame the protocol allows.
/// let mut buf = [0u8; FRAME_MAX];
/// let n = Request::Read { path: Path::new("/local/domain/0/name")? }.encode(Ids::new(1), &mut buf)?;
/// assert!(n <= FRAME_MAX);
/// # Ok::<(), xs_wire::WireError>(())
/// ```
pub const FRAME_MAX: usize = HEADER_SIZE + PAYLOAD_MAX;
