//! The protocol engine: every request's semantics, without any I/O.
//!
//! [`Engine`] owns the store, the connections' watches and transactions,
//! and the domain table. The I/O layer feeds it whole frames
//! ([`Engine::handle`]) and takes whole encoded frames back
//! ([`Engine::pop_output`]): replies and watch events, in the order they
//! must be sent. Nothing here blocks, reads a clock or touches a socket, so
//! every rule can be unit-tested directly.
//!
//! # Choices where the protocol notes and oxenstored differ
//!
//! The server imitates oxenstored 4.17 (the daemon the project's CI runs),
//! checked by hand against it:
//!
//! * a `tx_id` that is not an open transaction of the connection is `EIO`
//!   (C xenstored: `ENOENT`); `TRANSACTION_END` with `tx_id` 0 is `ENOENT`;
//! * `WATCH`/`UNWATCH` ignore `tx_id`, and their replies carry `tx_id` 0;
//! * a transaction that changed nothing always commits; blind writes merge
//!   (see [`crate::transaction`]);
//! * created nodes copy the permissions of their deepest existing ancestor,
//!   owner included (C xenstored makes an unprivileged creator the owner);
//! * `RM /` removes every child of the root (C: `EINVAL`);
//! * `@introduceDomain`/`@releaseDomain` are real nodes under `/` (listed
//!   by `DIRECTORY /`, reachable as `/@introduceDomain`), and
//!   `GET_PERMS`/`SET_PERMS` on `@introduceDomain` act on them; `READ`,
//!   `WRITE` etc. of the bare `@` path are `EINVAL` (xs-wire's parser, as
//!   C xenstored; oxenstored serves them);
//! * an unprivileged owner giving a node away gets `EACCES` (C 4.17+:
//!   `EPERM`);
//! * quota hits are `EQUOTA` (C: `ENOSPC`, which the server sends when
//!   imitating Xen 4.22), an oversized value `E2BIG`;
//! * `CONTROL` answers `OK` to every command from everyone (oxenstored's
//!   `reply_data_or_ack`);
//! * `DIRECTORY_PART` is implemented as C xenstored does so that clients
//!   can list directories whose listing exceeds 4096 bytes; it can be
//!   switched off ([`Config::directory_part`]) to get oxenstored's
//!   `ENOSYS`;
//! * ops 23-26 (`GET_FEATURE` .. `SET_QUOTA`), watch depth,
//!   `@releaseDomain/<domid>` and `DOMID_ANY` follow C xenstored 4.22 by
//!   default, or answer like 4.17/4.20 (`ENOSYS`, `EINVAL`) with
//!   [`Config::version`]; see [`crate::XenVersion`] for what changes;
//! * a `DIRECTORY` reply over 4096 bytes is `E2BIG` (C xenstored, and
//!   oxenstored on rings; oxenstored sends the oversized frame on sockets,
//!   which no client can decode);
//! * an event is delivered to an unprivileged watcher only if it can read
//!   the changed node or its parent, before or after the change; for any
//!   watcher, at least one of them must exist (oxenstored's
//!   `can_fire_watch`); the initial event of a `WATCH` is never checked;
//! * events are not coalesced: every change fires.
//!
//! Payload parsing is xs-wire's [`Request::parse`], which is stricter than
//! oxenstored in a few corners (a domid must be plain decimal; the last
//! permission entry needs its NUL; `@` paths other than the two specials
//! are refused, and `@` paths are refused for tree operations other than
//! the permission ones); those are `EINVAL` here.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use xs_wire::{
    Access, DirectoryChunk, Errno, ErrorReply, Header, Ids, Names, Op, Perm, PermList, QuotaNames,
    QuotaQuery, Reply, Request, WatchEvent, DOMID_ANY, HEADER_SIZE, INTRODUCE_DOMAIN, PAYLOAD_MAX,
    RELEASE_DOMAIN,
};

use crate::access::{Caller, Need};
use crate::domain::Domains;
use crate::error::{
    XsError, XsResult, E2BIG, EACCES, EAGAIN, EBUSY, EINVAL, EIO, ENOENT, ENOSPC, ENOSYS,
};
use crate::features;
use crate::paths::{check_length, parent, resolve};
use crate::quota::Quota;
use crate::store::{Generations, Store};
use crate::transaction::{Transaction, TxOp};
use crate::version::XenVersion;
use crate::watch::{Change, Watch, Watches};

/// Identifies a connection inside an [`Engine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(u64);

