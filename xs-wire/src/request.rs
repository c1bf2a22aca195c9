//! Typed requests: one variant per client operation, each encoding the exact
//! payload layout xenstored checks (NUL counts included).
//!
//! | op | payload |
//! |---|---|
//! | DIRECTORY, READ, GET_PERMS, MKDIR, RM | `<path>\0` |
//! | WRITE | `<path>\0<value>` (value not NUL-terminated) |
//! | SET_PERMS | `<path>\0<perm>\0`+ |
//! | WATCH, UNWATCH | `<path>\0<token>\0` (WATCH: optional `<depth>\0`, Xen 4.22+) |
//! | TRANSACTION_START, RESET_WATCHES | `\0` |
//! | TRANSACTION_END | `T\0` or `F\0` |
//! | INTRODUCE | `<domid>\0<gfn>\0<evtchn>\0` |
//! | RELEASE, GET_DOMAIN_PATH, IS_DOMAIN_INTRODUCED, RESUME | `<domid>\0` |
//! | SET_TARGET | `<domid>\0<target>\0` |
//! | DIRECTORY_PART | `<path>\0<offset>\0` |
//! | GET_FEATURE | empty, or `<domid>\0` |
//! | SET_FEATURE | `<domid>\0<bits>\0` |
//! | GET_QUOTA | empty, `<name>\0`, or `<domid>\0<name>\0` |
//! | SET_QUOTA | `[<domid>\0]<name>\0<value>\0` |
//! | CONTROL | `<command>\0` then raw argument bytes |
//!
//! [`Request::encode`] refuses invalid requests with a [`WireError`] before
//! writing anything; [`Request::parse`] (the server side) applies the same
//! rules to received bytes.

use crate::decimal::{parse_u32, parse_u64, Decimal};
use crate::encode::{self, Ids, Payload};
use crate::header::{Header, PAYLOAD_MAX};
use crate::reply::ReplyKind;
use crate::sink::Sink;
use crate::strings::{count, cstr, exactly, no_nul, utf8};
use crate::{Op, Path, PermList, WireError};

/// What GET_QUOTA asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaQuery<'a> {
    /// The names of all quotas (empty payload).
    Names,
    /// A global quota's value.
    Global(&'a str),
    /// One domain's value of a quota.
    Domain {
        /// The domain.
        domid: u32,
        /// The quota name.
        name: &'a str,
    },
}