/// What a connection is allowed to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// The domain the connection acts as; relative paths resolve against
    /// `/local/domain/<domid>`.
    pub domid: u32,
    /// Full access, and the privileged operations.
    pub privileged: bool,
}

impl ConnInfo {
    /// A privileged dom0 connection (what socket clients are).
    pub const DOM0: ConnInfo = ConnInfo {
        domid: 0,
        privileged: true,
    };

    /// An unprivileged connection of domain `domid`.
    pub const fn domain(domid: u32) -> ConnInfo {
        ConnInfo {
            domid,
            privileged: false,
        }
    }
}

/// Engine settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Limits.
    pub quota: Quota,
    /// Answer `DIRECTORY_PART` (`true`, like C xenstored) or `ENOSYS`
    /// (`false`, like oxenstored).
    pub directory_part: bool,
    /// Fail this many commits with `EAGAIN` from the start.
    pub fail_commits: u64,
    /// The Xen release whose daemon to imitate.
    pub version: XenVersion,
    /// Start like a host's daemon after boot: `/local/domain/0` with its
    /// `name` (`Domain-0`) and `domid` (`0`), as `xen-init-dom0` writes
    /// them, and dom0 introduced. Without it (the default) the tree is that
    /// of an oxenstored started with `--no-domain-init`.
    pub dom0: bool,
    /// Drop watch events for an unprivileged domain not sent this long
    /// after they were made (C xenstored 4.22: 20 s; `None`: never). Only
    /// applies when imitating 4.22: oxenstored has no such drop.
    pub event_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            quota: Quota::default(),
            directory_part: true,
            fail_commits: 0,
            version: XenVersion::default(),
            dom0: false,
            event_timeout: Some(Duration::from_secs(20)),
        }
    }
}

/// Counters, for tests and monitoring.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Open connections.
    pub connections: usize,
    /// Open transactions, all connections together.
    pub transactions: usize,
    /// Registered watches, all connections together.
    pub watches: usize,
    /// Nodes in the live tree, the root included.
    pub nodes: usize,
    /// Introduced domains.
    pub domains: usize,
    /// Per connection, in connection order.
    pub per_connection: Vec<ConnStats>,
}

/// Counters of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnStats {
    /// The engine's id of the connection.
    pub id: ConnId,
    /// Its domain.
    pub domid: u32,
    /// Its open transactions.
    pub transactions: usize,
    /// Its watches.
    pub watches: usize,
    /// Frames waiting to be sent.
    pub queued: usize,
}

#[derive(Debug)]
struct Conn {
    info: ConnInfo,
    out: VecDeque<Vec<u8>>,
    watches: Watches,
    txs: BTreeMap<u32, Transaction>,
    next_tx: u32,
    overflowed: bool,
}

/// A successful answer, owned (xs-wire's [`Reply`] borrows).
enum Answer {
    Ack,
    Value(Vec<u8>),
    Listing(Vec<u8>),
    Chunk {
        generation: u64,
        names: Vec<u8>,
        complete: bool,
    },
    Perms(Vec<Perm>),
    TxId(u32),
    Bool(bool),
    DomainPath(String),
    Number(u64),
    QuotaNames(String),
}

/// Work to do once the reply is queued: events must follow the reply.
enum After {
    Initial {
        path: String,
        token: String,
    },
    Node {
        path: String,
        recursive: bool,
        old: Option<Store>,
        new: Option<Store>,
    },
    Special {
        name: &'static str,
        domid: u32,
    },
}

/// The in-memory xenstored, without I/O.
///
/// ```
/// use xs_server::{ConnInfo, Engine};
/// use xs_wire::{decode, Ids, Path, Reply, Request, Status};
///
/// let mut engine = Engine::default();
/// let conn = engine.connect(ConnInfo::DOM0);
/// let req = Request::Write { path: Path::new("/vm/name").unwrap(), value: b"guest" };
/// let mut buf = [0u8; 64];
/// let n = req.encode(Ids::new(1), &mut buf).unwrap();
/// let Status::Complete((frame, _)) = decode(&buf[..n]).unwrap() else { unreachable!() };
/// engine.handle(conn, &frame.header, frame.payload);
///
/// let out = engine.pop_output(conn).unwrap();
/// let Status::Complete((frame, _)) = decode(&out).unwrap() else { unreachable!() };
/// assert_eq!(Reply::parse(req.op(), req.reply_kind(), &frame).unwrap(), Reply::Ack);
/// ```
#[derive(Debug)]
pub struct Engine {
    store: Store,
    gens: Generations,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: u64,
    domains: Domains,
    config: Config,
    fail_commits: u64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(Config::default())
    }
}

/// Encodes a reply frame; a payload over the limit becomes `E2BIG`.
fn encode(request_op: Op, ids: Ids, reply: &Reply<'_>) -> Vec<u8> {
    let len = reply.payload_len();
    if len > PAYLOAD_MAX {
        return encode(request_op, ids, &Reply::Error(E2BIG.to_reply()));
    }
    let mut buf = vec![0u8; HEADER_SIZE + len];
    match reply.encode(request_op, ids, &mut buf) {
        Ok(n) => {
            buf.truncate(n);
            buf
        }
        Err(_) => encode(request_op, ids, &Reply::Error(EINVAL.to_reply())),
    }
}

/// Encodes a watch event; `None` if it would not fit (xenstored drops it).
fn encode_event(path: &str, token: &str) -> Option<Vec<u8>> {
    let reply = Reply::WatchEvent(WatchEvent { path, token });
    let len = reply.payload_len();
    if len > PAYLOAD_MAX {
        return None;
    }
    let mut buf = vec![0u8; HEADER_SIZE + len];
    reply
        .encode(Op::WatchEvent, Ids::default(), &mut buf)
        .ok()?;
    Some(buf)
}

impl Engine {
    /// An engine with a fresh store (oxenstored's initial tree, see
    /// [`crate::store`]).
    pub fn new(config: Config) -> Engine {
        let mut gens = Generations::default();
        let mut store = Store::initial(&mut gens);
        let mut domains = Domains::default();
        let dom0 = Caller::DOM0;
        if config.version.has_domid_any() {
            // C xenstored 4.22: every domain may watch @releaseDomain.
            let perms = vec![
                Perm::new(Access::None, 0),
                Perm::new(Access::Read, DOMID_ANY),
            ];
            store
                .set_perms(&mut gens, &dom0, "/@releaseDomain", perms)
                .expect("the initial tree has /@releaseDomain");
        }
        if config.dom0 {
            for (path, value) in [
                ("/local/domain/0/domid", "0"),
                ("/local/domain/0/name", "Domain-0"),
            ] {
                store
                    .write(&mut gens, &dom0, path, value.as_bytes(), None)
                    .expect("the initial tree is writable by dom0");
            }
            domains
                .introduce(0, 0, 0, &config.quota)
                .expect("dom0 is introduced first");
        }
        Engine {
            store,
            gens,
            conns: BTreeMap::new(),
            next_conn: 1,
            domains,
            fail_commits: config.fail_commits,
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Opens a connection.
    pub fn connect(&mut self, info: ConnInfo) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn {
                info,
                out: VecDeque::new(),
                watches: Watches::default(),
                txs: BTreeMap::new(),
                next_tx: 1,
                overflowed: false,
            },
        );
        id
    }

    /// Closes a connection: its watches, transactions and queued output go.
    pub fn disconnect(&mut self, id: ConnId) {
        self.conns.remove(&id);
    }

    /// The next frame to send to `id`, if any.
    pub fn pop_output(&mut self, id: ConnId) -> Option<Vec<u8>> {
        self.conns.get_mut(&id)?.out.pop_front()
    }

    /// Number of frames waiting to be sent to `id`.
    pub fn queued(&self, id: ConnId) -> usize {
        self.conns.get(&id).map_or(0, |c| c.out.len())
    }

    /// How long a watch event for `id` may wait to be sent before it is
    /// dropped ([`Config::event_timeout`], for unprivileged domains when
    /// imitating Xen 4.22).
    pub fn event_timeout(&self, id: ConnId) -> Option<Duration> {
        let conn = self.conns.get(&id)?;
        if conn.info.privileged || !self.config.version.drops_late_events() {
            return None;
        }
        self.config.event_timeout
    }

    /// Whether `id` stopped reading for so long that its queue overflowed;
    /// the I/O layer then closes it.
    pub fn overflowed(&self, id: ConnId) -> bool {
        self.conns.get(&id).is_some_and(|c| c.overflowed)
    }

    /// Whether `id` has so much output waiting that it should not be read
    /// from until it drains.
    pub fn should_pause(&self, id: ConnId) -> bool {
        self.queued(id) >= self.config.quota.max_outstanding
    }

    /// Makes the next `n` commits fail with `EAGAIN`.
    pub fn fail_next_commits(&mut self, n: u64) {
        self.fail_commits = n;
    }

    /// Open transactions of all connections.
    pub fn open_transactions(&self) -> usize {
        self.conns.values().map(|c| c.txs.len()).sum()
    }