/// A request to xenstored.
///
/// ```
/// use xs_wire::{Ids, Path, Request};
/// let req = Request::Write { path: Path::new("/vm/name").unwrap(), value: b"guest" };
/// let mut buf = [0u8; 64];
/// let n = req.encode(Ids::new(1), &mut buf).unwrap();
/// assert_eq!(&buf[16..n], b"/vm/name\0guest");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// CONTROL: a command and raw argument bytes (privileged).
    Control {
        /// The command name (`"log"`, `"quota"`, ...).
        command: &'a str,
        /// Bytes sent as is after `command\0`.
        args: &'a [u8],
    },
    /// DIRECTORY: list a node's children.
    Directory {
        /// The node.
        path: Path<'a>,
    },
    /// READ: a node's value.
    Read {
        /// The node.
        path: Path<'a>,
    },
    /// GET_PERMS: a node's permissions (`@` paths allowed).
    GetPerms {
        /// The node.
        path: Path<'a>,
    },
    /// WATCH: register a watch (`@` paths allowed).
    Watch {
        /// The watched path.
        path: Path<'a>,
        /// The token events will carry.
        token: &'a str,
        /// Xen 4.22+ watch depth; only for connections with that feature.
        depth: Option<u32>,
    },
    /// UNWATCH: remove a watch.
    Unwatch {
        /// The watched path.
        path: Path<'a>,
        /// The watch's token.
        token: &'a str,
    },
    /// TRANSACTION_START: open a transaction.
    TransactionStart,
    /// TRANSACTION_END: commit (`true`) or abort (`false`).
    TransactionEnd {
        /// Commit rather than abort.
        commit: bool,
    },
    /// INTRODUCE: tell xenstored about a new domain.
    Introduce {
        /// The domain.
        domid: u32,
        /// Guest frame of its store ring.
        gfn: u64,
        /// Its store event channel.
        evtchn: u32,
    },
    /// RELEASE: forget a domain.
    Release {
        /// The domain.
        domid: u32,
    },
    /// GET_DOMAIN_PATH: a domain's home path.
    GetDomainPath {
        /// The domain.
        domid: u32,
    },
    /// WRITE: set a value, creating missing parents.
    Write {
        /// The node.
        path: Path<'a>,
        /// The value; any bytes.
        value: &'a [u8],
    },
    /// MKDIR: create a node and its parents.
    Mkdir {
        /// The node.
        path: Path<'a>,
    },
    /// RM: remove a subtree.
    Rm {
        /// The node.
        path: Path<'a>,
    },
    /// SET_PERMS: replace a node's permissions (`@` paths allowed).
    SetPerms {
        /// The node.
        path: Path<'a>,
        /// The new list; the first entry is the owner.
        perms: PermList<'a>,
    },
    /// IS_DOMAIN_INTRODUCED.
    IsDomainIntroduced {
        /// The domain.
        domid: u32,
    },
    /// RESUME: clear a domain's shutdown flag.
    Resume {
        /// The domain.
        domid: u32,
    },
    /// SET_TARGET: `domid` gains `target`'s rights.
    SetTarget {
        /// The domain gaining rights (e.g. a device-model stubdom).
        domid: u32,
        /// The domain whose rights it gains.
        target: u32,
    },
    /// RESET_WATCHES: drop the connection's watches and transactions.
    ResetWatches,
    /// DIRECTORY_PART: part of a listing, from a byte offset.
    DirectoryPart {
        /// The node.
        path: Path<'a>,
        /// Byte offset into the full `<name>\0` list.
        offset: u32,
    },
    /// GET_FEATURE: own features (`None`) or a domain's.
    GetFeature {
        /// The domain, or `None` for the caller's own.
        domid: Option<u32>,
    },
    /// SET_FEATURE: set a domain's feature bits before introducing it.
    SetFeature {
        /// The domain.
        domid: u32,
        /// The feature bits.
        features: u32,
    },
    /// GET_QUOTA.
    GetQuota(QuotaQuery<'a>),
    /// SET_QUOTA: a global (`domid: None`) or per-domain quota.
    SetQuota {
        /// The domain, or `None` for the global value.
        domid: Option<u32>,
        /// The quota name.
        name: &'a str,
        /// The new value.
        value: u32,
    },
}

impl<'a> Request<'a> {
    /// The message type.
    ///
    /// ```
    /// use xs_wire::{Op, Path, Request};
    /// assert_eq!(Request::Mkdir { path: Path::new("/local/domain/4")? }.op(), Op::Mkdir);
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    #[inline]
    pub fn op(&self) -> Op {
        match self {
            Request::Control { .. } => Op::Control,
            Request::Directory { .. } => Op::Directory,
            Request::Read { .. } => Op::Read,
            Request::GetPerms { .. } => Op::GetPerms,
            Request::Watch { .. } => Op::Watch,
            Request::Unwatch { .. } => Op::Unwatch,
            Request::TransactionStart => Op::TransactionStart,
            Request::TransactionEnd { .. } => Op::TransactionEnd,
            Request::Introduce { .. } => Op::Introduce,
            Request::Release { .. } => Op::Release,
            Request::GetDomainPath { .. } => Op::GetDomainPath,
            Request::Write { .. } => Op::Write,
            Request::Mkdir { .. } => Op::Mkdir,
            Request::Rm { .. } => Op::Rm,
            Request::SetPerms { .. } => Op::SetPerms,
            Request::IsDomainIntroduced { .. } => Op::IsDomainIntroduced,
            Request::Resume { .. } => Op::Resume,
            Request::SetTarget { .. } => Op::SetTarget,
            Request::ResetWatches => Op::ResetWatches,
            Request::DirectoryPart { .. } => Op::DirectoryPart,
            Request::GetFeature { .. } => Op::GetFeature,
            Request::SetFeature { .. } => Op::SetFeature,
            Request::GetQuota(_) => Op::GetQuota,
            Request::SetQuota { .. } => Op::SetQuota,
        }
    }