    /// Open transactions of one connection.
    pub fn transactions_of(&self, id: ConnId) -> usize {
        self.conns.get(&id).map_or(0, |c| c.txs.len())
    }

    /// Watches of one connection.
    pub fn watches_of(&self, id: ConnId) -> usize {
        self.conns.get(&id).map_or(0, |c| c.watches.len())
    }

    /// All counters.
    pub fn stats(&self) -> Stats {
        let per_connection: Vec<ConnStats> = self
            .conns
            .iter()
            .map(|(&id, c)| ConnStats {
                id,
                domid: c.info.domid,
                transactions: c.txs.len(),
                watches: c.watches.len(),
                queued: c.out.len(),
            })
            .collect();
        Stats {
            connections: self.conns.len(),
            transactions: per_connection.iter().map(|c| c.transactions).sum(),
            watches: per_connection.iter().map(|c| c.watches).sum(),
            nodes: self.store.node_count(),
            domains: self.domains.len(),
            per_connection,
        }
    }

    fn caller(&self, info: ConnInfo) -> Caller {
        Caller {
            domid: info.domid,
            target: self.domains.target_of(info.domid),
            privileged: info.privileged,
            domid_any: self.config.version.has_domid_any(),
            writes_domid_any: self.config.version.has_domid_any()
                && self.features_of(info) & features::DOMID_ANY != 0,
        }
    }

    /// The feature word of a connection: everything for dom0 on the
    /// socket, its domain's word otherwise.
    fn features_of(&self, info: ConnInfo) -> u32 {
        if info.privileged {
            features::SUPPORTED
        } else {
            self.domains.features(info.domid)
        }
    }

    /// The quotas that apply to a caller: the global ones for privileged
    /// callers (who are exempt unless `apply_to_privileged`), the domain's
    /// own otherwise.
    fn limits(&self, domid: u32, privileged: bool) -> Quota {
        if privileged {
            self.config.quota
        } else {
            self.domains.quota(domid, &self.config.quota)
        }
    }

    /// The error as this version's daemon names it: C xenstored 4.22 says
    /// `ENOSPC` where oxenstored says `EQUOTA`.
    fn wire_error(&self, error: XsError) -> XsError {
        match error {
            XsError::Quota if self.config.version.has_quota_ops() => ENOSPC,
            other => other,
        }
    }