    /// The shape of a successful reply to this request.
    ///
    /// ```
    /// use xs_wire::{Path, ReplyKind, Request};
    /// let read = Request::Read { path: Path::new("/local/domain/0/name")? };
    /// assert_eq!(read.reply_kind(), ReplyKind::Value);
    /// assert_eq!(Request::TransactionStart.reply_kind(), ReplyKind::TransactionId);
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn reply_kind(&self) -> ReplyKind {
        match self {
            Request::Control { .. } => ReplyKind::Text,
            Request::Directory { .. } => ReplyKind::Directory,
            Request::Read { .. } => ReplyKind::Value,
            Request::GetPerms { .. } => ReplyKind::Perms,
            Request::TransactionStart => ReplyKind::TransactionId,
            Request::GetDomainPath { .. } => ReplyKind::DomainPath,
            Request::IsDomainIntroduced { .. } => ReplyKind::Bool,
            Request::DirectoryPart { .. } => ReplyKind::DirectoryPart,
            Request::GetFeature { .. } => ReplyKind::Number,
            Request::GetQuota(QuotaQuery::Names) => ReplyKind::QuotaNames,
            Request::GetQuota(_) => ReplyKind::Number,
            _ => ReplyKind::Ack,
        }
    }

    /// The path this request names, if any.
    ///
    /// ```
    /// use xs_wire::{Path, Request};
    /// let rm = Request::Rm { path: Path::new("/local/domain/0/backend/vif/1")? };
    /// assert_eq!(rm.path().map(|p| p.as_str()), Some("/local/domain/0/backend/vif/1"));
    /// assert_eq!(Request::GetDomainPath { domid: 1 }.path(), None);
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    #[inline]
    pub fn path(&self) -> Option<Path<'a>> {
        match *self {
            Request::Directory { path }
            | Request::Read { path }
            | Request::GetPerms { path }
            | Request::Watch { path, .. }
            | Request::Unwatch { path, .. }
            | Request::Write { path, .. }
            | Request::Mkdir { path }
            | Request::Rm { path }
            | Request::SetPerms { path, .. }
            | Request::DirectoryPart { path, .. } => Some(path),
            _ => None,
        }
    }

    /// Checks everything that does not depend on the payload size: `@`
    /// paths only where allowed, NUL-free strings, and `tx_id` rules.
    ///
    /// ```
    /// use xs_wire::{Op, Path, Request, WireError};
    /// let watch = Request::Watch { path: Path::new("/local/domain/1")?, token: "t", depth: None };
    /// assert!(watch.validate(0).is_ok());
    /// assert_eq!(watch.validate(7), Err(WireError::TransactionNotAllowed(Op::Watch)));
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    #[inline]
    pub fn validate(&self, tx_id: u32) -> Result<(), WireError> {
        let op = self.op();
        self.check_special_path()?;
        match self {
            Request::Watch { token, .. } | Request::Unwatch { token, .. } => {
                no_nul(token)?;
            }
            Request::Control { command, .. } => {
                no_nul(command)?;
            }
            Request::GetQuota(QuotaQuery::Global(name) | QuotaQuery::Domain { name, .. })
            | Request::SetQuota { name, .. } => {
                no_nul(name)?;
            }
            _ => {}
        }
        if op == Op::TransactionEnd && tx_id == 0 {
            return Err(WireError::TransactionRequired);
        }
        if tx_id != 0 && !op.takes_transaction() {
            return Err(WireError::TransactionNotAllowed(op));
        }
        Ok(())
    }

    /// `@` paths are only valid for WATCH, UNWATCH, GET_PERMS and SET_PERMS.
    #[inline]
    fn check_special_path(&self) -> Result<(), WireError> {
        match self.path() {
            Some(path)
                if !matches!(
                    self.op(),
                    Op::Watch | Op::Unwatch | Op::GetPerms | Op::SetPerms
                ) =>
            {
                path.require_node().map(drop)
            }
            _ => Ok(()),
        }
    }

    /// Payload length in bytes.
    ///
    /// ```
    /// use xs_wire::{Path, Request};
    /// let write = Request::Write { path: Path::new("/vm/1/name")?, value: b"guest" };
    /// assert_eq!(write.payload_len(), "/vm/1/name\0guest".len()); // no NUL after a value
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    #[inline]
    pub fn payload_len(&self) -> usize {
        Payload::payload_len(self)
    }

    /// Validates and encodes the whole frame into `out` with the 4096-byte
    /// limit, returning the number of bytes written.
    ///
    /// ```
    /// use xs_wire::{Ids, Path, Request, WireError};
    /// let req = Request::Read { path: Path::new("/local/domain/0/name")? };
    /// let mut small = [0u8; 8];
    /// assert!(matches!(req.encode(Ids::new(1), &mut small), Err(WireError::BufferTooSmall { needed: 37 })));
    /// let mut out = [0u8; 64];
    /// assert_eq!(req.encode(Ids::new(1), &mut out)?, 37); // 16-byte header + path + NUL
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn encode(&self, ids: Ids, out: &mut [u8]) -> Result<usize, WireError> {
        self.encode_with_limit(ids, PAYLOAD_MAX, out)
    }

    /// Like [`Request::encode`] with another payload limit (e.g.
    /// [`crate::XENBUS_PAYLOAD_MAX`] for the device).
    ///
    /// ```
    /// use xs_wire::{Ids, Path, Request, WireError, XENBUS_PAYLOAD_MAX};
    /// let value = [0u8; 4085];
    /// let req = Request::Write { path: Path::new("/x")?, value: &value };
    /// let mut out = [0u8; 4200];
    /// let err = req.encode_with_limit(Ids::new(1), XENBUS_PAYLOAD_MAX, &mut out).unwrap_err();
    /// assert!(matches!(err, WireError::PayloadTooLarge { .. })); // too big for the device
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    #[inline]
    pub fn encode_with_limit(
        &self,
        ids: Ids,
        limit: usize,
        out: &mut [u8],
    ) -> Result<usize, WireError> {
        self.encode_op_with_limit(ids, limit, out).map(|(_, n)| n)
    }

    /// [`Request::encode_with_limit`], also giving the frame's type: a
    /// caller that records it has it from the match that encodes, not
    /// from a second one over every variant ([`Request::op`]).
    #[doc(hidden)]
    #[inline(always)]
    pub fn encode_op_with_limit(
        &self,
        ids: Ids,
        limit: usize,
        out: &mut [u8],
    ) -> Result<(Op, usize), WireError> {
        // The usual requests, a node's path and perhaps a value, are checked
        // and written here, inline: the general checks and sizing walk over
        // every variant cost more than the rest of queueing a READ. All of
        // these take a transaction; none takes an `@` path.
        // READ, the commonest, is told apart by one compare, before the
        // jump over the others.
        if let Request::Read { path } = *self {
            let path = path.require_node()?.as_bytes();
            let body = encode::PathValue { path, value: &[] };
            return encode::to_slice(Op::Read, ids, &body, limit, out).map(|n| (Op::Read, n));
        }
        let (op, path, value) = match *self {
            Request::Directory { path } => (Op::Directory, path, &[][..]),
            Request::Mkdir { path } => (Op::Mkdir, path, &[][..]),
            Request::Rm { path } => (Op::Rm, path, &[][..]),
            Request::Write { path, value } => (Op::Write, path, value),
            _ => return self.encode_other(ids, limit, out),
        };
        let path = path.require_node()?.as_bytes();
        encode::to_slice(op, ids, &encode::PathValue { path, value }, limit, out).map(|n| (op, n))
    }

    /// [`Request::encode_op_with_limit`] for the other requests: the
    /// general checks and sizing, out of line, so the usual requests'
    /// inlined path stays small.
    #[inline(never)]
    fn encode_other(
        &self,
        ids: Ids,
        limit: usize,
        out: &mut [u8],
    ) -> Result<(Op, usize), WireError> {
        self.validate(ids.tx_id)?;
        let op = self.op();
        encode::to_slice(op, ids, self, limit, out).map(|n| (op, n))
    }

    /// Validates and appends the whole frame to a `bytes::BufMut`.
    #[cfg(feature = "bytes")]
    pub fn encode_buf<B: bytes::BufMut>(
        &self,
        ids: Ids,
        limit: usize,
        out: &mut B,
    ) -> Result<usize, WireError> {
        self.validate(ids.tx_id)?;
        encode::to_buf(self.op(), ids, self, limit, out)
    }

    /// Parses a received request (the server side). Unknown and
    /// server-to-client types give [`WireError::UnsupportedOp`] (xenstored
    /// answers `ENOSYS`); a payload of the wrong shape gives
    /// [`WireError::Malformed`] or [`WireError::InvalidPath`] (`EINVAL`).
    /// `tx_id` rules are left to the server.
    ///
    /// ```
    /// use xs_wire::{decode, Ids, Path, Request};
    /// // Server side: what did the client send?
    /// let mut buf = [0u8; 64];
    /// let n = Request::Mkdir { path: Path::new("/local/domain/2")? }.encode(Ids::new(1), &mut buf)?;
    /// let (frame, _) = decode(&buf[..n])?.complete().unwrap();
    /// let req = Request::parse(&frame.header, frame.payload)?;
    /// assert_eq!(req, Request::Mkdir { path: Path::new("/local/domain/2")? });
    /// # Ok::<(), xs_wire::WireError>(())
    /// ```
    pub fn parse(header: &Header, payload: &'a [u8]) -> Result<Request<'a>, WireError> {
        let op = header.op;
        let path = |bytes: &'a [u8]| Path::from_bytes(bytes);
        let domid = |bytes: &[u8]| {
            parse_u32(bytes).ok_or(WireError::Malformed {
                op,
                what: "domain id is not a decimal number",
            })
        };
        let number = |bytes: &[u8]| {
            parse_u32(bytes).ok_or(WireError::Malformed {
                op,
                what: "not a decimal number",
            })
        };
        let one_path = || -> Result<Path<'a>, WireError> {
            let [p] = exactly::<1>(payload, op)?;
            path(p)
        };
        let one_domid = || -> Result<u32, WireError> {
            let [d] = exactly::<1>(payload, op)?;
            domid(d)
        };
        let text = |bytes: &'a [u8]| utf8(bytes, op);
        let request = match op {
            Op::Control => {
                let (args, command) = cstr(payload).map_err(|_| WireError::Malformed {
                    op,
                    what: "command without NUL",
                })?;
                Request::Control {
                    command: text(command)?,
                    args,
                }
            }
            Op::Directory => Request::Directory { path: one_path()? },
            Op::Read => Request::Read { path: one_path()? },
            Op::GetPerms => Request::GetPerms { path: one_path()? },
            Op::Mkdir => Request::Mkdir { path: one_path()? },
            Op::Rm => Request::Rm { path: one_path()? },
            Op::Watch => match count(payload) {
                Some(3) => {
                    let [p, t, d] = exactly::<3>(payload, op)?;
                    Request::Watch {
                        path: path(p)?,
                        token: text(t)?,
                        depth: Some(number(d)?),
                    }
                }
                _ => {
                    let [p, t] = exactly::<2>(payload, op)?;
                    Request::Watch {
                        path: path(p)?,
                        token: text(t)?,
                        depth: None,
                    }
                }
            },
            Op::Unwatch => {
                let [p, t] = exactly::<2>(payload, op)?;
                Request::Unwatch {
                    path: path(p)?,
                    token: text(t)?,
                }
            }
            Op::TransactionStart => Request::TransactionStart,
            Op::ResetWatches => Request::ResetWatches,
            Op::TransactionEnd => match payload {
                b"T\0" => Request::TransactionEnd { commit: true },
                b"F\0" => Request::TransactionEnd { commit: false },
                _ => {
                    return Err(WireError::Malformed {
                        op,
                        what: "expected `T\\0` or `F\\0`",
                    })
                }
            },
            Op::Introduce => {
                // A reserved fourth string, if present, is ignored.
                let (rest, d) = cstr(payload).map_err(|_| malformed_args(op))?;
                let (rest, g) = cstr(rest).map_err(|_| malformed_args(op))?;
                let (_, e) = cstr(rest).map_err(|_| malformed_args(op))?;
                Request::Introduce {
                    domid: domid(d)?,
                    gfn: parse_u64(g).ok_or(malformed_args(op))?,
                    evtchn: number(e)?,
                }
            }
            Op::Release => Request::Release {
                domid: one_domid()?,
            },
            Op::GetDomainPath => Request::GetDomainPath {
                domid: one_domid()?,
            },
            Op::IsDomainIntroduced => Request::IsDomainIntroduced {
                domid: one_domid()?,
            },
            Op::Resume => Request::Resume {
                domid: one_domid()?,
            },
            Op::Write => {
                let (value, p) = cstr(payload).map_err(|_| WireError::Malformed {
                    op,
                    what: "path without NUL",
                })?;
                Request::Write {
                    path: path(p)?,
                    value,
                }
            }
            Op::SetPerms => {
                let (perms, p) = cstr(payload).map_err(|_| malformed_args(op))?;
                Request::SetPerms {
                    path: path(p)?,
                    perms: PermList::parse(perms).map_err(|e| e.in_op(op))?,
                }
            }
            Op::SetTarget => {
                let [d, t] = exactly::<2>(payload, op)?;
                Request::SetTarget {
                    domid: domid(d)?,
                    target: domid(t)?,
                }
            }
            Op::DirectoryPart => {
                let [p, o] = exactly::<2>(payload, op)?;
                Request::DirectoryPart {
                    path: path(p)?,
                    offset: number(o)?,
                }
            }
            Op::GetFeature => Request::GetFeature {
                domid: if payload.is_empty() {
                    None
                } else {
                    Some(one_domid()?)
                },
            },
            Op::SetFeature => {
                let [d, f] = exactly::<2>(payload, op)?;
                Request::SetFeature {
                    domid: domid(d)?,
                    features: number(f)?,
                }
            }
            Op::GetQuota => Request::GetQuota(match count(payload) {
                Some(0) => QuotaQuery::Names,
                Some(1) => {
                    let [n] = exactly::<1>(payload, op)?;
                    QuotaQuery::Global(text(n)?)
                }
                _ => {
                    let [d, n] = exactly::<2>(payload, op)?;
                    QuotaQuery::Domain {
                        domid: domid(d)?,
                        name: text(n)?,
                    }
                }
            }),
            Op::SetQuota => match count(payload) {
                Some(2) => {
                    let [n, v] = exactly::<2>(payload, op)?;
                    Request::SetQuota {
                        domid: None,
                        name: text(n)?,
                        value: number(v)?,
                    }
                }
                _ => {
                    let [d, n, v] = exactly::<3>(payload, op)?;
                    Request::SetQuota {
                        domid: Some(domid(d)?),
                        name: text(n)?,
                        value: number(v)?,
                    }
                }
            },
            Op::WatchEvent | Op::Error | Op::Restrict | Op::Invalid | Op::Unknown(_) => {
                return Err(WireError::UnsupportedOp(op))
            }
        };
        request.check_special_path()?;
        Ok(request)
    }
}

fn malformed_args(op: Op) -> WireError {
    WireError::Malformed {
        op,
        what: "missing or malformed arguments",
    }
}

/// Writes `value` in decimal followed by a NUL.
fn put_number<S: Sink>(sink: &mut S, value: u64) {
    sink.put_cstr(Decimal::new(value).as_bytes());
}

impl Payload for Request<'_> {
    /// The usual requests' lengths without a walk over their pieces (the
    /// golden tests hold every variant to the walk's sum).
    #[inline]
    fn payload_len(&self) -> usize {
        match *self {
            Request::Directory { path }
            | Request::Read { path }
            | Request::GetPerms { path }
            | Request::Mkdir { path }
            | Request::Rm { path } => path.as_bytes().len() + 1,
            Request::Write { path, value } => path.as_bytes().len() + 1 + value.len(),
            _ => encode::counted_len(self),
        }
    }

    #[inline]
    fn visit<S: Sink>(&self, sink: &mut S) {
        match *self {
            Request::Control { command, args } => {
                sink.put_cstr(command.as_bytes());
                sink.put(args);
            }
            Request::Directory { path }
            | Request::Read { path }
            | Request::GetPerms { path }
            | Request::Mkdir { path }
            | Request::Rm { path } => sink.put_cstr(path.as_bytes()),
            Request::Watch { path, token, depth } => {
                sink.put_cstr(path.as_bytes());
                sink.put_cstr(token.as_bytes());
                if let Some(depth) = depth {
                    put_number(sink, depth.into());
                }
            }
            Request::Unwatch { path, token } => {
                sink.put_cstr(path.as_bytes());
                sink.put_cstr(token.as_bytes());
            }
            Request::TransactionStart | Request::ResetWatches => sink.put(b"\0"),
            Request::TransactionEnd { commit } => {
                sink.put(if commit { b"T\0" } else { b"F\0" });
            }
            Request::Introduce { domid, gfn, evtchn } => {
                put_number(sink, domid.into());
                put_number(sink, gfn);
                put_number(sink, evtchn.into());
            }
            Request::Release { domid }
            | Request::GetDomainPath { domid }
            | Request::IsDomainIntroduced { domid }
            | Request::Resume { domid } => put_number(sink, domid.into()),
            Request::Write { path, value } => {
                sink.put_cstr(path.as_bytes());
                sink.put(value);
            }
            Request::SetPerms { path, perms } => {
                sink.put_cstr(path.as_bytes());
                perms.visit(sink);
            }
            Request::SetTarget { domid, target } => {
                put_number(sink, domid.into());
                put_number(sink, target.into());
            }
            Request::DirectoryPart { path, offset } => {
                sink.put_cstr(path.as_bytes());
                put_number(sink, offset.into());
            }
            Request::GetFeature { domid } => {
                if let Some(domid) = domid {
                    put_number(sink, domid.into());
                }
            }
            Request::SetFeature { domid, features } => {
                put_number(sink, domid.into());
                put_number(sink, features.into());
            }
            Request::GetQuota(query) => match query {
                QuotaQuery::Names => {}
                QuotaQuery::Global(name) => sink.put_cstr(name.as_bytes()),
                QuotaQuery::Domain { domid, name } => {
                    put_number(sink, domid.into());
                    sink.put_cstr(name.as_bytes());
                }
            },
            Request::SetQuota { domid, name, value } => {
                if let Some(domid) = domid {
                    put_number(sink, domid.into());
                }
                sink.put_cstr(name.as_bytes());
                put_number(sink, value.into());
            }
        }
    }
}