    fn push(&mut self, id: ConnId, frame: Vec<u8>) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.out.push_back(frame);
        }
    }

    /// Handles one request frame from `id`, queueing its reply and any
    /// watch events it causes (on any connection).
    pub fn handle(&mut self, id: ConnId, header: &Header, payload: &[u8]) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        let info = conn.info;
        let op = header.op;
        let tx_id = if matches!(op, Op::Watch | Op::Unwatch) {
            0
        } else {
            header.tx_id
        };
        let ids = Ids::in_transaction(header.req_id, tx_id);
        let mut after = Vec::new();
        let frame = match self.dispatch(id, info, tx_id, header, payload, &mut after) {
            Ok(answer) => answer_frame(op, ids, answer),
            Err(e) => encode(op, ids, &Reply::Error(self.wire_error(e).to_reply())),
        };
        self.push(id, frame);
        for job in after {
            self.run(id, job);
        }
    }

    fn run(&mut self, id: ConnId, job: After) {
        match job {
            After::Initial { path, token } => {
                if let Some(frame) = encode_event(&path, &token) {
                    self.push(id, frame);
                }
            }
            After::Node {
                path,
                recursive,
                old,
                new,
            } => self.fire(
                Change::Node {
                    path: &path,
                    recursive,
                },
                old.as_ref(),
                new.as_ref(),
            ),
            After::Special { name, domid } => {
                let now = self.store.clone();
                let change = Change::Special {
                    name,
                    domid,
                    with_domid: self.config.version.has_watch_depth(),
                };
                self.fire(change, None, Some(&now));
            }
        }
    }

    /// Queues the events `change` fires on every connection, after the
    /// permission check against the trees before (`old`) and after (`new`)
    /// the change.
    fn fire(&mut self, change: Change<'_>, old: Option<&Store>, new: Option<&Store>) {
        let targets: BTreeMap<u32, Option<u32>> = self
            .conns
            .values()
            .map(|c| (c.info.domid, self.domains.target_of(c.info.domid)))
            .collect();
        let limit = self.config.quota.max_outstanding + self.config.quota.max_queued_events;
        for conn in self.conns.values_mut() {
            let caller = Caller {
                domid: conn.info.domid,
                target: targets.get(&conn.info.domid).copied().flatten(),
                privileged: conn.info.privileged,
                domid_any: self.config.version.has_domid_any(),
                writes_domid_any: false,
            };
            for pending in conn.watches.fired(change, conn.info.domid) {
                if !may_see(&caller, &pending.checked, old, new) {
                    continue;
                }
                let Some(frame) = encode_event(&pending.path, &pending.token) else {
                    continue;
                };
                if conn.out.len() >= limit {
                    conn.overflowed = true;
                    continue;
                }
                conn.out.push_back(frame);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn dispatch(
        &mut self,
        id: ConnId,
        info: ConnInfo,
        tx_id: u32,
        header: &Header,
        payload: &[u8],
        after: &mut Vec<After>,
    ) -> XsResult<Answer> {
        let op = header.op;
        let version = self.config.version;
        let quota = self.limits(info.domid, info.privileged);
        // The transaction is looked up before anything else (oxenstored).
        if tx_id != 0 {
            let conn = self.conns.get_mut(&id).ok_or(EIO)?;
            let tx = conn.txs.get_mut(&tx_id).ok_or(EIO)?;
            tx.requests += 1;
            let limit = quota.for_caller(quota.max_requests_per_transaction, info.privileged);
            if !version.has_quota_ops() && limit.is_some_and(|limit| tx.requests > limit) {
                return Err(XsError::Quota);
            }
        }
        match op {
            Op::GetFeature | Op::SetFeature if !version.has_feature_ops() => return Err(ENOSYS),
            Op::GetQuota | Op::SetQuota if !version.has_quota_ops() => return Err(ENOSYS),
            Op::DirectoryPart if !self.config.directory_part => return Err(ENOSYS),
            Op::Introduce
            | Op::Release
            | Op::Resume
            | Op::SetTarget
            | Op::IsDomainIntroduced
            | Op::SetFeature
            | Op::GetQuota
            | Op::SetQuota
                if !info.privileged =>
            {
                return Err(EACCES)
            }
            // GET_FEATURE of another domain is dom0's (checked before the
            // argument count, as C xenstored does).
            Op::GetFeature if !info.privileged && !payload.is_empty() => return Err(EACCES),
            _ => {}
        }
        let request = Request::parse(header, payload)?;
        let caller = self.caller(info);
        let domid = info.domid;
        let path_max = quota.max_path_len;
        match request {
            Request::Read { path } => {
                let abs = resolve(path, domid);
                check_length(&abs, path_max)?;
                self.read(id, tx_id, &abs, |store| {
                    store
                        .get(&caller, &abs)
                        .map(|n| Answer::Value(n.value.to_vec()))
                })
            }
            Request::Directory { path } => {
                let abs = resolve(path, domid);
                check_length(&abs, path_max)?;
                self.read(id, tx_id, &abs, |store| {
                    let listing = store.get(&caller, &abs)?.listing();
                    if listing.len() > PAYLOAD_MAX {
                        Err(E2BIG)
                    } else {
                        Ok(Answer::Listing(listing))
                    }
                })
            }
            Request::DirectoryPart { path, offset } => {
                let abs = resolve(path, domid);
                check_length(&abs, path_max)?;
                self.read(id, tx_id, &abs, |store| {
                    let node = store.get(&caller, &abs)?;
                    Ok(chunk(node.gen, &node.listing(), offset as usize))
                })
            }
            Request::GetPerms { path } => {
                let abs = resolve(path, domid);
                check_length(&abs, path_max)?;
                self.read(id, tx_id, &abs, |store| {
                    store
                        .get(&caller, &abs)
                        .map(|n| Answer::Perms(n.perms.to_vec()))
                })
            }
            Request::Write { path, value } => {
                let abs = resolve(path, domid);
                check_length(&abs, path_max)?;
                if quota.max_value_size.is_some_and(|max| value.len() > max) {
                    return Err(E2BIG);
                }
                let op = TxOp::Write {
                    path: abs,
                    value: value.to_vec(),
                };
                self.change(id, tx_id, caller, op, after)?;
                Ok(Answer::Ack)
            }
            Request::Mkdir { path } => {
                let abs = resolve(path, domid);
                check_length(&abs, path_max)?;
                self.change(id, tx_id, caller, TxOp::Mkdir { path: abs }, after)?;
                Ok(Answer::Ack)
            }
            Request::Rm { path } => {
                let abs = resolve(path, domid);
                check_length(&abs, path_max)?;
                self.change(id, tx_id, caller, TxOp::Rm { path: abs }, after)?;
                Ok(Answer::Ack)
            }
            Request::SetPerms { path, perms } => {
                let abs = resolve(path, domid);
                check_length(&abs, path_max)?;
                let limit = quota.for_caller(quota.max_perms_per_node, info.privileged);
                if version.has_quota_ops() && limit.is_some_and(|max| perms.iter().count() > max) {
                    return Err(XsError::Quota);
                }
                let op = TxOp::SetPerms {
                    path: abs,
                    perms: perms.iter().collect(),
                };
                self.change(id, tx_id, caller, op, after)?;
                Ok(Answer::Ack)
            }
            Request::Watch { path, token, depth } => {
                // A depth needs WATCHDEPTH: without it, three strings are
                // simply too many (EINVAL in every version).
                let depth_ok =
                    version.has_watch_depth() && self.features_of(info) & features::WATCHDEPTH != 0;
                if depth.is_some() && !depth_ok {
                    return Err(EINVAL);
                }
                let watch = Watch {
                    path: path.as_str().to_owned(),
                    abs: watch_key(path, domid),
                    token: token.to_owned(),
                    relative: path.kind() == xs_wire::PathKind::Relative,
                    special: path.is_special(),
                    depth,
                };
                let limit = quota.for_caller(quota.max_watches, info.privileged);
                let conn = self.conns.get_mut(&id).ok_or(EIO)?;
                conn.watches.add(watch, limit)?;
                after.push(After::Initial {
                    path: path.as_str().to_owned(),
                    token: token.to_owned(),
                });
                Ok(Answer::Ack)
            }
            Request::Unwatch { path, token } => {
                let conn = self.conns.get_mut(&id).ok_or(EIO)?;
                conn.watches.remove(&watch_key(path, domid), token)?;
                Ok(Answer::Ack)
            }
            Request::TransactionStart => {
                if tx_id != 0 {
                    return Err(EBUSY);
                }
                let limit = quota.for_caller(quota.max_transactions, info.privileged);
                let live = self.store.clone();
                let conn = self.conns.get_mut(&id).ok_or(EIO)?;
                if limit.is_some_and(|limit| conn.txs.len() >= limit) {
                    return Err(XsError::Quota);
                }
                let mut tx = conn.next_tx;
                while tx == 0 || conn.txs.contains_key(&tx) {
                    tx = tx.wrapping_add(1);
                }
                conn.next_tx = tx.wrapping_add(1);
                conn.txs.insert(tx, Transaction::new(&live));
                Ok(Answer::TxId(tx))
            }
            Request::TransactionEnd { commit } => {
                if tx_id == 0 {
                    return Err(ENOENT);
                }
                let conn = self.conns.get_mut(&id).ok_or(EIO)?;
                let tx = conn.txs.remove(&tx_id).ok_or(EIO)?;
                if commit {
                    self.commit(caller, tx, after)?;
                }
                Ok(Answer::Ack)
            }
            Request::ResetWatches => {
                let conn = self.conns.get_mut(&id).ok_or(EIO)?;
                conn.watches.clear();
                conn.txs.clear();
                Ok(Answer::Ack)
            }
            Request::GetDomainPath { domid } => Ok(Answer::DomainPath(crate::domain_path(domid))),
            Request::Introduce { domid, gfn, evtchn } => {
                if self
                    .domains
                    .introduce(domid, gfn, evtchn, &self.config.quota)?
                {
                    after.push(After::Special {
                        name: INTRODUCE_DOMAIN,
                        domid,
                    });
                }
                Ok(Answer::Ack)
            }
            Request::Release { domid } => {
                self.domains.release(domid)?;
                self.store.forget_domain(&mut self.gens, domid);
                after.push(After::Special {
                    name: RELEASE_DOMAIN,
                    domid,
                });
                Ok(Answer::Ack)
            }
            Request::Resume { domid } => {
                self.domains.resume(domid)?;
                Ok(Answer::Ack)
            }
            Request::SetTarget { domid, target } => {
                self.domains.set_target(domid, target)?;
                Ok(Answer::Ack)
            }
            Request::IsDomainIntroduced { domid } => {
                Ok(Answer::Bool(self.domains.is_introduced(domid)))
            }
            Request::Control { .. } => Ok(Answer::Ack),
            Request::GetFeature { domid: None } => {
                Ok(Answer::Number(self.features_of(info).into()))
            }
            Request::GetFeature { domid: Some(domid) } => {
                Domains::check_domid(domid)?;
                Ok(Answer::Number(self.domains.features(domid).into()))
            }
            Request::SetFeature { domid, features } => {
                Domains::check_domid(domid)?;
                self.domains
                    .set_features(domid, features, &self.config.quota)?;
                Ok(Answer::Ack)
            }
            Request::GetQuota(QuotaQuery::Names) => {
                Ok(Answer::QuotaNames(crate::quota::NAMES.join(" ")))
            }
            Request::GetQuota(QuotaQuery::Global(name)) => self
                .config
                .quota
                .get(name)
                .map(Answer::Number)
                .ok_or(EINVAL),
            Request::GetQuota(QuotaQuery::Domain { domid, name }) => {
                Domains::check_domid(domid)?;
                let quota = self.domains.quota(domid, &self.config.quota);
                quota.get(name).map(Answer::Number).ok_or(EINVAL)
            }
            Request::SetQuota { domid, name, value } => {
                if let Some(domid) = domid {
                    Domains::check_domid(domid)?;
                }
                // u32::MAX is C xenstored's "not set" marker, never a value.
                if value == u32::MAX || self.config.quota.get(name).is_none() {
                    return Err(EINVAL);
                }
                let global = self.config.quota;
                let target = match domid {
                    None => &mut self.config.quota,
                    Some(domid) => self.domains.quota_mut(domid, &global),
                };
                target.set(name, value);
                Ok(Answer::Ack)
            }
        }
    }

    /// The `transaction-nodes` limit of connection `id` (Xen 4.22 only).
    fn transaction_nodes(&self, id: ConnId) -> Option<usize> {
        if !self.config.version.has_quota_ops() {
            return None;
        }
        let info = self.conns.get(&id)?.info;
        let quota = self.limits(info.domid, info.privileged);
        quota.for_caller(quota.max_nodes_per_transaction, info.privileged)
    }

    /// Runs a read-only operation on the live tree or the transaction's,
    /// recording the read in the latter case.
    fn read(
        &mut self,
        id: ConnId,
        tx_id: u32,
        abs: &str,
        f: impl FnOnce(&Store) -> XsResult<Answer>,
    ) -> XsResult<Answer> {
        if tx_id == 0 {
            return f(&self.store);
        }
        let limit = self.transaction_nodes(id);
        let tx = self
            .conns
            .get_mut(&id)
            .and_then(|c| c.txs.get_mut(&tx_id))
            .ok_or(EIO)?;
        tx.touch(abs, limit)?;
        tx.record_read(abs);
        f(&tx.work)
    }

    /// Applies a change to the live tree (firing watches) or logs it in the
    /// transaction.
    fn change(
        &mut self,
        id: ConnId,
        tx_id: u32,
        caller: Caller,
        op: TxOp,
        after: &mut Vec<After>,
    ) -> XsResult<()> {
        let quota = self.limits(caller.domid, caller.privileged);
        let limit = quota.for_caller(quota.max_nodes_per_domain, caller.privileged);
        if tx_id == 0 {
            let old = self.store.clone();
            if let Some(job) = apply(&mut self.store, &mut self.gens, &caller, &op, limit, old)? {
                after.push(job);
            }
            return Ok(());
        }
        let touch_limit = self.transaction_nodes(id);
        let tx = self
            .conns
            .get_mut(&id)
            .and_then(|c| c.txs.get_mut(&tx_id))
            .ok_or(EIO)?;
        tx.touch(op.path(), touch_limit)?;
        let old = tx.work.clone();
        if apply(&mut tx.work, &mut self.gens, &caller, &op, limit, old)?.is_some() {
            tx.ops.push(op);
        }
        Ok(())
    }

    /// Commits a transaction: conflict check, then replay on the live tree.
    fn commit(&mut self, caller: Caller, tx: Transaction, after: &mut Vec<After>) -> XsResult<()> {
        if self.fail_commits > 0 {
            self.fail_commits -= 1;
            return Err(EAGAIN);
        }
        if tx.is_read_only() {
            return Ok(());
        }
        if tx.conflicts_with(&self.store) {
            return Err(EAGAIN);
        }
        let quota = self.limits(caller.domid, caller.privileged);
        let limit = quota.for_caller(quota.max_nodes_per_domain, caller.privileged);
        let mut live = self.store.clone();
        let mut jobs = Vec::new();
        for op in &tx.ops {
            let old = live.clone();
            match apply(&mut live, &mut self.gens, &caller, op, limit, old) {
                Ok(Some(job)) => jobs.push(job),
                Ok(None) => {}
                Err(_) => return Err(EAGAIN),
            }
        }
        self.store = live;
        after.extend(jobs);
        Ok(())
    }
}

/// Applies one change to `store`; returns the watch job if it changed
/// anything.
fn apply(
    store: &mut Store,
    gens: &mut Generations,
    caller: &Caller,
    op: &TxOp,
    limit: Option<usize>,
    old: Store,
) -> XsResult<Option<After>> {
    let node = |path: &str, recursive, old: Option<Store>, new: Option<Store>| After::Node {
        path: path.to_owned(),
        recursive,
        old,
        new,
    };
    Ok(match op {
        TxOp::Write { path, value } => {
            store.write(gens, caller, path, value, limit)?;
            Some(node(path, false, None, Some(store.clone())))
        }
        TxOp::Mkdir { path } => store
            .mkdir(gens, caller, path, limit)?
            .then(|| node(path, false, None, Some(store.clone()))),
        TxOp::Rm { path } => store
            .rm(gens, caller, path)?
            .then(|| node(path, true, Some(old), None)),
        TxOp::SetPerms { path, perms } => {
            store.set_perms(gens, caller, path, perms.clone())?;
            Some(node(path, false, Some(old), Some(store.clone())))
        }
    })
}

/// The key a watch is registered under: the resolved path, or the bare
/// special name.
fn watch_key(path: xs_wire::Path<'_>, domid: u32) -> String {
    if path.is_special() {
        path.as_str().to_owned()
    } else {
        resolve(path, domid)
    }
}

/// Whether `caller` may see an event about `checked`: it must be able to
/// read the node or its parent in the tree before or after the change, and
/// at least one of them must exist.
fn may_see(caller: &Caller, checked: &str, old: Option<&Store>, new: Option<&Store>) -> bool {
    let paths = [parent(checked), Some(checked)];
    [old, new].into_iter().flatten().any(|store| {
        paths
            .iter()
            .flatten()
            .filter_map(|p| store.lookup(p))
            .any(|n| n.grants(caller, Need::Read))
    })
}

/// One `DIRECTORY_PART` chunk of `listing` from byte `offset`: as many
/// whole names as fit next to the generation, and the end marker on the
/// chunk that reaches the end (C xenstored's `send_directory_part`).
fn chunk(generation: u64, listing: &[u8], offset: usize) -> Answer {
    let rest = listing.get(offset..).unwrap_or(&[]);
    let room = PAYLOAD_MAX - generation.to_string().len() - 2;
    if rest.len() <= room {
        return Answer::Chunk {
            generation,
            names: rest.to_vec(),
            complete: true,
        };
    }
    // The last NUL within the room ends the last whole name that fits.
    let end = rest[..room]
        .iter()
        .rposition(|&b| b == 0)
        .map_or(0, |i| i + 1);
    Answer::Chunk {
        generation,
        names: rest[..end].to_vec(),
        complete: false,
    }
}

fn answer_frame(op: Op, ids: Ids, answer: Answer) -> Vec<u8> {
    let invalid = || encode(op, ids, &Reply::Error(ErrorReply::Known(Errno::EINVAL)));
    match answer {
        Answer::Ack => encode(op, ids, &Reply::Ack),
        Answer::Value(v) => encode(op, ids, &Reply::Value(&v)),
        Answer::Listing(l) => match Names::parse(&l) {
            Ok(names) => encode(op, ids, &Reply::Directory(names)),
            Err(_) => invalid(),
        },
        Answer::Chunk {
            generation,
            names,
            complete,
        } => match Names::parse(&names) {
            Ok(names) => encode(
                op,
                ids,
                &Reply::DirectoryPart(DirectoryChunk {
                    generation,
                    names,
                    complete,
                }),
            ),
            // An offset inside the list that starts at a NUL: xs-wire cannot
            // express the empty first name C xenstored would send.
            Err(_) => invalid(),
        },
        Answer::Perms(p) => match PermList::new(&p) {
            Ok(list) => encode(op, ids, &Reply::Perms(list)),
            Err(_) => invalid(),
        },
        Answer::TxId(id) => encode(op, ids, &Reply::TransactionId(id)),
        Answer::Bool(b) => encode(op, ids, &Reply::Bool(b)),
        Answer::DomainPath(p) => encode(op, ids, &Reply::DomainPath(&p)),
        Answer::Number(n) => encode(op, ids, &Reply::Number(n)),
        Answer::QuotaNames(text) => match QuotaNames::new(&text) {
            Ok(names) => encode(op, ids, &Reply::QuotaNames(names)),
            Err(_) => invalid(),
        },
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
